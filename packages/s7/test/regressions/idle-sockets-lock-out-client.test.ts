/**
 * Regression (issue 22, item 8): the S7 simulator had no connection cap and no idle timeout, so
 * sockets that connect and never complete a TPKT packet (idle, or trickling a byte at a time) stayed
 * open forever. A connection with no complete request within `idleTimeoutMs` is now closed, and at
 * the cap a new connection closes the longest-idle one, so a real client still gets in.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/s7';
import { expect, it } from 'vitest';

function open(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => resolve(s));
  });
}

it('idle sockets do not lock a client out and trickling sockets are closed', async () => {
  await using sim = await startSimulator({ port: await freePort(), idleTimeoutMs: 400 });
  const held = await Promise.all(Array.from({ length: 300 }, () => open(sim.port)));
  try {
    await waitFor(() => sim.server.clients <= 64);
    // One socket sends a TPKT header one byte at a time: bytes flow, no packet completes.
    const trickler = held.find((s) => !s.destroyed) as Socket;
    const timer = setInterval(() => trickler.writable && trickler.write(Buffer.of(3)), 50);
    await using plc = await connect(sim.url, { requestTimeoutMs: 2000 });
    expect((await plc.read('DB1.DBD8:DINT')).quality).toBe('good');
    await waitFor(() => trickler.destroyed, 5000);
    clearInterval(timer);
    // Every idle socket is gone; the polling client stays.
    for (let i = 0; i < 6; i++) {
      expect((await plc.read('DB1.DBD8:DINT')).quality).toBe('good');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sim.server.clients).toBe(1);
  } finally {
    for (const s of held) s.destroy();
  }
});
