/**
 * @module
 * Regression (issue 23.4, "repeated log lines are rate-limited everywhere"): a device that speaks
 * garbage is dropped and redialled on every poll, and `bifrost run` logged three health lines per
 * poll (connecting, connected, disconnected) for as long as it lasted. Now the first line of each
 * kind is logged at once and the rest as one line with a count per interval.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../helpers.js';

let garbage: Server;
let port = 0;
beforeAll(async () => {
  garbage = createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
  });
  await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', () => r()));
  port = (garbage.address() as { port: number }).port;
});
afterAll(() => garbage?.close());

it('logs a flapping device a few times, not three lines per poll', async () => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-flap-'));
  writeFileSync(
    join(dir, 'gw.yaml'),
    `devices:\n  - name: garbage1\n    url: modbus://127.0.0.1:${port}?unit=1&timeout=200\n    pollMs: 50\n    deadAfter: 0\n    tags: [{ name: x, address: HR0 }]\n`,
  );
  const child = spawn(process.execPath, [BIN, 'run', join(dir, 'gw.yaml'), '--log-level', 'info'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => setTimeout(r, 4000));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const lines = out.split('\n').filter((l) => l.includes('garbage1'));
  const changes = lines.filter((l) => l.includes('→'));
  const summaries = lines.filter((l) => l.includes('repeated'));
  // 4 s at 50 ms polls is about 80 redials: without the limit, well over 100 lines.
  expect(changes.length, out).toBeGreaterThan(0);
  expect(changes.length).toBeLessThanOrEqual(6);
  expect(summaries.length).toBeGreaterThan(0);
}, 30_000);
