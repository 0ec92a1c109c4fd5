/**
 * @module
 * Regression: a server process killed (SIGKILL, no goodbye) while a bulk read was in flight gave
 * the pending values BIFROST_OPCUA_BAD_STATUS instead of BIFROST_CONNECTION_LOST, because
 * node-opcua's "Connection aborted - ended by server" was not recognised as a lost connection.
 * The server runs in a child process so that it can be killed for real.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type TagValue } from '@bifrost/core';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-killed-'));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('turns a server killed mid-read into CONNECTION_LOST values, bad subscription values, and no crash', async () => {
  // The child runs the simulator from the sources through Vitest's own loader would be heavy; the build is used instead.
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', join(root, 'packages/opcua')], { stdio: 'pipe' });
  const script = `const { startSimulator } = await import('@bifrost/opcua'); const sim = await startSimulator({ port: 0, config: { pkiDir: ${JSON.stringify(join(dir, 'sim'))} } }); process.stdout.write('URL ' + sim.url + '\\n');`;
  const server = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  child = server;
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout?.on('data', (d) => {
      const m = /URL (\S+)/.exec(String(d));
      if (m) resolve(m[1] as string);
    });
    server.on('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  await using plc = await connect(url, { pkiDir: join(dir, 'client'), requestTimeoutMs: 5000 });
  const it = plc.subscribe(['ns=1;s=Line1.Temperature'], { intervalMs: 100 });
  expect(((await it.next()).value as TagValue[])[0]?.quality).toBe('good');
  const pending = plc.readMany(Array.from({ length: 2000 }, () => 'ns=1;s=Line1.Temperature'));
  server.kill('SIGKILL');
  const values = await pending;
  const bad = values.filter((v) => v.quality === 'bad');
  // The read may have been answered before the kill landed; if not, every value says the connection was lost.
  if (bad.length > 0) expect(new Set(bad.map((v) => v.error?.code)), bad[0]?.error?.message).toEqual(new Set(['BIFROST_CONNECTION_LOST']));
  expect(((await it.next()).value as TagValue[])[0]?.quality).toBe('bad');
  const [after] = await plc.readMany(['ns=1;s=Line1.Temperature']);
  expect(after?.quality).toBe('bad');
  await it.return?.(undefined);
}, 60_000);
