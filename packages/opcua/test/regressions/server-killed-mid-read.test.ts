/**
 * @module
 * Regression: a server that vanished without a goodbye (process killed, cable pulled) while a bulk
 * read was in flight gave the pending values BIFROST_OPCUA_BAD_STATUS instead of
 * BIFROST_CONNECTION_LOST, because node-opcua's "Connection Break" / "Connection aborted - ended
 * by server" was not recognised as a lost connection. The client talks to the simulator through a
 * TCP relay here, and the relay resets every socket (RST) as a killed process would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type RunningSimulator, type TagValue } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-killed-'));
let sim: RunningSimulator | undefined;
const relay = createServer();
const sockets = new Set<Socket>();
afterAll(async () => {
  relay.close();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('turns a server gone mid-read into CONNECTION_LOST values and bad subscription values, without crashing', async () => {
  sim = await startSimulator({ port: await freePort(), config: { pkiDir: join(dir, 'sim') } });
  const target = sim.port;
  relay.on('connection', (client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r));

  await using plc = await connect(`opc.tcp://127.0.0.1:${port}`, { pkiDir: join(dir, 'client'), requestTimeoutMs: 5000 });
  const it = plc.subscribe(['ns=1;s=Line1.Temperature'], { intervalMs: 100 });
  expect(((await it.next()).value as TagValue[])[0]?.quality).toBe('good');
  const pending = plc.readMany(Array.from({ length: 5000 }, () => 'ns=1;s=Line1.Temperature'));
  relay.close();
  for (const s of sockets) s.resetAndDestroy();
  const values = await pending;
  const bad = values.filter((v) => v.quality === 'bad');
  // The read may have been answered before the reset landed; if not, every value says the connection was lost.
  if (bad.length > 0) expect(new Set(bad.map((v) => v.error?.code)), bad[0]?.error?.message).toEqual(new Set(['BIFROST_CONNECTION_LOST']));
  expect(((await it.next()).value as TagValue[])[0]?.quality).toBe('bad');
  const [after] = await plc.readMany(['ns=1;s=Line1.Temperature']);
  expect(after?.quality).toBe('bad');
  expect(after?.error?.code).toMatch(/BIFROST_(CONNECTION_REFUSED|NOT_CONNECTED)/);
  await it.return?.(undefined);
}, 60_000);
