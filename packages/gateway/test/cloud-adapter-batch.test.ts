/**
 * The cloud adapter's side of the batched value path (issue 16): `publishBatch` appends one device
 * poll as ONE queue record and its values reach the broker; a queue that drops at maxBytes
 * reports it through the sink's `warning` event, which the gateway logs (rate-limited: a few
 * events, not one per drop).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto } from '@bifrost/cloud/test-fixtures';
import { parseGatewayConfig } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { cloudComponents } from '../src/cloud-adapter.js';
import type { SinkBatch } from '../src/components.js';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-adapter-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const batch = (k: number, n: number): SinkBatch => ({
  device: 'press1',
  timestamp: 1_700_000_000_000 + k,
  tags: Array.from({ length: n }, (_, i) => `t${i}`),
  values: Array.from({ length: n }, (_, i) => k * 1000 + i),
  qualities: Array.from({ length: n }, () => 'good' as const),
});

it('publishBatch: one queue record per poll, every value delivered, published counts values', async () => {
  const mosq = await startMosquitto({ dir: mkdtempSync(join(dir, 'mosq-')) });
  const sub = await mqtt.connectAsync(mosq.url);
  const got: string[] = [];
  sub.on('message', (t) => got.push(t));
  await sub.subscribeAsync('plant/#', { qos: 1 });
  const { config } = parseGatewayConfig(`gateway: { site: plant }\nsinks:\n  - type: mqtt\n    url: ${mosq.url}\n    buffer: { dir: ./q1 }\n`, 'gw.yaml');
  const sink = await cloudComponents().createSink(config.sinks[0] as (typeof config.sinks)[number], { name: 'mqtt-0', baseDir: dir, gateway: config.gateway });
  await sink.start();
  for (let k = 0; k < 5; k++) await sink.publishBatch(batch(k, 20));
  await waitFor(() => got.length === 100, 10_000);
  await waitFor(() => sink.metrics().published === 100, 5000);
  expect(sink.metrics()).toMatchObject({ published: 100, queueAppended: 5, queueDelivered: 5, healthy: 1 });
  await sink.stop();
  await sub.endAsync();
  await mosq.close();
});

it('queue drops at maxBytes come out as warning events, rate-limited', async () => {
  const deadPort = await freePort();
  const { config } = parseGatewayConfig(`sinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:${deadPort}\n    buffer: { dir: ./q2, maxBytes: 16KB, compression: none }\n`, 'gw.yaml');
  const sink = await cloudComponents().createSink(config.sinks[0] as (typeof config.sinks)[number], { name: 'mqtt-0', baseDir: dir, gateway: config.gateway });
  const warnings: Array<{ code?: string }> = [];
  sink.on?.('warning', (e) => warnings.push(e as { code?: string }));
  await sink.start();
  for (let k = 0; k < 300; k++) await sink.publishBatch(batch(k, 10));
  const m = sink.metrics();
  expect(m.queueDropped).toBeGreaterThan(100);
  expect(warnings.map((w) => w.code)).toContain('BIFROST_CLOUD_QUEUE_FULL');
  expect(warnings.length).toBeLessThanOrEqual(2);
  await sink.stop();
});
