#!/usr/bin/env node
// bench/eip: reading 500 DINT tags from the Bifrost Logix simulator, Bifrost (EipClient.readTags:
// Multiple Service Packets packed up to the 4002-byte Large Forward Open connection) beside
// st-ethernet-ip (TagGroup read, its own MSP packing over a 500-byte Forward Open), both with
// connected messaging, against the same simulator in one process. Build first: npx tsc -b packages/ethernetip
// The simulator binds 127.0.0.45:44818 because st-ethernet-ip only dials port 44818.
import { performance } from 'node:perf_hooks';
import { EipClient, startSimulator } from '@bifrost/ethernetip';
import st from 'st-ethernet-ip';

const HOST = process.env.EIP_BENCH_HOST ?? '127.0.0.45';
const N = 500;
const SECONDS = Number(process.env.EIP_BENCH_SECONDS ?? 8);
const names = Array.from({ length: N }, (_, i) => `Bench${i}`);
const sim = await startSimulator({ host: HOST, port: 44818, config: { tags: names.map((name, i) => ({ name, type: 'DINT', value: i * 7 })) } });

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p95: q(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function report(label, samples) {
  const r = stats(samples);
  console.log(`${label.padEnd(16)} reads ${String(r.n).padStart(6)} | p50 ${r.p50.toFixed(3)} ms | p95 ${r.p95.toFixed(3)} ms | ${((N * 1000) / r.mean).toFixed(0)} tags/s`);
  return r;
}

// Both clients stay connected to the same simulator; they take turns in 250 ms slices so a
// noisy, shared machine slows both alike.
const client = new EipClient({ host: HOST, port: 44818 });
await client.connect();
const bifrostRead = async () => {
  const r = await client.readTags(names);
  if (r[N - 1]?.value !== (N - 1) * 7) throw new Error('bifrost read a wrong value');
};
const { Controller, Tag, TagGroup } = st;
const plc = new Controller(true);
await plc.connect(HOST, 0, false);
const group = new TagGroup();
const tags = names.map((n) => new Tag(n));
for (const t of tags) group.add(t);
const peerRead = async () => {
  await plc.readTagGroup(group);
  if (tags[N - 1].value !== (N - 1) * 7) throw new Error('st-ethernet-ip read a wrong value');
};
for (let i = 0; i < 20; i++) {
  await bifrostRead();
  await peerRead();
}
const samples = { bifrost: [], peer: [] };
const end = performance.now() + SECONDS * 1000;
while (performance.now() < end) {
  for (const [fn, into] of [
    [bifrostRead, samples.bifrost],
    [peerRead, samples.peer],
  ]) {
    const slice = performance.now() + 250;
    while (performance.now() < slice) {
      const t0 = performance.now();
      await fn();
      into.push(performance.now() - t0);
    }
  }
}
const bifrost = report('bifrost', samples.bifrost);
const peer = report('st-ethernet-ip', samples.peer);
await client.close();
await plc.disconnect().catch(() => {});
await sim.close();

console.log('');
console.log(
  `500 DINT tags | bifrost p50 ${bifrost.p50.toFixed(3)} ms | st-ethernet-ip p50 ${peer.p50.toFixed(3)} ms | ratio ${(peer.p50 / bifrost.p50).toFixed(1)}x | p95 ratio ${(peer.p95 / bifrost.p95).toFixed(1)}x | throughput ratio ${(peer.mean / bifrost.mean).toFixed(1)}x`,
);
process.exit(0);
