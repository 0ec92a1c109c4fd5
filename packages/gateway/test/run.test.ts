/**
 * The real `bifrost run` process against a simulator process and a real Mosquitto: values arrive
 * with the configured topics and payloads, a killed and restarted simulator recovers, SIGHUP
 * applies a change, SIGTERM stops cleanly, and records queued while the broker was down survive
 * SIGTERM and arrive after a restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const children = new Set<ChildProcess>();

function bifrost(args: string[], cwd: string): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return Object.assign(child, { output: () => out });
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

async function startSim(port: number, cwd: string) {
  const sim = bifrost(['simulate', 'modbus', '--port', String(port)], cwd);
  await waitFor(() => sim.output().includes('listening'), 15_000);
  return sim;
}

interface Message {
  topic: string;
  payload: { device: string; tag: string; value: unknown; quality: string; timestamp: number; unit?: string };
}

function subscribe(url: string, topic: string): Promise<{ client: MqttClient; messages: Message[] }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 200 });
    const messages: Message[] = [];
    client.on('message', (t, p) => messages.push({ topic: t, payload: JSON.parse(p.toString()) }));
    client.once('connect', () => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve({ client, messages }))));
    client.once('error', reject);
  });
}

let dir: string;
let broker: RunningMosquitto;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bifrost-run-'));
  broker = await startMosquitto({ dir });
}, 30_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await broker?.close();
});

function writeConfig(file: string, simPort: number, metricsPort: number, extraTags = ''): void {
  writeFileSync(
    file,
    `gateway: { name: line1, site: dallas, area: press-shop }
devices:
  - name: press1
    url: modbus://127.0.0.1:${simPort}?unit=1&timeout=300
    pollMs: 100
    tags:
      - { name: temperature, address: "HR0:FLOAT32", unit: degC }
      - { name: parts, address: "HR4:UINT16" }
${extraTags}
sinks:
  - type: mqtt
    url: ${broker.url}
    clientId: gw-${simPort}
    topic: "{site}/{area}/{device}/{tag}"
    qos: 1
    buffer: { dir: ./queue, fsync: batch }
metrics: { port: ${metricsPort} }
`,
  );
}

describe('bifrost run', () => {
  it('forwards values, survives a simulator restart, reloads on SIGHUP and stops on SIGTERM', async () => {
    const simPort = await freePort();
    const metricsPort = await freePort();
    const file = join(dir, 'gw1.yaml');
    writeConfig(file, simPort, metricsPort);
    let sim = await startSim(simPort, dir);
    const { client, messages } = await subscribe(broker.url, 'dallas/press-shop/#');
    const gw = bifrost(['run', file], dir);

    // Values arrive with the configured topic and a JSON payload.
    const first = await waitFor(() => messages.find((m) => m.topic === 'dallas/press-shop/press1/temperature'), 20_000);
    expect(first.payload).toMatchObject({ device: 'press1', tag: 'temperature', quality: 'good', unit: 'degC' });
    expect(typeof first.payload.value).toBe('number');
    expect(first.payload.timestamp).toBeGreaterThan(Date.now() - 60_000);
    const health = (await (await fetch(`http://127.0.0.1:${metricsPort}/health`)).json()) as { status: string; devices: Record<string, string> };
    expect(health.devices.press1).toBe('connected');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^bifrost_device_polls_total\{device="press1"\} \d+$/m);

    // The simulator dies: the device goes down, the gateway keeps running; it comes back.
    sim.kill('SIGKILL');
    await exited(sim);
    await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${metricsPort}/health`)).json()) as { devices: Record<string, string> }).devices.press1 === 'disconnected', 10_000);
    sim = await startSim(simPort, dir);
    const restartedAt = Date.now();
    await waitFor(() => messages.some((m) => m.topic.endsWith('/parts') && m.payload.quality === 'good' && m.payload.timestamp > restartedAt), 20_000);

    // SIGHUP applies a changed config: a new tag starts flowing.
    writeConfig(file, simPort, metricsPort, '      - { name: pressure, address: "HR2:FLOAT32", unit: bar }');
    gw.kill('SIGHUP');
    await waitFor(() => messages.some((m) => m.topic === 'dallas/press-shop/press1/pressure'), 20_000);
    expect(gw.output()).toMatch(/config reloaded/);

    // SIGTERM: a clean stop, exit code 0.
    gw.kill('SIGTERM');
    expect(await exited(gw)).toBe(0);
    expect(gw.output()).toMatch(/stopped/);
    client.end();
    sim.kill('SIGTERM');
  }, 120_000);

  it('keeps records queued while the broker is down across SIGTERM and delivers them after a restart', async () => {
    const simPort = await freePort();
    const metricsPort = await freePort();
    const file = join(dir, 'gw2.yaml');
    writeConfig(file, simPort, metricsPort);
    const sim = await startSim(simPort, dir);
    await broker.stop();
    const gw = bifrost(['run', file], dir);
    // Run with the broker down until some records are queued on disk.
    const queued = async () => {
      const m = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.text();
      return Number(/bifrost_sink_queue_appended\{sink="mqtt-0"\} (\d+)/.exec(m ?? '')?.[1] ?? 0);
    };
    // About four seconds of data: several parts-counter steps (it counts once a second).
    await waitFor(async () => (await queued()) >= 45, 30_000);
    const appended = await queued();
    const stoppedAt = Date.now();
    gw.kill('SIGTERM');
    expect(await exited(gw)).toBe(0);

    await broker.start();
    const { client, messages } = await subscribe(broker.url, 'dallas/press-shop/#');
    const gw2 = bifrost(['run', file], dir);
    // Every record appended before SIGTERM arrives, and the parts counter has no gap in it.
    const before = () => messages.filter((m) => m.payload.timestamp < stoppedAt);
    await waitFor(() => before().length >= appended, 30_000);
    const parts = before()
      .filter((m) => m.topic.endsWith('/parts'))
      .map((m) => Number(m.payload.value));
    expect(parts.length).toBeGreaterThan(1);
    for (let i = 1; i < parts.length; i++) expect(parts[i]).toBe((parts[i - 1] as number) + 1);
    gw2.kill('SIGTERM');
    expect(await exited(gw2)).toBe(0);
    client.end();
    sim.kill('SIGTERM');
  }, 120_000);

  it('refuses a broken config at start with file, line and field, and exit code 1', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'devices:\n  - name: d\n    url: modbus://127.0.0.1:1\n    pollMs: soon\n    tags: [{ name: a, address: HR0 }]\n');
    const gw = bifrost(['run', file], dir);
    expect(await exited(gw)).toBe(1);
    expect(gw.output()).toMatch(/BIFROST_CONFIG_INVALID .*broken\.yaml:4:13: devices\[0\]\.pollMs: expected a duration/);
  }, 30_000);
});
