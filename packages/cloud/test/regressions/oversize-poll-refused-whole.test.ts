/**
 * @module
 * Regression: a device poll larger than the queue's `maxRecordBytes` was refused whole. 10,000 S7
 * values, each bad with its error, made a 2.7 MB record on the first poll: the queue refused it
 * (BIFROST_CLOUD_RECORD_TOO_LARGE) and all 10,000 values — the good ones too — were lost. Now the
 * batch is split into records that fit and appended together; every value reaches the broker.
 * Against Mosquitto.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttSink, type SinkBatch } from '@bifrost/cloud';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { waitFor } from '@bifrost/core/test-fixtures';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-oversize-'));
let mosq: RunningMosquitto;
beforeAll(async () => {
  mosq = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
});
afterAll(async () => {
  await mosq?.close();
  rmSync(root, { recursive: true, force: true });
});

it('splits a poll over maxRecordBytes into records that fit, and delivers every value', async () => {
  const n = 2000;
  const batch: SinkBatch = {
    device: 's7',
    timestamp: 1_700_000_000_000,
    tags: Array.from({ length: n }, (_, i) => `t${i}`),
    values: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : null)),
    qualities: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'good' : 'bad')),
    errors: Array.from({ length: n }, (_, i) =>
      i % 2 === 0 ? null : { code: 'BIFROST_S7_ITEM_ERROR', message: `DB1.DBW${i}: address out of range (return code 0x05)`, device: 's7', address: `DB1.DBW${i}` },
    ),
  };
  expect(Buffer.byteLength(JSON.stringify(batch))).toBeGreaterThan(64 * 1024);
  const client = mqtt.connect(mosq.url);
  const values = new Map<string, unknown>();
  const errors = new Set<string>();
  client.on('message', (_t, p) => {
    const m = JSON.parse(p.toString()) as { values: Record<string, unknown>; errors: Record<string, string> };
    for (const [k, v] of Object.entries(m.values)) values.set(k, v);
    for (const k of Object.keys(m.errors)) errors.add(k);
  });
  await new Promise<void>((r) => client.once('connect', () => r()));
  await client.subscribeAsync('plant/#', { qos: 1 });
  const sink = new MqttSink({ url: mosq.url, site: 'plant', format: 'per-device', queue: { dir: join(root, 'q'), maxRecordBytes: 64 * 1024 } });
  try {
    await sink.start();
    await sink.publishBatch(batch);
    await waitFor(() => values.size + errors.size === n, 15_000);
    expect(values.get('t1998')).toBe(1998);
    expect(errors.has('t1999')).toBe(true);
    const m = sink.metrics();
    expect(m.enqueueFailures ?? 0).toBe(0);
    expect(m.queue?.appended).toBeGreaterThan(1);
  } finally {
    await sink.stop();
    await client.endAsync(true);
  }
}, 30_000);
