import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSink, DurableQueue, type MqttSink, type SinkRecord } from '@bifrost/cloud';
import { makeTestPki, type RunningMosquitto, startMosquitto, type TestPki } from '@bifrost/cloud/test-fixtures';
import { type BifrostError, isBifrostError } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-sink-'));
let n = 0;
const dir = (name: string) => join(root, `${name}-${n++}`);
let pki: TestPki;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(() => {
  pki = makeTestPki(mkdtempSync(join(root, 'pki-')));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const rec = (i: number, tag = 'temp', device = 'press1'): SinkRecord => ({ device, tag, value: i, quality: 'good', timestamp: 1_700_000_000_000 + i, seq: i });

async function broker(o: Omit<Parameters<typeof startMosquitto>[0], 'dir'> = {}): Promise<RunningMosquitto> {
  const b = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')), ...o });
  cleanups.push(() => b.close());
  return b;
}

async function subscriber(url: string, topic: string, extra: IClientOptions = {}): Promise<{ client: MqttClient; messages: Array<{ topic: string; payload: Buffer }> }> {
  const client = mqtt.connect(url, { reconnectPeriod: 200, ...extra });
  cleanups.push(() => client.endAsync(true));
  const messages: Array<{ topic: string; payload: Buffer }> = [];
  client.on('message', (t, p) => messages.push({ topic: t, payload: p }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

function track(sink: MqttSink): BifrostError[] {
  const errors: BifrostError[] = [];
  sink.on('error', (e) => errors.push(e));
  cleanups.push(() => sink.stop());
  return errors;
}

describe('MQTT sink against Mosquitto', () => {
  it('plain MQTT 3.1.1: publishes JSON records to the unified-namespace topic and acks the queue after PUBACK', async () => {
    const b = await broker();
    const sub = await subscriber(b.url, 'plant1/#');
    const sink = createSink({ type: 'mqtt', url: b.url, site: 'plant1', area: 'pressing', buffer: { dir: dir('plain') }, maxInflight: 50 });
    track(sink);
    await sink.start();
    await sink.connected(10_000);
    await sink.publish(Array.from({ length: 120 }, (_, i) => rec(i, i % 2 ? 'temp' : 'pressure')));
    await waitFor(() => sub.messages.length >= 120, 10_000);
    expect(sub.messages[0]?.topic).toBe('plant1/pressing/press1/pressure');
    expect(sub.messages[1]?.topic).toBe('plant1/pressing/press1/temp');
    expect(sub.messages.map((m) => (JSON.parse(m.payload.toString()) as SinkRecord).seq)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(JSON.parse(sub.messages[5]?.payload.toString() ?? '')).toEqual(rec(5, 'temp'));
    await waitFor(() => sink.metrics().queue?.depth === 0, 5000);
    expect(sink.metrics()).toMatchObject({ connected: true, published: 120, rejected: 0 });
    await sink.stop();
    await sink.stop();
  });

  it('TLS: connects with the CA, and reports an untrusted server certificate as BIFROST_CLOUD_TLS while keeping the data', async () => {
    const b = await broker({ tls: { pki } });
    const sub = await subscriber(b.url, 'a/#', { ca: readFileSync(pki.caCert) });
    const good = createSink({ type: 'mqtt', url: b.url, topic: 'a/{device}/{tag}', tls: { ca: pki.caCert }, buffer: { dir: dir('tls') } });
    track(good);
    await good.start();
    await good.publish(rec(1));
    await waitFor(() => sub.messages.length === 1, 10_000);
    expect(sub.messages[0]?.topic).toBe('a/press1/temp');

    const bad = createSink({ type: 'mqtt', url: b.url, topic: 'a/{device}/{tag}', buffer: { dir: dir('tls-bad') } });
    const errors = track(bad);
    await bad.start();
    await bad.publish(rec(2));
    await waitFor(() => errors.length > 0, 10_000);
    expect(errors[0]?.code).toBe('BIFROST_CLOUD_TLS');
    expect(errors[0]?.message).toMatch(/TLS handshake with mqtts:\/\/127\.0\.0\.1:\d+ failed/);
    expect(bad.metrics()).toMatchObject({ connected: false, published: 0 });
    expect(bad.metrics().connectFailures).toBeGreaterThan(0);
    expect(bad.metrics().queue?.depth).toBe(1);
  });

  it('mutual TLS: the client certificate is accepted, a missing or rogue one refused', async () => {
    const b = await broker({ tls: { pki, requireCertificate: true } });
    const sub = await subscriber(b.url, 'm/#', { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
    const ok = createSink({ type: 'mqtt', url: b.url, topic: 'm/{tag}', tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey }, buffer: { dir: dir('mtls') } });
    track(ok);
    await ok.start();
    await ok.publish(rec(7));
    await waitFor(() => sub.messages.length === 1, 10_000);
    expect(sub.messages[0]?.topic).toBe('m/temp');

    for (const tls of [{ ca: pki.caCert }, { ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey }]) {
      const s = createSink({ type: 'mqtt', url: b.url, topic: 'm/{tag}', tls, buffer: { dir: dir('mtls-bad') }, maxInflight: 1 });
      const errors = track(s);
      await s.start();
      await s.publish(rec(8));
      await waitFor(() => errors.length > 0, 10_000);
      expect(['BIFROST_CLOUD_TLS', 'BIFROST_CONNECTION_LOST']).toContain(errors[0]?.code);
      expect(s.metrics().published).toBe(0);
      expect(s.metrics().queue?.depth).toBe(1);
      await s.stop();
    }
    expect(sub.messages).toHaveLength(1);
  });

  it('password auth: the right password from an environment variable works; a wrong one is BIFROST_CLOUD_AUTH_FAILED with the CONNACK code and never leaks the password', async () => {
    const b = await broker({ users: { gw: 's3cret-pw', reader: 'r' } });
    const sub = await subscriber(b.url, 'p/#', { username: 'reader', password: 'r' });
    const ok = createSink({ type: 'mqtt', url: b.url, username: 'gw', passwordEnv: 'GW_PW', topic: 'p/{tag}', buffer: { dir: dir('pw') } }, { env: { GW_PW: 's3cret-pw' } });
    track(ok);
    await ok.start();
    await ok.publish(rec(1));
    await waitFor(() => sub.messages.length === 1, 10_000);

    for (const protocolVersion of [4, 5] as const) {
      const bad = createSink({ type: 'mqtt', url: b.url, username: 'gw', password: 'wrong-pw-value', protocolVersion, topic: 'p/{tag}', buffer: { dir: dir('pw-bad') } });
      const errors = track(bad);
      await bad.start();
      await bad.publish(rec(2));
      await waitFor(() => errors.length > 0, 10_000);
      const e = errors[0] as BifrostError;
      expect(e.code).toBe('BIFROST_CLOUD_AUTH_FAILED');
      expect(protocolVersion === 4 ? [4, 5] : [134, 135]).toContain(e.status);
      expect(JSON.stringify(e.toJSON())).not.toContain('wrong-pw-value');
      expect(e.message).not.toContain('wrong-pw-value');
      expect(bad.metrics().queue?.depth).toBe(1);
      await bad.stop();
    }
    expect(() => createSink({ type: 'mqtt', url: b.url, passwordEnv: 'NOPE_NOT_SET', buffer: { dir: dir('x') } }, { env: {} })).toThrow(/environment variable NOPE_NOT_SET \(passwordEnv\) is not set/);
  });

  it('MQTT 5: a topic the broker refuses (PUBACK 0x87) is counted, kept in the dead-letter queue, and does not block the rest', async () => {
    const b = await broker({ users: { gw: 'pw' }, acl: 'user gw\ntopic write ok/#\ntopic read ok/#\n' });
    const sub = await subscriber(b.url, 'ok/#', { username: 'gw', password: 'pw' });
    const deadDir = dir('acl');
    const sink = createSink({ type: 'mqtt', url: b.url, username: 'gw', password: 'pw', protocolVersion: 5, topic: '{site}/{tag}', buffer: { dir: deadDir } });
    const errors = track(sink);
    const rejected: number[] = [];
    sink.on('rejected', (r) => rejected.push(r.count));
    await sink.start();
    await sink.publish([
      { ...rec(1), site: 'ok' },
      { ...rec(2), site: 'forbidden' },
      { ...rec(3), site: 'ok' },
    ]);
    await waitFor(() => sub.messages.length === 2 && rejected.length > 0, 10_000);
    // `value` is the producer's counter; `seq` is the queue's sequence number, with a gap where the broker refused one.
    expect(sub.messages.map((m) => (JSON.parse(m.payload.toString()) as SinkRecord).value)).toEqual([1, 3]);
    expect(sub.messages.map((m) => (JSON.parse(m.payload.toString()) as SinkRecord).seq)).toEqual([0, 2]);
    expect(errors[0]?.code).toBe('BIFROST_CLOUD_PUBLISH_REJECTED');
    expect(errors[0]?.status).toBe(0x87);
    expect(errors[0]?.message).toMatch(/rejected 1 record\(s\), e\.g\. to topic forbidden\/temp/);
    expect(sink.metrics()).toMatchObject({ rejected: 1, published: 2 });
    await sink.stop();
    const dead = await DurableQueue.open<SinkRecord>({ dir: join(deadDir, 'rejected') });
    expect((await dead.read(10)).records.map((r) => r.record)).toEqual([{ ...rec(2), site: 'forbidden' }]);
    await dead.close();
  });

  it('outage: the broker stops while records keep coming and restarts; every record arrives, in order per tag', async () => {
    const b = await broker({ persistence: true });
    const sub = await subscriber(b.url, 'o/#', { clientId: 'outage-sub', clean: false });
    const sink = createSink({ type: 'mqtt', url: b.url, topic: 'o/{device}/{tag}', buffer: { dir: dir('outage'), fsync: { everyMs: 50 } }, maxInflight: 20 });
    const s = sink as MqttSink;
    track(s);
    (s as unknown as { on: MqttSink['on'] }).on('disconnect', () => {});
    await sink.start();
    await sink.connected(10_000);
    const tags = ['a', 'b', 'c'];
    let i = 0;
    const produce = async (count: number) => {
      for (let k = 0; k < count; k++, i++) {
        await sink.publish(rec(i, tags[i % 3]));
        if (k % 10 === 0) await new Promise((r) => setTimeout(r, 2));
      }
    };
    await produce(100);
    await b.stop();
    await produce(200); // broker down: all of these wait in the queue
    expect(sink.metrics().connected).toBe(false);
    expect(sink.metrics().queue?.depth).toBeGreaterThan(0);
    await b.start();
    await produce(100);
    await waitFor(() => sink.metrics().queue?.depth === 0 && sink.metrics().connected, 30_000);
    const seen = new Map<string, number[]>();
    await waitFor(() => new Set(sub.messages.map((m) => (JSON.parse(m.payload.toString()) as SinkRecord).seq)).size === 400, 30_000);
    for (const m of sub.messages) {
      const r = JSON.parse(m.payload.toString()) as SinkRecord;
      if (!seen.has(r.tag)) seen.set(r.tag, []);
      seen.get(r.tag)?.push(r.seq as number);
    }
    for (const [tag, seqs] of seen) {
      // Duplicates of an unconfirmed batch may repeat, but a record never overtakes an earlier one of its tag.
      const firsts = seqs.filter((s, k) => seqs.indexOf(s) === k);
      expect(firsts, `tag ${tag}`).toEqual([...firsts].sort((x, y) => x - y));
      expect(firsts).toEqual(Array.from({ length: 400 }, (_, k) => k).filter((k) => tags[k % 3] === tag));
    }
    expect(sink.metrics().reconnects).toBeGreaterThan(0);
  });

  it('a refused connection is retried with backoff and reports BIFROST_CONNECTION_REFUSED', async () => {
    const sink = createSink({ type: 'mqtt', url: 'mqtt://127.0.0.1:1', buffer: { dir: dir('refused') } });
    const errors = track(sink);
    await sink.start();
    await waitFor(() => errors.length >= 2, 10_000);
    expect(errors[0]?.code).toBe('BIFROST_CONNECTION_REFUSED');
    await expect(sink.connected(50)).rejects.toSatisfy((e: unknown) => isBifrostError(e, 'BIFROST_TIMEOUT'));
  });
});
