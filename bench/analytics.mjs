#!/usr/bin/env node
// Bifrost analytics benchmark (npm run bench -- analytics). Build first: npx tsc -b packages/analytics
//
// 1. Pipeline throughput, events/s on one core: filter → deadband → 1 s tumbling mean/max over 16
//    series, Bifrost beside the same pipeline written with RxJS and with plain array code, in one
//    run; all three must produce the same number of windows and the same sums.
// 2. Store ingestion, points/s.
// 3. Compressed bytes per point: slowly varying sensor data (1 s polling, 0.1 °C resolution) and
//    constant data.
// 4. Memory budget: accounted bytes and measured heap + ArrayBuffer growth against the budget.
// 5. Plant scale: memory per series at 100,000 series (one handle each, as the gateway holds them)
//    after one poll and after 60, and appendTo throughput across them. BENCH_ONLY=series runs
//    only this section.
import v8 from 'node:v8';
import vm from 'node:vm';
import { pipeline, TimeSeriesStore } from '@bifrost/analytics';
import { groupBy, mergeMap, filter as rxFilter, Subject, scan } from 'rxjs';

if (typeof globalThis.gc !== 'function') v8.setFlagsFromString('--expose-gc');
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : vm.runInNewContext('gc');

const SERIES = 16;
const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ROUNDS = 3;
const load = (await import('node:os')).loadavg()[0];
const names = Array.from({ length: SERIES }, (_, i) => `plant.line${i}.temperature`);

// The memory section runs first, before the large inputs exist, so it measures only the store.
/** Full GCs with pauses between, so freed ArrayBuffer backing stores are really released. */
async function settle() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function memoryBudget() {
  const lines = [];
  const budget = 16 * 1024 * 1024;
  await settle();
  const before = process.memoryUsage();
  let store = new TimeSeriesStore({ memoryBytes: budget, retentionMs: undefined });
  let s = 3;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const P = 3_000_000;
  let maxAccounted = 0;
  for (let i = 0; i < P; i++) {
    store.append(names[i & 15], 1_700_000_000_000 + (i >> 4) * 1000, Math.round((50 + rnd() * 10) * 100) / 100);
    if ((i & 0xffff) === 0) maxAccounted = Math.max(maxAccounted, store.stats().bytes);
  }
  await settle();
  const after = process.memoryUsage();
  const st = store.stats();
  const measured = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  lines.push(
    `budget ${(budget / 2 ** 20).toFixed(1)} MiB | accounted ${(st.bytes / 2 ** 20).toFixed(2)} MiB (max seen ${(maxAccounted / 2 ** 20).toFixed(2)} MiB, ${((maxAccounted / budget) * 100).toFixed(1)} %)`,
  );
  lines.push(`measured heap + ArrayBuffer growth ${(measured / 2 ** 20).toFixed(2)} MiB = ${((measured / budget) * 100).toFixed(1)} % of budget (aim: within 110 %)`);
  lines.push(
    `points held ${st.points.toLocaleString('en')} of ${P.toLocaleString('en')} | evicted chunks ${st.evictedChunks} | ${st.bytesPerPoint.toFixed(2)} B/pt (random 0.01 steps: incompressible noise)`,
  );
  store = undefined;
  return lines;
}
const memoryLines = process.env.BENCH_ONLY === 'series' ? [] : await memoryBudget();

async function perSeries() {
  const lines = [];
  const S = Number(process.env.BENCH_SERIES ?? 100_000);
  const POLLS = 60;
  // The names exist before the baseline: the gateway holds them as its tag keys anyway.
  const tagNames = Array.from({ length: S }, (_, i) => `plc${(i / 10_000) | 0}.tag${i}`);
  await settle();
  const m0 = process.memoryUsage();
  let store = new TimeSeriesStore({ memoryBytes: 2 ** 30 });
  let handles = tagNames.map((n) => store.handle(n));
  const t0 = 1_700_000_000_000;
  // A tenth of the tags count up, the rest drift around a level at 0.1 resolution, as in issue 16.
  const value = (i, k) => (i % 10 === 0 ? k : Math.round((i % 1000) + 5 * Math.sin((k + i) / 20)) / 10);
  const poll = (k) => {
    const t = t0 + k * 1000 + ((k * 7) % 5);
    for (let i = 0; i < S; i++) store.appendTo(handles[i], t, value(i, k));
  };
  const row = (label, m) => {
    const st = store.stats();
    const heap = (m.heapUsed - m0.heapUsed) / S;
    const ab = (m.arrayBuffers - m0.arrayBuffers) / S;
    const open = st.openBytes / S;
    return `${label.padEnd(22)} heap ${heap.toFixed(0).padStart(4)} B + ArrayBuffers ${ab.toFixed(0).padStart(4)} B per series | open-chunk bytes ${open.toFixed(0).padStart(4)} B | beyond them ${(heap + ab - open).toFixed(0).padStart(4)} B/series | ${st.points.toLocaleString('en')} points`;
  };
  poll(0);
  await settle();
  lines.push(row('after 1 poll', process.memoryUsage()));
  let cpu = 0;
  for (let k = 1; k < POLLS; k++) {
    const c0 = process.cpuUsage();
    poll(k);
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1e6;
  }
  await settle();
  lines.push(row(`after ${POLLS} polls`, process.memoryUsage()));
  lines.push(`appendTo across ${S.toLocaleString('en')} series: ${((S * (POLLS - 1)) / cpu / 1e6).toFixed(2)} M points per CPU-second (${POLLS - 1} polls of every series)`);
  store = undefined;
  handles = undefined;
  await settle();
  return lines;
}
const fmtM = (r) => `${(r / 1e6).toFixed(2)} M/s`;
const seriesLines = await perSeries();
if (process.env.BENCH_ONLY === 'series') {
  console.log(`\n## 5. ${Number(process.env.BENCH_SERIES ?? 100_000).toLocaleString('en')} series: memory per series and appendTo rate — node ${process.version}\n`);
  for (const l of seriesLines) console.log(l);
  process.exit(0);
}

// Input: 16 series round-robin, 1 ms apart (≈ 62 events per series per 1 s window), a noisy sine.
const sIdx = new Uint8Array(N);
const ts = new Float64Array(N);
const vs = new Float64Array(N);
let seed = 1;
for (let i = 0; i < N; i++) {
  seed = (seed * 16807) % 2147483647;
  sIdx[i] = i % SERIES;
  ts[i] = 1_700_000_000_000 + i;
  vs[i] = 50 + 20 * Math.sin(i / 20_000) + (seed / 2147483647 - 0.5) * 3;
}
const objects = Array.from({ length: N }, (_, i) => ({ series: names[sIdx[i]], timestamp: ts[i], value: vs[i] }));
const keep = (v) => v > -1000 && v < 1000;
const DEADBAND = 0.5;
const WINDOW = 1000;

// Each contender is built once and fed round after round (timestamps move on by N ms a round), as
// a long-lived gateway pipeline is: the figures are steady state, after the same warm-up for all.
function makeBifrostFast() {
  const p = pipeline().filter(keep).deadband({ absolute: DEADBAND }).window({ type: 'tumbling', size: WINDOW }).aggregate(['mean', 'max']);
  let windows = 0;
  let sum = 0;
  p.on('output', (e) => {
    windows++;
    sum += e.aggregates.max;
  });
  return {
    feed(off) {
      for (let i = 0; i < N; i++) p.pushValue(names[sIdx[i]], ts[i] + off, vs[i]);
    },
    end() {
      p.end();
      return { windows, sum };
    },
  };
}

function makeBifrostObjects() {
  const p = pipeline().filter(keep).deadband({ absolute: DEADBAND }).window({ type: 'tumbling', size: WINDOW }).aggregate(['mean', 'max']);
  let windows = 0;
  let sum = 0;
  p.on('output', (e) => {
    windows++;
    sum += e.aggregates.max;
  });
  return {
    feed() {
      for (let i = 0; i < N; i++) p.push(objects[i]);
    },
    end() {
      p.end();
      return { windows, sum };
    },
  };
}

function makeRx() {
  let windows = 0;
  let sum = 0;
  const subject = new Subject();
  const emitWin = (w) => ({ series: w.series, start: w.start, mean: w.sum / w.count, max: w.max });
  subject
    .pipe(
      rxFilter((e) => e.done === true || keep(e.value)),
      groupBy((e) => e.series),
      mergeMap((g) =>
        g.pipe(
          // deadband per series
          scan(
            (st, e) => {
              if (e.done) return { last: st.last, pass: e };
              if (st.last === undefined || Math.abs(e.value - st.last) > DEADBAND) return { last: e.value, pass: e };
              return { last: st.last, pass: undefined };
            },
            { last: undefined, pass: undefined },
          ),
          rxFilter((st) => st.pass !== undefined),
          // tumbling window on event time
          scan(
            (st, { pass: e }) => {
              const start = e.done ? Number.POSITIVE_INFINITY : e.timestamp - (e.timestamp % WINDOW);
              let out;
              let cur = st.cur;
              if (cur !== undefined && start !== cur.start) {
                out = emitWin(cur);
                cur = undefined;
              }
              if (!e.done) {
                if (cur === undefined) cur = { series: e.series, start, count: 0, sum: 0, max: Number.NEGATIVE_INFINITY };
                cur.count++;
                cur.sum += e.value;
                if (e.value > cur.max) cur.max = e.value;
              }
              return { cur, out };
            },
            { cur: undefined, out: undefined },
          ),
          rxFilter((st) => st.out !== undefined),
        ),
      ),
    )
    .subscribe((st) => {
      windows++;
      sum += st.out.max;
    });
  return {
    feed() {
      for (let i = 0; i < N; i++) subject.next(objects[i]);
    },
    end() {
      for (const s of names) subject.next({ series: s, done: true });
      subject.complete();
      return { windows, sum };
    },
  };
}

function makePlain() {
  let windows = 0;
  let sum = 0;
  const last = new Float64Array(SERIES).fill(Number.NaN);
  const start = new Float64Array(SERIES).fill(Number.NaN);
  const count = new Float64Array(SERIES);
  const total = new Float64Array(SERIES);
  const max = new Float64Array(SERIES);
  const means = [];
  const emit = (s) => {
    windows++;
    sum += max[s];
    if (means.length < 16) means.push(total[s] / count[s]);
  };
  return {
    feed(off) {
      for (let i = 0; i < N; i++) {
        const v = vs[i];
        if (!keep(v)) continue;
        const s = sIdx[i];
        if (!Number.isNaN(last[s]) && Math.abs(v - last[s]) <= DEADBAND) continue;
        last[s] = v;
        const t = ts[i] + off;
        const w = t - (t % WINDOW);
        if (w !== start[s]) {
          if (!Number.isNaN(start[s])) emit(s);
          start[s] = w;
          count[s] = 0;
          total[s] = 0;
          max[s] = Number.NEGATIVE_INFINITY;
        }
        count[s]++;
        total[s] += v;
        if (v > max[s]) max[s] = v;
      }
    },
    end() {
      for (let s = 0; s < SERIES; s++) if (!Number.isNaN(start[s])) emit(s);
      return { windows, sum };
    },
  };
}

// The machine may be shared: rates are per CPU-second of this process (process.cpuUsage, user +
// system, GC threads included, so slightly pessimistic) — "per core" — next to wall-clock rates.
const WARMUP = 2;
function measure(make) {
  const inst = make();
  let bestCpu = Number.POSITIVE_INFINITY;
  let bestWall = Number.POSITIVE_INFINITY;
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    const off = r * N;
    for (let i = 0; i < N; i++) objects[i].timestamp = ts[i] + off;
    gc();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    inst.feed(off);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r < WARMUP) continue;
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
    bestWall = Math.min(bestWall, wall);
  }
  return { rate: N / (bestCpu / 1000), wallRate: N / (bestWall / 1000), result: inst.end() };
}

console.log(
  `\n# Bifrost analytics benchmark — node ${process.version}, ${N.toLocaleString('en')} events a round over ${SERIES} series, ${WARMUP} warm-up + best of ${ROUNDS} rounds, load average ${load.toFixed(1)}\n`,
);
console.log('## 1. filter → deadband(0.5) → 1 s tumbling mean/max (events/s on one core)\n');
const results = { 'bifrost pushValue': measure(makeBifrostFast), 'bifrost push(event)': measure(makeBifrostObjects), rxjs: measure(makeRx), 'plain array code': measure(makePlain) };
const ref = results['bifrost pushValue'];
for (const [name, r] of Object.entries(results)) {
  const same = r.result.windows === ref.result.windows && Math.abs(r.result.sum - ref.result.sum) < 1e-9 * Math.abs(ref.result.sum);
  console.log(`${name.padEnd(22)} ${fmtM(r.rate).padStart(11)} per CPU-second | ${fmtM(r.wallRate).padStart(11)} wall | windows ${r.result.windows} ${same ? '(same output)' : '(OUTPUT DIFFERS!)'}`);
}
const rxRate = results.rxjs.rate;
console.log(`\nratio bifrost pushValue / rxjs   ${(ref.rate / rxRate).toFixed(1)}x   (aim >= 3x)`);
console.log(`ratio bifrost push(event) / rxjs ${(results['bifrost push(event)'].rate / rxRate).toFixed(1)}x`);
console.log(`ratio plain array / bifrost      ${(results['plain array code'].rate / ref.rate).toFixed(1)}x   (hand-written loop, no API)`);
console.log(`bifrost events/s per core        ${fmtM(ref.rate)}   (aim >= 5 M/s)`);

console.log('\n## 2. store ingestion (points/s on one core)\n');
{
  const P = 4_000_000;
  let rate = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const store = new TimeSeriesStore({ memoryBytes: 512 * 1024 * 1024 });
    gc();
    const c0 = process.cpuUsage();
    for (let i = 0; i < P; i++) store.append(names[i & 15], 1_700_000_000_000 + (i >> 4) * 1000, vs[i % N]);
    const c = process.cpuUsage(c0);
    rate = Math.max(rate, P / ((c.user + c.system) / 1e6));
  }
  console.log(`TimeSeriesStore.append  ${fmtM(rate)} per CPU-second (16 series, 1 s spacing, chunks of 1024 sealed and Gorilla-compressed inline)`);
}

console.log('\n## 3. compressed size (bytes per point in sealed chunks)\n');
{
  const P = 500_000;
  let s = 7;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const sensor = new TimeSeriesStore({ memoryBytes: 256 * 1024 * 1024 });
  const jittered = new TimeSeriesStore({ memoryBytes: 256 * 1024 * 1024 });
  const raw32 = new TimeSeriesStore({ memoryBytes: 256 * 1024 * 1024 });
  const constant = new TimeSeriesStore({ memoryBytes: 256 * 1024 * 1024 });
  let t = 1_700_000_000_000;
  for (let i = 0; i < P; i++) {
    const temp = 20 + 3 * Math.sin(i / 3600) + (rnd() - 0.5) * 0.05;
    const q = Math.round(temp * 10) / 10;
    sensor.append('s', 1_700_000_000_000 + i * 1000, q);
    t += 1000 + Math.round((rnd() - 0.5) * 8);
    jittered.append('s', t, q);
    raw32.append('s', 1_700_000_000_000 + i * 1000, Math.fround(temp + (rnd() - 0.5) * 0.2));
    constant.append('s', 1_700_000_000_000 + i * 1000, 42);
  }
  const row = (name, st) => console.log(`${name.padEnd(58)} ${st.stats().bytesPerPoint.toFixed(3)} B/pt  (${(16 / st.stats().bytesPerPoint).toFixed(1)}x vs 16 B raw)`);
  row('sensor: 1 s polling, slow drift, 0.1 °C resolution', sensor);
  row('sensor, ±4 ms polling jitter on the timestamps', jittered);
  row('noisy FLOAT32 register (every sample differs, no repeats)', raw32);
  row('constant value, regular 1 s polling', constant);
  console.log('(aim: <= 2 B/pt on sensor-like data; the Gorilla paper reports 1.37)');
}

console.log('\n## 4. memory budget held (measured first, before the inputs were allocated)\n');
for (const l of memoryLines) console.log(l);

console.log('\n## 5. 100,000 series, one handle each (as the gateway holds them): memory per series and appendTo rate\n');
for (const l of seriesLines) console.log(l);
