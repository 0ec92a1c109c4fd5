#!/usr/bin/env node
// bench/opcua: Bifrost's OPC UA client beside raw node-opcua calls, against the same server.
//   - bulk read of 10,000 variables (values/s)
//   - single-read round trip (p50/p99)
//   - subscription throughput (value changes/s received)
//   - the client process's resident memory
// The server (the Bifrost simulator with 10,000 Bulk variables) runs in a child process, so the
// RSS printed is the client's. Loopback only, bounded to about a minute. Needs the build:
// `npx tsc -b packages/opcua` first. Run: `npm run bench -- opcua` or `node bench/opcua.mjs`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const TAGS = 10_000;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 2500);
// The server changes every Bulk variable every UPDATE_MS: TAGS * 1000 / UPDATE_MS changes/s offered.
const UPDATE_MS = Number(process.env.BENCH_UPDATE_MS ?? 1000);
const rssMB = () => (process.memoryUsage().rss / 1048576).toFixed(0);
const rss = { start: rssMB() };

const { connect } = await import('@bifrost/core');
await import('@bifrost/opcua');
rss.afterBifrostImport = rssMB();

// ── the server, in its own process ──────────────────────────────────────────────────────────
const work = mkdtempSync(join(tmpdir(), 'bifrost-bench-opcua-'));
// The plant stands still during the read phases (the server only answers) and moves during the
// subscription phase: the parent writes "move" on the child's stdin.
const serverScript = `
  const { OpcUaServer, SimulatedPlant } = await import('@bifrost/opcua');
  const { createServer } = await import('node:net');
  const port = await new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
  const plant = new SimulatedPlant({ bulkTags: ${TAGS} });
  const server = new OpcUaServer({ provider: plant, host: '127.0.0.1', port, pkiDir: ${JSON.stringify(join(work, 'server'))}, acceptUnknownCertificates: true });
  await server.start();
  process.stdout.write('URL opc.tcp://127.0.0.1:' + port + '\\n');
  process.stdin.on('data', (d) => { if (String(d).includes('move')) plant.start(${UPDATE_MS}); }).on('end', async () => { plant.stop(); await server.close(); process.exit(0); });
`;
const child = spawn(process.execPath, ['--input-type=module', '-e', serverScript], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
child.stdin.on('error', () => {}); // the child may be gone when we say goodbye
const url = await new Promise((resolve, reject) => {
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    const m = /URL (\S+)/.exec(buf);
    if (m) resolve(m[1]);
  });
  child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  setTimeout(() => {
    child.kill();
    reject(new Error('server did not start in 90 s'));
  }, 90_000).unref();
});

// ── clients ─────────────────────────────────────────────────────────────────────────────────
// Generous timeouts: a benchmark on a busy machine should measure, not fail.
const device = await connect(url, { pkiDir: join(work, 'client'), requestTimeoutMs: 15_000 });
rss.afterBifrostConnect = rssMB();
const ua = await import(createRequire(join(root, 'packages/opcua/package.json')).resolve('node-opcua'));
const raw = ua.OPCUAClient.create({
  endpointMustExist: false,
  connectionStrategy: { maxRetry: 0 },
  defaultTransactionTimeout: 60_000,
  clientCertificateManager: new ua.OPCUACertificateManager({ rootFolder: join(work, 'client') }),
  certificateFile: join(work, 'client/own/certs/certificate.pem'),
  privateKeyFile: join(work, 'client/own/private/private_key.pem'),
});
await raw.connect(url);
const session = await raw.createSession();

const addresses = Array.from({ length: TAGS }, (_, i) => `ns=1;s=Bulk.Tag${i}`);
const nodesToRead = addresses.map((a) => ({ nodeId: ua.coerceNodeId(a), attributeId: ua.AttributeIds.Value }));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Runs `fn` repeatedly for `ms`, alternating nothing; returns per-call latencies in ms. */
async function timed(fn, ms) {
  const lat = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    await fn();
    lat.push(performance.now() - t);
  }
  return lat;
}

// Warm up both paths (JIT, address cache, server caches).
for (let i = 0; i < 3; i++) {
  await session.read(nodesToRead);
  await device.readMany(addresses);
}

// Interleave the two clients in slices so background load hits both alike.
async function compare(rawFn, bifrostFn, totalMs) {
  const a = [];
  const b = [];
  const slices = 4;
  for (let i = 0; i < slices; i++) {
    a.push(...(await timed(rawFn, totalMs / slices / 2)));
    b.push(...(await timed(bifrostFn, totalMs / slices / 2)));
  }
  return { raw: a, bifrost: b };
}

const results = [];
const bulk = await compare(
  async () => {
    const dvs = await session.read(nodesToRead);
    if (dvs.length !== TAGS || dvs[0].statusCode.value !== 0) throw new Error('raw bulk read failed');
  },
  async () => {
    const vs = await device.readMany(addresses);
    if (vs.length !== TAGS || vs[0].quality !== 'good') throw new Error(`bifrost bulk read failed: ${vs[0]?.error?.message}`);
  },
  PHASE_MS * 2,
);
const vps = (lat) => (TAGS * lat.length) / (lat.reduce((s, x) => s + x, 0) / 1000);
results.push({
  name: `bulk read ${TAGS} variables`,
  raw: `${vps(bulk.raw).toFixed(0)} values/s (p50 ${pct(bulk.raw, 50).toFixed(1)} ms)`,
  bifrost: `${vps(bulk.bifrost).toFixed(0)} values/s (p50 ${pct(bulk.bifrost, 50).toFixed(1)} ms)`,
  overhead: vps(bulk.raw) / vps(bulk.bifrost),
});
rss.afterBulk = rssMB();

const one = { nodeId: ua.coerceNodeId('ns=1;s=Line1.Temperature'), attributeId: 13 };
const single = await compare(
  () => session.read(one),
  () => device.read('ns=1;s=Line1.Temperature'),
  PHASE_MS,
);
results.push({
  name: 'single read round trip',
  raw: `p50 ${pct(single.raw, 50).toFixed(3)} ms, p99 ${pct(single.raw, 99).toFixed(3)} ms`,
  bifrost: `p50 ${pct(single.bifrost, 50).toFixed(3)} ms, p99 ${pct(single.bifrost, 99).toFixed(3)} ms`,
  overhead: pct(single.bifrost, 50) / pct(single.raw, 50),
});

// Subscriptions: 10,000 monitored items each; the server changes every Bulk variable every 200 ms.
async function rawSubscription(ms) {
  const sub = await session.createSubscription2({
    requestedPublishingInterval: 100,
    publishingEnabled: true,
    requestedMaxKeepAliveCount: 10,
    requestedLifetimeCount: 100,
    maxNotificationsPerPublish: 0,
  });
  let n = 0;
  let counting = false;
  for (let i = 0; i < TAGS; i += 5000) {
    const group = await sub.monitorItems(nodesToRead.slice(i, i + 5000), { samplingInterval: 100, queueSize: 1, discardOldest: true }, ua.TimestampsToReturn.Both);
    group.on('changed', () => {
      if (counting) n++;
    });
  }
  await new Promise((r) => setTimeout(r, 1500)); // initial values flushed
  counting = true;
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const rate = n / ((performance.now() - t) / 1000);
  await sub.terminate();
  return rate;
}
async function bifrostSubscription(ms) {
  const ac = new AbortController();
  let n = 0;
  let counting = false;
  const iterator = device.subscribe(addresses, { intervalMs: 100, signal: ac.signal });
  let initial = 0;
  let ready;
  const created = new Promise((r) => {
    ready = r;
  });
  const consume = (async () => {
    for await (const batch of iterator) {
      if (counting) n += batch.length;
      else if ((initial += batch.length) >= TAGS) ready();
    }
  })();
  // Like the raw client, start the clock once every monitored item exists and reported its first value.
  await Promise.race([created, new Promise((r) => setTimeout(r, 20_000))]);
  await new Promise((r) => setTimeout(r, 1500));
  counting = true;
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const rate = n / ((performance.now() - t) / 1000);
  ac.abort();
  await consume;
  return rate;
}
child.stdin.write('move\n');
// Alternate the two clients so a busy machine or a warming server hits both alike.
const subRates = { raw: [], bifrost: [] };
for (let i = 0; i < 2; i++) {
  subRates.raw.push(await rawSubscription(PHASE_MS));
  subRates.bifrost.push(await bifrostSubscription(PHASE_MS));
}
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const offered = (TAGS * 1000) / UPDATE_MS;
results.push({
  name: `subscription, ${TAGS} items (${offered} changes/s offered)`,
  raw: `${mean(subRates.raw).toFixed(0)} changes/s`,
  bifrost: `${mean(subRates.bifrost).toFixed(0)} changes/s`,
  overhead: mean(subRates.raw) / mean(subRates.bifrost),
});
rss.end = rssMB();

await device.close();
await session.close();
await raw.disconnect();
child.stdin.end();
await new Promise((r) => child.on('exit', r));
rmSync(work, { recursive: true, force: true });

// ── report ─────────────────────────────────────────────────────────────────────────────────
console.log(`\nbench/opcua — Bifrost ${'@bifrost/opcua'} vs raw node-opcua ${ua.default?.version ?? '2.182.0'}, same server (Bifrost simulator, separate process), Node ${process.version}\n`);
const w = Math.max(...results.map((r) => r.name.length));
for (const r of results) {
  console.log(`${r.name.padEnd(w)} | bifrost ${r.bifrost.padEnd(36)} | node-opcua ${r.raw.padEnd(36)} | bifrost cost ${r.overhead.toFixed(2)}x (${((r.overhead - 1) * 100).toFixed(1)}%)`);
}
console.log(
  `\nclient RSS: start ${rss.start} MB | @bifrost/opcua imported ${rss.afterBifrostImport} MB | connected (node-opcua loaded) ${rss.afterBifrostConnect} MB | after bulk reads ${rss.afterBulk} MB | end ${rss.end} MB`,
);
console.log('aims: bulk read well above 10,000 values/s; Bifrost overhead over raw node-opcua under 10% (cost < 1.10x)');
