/**
 * Regression (issue 22, item 8): on the OPC UA simulator a connection that stopped after HEL/ACK,
 * or after opening its secure channel, stayed open forever (node-opcua only times out a connection
 * that sends no HEL). The simulator now closes a connection with no complete request within
 * `idleTimeoutMs`; at the connection cap node-opcua closes the oldest channel without a session,
 * so idle sockets do not lock a real client out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll, expect, it } from 'vitest';
import { hello, openSecureChannel } from './hostile-frames.js';

const pkiDir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-idle-'));
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));

function open(port: number, first?: Buffer[]): Promise<Socket> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, async () => {
      for (const b of first ?? []) {
        s.write(b);
        await new Promise((r) => setTimeout(r, 50));
      }
      resolve(s);
    });
    s.on('error', () => resolve(s));
    // Read (and drop) what the server sends, so its close is seen.
    s.resume();
  });
}

it('closes connections idle after HEL or after OpenSecureChannel, and keeps a polling client', { timeout: 30_000 }, async () => {
  const port = await freePort();
  await using sim = await startSimulator({ port, idleTimeoutMs: 800, maxConnections: 20, config: { pkiDir, updateMs: 1000 } });
  const url = `opc.tcp://127.0.0.1:${port}`;
  const afterHello = await open(port, [hello(url)]);
  const afterOpen = await open(port, [hello(url), openSecureChannel()]);
  await using plc = await connect(`${sim.url}?securityPolicy=None&securityMode=None`, { requestTimeoutMs: 3000 });
  // More idle sockets than the cap, opened after the two above: the oldest without a session make room for the client.
  const idle: Socket[] = [];
  try {
    await waitFor(() => afterHello.destroyed && afterOpen.destroyed, 10_000);
    // The client completes requests, so it is kept past the idle timeout.
    for (let i = 0; i < 5; i++) {
      expect((await plc.read('ns=1;s=Line1.Setpoint')).quality).toBe('good');
      await new Promise((r) => setTimeout(r, 250));
    }
    idle.push(...(await Promise.all(Array.from({ length: 30 }, () => open(port)))));
    await using second = await connect(`${sim.url}?securityPolicy=None&securityMode=None`, { requestTimeoutMs: 3000 });
    expect((await second.read('ns=1;s=Line1.Setpoint')).quality).toBe('good');
    expect((await plc.read('ns=1;s=Line1.Setpoint')).quality).toBe('good');
  } finally {
    for (const s of [afterHello, afterOpen, ...idle]) s.destroy();
  }
});
