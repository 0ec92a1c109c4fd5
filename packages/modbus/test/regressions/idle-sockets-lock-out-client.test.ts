/**
 * Regression (issue 22, item 8): the Modbus server capped connections at 64 with no idle timeout,
 * so 600 sockets that connect and send nothing held every slot and a real client got
 * BIFROST_CONNECTION_LOST; a socket trickling one byte a second stayed open forever. At the cap a
 * new connection now closes the longest-idle one (those that never completed a request first), and
 * a connection with no complete request within `idleTimeoutMs` is closed.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { startModbusSimulator } from '@bifrost/modbus';
import { afterEach, describe, expect, it } from 'vitest';

const held: Socket[] = [];
afterEach(() => {
  for (const s of held.splice(0)) s.destroy();
});

/** Opens `n` sockets that send nothing, and waits until each is connected (or already closed by the server). */
async function idleSockets(port: number, n: number): Promise<Socket[]> {
  const out: Socket[] = [];
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const s = netConnect({ host: '127.0.0.1', port }, () => resolve());
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          out.push(s);
          held.push(s);
        }),
    ),
  );
  return out;
}

describe.each(['tcp', 'rtu'] as const)('Modbus %s simulator under idle sockets', (framing) => {
  it('600 idle sockets do not lock a real client out (default limits)', async () => {
    await using sim = await startModbusSimulator({ port: await freePort(), framing });
    const sockets = await idleSockets(sim.port, 600);
    // The server never holds more than its cap, and the idle sockets were not all refused at the door.
    await waitFor(() => sim.server.connections <= 64);
    expect(sockets.filter((s) => !s.destroyed).length).toBeGreaterThan(0);
    await using plc = await connect(sim.url, { requestTimeoutMs: 2000 });
    expect((await plc.read('IR9')).value).toBe(42);
    // More idle sockets after the client is served close other idle ones, not the client's.
    await idleSockets(sim.port, 200);
    expect((await plc.read('IR9')).value).toBe(42);
  });

  it('closes a socket that trickles bytes without completing a request, keeps a polling client', async () => {
    await using sim = await startModbusSimulator({ port: await freePort(), framing, idleTimeoutMs: 300 });
    const [trickler] = await idleSockets(sim.port, 1);
    const s = trickler as Socket;
    let closedAt = 0;
    s.on('close', () => {
      closedAt = Date.now();
    });
    const start = Date.now();
    // One byte of a frame header every 50 ms: bytes flow, but no request ever completes.
    const timer = setInterval(() => s.writable && s.write(Buffer.of(0)), 50);
    await using plc = await connect(sim.url, { requestTimeoutMs: 2000 });
    try {
      await waitFor(() => closedAt > 0, 5000);
      expect(closedAt - start).toBeGreaterThanOrEqual(300);
      // The client completes requests, so it is kept past the idle timeout.
      for (let i = 0; i < 8; i++) {
        expect((await plc.read('IR9')).value).toBe(42);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(sim.server.connections).toBe(1);
    } finally {
      clearInterval(timer);
    }
  });
});
