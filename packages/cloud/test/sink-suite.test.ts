import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSink, decodeSparkplugPayload, startEmbeddedBroker } from '@bifrost/cloud';
import { makeTestPki, sinkSuite, startMosquitto } from '@bifrost/cloud/test-fixtures';
import mqtt from 'mqtt';
import { afterAll } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-suite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
type Row = { device: string; tag: string; value: unknown };
async function closeBoth(sub: { endAsync(force?: boolean): Promise<void> }, broker: { close(): Promise<void> }): Promise<void> {
  await sub.endAsync(true);
  await broker.close();
}

sinkSuite({
  name: 'mqtt, JSON, Mosquitto',
  async setup() {
    const broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
    const got: Row[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    sub.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as Row));
    await sub.subscribeAsync('s/#', { qos: 1 });
    const sink = createSink({ type: 'mqtt', url: broker.url, topic: 's/{device}/{tag}', buffer: { dir: join(root, 'q1') } });
    return { sink, received: () => got, teardown: () => closeBoth(sub, broker) };
  },
});

sinkSuite({
  name: 'mqtt, JSON, QoS 0, Mosquitto',
  async setup() {
    const broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
    const got: Row[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    sub.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as Row));
    await sub.subscribeAsync('z/#', { qos: 1 });
    const sink = createSink({ type: 'mqtt', url: broker.url, qos: 0, topic: 'z/{device}/{tag}', buffer: { dir: join(root, 'q0') } });
    return { sink, received: () => got, teardown: () => closeBoth(sub, broker) };
  },
});

sinkSuite({
  name: 'mqtt, Sparkplug B, MQTT 5, Mosquitto',
  async setup() {
    const broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
    const got: Row[] = [];
    const aliases = new Map<string, string>();
    const sub = await mqtt.connectAsync(broker.url);
    sub.on('message', (t, p) => {
      const [, , type, , device] = t.split('/');
      const payload = decodeSparkplugPayload(p);
      for (const m of payload.metrics) {
        if (type === 'DBIRTH') aliases.set(`${device}/${m.alias}`, m.name as string);
        if (type === 'DBIRTH' || type === 'DDATA') {
          const tag = type === 'DBIRTH' ? (m.name as string) : (aliases.get(`${device}/${m.alias}`) as string);
          // A DBIRTH repeats every known metric; only the metric it introduced is a new value.
          if (type === 'DBIRTH' && got.some((r) => r.device === device && r.tag === tag)) continue;
          got.push({ device: device as string, tag, value: m.double_value });
        }
      }
    });
    await sub.subscribeAsync('spBv1.0/#', { qos: 1 });
    const sink = createSink({ type: 'mqtt', url: broker.url, protocolVersion: 5, payload: 'sparkplug', sparkplug: { groupId: 'g', edgeNodeId: 'n' }, buffer: { dir: join(root, 'q2') } });
    return { sink, received: () => got, teardown: () => closeBoth(sub, broker) };
  },
});

sinkSuite({
  name: 'aws-iot profile, mutual TLS, embedded broker',
  async setup() {
    const pki = makeTestPki(mkdtempSync(join(root, 'pki-')));
    const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
    const broker = await startEmbeddedBroker({ tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: tls.ca, requestCert: true } });
    const got: Row[] = [];
    const sub = await mqtt.connectAsync(broker.url, tls);
    sub.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as Row));
    await sub.subscribeAsync('site/#', { qos: 1 });
    const sink = createSink(
      { type: 'aws-iot', url: broker.url, thingName: 'thing-1', tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey }, buffer: { dir: join(root, 'q3') } },
      { site: 'site', area: 'a' },
    );
    return { sink, received: () => got, teardown: () => closeBoth(sub, broker) };
  },
});
