#!/usr/bin/env node
// Web API and live stream of the Bifrost gateway.
//   1. 50 WebSocket clients subscribed to 1,000 tags polled at 10 Hz from the Modbus simulator:
//      delivered updates/s, and the gateway process's CPU and memory. Bifrost's stream (latest
//      value per tag, flushed every 100 ms, one serialization per value shared by all clients)
//      beside a naive fan-out on a plain `ws` server (one JSON message per value per client, the
//      usual first implementation), on the same gateway in turn.
//   2. A history query over 1,000,000 points downsampled to 1,000 (LTTB), over HTTP: p50/p95
//      latency, beside DuckDB answering the same bucketed downsample over the same points.
// The simulator and the 50 clients run in a child process, so the CPU and memory measured are
// the gateway's and the web server's alone. Needs the build: `npx tsc -b packages/web packages/modbus`.
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TAGS = 1000;
const CLIENTS = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

if (process.env.BIFROST_BENCH_CHILD === '1') {
  // ── load process: the simulator and the 50 clients ──
  const { startModbusSimulator } = await import('@bifrost/modbus');
  const { default: WebSocket } = await import('ws');
  const points = Array.from({ length: TAGS }, (_, i) => ({ address: `HR${i}`, signal: 'ramp', min: 0, max: 1000 + i, periodS: 5 + (i % 20) }));
  const sim = await startModbusSimulator({ port: 0, config: { updateMs: 100, units: [{ id: 1, map: [`HR0-HR${TAGS - 1}`], points }] } });
  process.send({ sim: sim.url });
  let clients = [];
  let delivered = 0;
  let messages = 0;
  process.on('message', async (m) => {
    if (m.open) {
      delivered = 0;
      messages = 0;
      clients = await Promise.all(
        Array.from({ length: CLIENTS }, () => {
          const ws = new WebSocket(m.open, ['bifrost', `bearer.${m.token}`]);
          ws.on('message', (d) => {
            messages++;
            const msg = JSON.parse(d);
            delivered += msg.values ? msg.values.length : 1;
          });
          return new Promise((resolve, reject) => {
            ws.once('open', () => {
              ws.send(JSON.stringify({ op: 'subscribe', all: true }));
              resolve(ws);
            });
            ws.once('error', reject);
          });
        }),
      );
      process.send({ opened: clients.length });
    } else if (m.count) {
      process.send({ delivered, messages });
    } else if (m.close) {
      for (const c of clients) c.terminate();
      clients = [];
      process.send({ closed: true });
    } else if (m.stop) {
      await sim.close();
      process.exit(0);
    }
  });
} else {
  const { parseGatewayConfig } = await import('@bifrost/core');
  const { Gateway } = await import('@bifrost/gateway');
  const { createToken, startWebServer } = await import('@bifrost/web');
  const { WebSocketServer } = await import('ws');

  const child = fork(new URL(import.meta.url), [], { env: { ...process.env, BIFROST_BENCH_CHILD: '1' } });
  const waitMsg = (pred) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (pred(m)) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
    });
  const ask = (msg, pred) => {
    const p = waitMsg(pred);
    child.send(msg);
    return p;
  };
  const { sim } = await waitMsg((m) => m.sim);
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-bench-web-'));
  const tags = Array.from({ length: TAGS }, (_, i) => `      - { name: t${i}, address: HR${i} }`).join('\n');
  const { config, source } = parseGatewayConfig(
    `devices:\n  - name: plc\n    url: ${sim}\n    pollMs: 100\n    tags:\n${tags}\naudit: { file: ${join(dir, 'audit.jsonl')} }\nstore: { memory: 256MB }\n`,
    'bench.yaml',
  );
  const gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  const { token, entry } = createToken({ name: 'bench', role: 'viewer' });

  async function measure(name, url) {
    await ask({ open: url, token }, (m) => m.opened);
    await new Promise((r) => setTimeout(r, 2000));
    global.gc?.();
    const polls0 = gw.devices()[0].stats.polls;
    const c0 = (await ask({ count: true }, (m) => 'delivered' in m)).delivered;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let peakRss = 0;
    let peakHeap = 0;
    const sampler = setInterval(() => {
      const mu = process.memoryUsage();
      peakRss = Math.max(peakRss, mu.rss);
      peakHeap = Math.max(peakHeap, mu.heapUsed);
    }, 250);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(sampler);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const { delivered, messages } = await ask({ count: true }, (m) => 'delivered' in m);
    const polls = gw.devices()[0].stats.polls - polls0;
    await ask({ close: true }, (m) => m.closed);
    const produced = (polls * TAGS * CLIENTS) / wall;
    return {
      name,
      updatesPerS: (delivered - c0) / wall,
      produced,
      messages,
      cpuPct: ((cpu.user + cpu.system) / 1000 / (wall * 1000)) * 100,
      rssMB: peakRss / 2 ** 20,
      heapMB: peakHeap / 2 ** 20,
      pollsPerS: polls / wall,
    };
  }

  // Bifrost's stream.
  const web = await startWebServer(gw, { port: 0, tokens: [entry], streamIntervalMs: 100 });
  const bifrost = await measure('bifrost /api/stream', `ws://127.0.0.1:${web.port}/api/stream`);
  await web.close();

  // Naive fan-out: one JSON message per value per client, on a plain ws server.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'bifrost' });
  await new Promise((r) => wss.once('listening', r));
  const onValue = (v) => {
    for (const c of wss.clients) if (c.readyState === 1) c.send(JSON.stringify({ key: `${v.device}.${v.tag}`, value: v.value, quality: v.quality, timestamp: v.timestamp }));
  };
  gw.on('value', onValue);
  const naive = await measure('naive ws fan-out', `ws://127.0.0.1:${wss.address().port}/`);
  gw.off('value', onValue);
  await new Promise((r) => wss.close(r));

  const f = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`\n1. ${CLIENTS} WebSocket clients × ${TAGS} tags at 10 Hz, ${SECONDS} s each (gateway polled ${f(bifrost.pollsPerS, 1)} / ${f(naive.pollsPerS, 1)} scans/s)`);
  console.log('   stream                | delivered updates/s | gateway CPU | peak RSS  | peak heap | WS messages');
  for (const r of [bifrost, naive])
    console.log(`   ${r.name.padEnd(21)} | ${f(r.updatesPerS).padStart(19)} | ${f(r.cpuPct, 1).padStart(9)} % | ${f(r.rssMB).padStart(6)} MB | ${f(r.heapMB).padStart(6)} MB | ${f(r.messages)}`);
  console.log(
    `   ratio: bifrost CPU per delivered update ${f(naive.cpuPct / naive.updatesPerS / (bifrost.cpuPct / bifrost.updatesPerS), 1)}x lower than naive; delivered ${f(bifrost.updatesPerS / naive.updatesPerS, 2)}x; updates offered by the scans ${f(bifrost.produced)}/s`,
  );

  // 2. History over 1,000,000 points.
  const N = 1_000_000;
  const t0 = Date.now() - N * 100;
  const store = gw.store;
  for (let i = 0; i < N; i++) store.append('bench.history', t0 + i * 100, Math.sin(i / 5000) * 50 + (i % 977 === 0 ? 40 : 0) + ((i * 7919) % 100) / 100);
  const web2 = await startWebServer(gw, { port: 0, tokens: [entry] });
  const url = `http://127.0.0.1:${web2.port}/api/series/bench.history/history?from=${t0}&to=${t0 + N * 100}&maxPoints=1000`;
  const headers = { authorization: `Bearer ${token}` };
  const lat = [];
  let points = 0;
  for (let i = 0; i < 25; i++) {
    const s = performance.now();
    const body = await (await fetch(url, { headers })).json();
    lat.push(performance.now() - s);
    points = body.t.length;
  }
  await web2.close();
  const direct = [];
  for (let i = 0; i < 10; i++) {
    const s = performance.now();
    store.query('bench.history', { from: t0, to: t0 + N * 100, maxPoints: 1000 });
    direct.push(performance.now() - s);
  }
  const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];

  // DuckDB: the same 1,000,000 points, bucketed to 1,000 averages (its idiom for a chart).
  let duck;
  try {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const inst = await DuckDBInstance.create(':memory:');
    const con = await inst.connect();
    await con.run(`CREATE TABLE p AS SELECT ${t0}::BIGINT + i * 100 AS t, sin(i / 5000.0) * 50 + CASE WHEN i % 977 = 0 THEN 40 ELSE 0 END + ((i * 7919) % 100) / 100.0 AS v FROM range(${N}) r(i)`);
    const dl = [];
    for (let i = 0; i < 25; i++) {
      const s = performance.now();
      const r = await con.runAndReadAll(`SELECT min(t), avg(v) FROM p WHERE t BETWEEN ${t0} AND ${t0 + N * 100} GROUP BY (t - ${t0}) // ${(N * 100) / 1000} ORDER BY 1`);
      r.getRows();
      dl.push(performance.now() - s);
    }
    duck = { p50: pct(dl, 50), p95: pct(dl, 95) };
    con.closeSync?.();
  } catch (e) {
    duck = undefined;
    console.log(`   (DuckDB peer skipped: ${e.message})`);
  }
  const st = store.stats();
  console.log(`\n2. History query over ${f(N)} points → ${points} points (LTTB), HTTP GET, 25 runs; store holds ${f(st.points)} points in ${f(st.bytes / 2 ** 20, 1)} MB`);
  console.log(`   bifrost GET /api/series/…/history  p50 ${f(pct(lat, 50), 1)} ms | p95 ${f(pct(lat, 95), 1)} ms`);
  console.log(`   of which store.query (decode + LTTB, in-process) p50 ${f(pct(direct, 50), 1)} ms`);
  if (duck) console.log(`   duckdb bucketed avg (in-process)   p50 ${f(duck.p50, 1)} ms | p95 ${f(duck.p95, 1)} ms | ratio bifrost/duckdb p50 ${f(pct(lat, 50) / duck.p50, 2)}x`);

  await gw.stop();
  child.send({ stop: true });
}
