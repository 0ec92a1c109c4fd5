/**
 * @module
 * `bifrost demo`, the README's main job, run as the real process: four simulators, the gateway,
 * the embedded broker and the web dashboard come up; data from every protocol reaches MQTT (read
 * by Debian's mosquitto_sub, an independent client); Ctrl-C stops it cleanly. The default ports
 * (1883, 8080) are held by this test, as Debian's Mosquitto or another web server would hold them
 * on a user's machine, so the demo must fall back to free ports rather than fail.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, expect, it } from 'vitest';
import { BIN, ensureBuilt, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-demo-'));
const held: Server[] = [];
afterAll(async () => {
  for (const s of held) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Takes a port on 127.0.0.1; if something already has it, it is taken all the same. */
function hold(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve() : reject(e)));
    s.listen(port, '127.0.0.1', () => {
      held.push(s);
      resolve();
    });
  });
}

it('brings up the whole plant on free ports when 1883 and 8080 are taken, forwards every protocol to MQTT, and stops on Ctrl-C', async () => {
  ensureBuilt();
  await hold(1883);
  await hold(8080);
  const child = spawn(process.execPath, [BIN, 'demo', '--no-dashboard'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('Bifrost demo is running') && /dashboard: http/.test(out) && /OPC UA server/.test(out), 60_000);
    const mqttUrl = /MQTT: (mqtt:\/\/\S+)/.exec(out)?.[1] as string;
    const webUrl = /dashboard: (http:\/\/\S+)/.exec(out)?.[1] as string;
    const mqtt = new URL(mqttUrl);
    expect(mqtt.port).not.toBe('1883');
    expect(new URL(webUrl).port).not.toBe('8080');

    // 400 messages or 30 s, whichever first; every protocol's device must be among the topics.
    const { stdout } = await promisify(execFile)('mosquitto_sub', ['-h', mqtt.hostname, '-p', mqtt.port, '-t', 'bifrost/#', '-v', '-C', '400', '-W', '30'], { maxBuffer: 1 << 24 }).catch(
      (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
    );
    const devices = new Set(
      stdout
        .split('\n')
        .map((line) => /^bifrost\/demo\/([^/ ]+)\//.exec(line)?.[1])
        .filter(Boolean),
    );
    for (const prefix of ['modbus-', 's7-', 'eip-', 'opcua-'])
      expect(
        [...devices].some((d) => d?.startsWith(prefix)),
        `${prefix} in ${[...devices].join(', ')}`,
      ).toBe(true);
    const payload = JSON.parse(stdout.split('\n')[0]?.replace(/^\S+ /, '') ?? '') as Record<string, unknown>;
    expect(payload).toMatchObject({ quality: expect.any(String), timestamp: expect.any(Number) });

    // The gateway serves the plant over OPC UA too, at the URL the demo prints.
    const opcuaUrl = /OPC UA server[^:]*: (opc\.tcp:\/\/\S+)/.exec(out)?.[1] as string;
    expect(opcuaUrl, out).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
    const read = await runCli(['read', opcuaUrl, 'ns=1;s=modbus-press1.temperature', '--json'], { timeoutMs: 60_000 });
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toMatch(/"quality":\s*"good"/);

    const metrics = await fetch(new URL('metrics', webUrl));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^bifrost_/m);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
  expect(out).toContain('demo stopped');
}, 120_000);
