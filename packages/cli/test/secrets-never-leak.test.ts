/**
 * Secret references resolved for real by `bifrost run`, and the secret found nowhere a person or a
 * program can read: the sink's MQTT password comes from a 0600 file (`${file:…}`) and opens a real
 * Mosquitto that refuses anyone else, while the logs (debug level), the web API, /metrics, the
 * `--check` output (text and JSON), a failed reload and a crash report with BIFROST_DEBUG=1 are all
 * searched for the value.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import type { RunningSimulator } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/modbus';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt, runCli } from './helpers.js';

const SECRET = `S3cret-${randomBytes(12).toString('hex')}`;
const children = new Set<ChildProcess>();
let dir: string;
let broker: RunningMosquitto;
let sim: RunningSimulator;
let secretFile: string;
let config: string;
let webPort: number;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bifrost-leak-'));
  broker = await startMosquitto({ dir, users: { gw: SECRET } });
  sim = await startSimulator({ port: 0 });
  secretFile = join(dir, 'mqtt-password');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  webPort = await freePort();
  config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    `devices:
  - name: press
    url: ${sim.url}
    pollMs: 100
    tags: [{ name: hr0, address: HR0 }, { name: hr1, address: HR1 }]
sinks:
  - type: mqtt
    name: plant
    url: ${broker.url}
    username: gw
    password: "\${file:${secretFile}}"
    topic: leak/{device}/{tag}
    buffer: { dir: ./queue }
web: { port: ${webPort}, anonymous: admin }
`,
  );
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await sim?.close();
  await broker?.close();
});

describe('a secret from a file', () => {
  it('opens the broker, and appears in no log, API answer, metric, check output or crash report', async () => {
    const outputs: Record<string, string> = {};
    const check = await runCli(['run', config, '--check']);
    expect(check.code, check.stderr).toBe(0);
    outputs['--check'] = check.stdout + check.stderr;
    const checkJson = await runCli(['--json', 'run', config, '--check']);
    outputs['--json --check'] = checkJson.stdout + checkJson.stderr;

    const gw = spawn(process.execPath, [BIN, 'run', config], { cwd: dir, env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'trace' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(gw);
    let log = '';
    gw.stdout.on('data', (d) => (log += d));
    gw.stderr.on('data', (d) => (log += d));
    await waitFor(() => log.includes('dashboard and API'), 20_000);

    // The resolved password really is the broker's: values arrive through it.
    const client = mqtt.connect(broker.url, { username: 'gw', password: SECRET });
    const got: string[] = [];
    client.on('message', (t) => got.push(t));
    await new Promise<void>((r, j) => client.once('connect', () => client.subscribe('leak/#', { qos: 1 }, (e) => (e ? j(e) : r()))));
    await waitFor(() => got.length > 0, 15_000);
    client.end(true);

    for (const path of ['/api/config', '/api/sinks', '/api/devices', '/api/health', '/api/tags', '/metrics', '/api/openapi.json']) {
      const res = await fetch(`http://127.0.0.1:${webPort}${path}`);
      expect(res.status, path).toBe(200);
      outputs[path] = await res.text();
    }
    expect(JSON.parse(outputs['/api/config'] as string).sinks[0].password).toBe('***');

    // SIGHUP re-resolves: a file made world-readable is refused, and the refusal names the field only.
    chmodSync(secretFile, 0o644);
    gw.kill('SIGHUP');
    await waitFor(() => log.includes('reload refused'), 10_000);
    expect(log).toMatch(/BIFROST_SECRET_INSECURE.*sinks\[0\]\.password: \$\{file:/);
    chmodSync(secretFile, 0o600);

    gw.kill('SIGTERM');
    await new Promise((r) => gw.once('exit', r));
    outputs.log = log;

    // A crash report: the web port taken, with the stack printed (BIFROST_DEBUG=1).
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(webPort, '127.0.0.1', () => r()));
    const crash = await runCli(['run', config], { cwd: dir, env: { BIFROST_DEBUG: '1', BIFROST_LOG_LEVEL: 'trace' } });
    await new Promise<void>((r) => holder.close(() => r()));
    expect(crash.stderr).toContain('BIFROST_ADDRESS_IN_USE');
    outputs['crash report'] = crash.stdout + crash.stderr;

    for (const [where, text] of Object.entries(outputs)) expect(text.includes(SECRET), `${where} contains the secret`).toBe(false);
    expect(outputs.log).toContain('gateway bifrost started');
  });
});
