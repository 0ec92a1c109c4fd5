/**
 * @module
 * The terminal dashboard's model fed by a running gateway (what `bifrost demo` and
 * `bifrost run --dashboard` show): pipeline alarms appear in the alarm list beside tag-limit
 * alarms, once when raised and once when cleared, on the real Modbus simulator.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayDeviceSet } from '../src/gateway-source.js';
import { Poller } from '../src/monitor/poller.js';

let sim: RunningSimulator;
let gw: Gateway;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  const yaml = `
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 50
    tags:
      - { name: setpoint, address: "HR10:FLOAT32", writable: true }
      - { name: oil, address: "HR12:FLOAT32", max: 80 }
pipelines:
  - name: setpoint-high
    from: [press1.setpoint]
    steps:
      - alarm: { above: 100, hysteresis: 1, message: setpoint high }
`;
  const { config, source } = parseGatewayConfig(yaml, 'gw.yaml');
  gw = new Gateway(config, { source, baseDir: mkdtempSync(join(tmpdir(), 'bifrost-cli-alarms-')) });
  await gw.start();
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
});

it('lists pipeline alarms when raised and when cleared, beside tag-limit alarms', async () => {
  await gw.write({ device: 'press1', tag: 'setpoint', value: 50, user: 'test', source: 'test' });
  // The oil tag is read-only in the gateway: the PLC itself goes over its limit.
  await gw.device('press1')?.write('HR12:FLOAT32', 85);
  const poller = new Poller(new GatewayDeviceSet(gw), 50);
  const texts = () => poller.snapshot().alarms.map((a) => `${a.state} ${a.tag} ${a.text}`);
  await waitFor(async () => {
    await poller.pollOnce();
    return texts().some((t) => t.includes('press1.oil = 85 outside'));
  }, 5000);
  expect(texts().filter((t) => t.includes('setpoint'))).toEqual([]);

  await gw.write({ device: 'press1', tag: 'setpoint', value: 110, user: 'test', source: 'test' });
  await waitFor(async () => {
    await poller.pollOnce();
    return texts().some((t) => t.startsWith('alarm press1.setpoint setpoint-high: setpoint high'));
  }, 5000);
  await gw.write({ device: 'press1', tag: 'setpoint', value: 70, user: 'test', source: 'test' });
  await waitFor(async () => {
    await poller.pollOnce();
    return texts().some((t) => t === 'normal press1.setpoint setpoint-high: setpoint high cleared');
  }, 5000);
  for (let i = 0; i < 3; i++) await poller.pollOnce();
  // Each transition is listed once however many polls see it; the newest first.
  const setpoint = texts().filter((t) => t.includes('setpoint-high'));
  expect(setpoint).toHaveLength(2);
  expect(setpoint[0]).toBe('normal press1.setpoint setpoint-high: setpoint high cleared');
  expect(setpoint[1]).toMatch(/^alarm press1\.setpoint setpoint-high: setpoint high \(110\)$/);
});
