/**
 * The gateway runtime in-process, on the real Modbus simulator: the audited write path, devices
 * that fail alone, config errors with lines, pipelines with alarms, health and metrics.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect, parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let sim: RunningSimulator;
let garbage: Server;
let garbagePort: number;
let deadPort: number;
let gw: Gateway;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-gw-'));

const yaml = () => `
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 50
    tags:
      - { name: temperature, address: "HR0:FLOAT32", unit: degC }
      - { name: parts, address: "HR4:UINT16" }
      - { name: setpoint, address: "HR10:FLOAT32", writable: true, min: 0, max: 120 }
      - { name: scaled, address: "HR10:FLOAT32", writable: true, scale: { gain: 10 } }
      - { name: counter, address: "HR6:UINT32" }
  - name: dead1
    url: modbus://127.0.0.1:${deadPort}?unit=1&timeout=200
    pollMs: 50
    tags: [{ name: x, address: HR0 }]
  - name: garbage1
    url: modbus://127.0.0.1:${garbagePort}?unit=1&timeout=200
    pollMs: 50
    tags: [{ name: x, address: HR0 }]
pipelines:
  - name: setpoint-high
    from: [press1.setpoint]
    steps:
      - alarm: { above: 100, hysteresis: 1, message: setpoint high }
  - name: temp-window
    from: [press1.temperature]
    steps:
      - window: { type: tumbling, size: 200ms }
        aggregate: [mean, max]
audit: { file: ${join(dir, 'audit.jsonl')} }
`;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  deadPort = await freePort();
  garbage = createServer((s) => {
    s.on('data', () => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', () => r()));
  garbagePort = (garbage.address() as { port: number }).port;
  const { config, source } = parseGatewayConfig(yaml(), 'gw.yaml');
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  garbage?.close();
});

const audit = () =>
  readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('gateway runtime', () => {
  it('polls the good device while a dead one and a garbage-speaking one fail alone', async () => {
    await waitFor(() => (gw.devices().find((d) => d.config.name === 'press1')?.stats.polls ?? 0) > 20, 10_000);
    const by = Object.fromEntries(gw.devices().map((d) => [d.config.name, d.stats]));
    expect(by.press1?.health).toBe('connected');
    expect(by.dead1?.health).toBe('disconnected');
    expect(by.dead1?.lastError?.code).toMatch(/BIFROST_(CONNECTION_REFUSED|NOT_CONNECTED)/);
    // A device that speaks garbage is dropped and redialled over and over, so its health at any
    // one moment may be any state of that cycle; what holds is that it fails, alone.
    expect(by.garbage1?.lastError?.code).toBeDefined();
    expect(gw.latestOf('garbage1', 'x')?.quality ?? 'bad').toBe('bad');
    expect(gw.latestOf('press1', 'temperature')?.quality).toBe('good');
    expect(gw.latestOf('press1', 'temperature')?.unit).toBe('degC');
    expect(gw.latestOf('dead1', 'x')?.quality).toBe('bad');
    expect(gw.health().status).toBe('degraded');
  });

  it('writes a writable tag through the audited path, and the PLC holds the value', async () => {
    const r = await gw.write({ device: 'press1', tag: 'setpoint', value: 72.5, user: 'alice', source: 'test' });
    expect(r.newValue).toBe(72.5);
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(72.5);
    const last = audit().at(-1);
    expect(last).toMatchObject({ user: 'alice', source: 'test', device: 'press1', tag: 'setpoint', address: 'HR10:FLOAT32', newValue: 72.5, result: 'ok' });
    expect(typeof last?.oldValue).toBe('number');
    expect(Date.parse(last?.time as string)).toBeGreaterThan(0);
  });

  it('applies scaling both ways: engineering units in, raw units to the PLC', async () => {
    await gw.write({ device: 'press1', tag: 'scaled', value: 500, user: 'alice', source: 'test' });
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(50);
    await waitFor(() => gw.latestOf('press1', 'scaled')?.value === 500, 5000);
  });

  it.each([
    [{ device: 'press1', tag: 'temperature', value: 1 }, 'BIFROST_WRITE_NOT_ALLOWED', 'denied'],
    [{ device: 'press1', tag: 'setpoint', value: 500 }, 'BIFROST_VALUE_OUT_OF_RANGE', 'denied'],
    [{ device: 'press1', tag: 'setpoint', value: 'hot' }, 'BIFROST_TYPE_MISMATCH', 'denied'],
    [{ device: 'press1', tag: 'nope', value: 1 }, 'BIFROST_GATEWAY_UNKNOWN_TAG', 'denied'],
    [{ device: 'dead1', tag: 'x', value: 1 }, 'BIFROST_WRITE_NOT_ALLOWED', 'denied'],
  ] as const)('refuses %j with %s, audits it, and nothing reaches the PLC', async (req, code, result) => {
    await using plc = await connect(sim.url);
    const before = (await plc.read('HR10:FLOAT32')).value;
    const err = (await gw.write({ ...req, user: 'bob', source: 'test' }).catch((e) => e)) as BifrostError;
    expect(err).toBeInstanceOf(BifrostError);
    expect(err.code).toBe(code);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(before);
    expect(audit().at(-1)).toMatchObject({ user: 'bob', device: req.device, tag: req.tag, result, error: { code } });
  });

  it('raises, then clears and acknowledges a pipeline alarm', async () => {
    await gw.write({ device: 'press1', tag: 'setpoint', value: 110, user: 'alice', source: 'test' });
    const raised = await waitFor(() => gw.alarms().find((a) => a.pipeline === 'setpoint-high' && a.state === 'active'), 5000);
    expect(raised.message).toMatch(/setpoint high/);
    await gw.write({ device: 'press1', tag: 'setpoint', value: 70, user: 'alice', source: 'test' });
    await waitFor(() => gw.alarms().find((a) => a.id === raised.id)?.state === 'cleared', 5000);
    expect(gw.acknowledgeAlarm(raised.id, 'carol')).toBe(true);
    expect(gw.alarms().find((a) => a.id === raised.id)).toBeUndefined();
    expect(gw.acknowledgeAlarm('no-such-alarm', 'carol')).toBe(false);
  });

  it('emits window aggregates and keeps history in the store', async () => {
    const agg = await new Promise<Record<string, unknown>>((resolve) => {
      const on = (e: { pipeline: string; event: unknown }) => {
        if (e.pipeline === 'temp-window' && (e.event as { kind: string }).kind === 'aggregate') {
          gw.off('pipeline', on);
          resolve(e.event as Record<string, unknown>);
        }
      };
      gw.on('pipeline', on);
    });
    expect(agg.end as number).toBe((agg.start as number) + 200);
    expect((agg.aggregates as { max: number }).max).toBeGreaterThanOrEqual((agg.aggregates as { mean: number }).mean);
    const h = gw.store?.query('press1.counter', { from: 0, to: Date.now(), maxPoints: 1000 });
    expect(h?.t.length).toBeGreaterThan(5);
    expect(h?.v.every((v, i, a) => i === 0 || v >= (a[i - 1] as number))).toBe(true);
  });

  it('serves Prometheus metrics per device', () => {
    const m = gw.metrics();
    expect(m).toMatch(/^# TYPE bifrost_device_polls_total counter$/m);
    expect(m).toMatch(/^bifrost_device_polls_total\{device="press1"\} [1-9]\d*$/m);
    expect(m).toMatch(/^bifrost_device_up\{device="press1"\} 1$/m);
    expect(m).toMatch(/^bifrost_device_up\{device="dead1"\} 0$/m);
    expect(m).toMatch(/^bifrost_store_points \d+$/m);
    expect(m).toMatch(/^bifrost_store_budget_bytes \d+$/m);
    expect(m).toMatch(/^bifrost_store_evicted_points_total 0$/m);
    expect(m).toMatch(/^bifrost_store_expired_points_total 0$/m);
  });
});

describe('gateway config validation at start', () => {
  it.each([
    [
      'a bad Modbus address',
      'devices:\n  - name: d\n    url: modbus://127.0.0.1:1\n    tags:\n      - { name: a, address: HR0 }\n      - { name: b, address: "XX9:FLOAT32" }\n',
      /cfg\.yaml:6:\d+: devices\[0\]\.tags\[1\]\.address: expected a valid modbus address/,
    ],
    ['an unknown scheme', 'devices:\n  - name: d\n    url: foo://x\n    tags: [{ name: a, address: HR0 }]\n', /cfg\.yaml:3:10: devices\[0\]\.url: expected a URL with a known scheme/],
    [
      'a window of size zero',
      'devices:\n  - name: d\n    url: modbus://127.0.0.1:1\n    tags: [{ name: a, address: HR0 }]\npipelines:\n  - name: p\n    from: [d.a]\n    steps:\n      - window: { type: tumbling, size: 0s }\n',
      /cfg\.yaml:9:\d+: pipelines\[0\]\.steps\[0\]\.window\.size: expected/,
    ],
    ['a sink without a URL', 'sinks:\n  - type: mqtt\n    qos: 1\n', /cfg\.yaml:2:\d+: sinks\[0\]\.url: expected/],
  ])('refuses %s with file, line and field', async (_name, text, message) => {
    const { config, source } = parseGatewayConfig(text, 'cfg.yaml');
    const g = new Gateway(config, { source });
    const err = (await g.start().catch((e) => e)) as BifrostError;
    expect(err.code).toBe('BIFROST_CONFIG_INVALID');
    expect(err.message).toMatch(message);
    await g.stop();
  });
});
