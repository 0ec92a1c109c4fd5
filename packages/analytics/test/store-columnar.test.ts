import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkSlabs, FIRST_OPEN_BYTES } from '../src/chunk-slabs.js';
import { ChunkEncoder, decodeChunk, GorillaTable } from '../src/gorilla.js';
import { type Bucket, type BucketAggregate, CHUNK_OVERHEAD_BYTES, maxChunkBytes, SERIES_OVERHEAD_BYTES, type StoreStats, TimeSeriesStore } from '../src/store.js';

// Expected values are kept as bit words, never in a JS array of numbers: V8 quiets a signalling NaN
// stored into a double array (Float64SilenceNaN in optimised code), which would change its bits.
const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);

/** The two 32-bit words of a double, as hex in memory order. */
function wordsOf(v: number): [string, string] {
  scratch[0] = v;
  return [(scratchWords[0] as number).toString(16), (scratchWords[1] as number).toString(16)];
}

/** The double with the given words (from {@link wordsOf}). */
function ofWords(lo: string, hi: string): number {
  scratchWords[0] = Number.parseInt(lo, 16);
  scratchWords[1] = Number.parseInt(hi, 16);
  return scratch[0] as number;
}

/** The raw bits of a Float64Array as hex words, for bit-exact comparison (NaN payloads and -0 included). */
function bits(a: Float64Array): string[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length * 2), (w) => w.toString(16));
}

function fromBits(hi: number, lo: number): number {
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  u[little ? 1 : 0] = hi;
  u[little ? 0 : 1] = lo;
  return f[0] as number;
}

// ── The oracle: the store as it was before its state became columnar (one object per series, one
// ChunkEncoder per open chunk, a ChunkHeap of sealed chunks), kept here and only here. It holds
// every point raw beside the encoder, so its answers do not depend on the decoder; the encoder is
// what sizes the open buffers and sealed chunks the budget is charged for, as it did then.

interface RefChunk {
  readonly series: RefSeries;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly byteLength: number;
  readonly ts: number[];
  /** Two hex words per value, see {@link wordsOf}. */
  readonly vw: string[];
}

interface RefSeries {
  readonly name: string;
  chunks: RefChunk[];
  head: number;
  open: ChunkEncoder;
  openTs: number[];
  openVw: string[];
  lastT: number;
  lastV: [string, string];
  points: number;
}

class RefHeap {
  readonly items: RefChunk[] = [];
  push(c: RefChunk): void {
    const a = this.items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as RefChunk).end <= c.end) break;
      a[i] = a[p] as RefChunk;
      i = p;
    }
    a[i] = c;
  }
  peek(): RefChunk | undefined {
    return this.items[0];
  }
  pop(): RefChunk | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const m = r < a.length && (a[r] as RefChunk).end < (a[l] as RefChunk).end ? r : l;
        if ((a[m] as RefChunk).end >= last.end) break;
        a[i] = a[m] as RefChunk;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

class RefStore {
  readonly #series = new Map<string, RefSeries>();
  readonly #heap = new RefHeap();
  readonly #memoryBytes: number;
  readonly #retentionMs: number | undefined;
  readonly #chunkPoints: number;
  #bytes = 0;
  #compressedBytes = 0;
  #compressedPoints = 0;
  #newest = Number.NEGATIVE_INFINITY;
  #evictedChunks = 0;
  #evictedPoints = 0;
  #expiredPoints = 0;
  #outOfOrder = 0;
  #duplicate = 0;
  #budgetRejected = 0;

  readonly #fullOpen: number;

  constructor(memoryBytes: number, chunkPoints: number, retentionMs: number | undefined) {
    this.#memoryBytes = memoryBytes;
    this.#chunkPoints = chunkPoints;
    this.#retentionMs = retentionMs;
    let full = 64;
    while (full < maxChunkBytes(chunkPoints)) full *= 2;
    this.#fullOpen = full;
  }

  /**
   * The one rule added since: an open chunk is sealed early once its buffer has reached the size
   * class that keeps bookkeeping and open buffers within three quarters of the budget and the next point might
   * not fit it (at most 20 bytes).
   */
  #sealsEarly(s: RefSeries): boolean {
    const room = (this.#memoryBytes * 3) / 4 / Math.max(1, this.#series.size) - SERIES_OVERHEAD_BYTES;
    let limit = 64;
    while (limit * 2 <= room && limit * 2 <= this.#fullOpen) limit *= 2;
    return s.open.count !== 0 && s.open.capacity >= limit && s.open.view().length + 20 > s.open.capacity;
  }

  append(name: string, t: number, v: number): boolean {
    let s = this.#series.get(name);
    if (s === undefined) {
      const cost = SERIES_OVERHEAD_BYTES + 64;
      this.#bytes += cost;
      this.#enforce();
      if (this.#bytes > this.#memoryBytes) {
        this.#bytes -= cost;
        this.#budgetRejected++;
        return false;
      }
      s = { name, chunks: [], head: 0, open: new ChunkEncoder(64), openTs: [], openVw: [], lastT: Number.NEGATIVE_INFINITY, lastV: wordsOf(Number.NaN), points: 0 };
      this.#series.set(name, s);
    }
    if (typeof v !== 'number') throw Object.assign(new Error('not numeric'), { code: 'BIFROST_ANALYTICS_NOT_NUMERIC' });
    if (!(t > s.lastT)) {
      if (t === s.lastT) this.#duplicate++;
      else this.#outOfOrder++;
      return false;
    }
    if (s.open.count === this.#chunkPoints || this.#sealsEarly(s)) this.#seal(s);
    const capacity = s.open.capacity;
    s.open.append(t, v);
    const w = wordsOf(v);
    s.openTs.push(t);
    s.openVw.push(...w);
    s.lastT = t;
    s.lastV = w;
    s.points++;
    if (s.open.capacity !== capacity) {
      this.#bytes += s.open.capacity - capacity;
      this.#enforce();
    }
    if (t > this.#newest) {
      this.#newest = t;
      if (this.#retentionMs !== undefined) {
        const cutoff = this.#newest - this.#retentionMs;
        for (let c = this.#heap.peek(); c !== undefined && c.end < cutoff; c = this.#heap.peek()) {
          this.#heap.pop();
          this.#drop(c);
          this.#expiredPoints += c.count;
        }
      }
    }
    return true;
  }

  #seal(s: RefSeries): void {
    const byteLength = s.open.finish().length;
    const c: RefChunk = { series: s, start: s.open.firstT, end: s.open.lastT, count: s.open.count, byteLength, ts: s.openTs, vw: s.openVw };
    s.chunks.push(c);
    s.open.reset();
    s.openTs = [];
    s.openVw = [];
    this.#heap.push(c);
    this.#bytes += byteLength + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes += byteLength;
    this.#compressedPoints += c.count;
    this.#enforce();
  }

  #enforce(): void {
    while (this.#bytes > this.#memoryBytes) {
      const c = this.#heap.pop();
      if (c === undefined) return;
      this.#drop(c);
      this.#evictedChunks++;
      this.#evictedPoints += c.count;
    }
  }

  #drop(c: RefChunk): void {
    const s = c.series;
    s.head++;
    s.points -= c.count;
    this.#bytes -= c.byteLength + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes -= c.byteLength;
    this.#compressedPoints -= c.count;
  }

  #cutoff(): number {
    return this.#retentionMs === undefined ? Number.NEGATIVE_INFINITY : this.#newest - this.#retentionMs;
  }

  latest(name: string): { t: number; v: string[] } | undefined {
    const s = this.#series.get(name);
    if (s === undefined || s.points === 0 || s.lastT < this.#cutoff()) return undefined;
    return { t: s.lastT, v: s.lastV };
  }

  series(): string[] {
    return [...this.#series.keys()];
  }

  /** Timestamps, and values as bit words. */
  range(name: string, from: number, to: number): { timestamps: number[]; values: string[] } {
    const timestamps: number[] = [];
    const values: string[] = [];
    const s = this.#series.get(name);
    if (s === undefined) return { timestamps, values };
    const lo = Math.max(from, this.#cutoff());
    const parts = [...s.chunks.slice(s.head).map((c) => [c.ts, c.vw] as const), [s.openTs, s.openVw] as const];
    for (const [ts, vw] of parts)
      ts.forEach((t, i) => {
        if (t >= lo && t <= to) {
          timestamps.push(t);
          values.push(vw[2 * i] as string, vw[2 * i + 1] as string);
        }
      });
    return { timestamps, values };
  }

  downsample(name: string, from: number, to: number, buckets: number, aggregates: readonly BucketAggregate[]): Bucket[] {
    const width = (to - from) / buckets;
    const acc = Array.from({ length: buckets }, () => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY, first: 0, last: 0 }));
    const r = this.range(name, from, to);
    r.timestamps.forEach((t, j) => {
      const v = ofWords(r.values[2 * j] as string, r.values[2 * j + 1] as string);
      if (Number.isNaN(v)) return;
      const a = acc[Math.min(width > 0 ? Math.floor((t - from) / width) : 0, buckets - 1)]!;
      if (a.count === 0) a.first = v;
      a.count++;
      a.sum += v;
      if (v < a.min) a.min = v;
      if (v > a.max) a.max = v;
      a.last = v;
    });
    return acc.map((a, i) => {
      const b: Bucket = { start: from + i * width, end: i === buckets - 1 ? to : from + (i + 1) * width, count: a.count };
      for (const k of aggregates) if (k !== 'count') b[k] = a.count === 0 ? null : k === 'mean' ? a.sum / a.count : a[k];
      return b;
    });
  }

  stats(): Omit<StoreStats, 'memoryBytes'> {
    let points = 0;
    let open = 0;
    let sealed = 0;
    let openBytes = 0;
    for (const s of this.#series.values()) {
      points += s.points;
      openBytes += s.open.capacity;
      if (s.open.count > 0) open++;
      sealed += s.chunks.length - s.head;
    }
    return {
      series: this.#series.size,
      points,
      sealedChunks: sealed,
      openChunks: open,
      bytes: this.#bytes,
      openBytes,
      compressedBytes: this.#compressedBytes,
      compressedPoints: this.#compressedPoints,
      bytesPerPoint: this.#compressedPoints === 0 ? Number.NaN : this.#compressedBytes / this.#compressedPoints,
      evictedChunks: this.#evictedChunks,
      evictedPoints: this.#evictedPoints,
      expiredPoints: this.#expiredPoints,
      rejected: { outOfOrder: this.#outOfOrder, duplicate: this.#duplicate, budget: this.#budgetRejected },
    };
  }
}

// ── Random workloads ──

type Op =
  | { kind: 'append'; series: number; via: 'name' | 'handle'; step: number; v: number | string }
  | { kind: 'handle'; series: number }
  | { kind: 'check'; from: number; span: number; buckets: number };

const value = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -50, max: 50 }).map((i) => i / 10) }, // a quantised sensor: repeats and small XORs
  { weight: 2, arbitrary: fc.double() }, // NaN, -0, ±Infinity, subnormals
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([hi, lo]) => fromBits(hi, lo)) }, // NaN payloads
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) },
);

// A step from the series' last timestamp: polled (1 s ± jitter), duplicate (0), out of order (< 0), huge gaps, fractions.
const step = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 990, max: 1010 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, -1000) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 33, 1e12 + 0.5, 0.25, 86_400_000) },
);

const SERIES = 12;
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({ kind: fc.constant('append' as const), series: fc.integer({ min: 0, max: SERIES - 1 }), via: fc.constantFrom('name' as const, 'handle' as const), step, v: value }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      series: fc.integer({ min: 0, max: SERIES - 1 }),
      via: fc.constantFrom('name' as const, 'handle' as const),
      step,
      v: fc.constant('x'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('handle' as const), series: fc.integer({ min: 0, max: SERIES - 1 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      from: fc.integer({ min: -10_000, max: 400_000 }),
      span: fc.integer({ min: 0, max: 200_000 }),
      buckets: fc.integer({ min: 1, max: 12 }),
    }),
  },
);

const AGGREGATES: BucketAggregate[] = ['count', 'min', 'max', 'mean', 'sum', 'first', 'last'];
const name = (i: number) => `dev${i % 3}.tag${i}`;

function compare(store: TimeSeriesStore, ref: RefStore, from: number, to: number, buckets: number): void {
  const { memoryBytes: _, ...stats } = store.stats();
  expect(stats).toEqual(ref.stats());
  expect(store.series()).toEqual(ref.series());
  for (let i = 0; i <= SERIES; i++) {
    const n = name(i); // i === SERIES: a series never written
    const got = store.latest(n);
    const want = ref.latest(n);
    expect(got === undefined ? undefined : { t: got.t, v: wordsOf(got.v) }).toEqual(want);
    for (const [a, b] of [
      [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      [from, to],
    ] as const) {
      const r = store.range(n, a, b);
      const w = ref.range(n, a, b);
      expect(Array.from(r.timestamps)).toEqual(w.timestamps);
      expect(bits(r.values)).toEqual(w.values);
    }
    expect(store.downsample(n, from, to, buckets, AGGREGATES)).toEqual(ref.downsample(n, from, to, buckets, AGGREGATES));
  }
}

describe('TimeSeriesStore with columnar series state', () => {
  it('answers as the object-per-series store did: interleaved appends over many series, budget eviction, retention (property)', () => {
    // The workloads must reach what they are meant to compare: evictions, refusals, expiry, seals.
    const reached = { evicted: 0, refused: 0, expired: 0, sealed: 0, outOfOrder: 0, duplicate: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 24 }),
        fc.integer({ min: 0, max: 12_000 }),
        fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }),
        fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: SERIES, maxLength: SERIES }),
        fc.array(op, { minLength: 1, maxLength: 300, size: 'max' }),
        (chunkPoints, extra, retentionMs, starts, ops) => {
          // The smallest budget the store accepts, plus a little: series are refused and chunks evicted.
          let open = FIRST_OPEN_BYTES;
          while (open < maxChunkBytes(chunkPoints)) open *= 2;
          const memoryBytes = SERIES_OVERHEAD_BYTES + open + extra;
          const store = new TimeSeriesStore(retentionMs === undefined ? { memoryBytes, chunkPoints } : { memoryBytes, chunkPoints, retentionMs });
          const ref = new RefStore(memoryBytes, chunkPoints, retentionMs);
          const clock = starts.slice();
          const handles = new Map<number, number>();
          for (const o of ops) {
            if (o.kind === 'handle') handles.set(o.series, store.handle(name(o.series)));
            else if (o.kind === 'check') compare(store, ref, o.from, o.from + o.span, o.buckets);
            else {
              const t = (clock[o.series] as number) + o.step;
              if (o.step > 0) clock[o.series] = t;
              const n = name(o.series);
              let h = handles.get(o.series);
              if (o.via === 'handle' && h === undefined) {
                h = store.handle(n);
                handles.set(o.series, h);
              }
              const act = () => (o.via === 'handle' ? store.appendTo(h as number, t, o.v as number) : store.append(n, t, o.v as number));
              let want: boolean | undefined;
              try {
                want = ref.append(n, t, o.v as number);
              } catch {
                // A value that is not a number throws, unless the new series was refused first.
                expect(act).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_NOT_NUMERIC' }));
                continue;
              }
              expect(act()).toBe(want);
            }
          }
          compare(store, ref, -10_000, 1e13, 7);
          const st = store.stats();
          reached.evicted += st.evictedChunks;
          reached.refused += st.rejected.budget;
          reached.expired += st.expiredPoints;
          reached.sealed += st.compressedPoints;
          reached.outOfOrder += st.rejected.outOfOrder;
          reached.duplicate += st.rejected.duplicate;
        },
      ),
      { numRuns: 100 },
    );
    for (const n of Object.values(reached)) expect(n).toBeGreaterThan(0);
  });

  it('a handle costs nothing against the budget and makes no series until its first append', () => {
    const store = new TimeSeriesStore({ memoryBytes: 1 << 20 });
    const h = store.handle('a.b');
    expect(store.handle('a.b')).toBe(h);
    expect(store.stats()).toMatchObject({ series: 0, bytes: 0, openBytes: 0 });
    expect(store.series()).toEqual([]);
    expect(store.latest('a.b')).toBeUndefined();
    expect(store.range('a.b', 0, 10).timestamps.length).toBe(0);
    store.append('c.d', 1, 1);
    expect(store.appendTo(h, 2, 2)).toBe(true);
    // Listed in the order of the first point, as before handles were rows.
    expect(store.series()).toEqual(['c.d', 'a.b']);
    expect(store.stats()).toMatchObject({ series: 2, bytes: 2 * (SERIES_OVERHEAD_BYTES + FIRST_OPEN_BYTES) });
    for (const bad of [-1, 1.5, 99, Number.NaN, { series: 'a.b', state: undefined }])
      expect(() => store.appendTo(bad as number, 3, 3)).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_ARGUMENT' }));
    expect(() => store.appendTo(h, 3, 'x' as unknown as number)).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_NOT_NUMERIC', message: expect.stringContaining('a.b') }));
  });

  it('round-trips bit for bit while slabs are added and given back and buffers move between slots (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 11 }).map((k) => 2 ** k), // slabs of 64 B to 2 KiB: a slab holds 1 to 32 first buffers
        fc.array(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -3, max: 5_000 })), {
          minLength: 1,
          maxLength: 600,
          size: 'max',
        }),
        (slabBytes, rows) => {
          const slabs = new ChunkSlabs(slabBytes);
          const table = new GorillaTable(slabs, 1);
          const want: { ts: number[]; vw: string[] }[] = [];
          const live: number[] = [];
          for (const [row, hi, lo, s] of rows) {
            // Rows come into use in any order; each starts at FIRST_OPEN_BYTES and doubles as it fills.
            if (want[row] === undefined) {
              table.reserve(row + 1);
              slabs.place(table, row, FIRST_OPEN_BYTES);
              table.initRow(row);
              want[row] = { ts: [], vw: [] };
              live.push(row);
            }
            const w = want[row];
            const last = w.ts.length === 0 ? 1_700_000_000_000 : (w.ts[w.ts.length - 1] as number);
            const t = s > 4_990 ? last + s * 1_000_003 + 0.5 : last + 1000 + s;
            // Raw bit patterns for the values: incompressible, so buffers grow and move often.
            const v = fromBits(hi, lo);
            table.append(row, t, v);
            w.ts.push(t);
            w.vw.push(...wordsOf(v));
          }
          // Every row decodes to exactly what was appended, wherever its buffer ended up ...
          for (const row of live) {
            const w = want[row] as { ts: number[]; vw: string[] };
            const back = decodeChunk(table.view(row));
            expect(Array.from(back.timestamps)).toEqual(w.ts);
            expect(bits(back.values)).toEqual(w.vw);
            expect(table.firstT(row)).toBe(w.ts[0]);
          }
          // ... the buffers do not overlap, and past each chunk's bytes its buffer is zero (the writer ORs into zeroed bytes).
          const spans = live.map((row) => ({ slab: table.slab[row]!, a: table.base[row]!, b: table.base[row]! + table.cap[row]!, used: table.used(row) }));
          spans.sort((x, y) => x.slab - y.slab || x.a - y.a);
          for (let i = 1; i < spans.length; i++) if (spans[i]!.slab === spans[i - 1]!.slab) expect(spans[i]!.a).toBeGreaterThanOrEqual(spans[i - 1]!.b);
          for (const sp of spans) expect(table.slabs[sp.slab]!.subarray(sp.a + sp.used, sp.b).every((x) => x === 0)).toBe(true);
          // Slabs hold the buffers in use and at most one partly filled slab per size class.
          const inUse = spans.reduce((n, sp) => n + (sp.b - sp.a), 0);
          const classes = new Set(spans.map((sp) => sp.b - sp.a)).size;
          expect(slabs.allocatedBytes).toBeGreaterThanOrEqual(inUse);
          expect(slabs.allocatedBytes - inUse).toBeLessThan(Math.max(slabBytes, 64) * classes + 1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('round-trips through the store while 8,000 series grow their open chunks at different rates', () => {
    const store = new TimeSeriesStore({ memoryBytes: 256 * 1024 * 1024, chunkPoints: 100 });
    // 8,000 first buffers of 64 B fill two 256 KiB slabs.
    const S = 8_000;
    const K = 140;
    const handles = Array.from({ length: S }, (_, i) => store.handle(`s${i}`));
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const want = new Float64Array(S * K);
    const counts = new Uint32Array(S);
    // Series i takes a point in (i % 7) + 1 of every 7 rounds, with raw-bit values in some: chunks
    // reach their size classes at different times, so slots empty all over the classes and get refilled.
    let refused = 0;
    for (let k = 0; k < K; k++)
      for (let i = 0; i < S; i++) {
        if (k % 7 > i % 7) continue;
        const v = i % 3 === 0 ? fromBits((rnd() * 2 ** 32) >>> 0, (rnd() * 2 ** 32) >>> 0) : Math.round(rnd() * 100) / 10;
        if (!store.appendTo(handles[i] as number, 1_700_000_000_000 + k * 1000, v)) refused++;
        want[i * K + (counts[i] as number)] = v;
        counts[i]++;
      }
    expect(refused).toBe(0);
    let differ = 0;
    for (let i = 0; i < S; i++) {
      const got = store.range(`s${i}`, 0, Number.POSITIVE_INFINITY).values;
      const a = new Uint32Array(got.buffer, got.byteOffset, got.length * 2);
      const b = new Uint32Array(want.buffer, i * K * 8, (counts[i] as number) * 2);
      if (a.length !== b.length || a.some((w, j) => w !== b[j])) differ++;
    }
    expect(differ).toBe(0);
    const st = store.stats();
    expect(st.points).toBe(counts.reduce((n, c) => n + c, 0));
    expect(st.openBytes + st.compressedBytes + st.sealedChunks * CHUNK_OVERHEAD_BYTES + S * SERIES_OVERHEAD_BYTES).toBe(st.bytes);
  });
});
