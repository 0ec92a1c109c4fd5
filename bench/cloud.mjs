// bench/cloud: the durable queue's append rate per fsync policy, compression on realistic
// telemetry, and end-to-end records/s to a real Mosquitto at QoS 1 — Bifrost beside plain peers
// (a JSON-lines file with fsync, and MQTT.js publishing straight to the broker with no queue).
// Run `npx tsc -b packages/cloud` first. Loopback only, bounded to well under a minute.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { DurableQueue, MqttSink } from '@bifrost/cloud';
import mqtt from 'mqtt';

const root = mkdtempSync(join(tmpdir(), 'bifrost-bench-cloud-'));
const rows = [];
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1));

// Realistic telemetry: 50 devices × 20 tags, random-walk floats, booleans, states, ms timestamps.
function telemetry(n, start = 0) {
  const out = new Array(n);
  let v = 20;
  for (let i = 0; i < n; i++) {
    const k = start + i;
    v += (Math.random() - 0.5) * 0.1;
    const tag = k % 20;
    out[i] = {
      device: `press${(k >> 4) % 50}`,
      tag: `tag${tag}`,
      value: tag < 14 ? Math.round(v * 1000) / 1000 : tag < 18 ? k % 7 === 0 : ['RUN', 'IDLE', 'FAULT'][k % 3],
      quality: 'good',
      timestamp: 1_764_000_000_000 + k * 10,
      seq: k,
    };
  }
  return out;
}

async function appendBench(label, options, total = 400_000, batch = 1000, concurrency = 8) {
  const dir = join(root, label.replace(/\W+/g, '-'));
  const q = await DurableQueue.open({ dir, maxBytes: '2GB', ...options });
  const data = telemetry(total);
  const rawBytes = data.reduce((n, r) => n + JSON.stringify(r).length, 0);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const from = next;
      next += batch;
      await q.append(data.slice(from, from + batch));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = (performance.now() - t0) / 1000;
  const m = q.metrics();
  await q.close();
  rmSync(dir, { recursive: true, force: true });
  return { label, recPerSec: total / s, mbPerSec: rawBytes / s / 1e6, ratio: rawBytes / m.bytes, rawBytes, stored: m.bytes };
}

async function jsonlPeer(total = 400_000, batch = 1000) {
  // Peer: JSON lines appended to one file, fdatasync per batch (what a hand-rolled buffer does).
  const fh = await open(join(root, 'peer.jsonl'), 'w');
  const data = telemetry(total);
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < total; i += batch) {
    const text = `${data
      .slice(i, i + batch)
      .map((r) => JSON.stringify(r))
      .join('\n')}\n`;
    bytes += text.length;
    await fh.write(text);
    await fh.datasync();
  }
  const s = (performance.now() - t0) / 1000;
  await fh.close();
  return { recPerSec: total / s, mbPerSec: bytes / s / 1e6 };
}

// ── 1. append rate per fsync policy ──
const peer = await jsonlPeer();
for (const [label, opts] of [
  ["fsync 'batch' (deflate)", { fsync: 'batch' }],
  ['fsync { everyMs: 100 } (deflate)', { fsync: { everyMs: 100 } }],
  ["fsync 'batch' (none)", { fsync: 'batch', compression: 'none' }],
]) {
  const r = await appendBench(label, opts);
  rows.push(
    `append ${label.padEnd(34)} bifrost ${fmt(r.recPerSec)} rec/s ${r.mbPerSec.toFixed(1)} MB/s | jsonl+fdatasync ${fmt(peer.recPerSec)} rec/s ${peer.mbPerSec.toFixed(1)} MB/s | ratio ${(r.recPerSec / peer.recPerSec).toFixed(2)}x`,
  );
}

// ── 2. compression ratio on realistic telemetry ──
for (const [label, compression] of [
  ['deflate level 1', 'deflate'],
  ['brotli quality 4', 'brotli'],
  ['none', 'none'],
]) {
  const r = await appendBench(`ratio-${compression}`, { fsync: { everyMs: 1000 }, compression }, 200_000, 4000, 4);
  rows.push(`compression ${label.padEnd(17)} ${(r.rawBytes / 1e6).toFixed(1)} MB JSON -> ${(r.stored / 1e6).toFixed(2)} MB on disk | ratio ${r.ratio.toFixed(2)}x | ${fmt(r.recPerSec)} rec/s`);
}

// ── 3. end to end to Mosquitto at QoS 1 ──
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const conf = join(root, 'mosquitto.conf');
writeFileSync(conf, `${process.getuid?.() === 0 ? `user ${userInfo().username}\n` : ''}listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nlog_dest none\n`);
const mosq = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const url = `mqtt://127.0.0.1:${port}`;
const E2E = 100_000;

// Peer: MQTT.js publishing the same records at QoS 1 straight to the broker, 500 in flight, no queue.
let peerE2e = 0;
{
  const c = await mqtt.connectAsync(url);
  const data = telemetry(E2E);
  const t0 = performance.now();
  for (let i = 0; i < E2E; i += 500) await Promise.all(data.slice(i, i + 500).map((r) => c.publishAsync(`bench/${r.device}/${r.tag}`, JSON.stringify(r), { qos: 1 })));
  peerE2e = E2E / ((performance.now() - t0) / 1000);
  await c.endAsync();
}
{
  const q = await DurableQueue.open({ dir: join(root, 'e2e'), fsync: 'batch' });
  const data = telemetry(E2E);
  for (let i = 0; i < E2E; i += 5000) await q.append(data.slice(i, i + 5000));
  const sink = new MqttSink({ url, queue: q, topic: 'bench/{device}/{tag}', maxInflight: 500 });
  const t0 = performance.now();
  await sink.start();
  while (q.metrics().depth > 0) await new Promise((r) => setTimeout(r, 5));
  const rate = E2E / ((performance.now() - t0) / 1000);
  await sink.stop();
  await q.close();
  rows.push(
    `end-to-end QoS 1 to Mosquitto, ${E2E / 1000}k records: bifrost (queue -> PUBACK -> fsync'd cursor) ${fmt(rate)} rec/s | mqtt.js direct, no queue ${fmt(peerE2e)} rec/s | ratio ${(rate / peerE2e).toFixed(2)}x`,
  );
}
// ── 4. batched records (issue 16): one queue record per device poll vs one per value ──
// 10 devices × 1,000 changed tags per poll. The per-record path appends each value as its own
// record (one append call per poll, so group commit still applies) and sends one message each; the
// batched path appends each poll as ONE record and sends it per tag (the same messages) or per
// device (one message per poll).
const DEVICES = 10;
const TAGS = 1000;
function poll(d, k) {
  const tags = new Array(TAGS);
  const values = new Array(TAGS);
  const qualities = new Array(TAGS);
  for (let i = 0; i < TAGS; i++) {
    tags[i] = `tag${i}`;
    values[i] = Math.round((20 + Math.sin(k + i) * 5) * 1000) / 1000;
    qualities[i] = 'good';
  }
  return { device: `dev${d}`, timestamp: 1_764_000_000_000 + k * 1000, tags, values, qualities };
}
const perValue = (b) => b.tags.map((tag, i) => ({ device: b.device, tag, value: b.values[i], quality: b.qualities[i], timestamp: b.timestamp }));

async function batchedRun(label, { batched, format, polls, paceMs }) {
  const q = await DurableQueue.open({ dir: join(root, `b-${label.replace(/\W+/g, '-')}`), fsync: 'batch' });
  const sink = new MqttSink({ url, queue: q, topic: format === 'per-device' ? 'bench/{device}' : 'bench/{device}/{tag}', format, maxInflight: 2000 });
  await sink.start();
  await sink.connected(10_000);
  let maxDepthValues = 0;
  const sampler = setInterval(() => {
    const m = q.metrics();
    maxDepthValues = Math.max(maxDepthValues, batched ? m.depth * TAGS : m.depth);
  }, 20);
  const t0 = performance.now();
  for (let k = 0; k < polls; k++) {
    const tick = performance.now();
    await Promise.all(Array.from({ length: DEVICES }, (_, d) => (batched ? sink.publishBatch(poll(d, k)) : sink.publish(perValue(poll(d, k))))));
    if (paceMs) await new Promise((r) => setTimeout(r, Math.max(0, paceMs - (performance.now() - tick))));
  }
  while (q.metrics().depth > 0) await new Promise((r) => setTimeout(r, 5));
  const s = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const values = polls * DEVICES * TAGS;
  const m = sink.metrics();
  await sink.stop();
  await q.close();
  return { label, valuesPerSec: values / s, maxDepthValues, messages: m.messages, published: m.published };
}

{
  const polls = 10; // 100,000 values as fast as they go
  const perRecord = await batchedRun('per-record', { batched: false, format: 'per-tag', polls });
  const perTag = await batchedRun('batched per-tag', { batched: true, format: 'per-tag', polls });
  const perDevice = await batchedRun('batched per-device', { batched: true, format: 'per-device', polls });
  for (const r of [perRecord, perTag, perDevice])
    rows.push(`append+deliver ${r.label.padEnd(19)} ${fmt(r.valuesPerSec)} values/s (${r.messages} messages) | vs per-record ${(r.valuesPerSec / perRecord.valuesPerSec).toFixed(2)}x`);
  // Production paced at 10,000 changes/s (10 devices × 1,000 tags every second) for 6 s: the depth stays bounded.
  for (const [label, batched, format] of [
    ['paced 10k/s per-record', false, 'per-tag'],
    ['paced 10k/s batched per-tag', true, 'per-tag'],
    ['paced 10k/s batched per-device', true, 'per-device'],
  ]) {
    const r = await batchedRun(label, { batched, format, polls: 6, paceMs: 1000 });
    rows.push(`${label.padEnd(31)} max queue depth ${fmt(r.maxDepthValues)} values (one poll = 10 k) | drained at ${fmt(r.valuesPerSec)} values/s overall`);
  }
}

mosq.kill('SIGTERM');
await once(mosq, 'exit');
rmSync(root, { recursive: true, force: true });
console.log('bench/cloud');
for (const r of rows) console.log(`  ${r}`);
