import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSink, DurableQueue, decodeSparkplugPayload, expandBatch, MqttSink, type QueueEntry, RepeatLimiter, type SinkBatch, type SinkRecord, validateSinkConfig } from '@bifrost/cloud';
import { type RunningMosquitto, startFakeBroker, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { type BifrostError, isBifrostError } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-batch-'));
let n = 0;
const dir = (name: string) => join(root, `${name}-${n++}`);
const cleanups: Array<() => Promise<unknown> | unknown> = [];
let mosq: RunningMosquitto;

beforeAll(async () => {
  mosq = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await mosq.close();
  rmSync(root, { recursive: true, force: true });
});

async function subscriber(topic: string): Promise<{ client: MqttClient; messages: Array<{ topic: string; payload: Buffer }> }> {
  const client = mqtt.connect(mosq.url, { reconnectPeriod: 200 });
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

function started(sink: MqttSink): MqttSink {
  cleanups.push(() => sink.stop());
  return sink;
}

/** The record the gateway's per-value path built for one value before batching (gateway.ts `recordFields`). */
function perValueRecord(b: SinkBatch, i: number): SinkRecord {
  const r: SinkRecord = { device: b.device, tag: b.tags[i] as string, value: b.values[i], quality: b.qualities[i] as SinkRecord['quality'], timestamp: b.timestamp };
  const st = b.sourceTimestamps?.[i];
  if (st !== undefined && st !== null) r.sourceTimestamp = st;
  const unit = b.units?.[i];
  if (unit !== undefined && unit !== null) r.unit = unit;
  const error = b.errors?.[i];
  if (error) r.error = error;
  return r;
}

const batchArb: fc.Arbitrary<SinkBatch> = fc
  .record({
    device: fc.constantFrom('press1', 'oven', 'line 2'),
    timestamp: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
    n: fc.integer({ min: 1, max: 12 }),
    withSource: fc.boolean(),
    withUnits: fc.boolean(),
  })
  .chain((h) =>
    fc.record({
      device: fc.constant(h.device),
      timestamp: fc.constant(h.timestamp),
      tags: fc.uniqueArray(fc.integer({ min: 0, max: 999 }), { minLength: h.n, maxLength: h.n }).map((ids) => ids.map((i) => `tag_${i}`)),
      values: fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.string({ maxLength: 6 }), fc.constant(null)), { minLength: h.n, maxLength: h.n }),
      qualities: fc.array(fc.constantFrom<'good' | 'uncertain' | 'bad'>('good', 'uncertain', 'bad'), { minLength: h.n, maxLength: h.n }),
      sourceTimestamps: h.withSource ? fc.array(fc.option(fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), { nil: null }), { minLength: h.n, maxLength: h.n }) : fc.constant(undefined),
      units: h.withUnits ? fc.array(fc.option(fc.constantFrom('degC', 'bar', 'rpm'), { nil: null }), { minLength: h.n, maxLength: h.n }) : fc.constant(undefined),
    }),
  )
  .map((b) => {
    const out: SinkBatch = { device: b.device, timestamp: b.timestamp, tags: b.tags, values: b.values, qualities: b.qualities };
    if (b.sourceTimestamps) out.sourceTimestamps = b.sourceTimestamps;
    if (b.units) out.units = b.units;
    if (b.qualities.includes('bad')) out.errors = b.qualities.map((q, i) => (q === 'bad' ? { code: 'BIFROST_TIMEOUT', message: `tag ${i} timed out` } : null));
    return out;
  });

describe('batched sink records', () => {
  it('expanding a batch gives, byte for byte, the per-value records of the path before batching (property)', () => {
    fc.assert(
      fc.property(batchArb, (b) => {
        const expanded = expandBatch(b).map((r) => JSON.stringify(r));
        const before = b.tags.map((_, i) => JSON.stringify(perValueRecord(b, i)));
        expect(expanded).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });

  it('per-tag format: a batch published as one queue record gives the same topics and payloads as its values published one by one, each with the queue seq', async () => {
    const batches = fc.sample(batchArb, { numRuns: 15, seed: 42 });
    const sub = await subscriber('+/+/#');
    const a = started(createSink({ type: 'mqtt', url: mosq.url, site: 'A', area: 'x', buffer: { dir: dir('pt-a') } }));
    const b = started(createSink({ type: 'mqtt', url: mosq.url, site: 'B', area: 'x', buffer: { dir: dir('pt-b') } }));
    for (const batch of batches) await a.publishBatch(batch);
    const perValue = batches.flatMap((batch) => batch.tags.map((_, i) => perValueRecord(batch, i)));
    await b.publish(perValue);
    const qa = await a.queue();
    expect(qa.metrics().appended).toBe(batches.length);
    await a.start();
    await b.start();
    const total = perValue.length;
    await waitFor(() => sub.messages.length === 2 * total, 15_000);
    const side = (site: string) =>
      sub.messages
        .filter((m) => m.topic.startsWith(`${site}/`))
        .map((m) => {
          const { seq, ...rest } = JSON.parse(m.payload.toString()) as SinkRecord;
          return { topic: m.topic.slice(2), payload: JSON.stringify(rest), seq };
        });
    const fromBatches = side('A');
    const fromValues = side('B');
    expect(fromBatches.map(({ seq: _s, ...r }) => r)).toEqual(fromValues.map(({ seq: _s, ...r }) => r));
    // One seq per batch (its queue record), one per value on the per-value path.
    expect(fromBatches.map((m) => m.seq)).toEqual(batches.flatMap((batch, k) => batch.tags.map(() => k)));
    expect(fromValues.map((m) => m.seq)).toEqual(perValue.map((_, k) => k));
    await waitFor(() => a.metrics().published === total, 5000);
    expect(a.metrics()).toMatchObject({ published: total, messages: total });
    expect(a.metrics().queue).toMatchObject({ appended: batches.length, delivered: batches.length, depth: 0 });
  });

  it('per-device format: one message per poll in the Neuron values-format shape, bad values under errors, with seq', async () => {
    const sub = await subscriber('plant/#');
    const sink = started(createSink({ type: 'mqtt', url: mosq.url, site: 'plant', format: 'per-device', buffer: { dir: dir('pd') } }));
    await sink.start();
    await sink.publishBatch({
      device: 'press1',
      timestamp: 1_700_000_000_000,
      tags: ['temp', 'run', 'state', 'pressure'],
      values: [21.5, true, 'RUN', null],
      qualities: ['good', 'good', 'uncertain', 'bad'],
      units: ['degC', null, null, 'bar'],
      errors: [null, null, null, { code: 'BIFROST_MODBUS_ILLEGAL_ADDRESS', message: 'exception 02' }],
    });
    await sink.publishBatch({ device: 'press2', timestamp: 1_700_000_001_000, tags: ['temp'], values: [20], qualities: ['good'] });
    await sink.publish({ device: 'pipeline', tag: 'stats', value: { mean: 3 }, quality: 'good', timestamp: 1_700_000_002_000 });
    await waitFor(() => sub.messages.length === 3, 10_000);
    expect(sub.messages.map((m) => m.topic)).toEqual(['plant/press1', 'plant/press2', 'plant/pipeline']);
    expect(sub.messages.map((m) => JSON.parse(m.payload.toString()))).toEqual([
      {
        node: 'press1',
        group: 'press1',
        timestamp: 1_700_000_000_000,
        values: { temp: 21.5, run: true, state: 'RUN' },
        errors: { pressure: 'BIFROST_MODBUS_ILLEGAL_ADDRESS' },
        seq: 0,
        uncertain: ['state'],
        units: { temp: 'degC', pressure: 'bar' },
      },
      { node: 'press2', group: 'press2', timestamp: 1_700_000_001_000, values: { temp: 20 }, errors: {}, seq: 1 },
      { node: 'pipeline', group: 'pipeline', timestamp: 1_700_000_002_000, values: { stats: { mean: 3 } }, errors: {}, seq: 2 },
    ]);
    await waitFor(() => sink.metrics().published === 6, 5000);
    expect(sink.metrics()).toMatchObject({ published: 6, messages: 3 });
  });

  it('Sparkplug B: all changed metrics of a device poll travel in ONE DDATA', async () => {
    const sub = await subscriber('spBv1.0/g1/#');
    const sink = started(createSink({ type: 'mqtt', url: mosq.url, payload: 'sparkplug', sparkplug: { groupId: 'g1', edgeNodeId: 'gw' }, buffer: { dir: dir('sp') } }));
    await sink.start();
    await sink.connected(10_000);
    const tags = Array.from({ length: 50 }, (_, i) => `t${i}`);
    await sink.publishBatch({ device: 'd1', timestamp: 1_700_000_000_000, tags, values: tags.map((_, i) => i), qualities: tags.map(() => 'good') });
    await waitFor(() => sub.messages.some((m) => m.topic.includes('DBIRTH/gw/d1')), 10_000);
    const before = sub.messages.length;
    await sink.publishBatch({ device: 'd1', timestamp: 1_700_000_001_000, tags, values: tags.map((_, i) => i + 0.5), qualities: tags.map(() => 'good') });
    await waitFor(() => sub.messages.length > before, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    const ddata = sub.messages.slice(before);
    expect(ddata.map((m) => m.topic)).toEqual(['spBv1.0/g1/DDATA/gw/d1']);
    expect(decodeSparkplugPayload((ddata[0] as { payload: Buffer }).payload).metrics).toHaveLength(50);
    await waitFor(() => sink.metrics().published === 100, 5000);
  });

  it('queue metrics add up in records: recovered + appended = delivered + depth + dropped + expired + corruptSkipped', async () => {
    const d = dir('sum');
    const q = await DurableQueue.open<QueueEntry>({ dir: d, maxBytes: '16KB', segmentBytes: 4096, compression: 'none' });
    const big = (i: number): SinkBatch => ({ device: 'd', timestamp: i, tags: ['a', 'b', 'c'], values: [i, `${'x'.repeat(200)}${i}`, i], qualities: ['good', 'good', 'good'] });
    for (let i = 0; i < 120; i++) await q.append(big(i));
    const b = await q.read(20);
    await q.ack(b.cursor);
    const m = q.metrics();
    expect(m.dropped).toBeGreaterThan(0);
    expect(m.recovered + m.appended).toBe(m.delivered + m.depth + m.dropped + m.expired + m.corruptSkipped);
    await q.close();
    const q2 = await DurableQueue.open<QueueEntry>({ dir: d, maxBytes: '16KB', segmentBytes: 4096, compression: 'none' });
    const m2 = q2.metrics();
    expect(m2.recovered).toBe(m.depth);
    const r = await q2.read(1000);
    await q2.ack(r.cursor);
    const m3 = q2.metrics();
    expect(m3.recovered + m3.appended).toBe(m3.delivered + m3.depth + m3.dropped + m3.expired + m3.corruptSkipped);
    expect(m3.depth).toBe(0);
    await q2.close();
  });

  it('read(max, weigh) bounds the values of a read, not the records, and always reads at least one record', async () => {
    const q = await DurableQueue.open<QueueEntry>({ dir: dir('weigh') });
    const batch = (k: number): SinkBatch => ({ device: 'd', timestamp: 0, tags: Array.from({ length: k }, (_, i) => `t${i}`), values: Array(k).fill(1), qualities: Array(k).fill('good') });
    await q.append([batch(300), batch(300), batch(300), batch(1000)]);
    const weigh = (e: QueueEntry) => ('tags' in e && Array.isArray(e.tags) ? e.tags.length : 1);
    expect((await q.read(500, weigh)).records).toHaveLength(2);
    expect((await q.read(500, weigh)).records).toHaveLength(2);
    await q.close();
  });

  it('buffer.maxAge drops records older than it at the head, counted in expired and warned about', async () => {
    const warnings: BifrostError[] = [];
    const q = await DurableQueue.open<SinkRecord>({ dir: dir('age'), maxAgeMs: 150, onWarning: (w) => warnings.push(w) });
    await q.append([1, 2, 3].map((i) => ({ device: 'd', tag: 't', value: i, quality: 'good' as const, timestamp: i })));
    await new Promise((r) => setTimeout(r, 250));
    await q.append({ device: 'd', tag: 't', value: 4, quality: 'good', timestamp: 4 });
    const b = await q.read(10);
    expect(b.records.map((r) => r.record.value)).toEqual([4]);
    const m = q.metrics();
    expect(m.expired).toBe(3);
    expect(warnings.map((w) => w.code)).toContain('BIFROST_CLOUD_RECORD_EXPIRED');
    await q.close();
    expect(validateSinkConfig({ type: 'mqtt', url: 'mqtt://h', buffer: { dir: 'q', maxAge: '7d' } }).buffer?.maxAge).toBe('7d');
  });

  it('a second queue on a locked directory is refused with the directory and the PID; a dead PID is taken over', async () => {
    const d = dir('lock');
    const q = await DurableQueue.open({ dir: d });
    const err = await DurableQueue.open({ dir: d }).catch((e: unknown) => e);
    expect(isBifrostError(err) && err.code).toBe('BIFROST_CLOUD_QUEUE_LOCKED');
    expect((err as Error).message).toContain(d);
    expect((err as Error).message).toContain(String(process.pid));
    // The refused open must not release the lock of the queue that holds it.
    expect(await DurableQueue.open({ dir: d }).catch((e: unknown) => (e as BifrostError).code)).toBe('BIFROST_CLOUD_QUEUE_LOCKED');
    await q.close();
    // A child process holds it: refused, naming the child's PID.
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/hold-queue.mjs'), d], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const err2 = await DurableQueue.open({ dir: d }).catch((e: unknown) => e);
    expect((err2 as BifrostError).code).toBe('BIFROST_CLOUD_QUEUE_LOCKED');
    expect((err2 as Error).message).toContain(`process ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const warnings: BifrostError[] = [];
    const q3 = await DurableQueue.open({ dir: d, onWarning: (w) => warnings.push(w) });
    expect(warnings[0]?.message).toMatch(/taking over the lock of process \d+/);
    await q3.close();
    // A PID reused after a restart (a container's PID 1, our own PID from an earlier run) or a live
    // process whose start time differs from the one in the lock is not the holder: taken over.
    for (const stale of [`${process.pid} 1\n`, '1 12345\n']) {
      writeFileSync(join(d, 'lock'), stale);
      const w: BifrostError[] = [];
      const q4 = await DurableQueue.open({ dir: d, onWarning: (e) => w.push(e) });
      expect(w[0]?.message).toMatch(/taking over the lock/);
      await q4.close();
    }
  });

  it('a broker that never PUBACKs: the publish times out, the connection is redialed and the messages resent with DUP', async () => {
    const fake = await startFakeBroker({ puback: 'none' });
    cleanups.push(() => fake.close());
    const errors: BifrostError[] = [];
    const sink = started(new MqttSink({ url: fake.url, queue: { dir: dir('noack') }, ackTimeoutMs: 300, backoff: { baseMs: 20, maxMs: 50 } }));
    sink.on('error', (e) => errors.push(e));
    for (let i = 0; i < 5; i++) await sink.publish({ device: 'd', tag: 't', value: i, quality: 'good', timestamp: i });
    await sink.start();
    await waitFor(() => sink.metrics().ackTimeouts >= 2, 10_000);
    expect(sink.metrics()).toMatchObject({ published: 0 });
    expect(['stalled', 'connecting']).toContain(sink.metrics().health);
    expect(errors.some((e) => e.code === 'BIFROST_CLOUD_ACK_TIMEOUT')).toBe(true);
    expect(fake.connects).toBeGreaterThanOrEqual(2);
    fake.behaviour.puback = 'all';
    await waitFor(() => sink.metrics().published === 5, 10_000);
    const seqs = fake.received.map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq);
    // Every message after the first connection is a resend, flagged DUP (MQTT 3.1.1 §3.3.1.1).
    expect(fake.received.filter((p) => p.connection === 1).every((p) => !p.dup)).toBe(true);
    expect(fake.received.filter((p) => p.connection > 1).every((p) => p.dup)).toBe(true);
    expect([...new Set(seqs)]).toEqual([0, 1, 2, 3, 4]);
    expect(sink.metrics().resent).toBeGreaterThan(0);
  });

  it('RepeatLimiter lets the first occurrence through and summarizes the rest once per interval', async () => {
    const summaries: Array<{ key: string; suppressed: number; total: number }> = [];
    const lim = new RepeatLimiter<string>({ intervalMs: 50, onSummary: (s) => summaries.push({ key: s.key, suppressed: s.suppressed, total: s.total }) });
    const passed = [lim.hit('a', 'x', 2), lim.hit('a', 'y', 3), lim.hit('b', 'z'), lim.hit('a', 'w', 5)];
    expect(passed).toEqual([true, false, true, false]);
    await new Promise((r) => setTimeout(r, 120));
    expect(summaries).toEqual([{ key: 'a', suppressed: 2, total: 10 }]);
    expect(lim.hit('a', 'again')).toBe(true);
    lim.flush();
  });

  it('the sink config accepts format, ackTimeout, reconnectMaxDelay and buffer.maxAge, and refuses a format with Sparkplug', () => {
    expect(validateSinkConfig({ type: 'mqtt', url: 'mqtt://h', format: 'per-device', ackTimeout: '5s', reconnectMaxDelay: '2s' })).toMatchObject({ format: 'per-device' });
    expect(() => validateSinkConfig({ type: 'mqtt', url: 'mqtt://h', format: 'per-poll' })).toThrow(/format/);
    expect(() => validateSinkConfig({ type: 'mqtt', url: 'mqtt://h', payload: 'sparkplug', sparkplug: { groupId: 'g', edgeNodeId: 'e' }, format: 'per-device' })).toThrow(/format/);
  });
});
