/**
 * @module
 * OPC UA devices fed by a subscription (`acquisition: subscribe`, issue 16): against a real
 * node-opcua server over a simulated plant, values reach the store, the live `batch` event and
 * an MQTT sink (Mosquitto) as a polled group's would; tags that did not change are not sent
 * again; a node the server does not know is bad with its status; a server restart turns the tags
 * bad with the connection's error and they recover on the new session; a subscribed device and a
 * polled one over the same changing plant end with the same latest values; and a driver that
 * cannot subscribe has the field refused with the device named.
 */
import { unsubscribe as offChannel, subscribe as onChannel } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { BifrostError, ConfigSource, parseGatewayConfig } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { Gateway, type ValueBatch } from '@bifrost/gateway';
import { OpcUaServer, SimulatedPlant } from '@bifrost/opcua';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-gw-uasub-'));
const plant = new SimulatedPlant({}, 7);
let server: OpcUaServer;
let port: number;
let broker: RunningMosquitto;

const startServer = async () => {
  const s = new OpcUaServer({ provider: plant, host: '127.0.0.1', port, pkiDir: join(dir, 'server-pki'), acceptUnknownCertificates: true, users: {} });
  await s.start();
  return s;
};

beforeAll(async () => {
  port = await freePort();
  server = await startServer();
  broker = await startMosquitto({ dir: mkdtempSync(join(dir, 'mosq-')) });
}, 60_000);

afterAll(async () => {
  plant.stop();
  await server?.close();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const tags = (prefix = '') =>
  [
    `      - { name: temperature, address: "ns=1;s=Line1.Temperature" }`,
    `      - { name: count, address: "ns=1;s=Line1.Count" }`,
    `      - { name: setpoint, address: "ns=1;s=Line1.Setpoint" }`,
    `      - { name: mode, address: "ns=1;s=Line1.Mode" }`,
    `      - { name: level, address: "ns=1;s=Line1.Level", deadband: 5 }`,
    ...(prefix === '' ? [`      - { name: nope, address: "ns=1;s=Line1.NoSuchNode" }`] : []),
  ].join('\n');

const device = (name: string, acquisition: 'poll' | 'subscribe', extra = '') =>
  `  - name: ${name}\n    url: opc.tcp://127.0.0.1:${port}\n    pollMs: 200\n    acquisition: ${acquisition}\n    options: { pkiDir: ${join(dir, `client-${name}`)} }\n${extra}    tags:\n${tags(name === 'sub' ? '' : name)}\n`;

it('a subscribed device feeds the store, the live batch and MQTT; unchanged tags are not sent again; an unknown node is bad with its status', async () => {
  plant.start(100);
  const sub = await mqtt.connectAsync(broker.url);
  const messages: Array<{ topic: string; body: { value: unknown; quality: string } }> = [];
  sub.on('message', (topic, payload) => messages.push({ topic, body: JSON.parse(payload.toString()) }));
  await sub.subscribeAsync('uasub/#', { qos: 1 });
  const { config, source } = parseGatewayConfig(
    `gateway: { site: uasub }\ndataDir: ${join(dir, 'data1')}\ndevices:\n${device('sub', 'subscribe')}sinks:\n  - { type: mqtt, url: "${broker.url}" }\n`,
    'gw.yaml',
  );
  const gw = new Gateway(config, { source, baseDir: dir });
  // Subscribed, the device sends no Read for the values (only its connect reads the server's limits, with session.read).
  const reads: unknown[] = [];
  const onRequest = (m: unknown) => reads.push(m);
  onChannel('bifrost:opcua:request', onRequest);
  const batches: Array<{ tags: string[]; qualities: number[] }> = [];
  gw.on('batch', (b: ValueBatch) => {
    batches.push({ tags: Array.from(b.index.subarray(0, b.count), (i) => b.tags[i]?.name as string), qualities: [...b.quality.subarray(0, b.count)] });
  });
  await gw.start();
  try {
    await waitFor(() => gw.devices()[0]?.stats.polls !== undefined && (gw.devices()[0]?.stats.polls ?? 0) >= 6, 20_000);
    // The first notification carries every tag, the unknown node bad with the server's status.
    expect(batches[0]?.tags.sort()).toEqual(['count', 'level', 'mode', 'nope', 'setpoint', 'temperature']);
    const nope = gw.latestOf('sub', 'nope');
    expect(nope?.quality).toBe('bad');
    expect(nope?.error?.statusName).toBe('BadNodeIdUnknown');
    expect(gw.latestOf('sub', 'setpoint')).toMatchObject({ value: 80, quality: 'good' });
    expect(gw.latestOf('sub', 'mode')).toMatchObject({ value: 'auto', quality: 'good' });
    // Later notifications carry only what changed: the setpoint, the mode and the unknown node never again.
    const later = batches.slice(1).flatMap((b) => b.tags);
    expect(later).toContain('temperature');
    expect(later).toContain('count');
    for (const quiet of ['setpoint', 'mode', 'nope', 'level']) expect(later).not.toContain(quiet);
    // The store has the counter's points, increasing.
    const pts = gw.store?.query('sub.count', { from: 0, to: Date.now() + 1000 });
    expect(pts?.v.length).toBeGreaterThan(3);
    for (let k = 1; k < (pts?.v.length ?? 0); k++) expect(pts?.v[k]).toBeGreaterThanOrEqual(pts?.v[k - 1] as number);
    // MQTT: the unchanged tags once, the moving ones many times.
    await waitFor(() => messages.filter((m) => m.topic.endsWith('/count')).length >= 4, 10_000);
    const on = (t: string) => messages.filter((m) => m.topic.endsWith(`/sub/${t}`));
    expect(on('setpoint').map((m) => m.body.value)).toEqual([80]);
    expect(on('mode').map((m) => m.body.value)).toEqual(['auto']);
    expect(on('nope').map((m) => m.body.quality)).toEqual(['bad']);
    // The level moves by 3 (below its deadband of 5): live batch and store see it, the sink does not.
    await plant.write('Line1', 'Level', 3);
    await waitFor(() => gw.latestOf('sub', 'level')?.value === 3, 5000);
    expect(batches.flatMap((b) => b.tags).filter((t) => t === 'level')).toHaveLength(2);
    await plant.write('Line1', 'Level', 9);
    await waitFor(() => on('level').length === 2, 5000);
    expect(on('level').map((m) => m.body.value)).toEqual([0, 9]);
    const stats = gw.devices()[0]?.stats;
    expect(stats?.overruns).toBe(0);
    expect(stats?.health).toBe('degraded');
    expect(reads).toEqual([]);
  } finally {
    offChannel('bifrost:opcua:request', onRequest);
    await gw.stop();
    await sub.endAsync();
  }
}, 60_000);

it('a subscribed and a polled device over the same changing plant end with the same latest values', async () => {
  plant.start(100);
  const { config, source } = parseGatewayConfig(`dataDir: ${join(dir, 'data2')}\ndevices:\n${device('subs', 'subscribe')}${device('polled', 'poll')}`, 'gw.yaml');
  const gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  const names = ['temperature', 'count', 'setpoint', 'mode', 'level'];
  const same = () => names.every((n) => gw.latestOf('subs', n)?.quality === 'good' && JSON.stringify(gw.latestOf('subs', n)?.value) === JSON.stringify(gw.latestOf('polled', n)?.value));
  // Both caught up with a still plant (the counter moves on every step), not two equally late views of it.
  const settled = () => same() && gw.latestOf('subs', 'count')?.value === plant.latest('Line1', 'Count')?.value;
  try {
    await waitFor(() => (gw.devices()[0]?.stats.polls ?? 0) > 3 && (gw.devices()[1]?.stats.polls ?? 0) > 3, 20_000);
    // Random changes, then a still plant: both ways must agree on every tag.
    let seed = 11;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 3; round++) {
      plant.stop();
      await plant.write('Line1', 'Setpoint', Math.round(rnd() * 1000) / 10);
      await plant.write('Line1', 'Mode', ['auto', 'manual', 'off'][round] as string);
      await plant.write('Line1', 'Level', Math.round(rnd() * 100));
      plant.step();
      await waitFor(settled, 10_000);
      expect(gw.latestOf('polled', 'setpoint')?.value).toBe(plant.latest('Line1', 'Setpoint')?.value);
      plant.start(50);
      await new Promise((r) => setTimeout(r, 300 + rnd() * 300));
    }
    plant.stop();
    await waitFor(settled, 10_000);
    for (const n of names) expect(gw.latestOf('subs', n)?.value, n).toEqual(gw.latestOf('polled', n)?.value);
  } finally {
    await gw.stop();
  }
}, 60_000);

it('a server restart: the subscribed tags go bad with the connection error, then recover on the new session', async () => {
  plant.start(100);
  const { config, source } = parseGatewayConfig(`dataDir: ${join(dir, 'data3')}\ndevices:\n${device('sub', 'subscribe', '    timeoutMs: 1000\n')}`, 'gw.yaml');
  const gw = new Gateway(config, { source, baseDir: dir });
  gw.on('warning', () => {});
  await gw.start();
  try {
    await waitFor(() => gw.latestOf('sub', 'count')?.quality === 'good', 20_000);
    await server.close();
    await waitFor(() => gw.latestOf('sub', 'count')?.quality === 'bad', 20_000);
    const err = gw.latestOf('sub', 'count')?.error;
    expect(err?.code).toMatch(/BIFROST_(CONNECTION_LOST|CONNECTION_REFUSED|NOT_CONNECTED)/);
    expect(gw.latestOf('sub', 'setpoint')?.quality).toBe('bad');
    server = await startServer();
    await waitFor(() => gw.latestOf('sub', 'count')?.quality === 'good' && gw.latestOf('sub', 'setpoint')?.quality === 'good', 30_000);
    const before = gw.latestOf('sub', 'count')?.value as number;
    await waitFor(() => (gw.latestOf('sub', 'count')?.value as number) > before, 5000);
    expect(gw.latestOf('sub', 'nope')?.error?.statusName).toBe('BadNodeIdUnknown');
  } finally {
    await gw.stop();
  }
}, 90_000);

it('deadAfter: a quiet plant whose server sends keep-alives is alive, not reset', async () => {
  plant.stop();
  const { config, source } = parseGatewayConfig(`dataDir: ${join(dir, 'data4')}\ndevices:\n${device('sub', 'subscribe', '    deadAfter: 1s\n')}`, 'gw.yaml');
  const gw = new Gateway(config, { source, baseDir: dir });
  const health: string[] = [];
  gw.on('health', (e) => health.push(e.state));
  await gw.start();
  try {
    await waitFor(() => gw.latestOf('sub', 'count')?.quality === 'good', 20_000);
    const polls = gw.devices()[0]?.stats.polls;
    // Four times deadAfter without a single change: only keep-alives (asked for every 500 ms) come.
    await new Promise((r) => setTimeout(r, 4000));
    expect(gw.devices()[0]?.stats.polls).toBe(polls);
    expect(health).not.toContain('disconnected');
    expect(gw.latestOf('sub', 'count')?.quality).toBe('good');
  } finally {
    await gw.stop();
  }
}, 60_000);

it('refuses acquisition: subscribe on a driver that cannot subscribe, naming the device and the line', async () => {
  const text = `devices:\n  - name: press1\n    url: modbus://127.0.0.1:5020\n    acquisition: subscribe\n    tags:\n      - { name: t, address: HR0 }\n`;
  const { config } = parseGatewayConfig(text, 'gw.yaml');
  const gw = new Gateway(config, { source: new ConfigSource('gw.yaml', text), baseDir: dir });
  const e = await gw.validate().then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BifrostError);
  expect((e as BifrostError).code).toBe('BIFROST_CONFIG_INVALID');
  expect((e as BifrostError).message).toMatch(/gw\.yaml:4/);
  expect((e as BifrostError).message).toMatch(/press1 uses the modbus driver, which cannot subscribe/);
  // The schema refuses anything but poll and subscribe.
  expect(() => parseGatewayConfig(text.replace('subscribe', 'push'), 'gw.yaml')).toThrow(/acquisition/);
});
