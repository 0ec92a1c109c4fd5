/**
 * @module
 * `TimeSeriesStore`: an in-memory, per-series compressed store. New points are Gorilla-encoded as
 * they arrive into the series' open chunk ({@link ChunkEncoder}, as Gorilla's own open block and
 * Prometheus' head chunk are), so a point costs its compressed bytes from the moment it is stored;
 * a chunk of `chunkPoints` points is sealed (trimmed to length). A memory budget in bytes is enforced by evicting the oldest sealed chunks
 * first (smallest last timestamp across all series), and an optional retention drops chunks whose
 * newest point is older than the newest point in the store minus `retentionMs` (event time, so the
 * store behaves the same when replaying history).
 *
 * Rules for bad input (documented in the README):
 * - a timestamp equal to the series' last one (duplicate) or before it (out of order) is not stored:
 *   `append` returns false and `stats().rejected` counts it — Gorilla chunks need increasing time;
 * - a value that is not a number throws BIFROST_ANALYTICS_NOT_NUMERIC; NaN and the infinities are
 *   numbers and are stored bit-exactly; `downsample` skips NaN, `lttb` skips NaN;
 * - a budget that cannot hold one chunk throws BIFROST_ANALYTICS_BUDGET_TOO_SMALL at construction.
 */
import { BifrostError } from '@bifrost/core';
import { ChunkEncoder, decodeChunk } from './gorilla.js';

/** Store options. */
export interface TimeSeriesStoreOptions {
  /** The memory budget in bytes for all series (compressed chunks, open chunks and bookkeeping). */
  memoryBytes: number;
  /** Drop data older than this many ms behind the newest point in the store. */
  retentionMs?: number;
  /** Points per chunk before it is sealed and compressed (default 1024). */
  chunkPoints?: number;
}

/** Bytes the store accounts for each sealed chunk beyond its compressed bytes (object, typed-array header). */
export const CHUNK_OVERHEAD_BYTES = 160;
/** Bytes the store accounts for each series beyond its open chunk's buffer (state object, encoder, name, chunk list). */
export const SERIES_OVERHEAD_BYTES = 256;
/** The open chunk's first buffer, in bytes (it doubles as points arrive). */
const FIRST_OPEN_BYTES = 64;
/**
 * The most bytes a chunk of `points` can take: a 4-byte count, the first point raw (16 bytes), and
 * per further point at most 6+64 timestamp bits and 2+5+6+64 value bits.
 * @example maxChunkBytes(1024) // 18822
 */
export function maxChunkBytes(points: number): number {
  return 20 + Math.ceil(((points - 1) * 147) / 8);
}

/** One point. */
export interface Point {
  t: number;
  v: number;
}

/** Columnar points, as `range` and `lttb` return them. */
export interface PointColumns {
  timestamps: Float64Array;
  values: Float64Array;
}

/** An aggregate `downsample` can compute per bucket. */
export type BucketAggregate = 'count' | 'min' | 'max' | 'mean' | 'first' | 'last' | 'sum';

/** One downsampled bucket `[start, end)`; aggregates are null in a bucket with no (non-NaN) point. */
export interface Bucket {
  start: number;
  end: number;
  count: number;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  sum?: number | null;
  first?: number | null;
  last?: number | null;
}

/** The store's own footprint and counters. */
export interface StoreStats {
  series: number;
  points: number;
  sealedChunks: number;
  openChunks: number;
  /** Bytes accounted against the budget. */
  bytes: number;
  memoryBytes: number;
  /** Bytes allocated for the open chunks' (compressed) buffers. */
  openBytes: number;
  /** Compressed bytes of sealed chunks only. */
  compressedBytes: number;
  /** Points held in sealed chunks. */
  compressedPoints: number;
  /** Compressed bytes per point in sealed chunks (NaN when none). */
  bytesPerPoint: number;
  evictedChunks: number;
  evictedPoints: number;
  /** Points dropped by retention. */
  expiredPoints: number;
  rejected: { outOfOrder: number; duplicate: number; budget: number };
}

interface Chunk {
  readonly series: SeriesState;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly bytes: Uint8Array;
}

interface SeriesState {
  readonly name: string;
  chunks: Chunk[];
  head: number;
  /** The open chunk, compressed as points arrive. */
  open: ChunkEncoder;
  lastT: number;
  lastV: number;
  points: number;
}

/** A series resolved once, for {@link TimeSeriesStore.appendTo}. Opaque: its fields are the store's. */
export interface SeriesHandle {
  readonly series: string;
  /** The store's state of the series, once it exists. */
  state: unknown;
}

/** A binary min-heap of sealed chunks ordered by their newest timestamp. */
class ChunkHeap {
  readonly items: Chunk[] = [];

  push(c: Chunk): void {
    const a = this.items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as Chunk).end <= c.end) break;
      a[i] = a[p] as Chunk;
      i = p;
    }
    a[i] = c;
  }

  peek(): Chunk | undefined {
    return this.items[0];
  }

  pop(): Chunk | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const m = r < a.length && (a[r] as Chunk).end < (a[l] as Chunk).end ? r : l;
        if ((a[m] as Chunk).end >= last.end) break;
        a[i] = a[m] as Chunk;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * A compressed in-memory time-series store with a memory budget.
 * @example
 * const store = new TimeSeriesStore({ memoryBytes: 64 * 1024 * 1024, retentionMs: 3_600_000 });
 * store.append('press1.temperature', Date.now(), 21.5);
 * store.downsample('press1.temperature', from, to, 100, ['min', 'max', 'mean']);
 */
export class TimeSeriesStore {
  readonly #memoryBytes: number;
  readonly #retentionMs: number | undefined;
  readonly #chunkPoints: number;
  readonly #series = new Map<string, SeriesState>();
  readonly #heap = new ChunkHeap();
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

  constructor(options: TimeSeriesStoreOptions) {
    const { memoryBytes, retentionMs, chunkPoints = 1024 } = options ?? ({} as TimeSeriesStoreOptions);
    if (!Number.isInteger(chunkPoints) || chunkPoints < 2 || chunkPoints > 1 << 20)
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `chunkPoints must be an integer from 2 to 1048576, got ${String(chunkPoints)}`);
    if (typeof memoryBytes !== 'number' || !Number.isFinite(memoryBytes) || memoryBytes <= 0)
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `memoryBytes must be a positive number, got ${String(memoryBytes)}`);
    if (retentionMs !== undefined && !(retentionMs > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `retentionMs must be positive, got ${String(retentionMs)}`);
    // One series must be able to fill its open chunk even with incompressible data: the open
    // buffer doubles from FIRST_OPEN_BYTES until it holds maxChunkBytes(chunkPoints).
    let openBuffer = FIRST_OPEN_BYTES;
    while (openBuffer < maxChunkBytes(chunkPoints)) openBuffer *= 2;
    const minimum = SERIES_OVERHEAD_BYTES + openBuffer;
    if (memoryBytes < minimum)
      throw new BifrostError('BIFROST_ANALYTICS_BUDGET_TOO_SMALL', `memory budget of ${memoryBytes} bytes cannot hold one chunk of ${chunkPoints} points (needs at least ${minimum} bytes)`, {
        details: { memoryBytes, chunkPoints, minimum },
      });
    this.#memoryBytes = memoryBytes;
    this.#retentionMs = retentionMs;
    this.#chunkPoints = chunkPoints;
  }

  /**
   * Appends a point. Returns false (and counts it) when `t` is not after the series' last
   * timestamp, or when a new series does not fit the budget even after eviction.
   * @example store.append('line1.speed', 1_700_000_000_000, 12.5)
   */
  append(series: string, t: number, v: number): boolean {
    let s = this.#series.get(series);
    if (s === undefined) {
      if (typeof series !== 'string') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series must be a string, got ${typeof series}`);
      s = this.#createSeries(series);
      if (s === undefined) return false;
    }
    return this.#append(s, t, v);
  }

  /**
   * A handle to a series, for appends without a lookup by name: the gateway resolves one per tag
   * when it starts and appends through it every poll. The series itself is made on the first
   * append (and counted against the budget then).
   * @example const h = store.handle('line1.speed'); store.appendTo(h, Date.now(), 12.5)
   */
  handle(series: string): SeriesHandle {
    if (typeof series !== 'string') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series must be a string, got ${typeof series}`);
    return { series, state: this.#series.get(series) };
  }

  /** {@link append} through a {@link handle}. */
  appendTo(h: SeriesHandle, t: number, v: number): boolean {
    let s = h.state as SeriesState | undefined;
    if (s === undefined) {
      s = this.#series.get(h.series) ?? this.#createSeries(h.series);
      if (s === undefined) return false;
      h.state = s;
    }
    return this.#append(s, t, v);
  }

  #append(s: SeriesState, t: number, v: number): boolean {
    if (typeof v !== 'number') throw new BifrostError('BIFROST_ANALYTICS_NOT_NUMERIC', `series ${s.name}: value ${String(v)} at ${t} is a ${typeof v}, not a number`, { address: s.name });
    if (!(t > s.lastT)) {
      if (t === s.lastT) this.#duplicate++;
      else if (typeof t !== 'number' || Number.isNaN(t)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series ${s.name}: timestamp ${String(t)} is not a number`, { address: s.name });
      else this.#outOfOrder++;
      return false;
    }
    if (s.open.count === this.#chunkPoints) this.#seal(s);
    const open = s.open;
    const capacity = open.capacity;
    open.append(t, v);
    s.lastT = t;
    s.lastV = v;
    s.points++;
    if (open.capacity !== capacity) {
      this.#bytes += open.capacity - capacity;
      this.#enforce();
    }
    if (t > this.#newest) {
      this.#newest = t;
      if (this.#retentionMs !== undefined) this.#expire();
    }
    return true;
  }

  #createSeries(name: string): SeriesState | undefined {
    const cost = SERIES_OVERHEAD_BYTES + FIRST_OPEN_BYTES;
    this.#bytes += cost;
    this.#enforce();
    if (this.#bytes > this.#memoryBytes) {
      this.#bytes -= cost;
      this.#budgetRejected++;
      return undefined;
    }
    const s: SeriesState = { name, chunks: [], head: 0, open: new ChunkEncoder(FIRST_OPEN_BYTES), lastT: Number.NEGATIVE_INFINITY, lastV: Number.NaN, points: 0 };
    this.#series.set(name, s);
    return s;
  }

  /** Seals the open chunk: its bytes, trimmed, become a sealed chunk; the encoder keeps its buffer. */
  #seal(s: SeriesState): void {
    const open = s.open;
    const n = open.count;
    const bytes = open.finish();
    const chunk: Chunk = { series: s, start: open.firstT, end: open.lastT, count: n, bytes };
    s.chunks.push(chunk);
    open.reset();
    this.#heap.push(chunk);
    this.#bytes += bytes.byteLength + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes += bytes.byteLength;
    this.#compressedPoints += n;
    this.#enforce();
  }

  /** Evicts oldest sealed chunks until the accounted bytes fit the budget. */
  #enforce(): void {
    while (this.#bytes > this.#memoryBytes) {
      const c = this.#heap.pop();
      if (c === undefined) return;
      this.#drop(c);
      this.#evictedChunks++;
      this.#evictedPoints += c.count;
    }
  }

  #expire(): void {
    const cutoff = this.#newest - (this.#retentionMs as number);
    for (let c = this.#heap.peek(); c !== undefined && c.end < cutoff; c = this.#heap.peek()) {
      this.#heap.pop();
      this.#drop(c);
      this.#expiredPoints += c.count;
    }
  }

  #drop(c: Chunk): void {
    const s = c.series;
    // The heap pops the smallest end; within a series ends increase, so it is the series' first chunk.
    s.chunks[s.head] = undefined as unknown as Chunk;
    s.head++;
    if (s.head > 64 && s.head * 2 > s.chunks.length) {
      s.chunks = s.chunks.slice(s.head);
      s.head = 0;
    }
    s.points -= c.count;
    this.#bytes -= c.bytes.byteLength + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes -= c.bytes.byteLength;
    this.#compressedPoints -= c.count;
  }

  /** The earliest timestamp queries may return (retention cut-off). */
  #cutoff(): number {
    return this.#retentionMs === undefined ? Number.NEGATIVE_INFINITY : this.#newest - this.#retentionMs;
  }

  /**
   * The newest point of a series, or undefined.
   * @example store.latest('press1.temperature') // { t: 1700000000000, v: 21.5 }
   */
  latest(series: string): Point | undefined {
    const s = this.#series.get(series);
    if (s === undefined || s.points === 0 || s.lastT < this.#cutoff()) return undefined;
    return { t: s.lastT, v: s.lastV };
  }

  /** The names of all series in the store. */
  series(): string[] {
    return [...this.#series.keys()];
  }

  /** Index of the first chunk of `s` whose newest point is at or after `lo` (binary search). */
  #firstChunk(s: SeriesState, lo: number): number {
    let a = s.head;
    let b = s.chunks.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if ((s.chunks[m] as Chunk).end < lo) a = m + 1;
      else b = m;
    }
    return a;
  }

  /** Calls `visit(t, v)` for every stored point with from <= t <= to, in time order. */
  #scan(series: string, from: number, to: number, visit: (t: number, v: number) => void): void {
    const s = this.#series.get(series);
    if (s === undefined) return;
    const lo = Math.max(from, this.#cutoff());
    for (let i = this.#firstChunk(s, lo); i < s.chunks.length; i++) {
      const c = s.chunks[i] as Chunk;
      if (c.start > to) return;
      const { timestamps, values } = decodeChunk(c.bytes);
      for (let j = 0; j < c.count; j++) {
        const t = timestamps[j] as number;
        if (t >= lo && t <= to) visit(t, values[j] as number);
      }
    }
    if (s.open.count === 0 || s.open.firstT > to) return;
    const { timestamps, values } = decodeChunk(s.open.view());
    for (let j = 0; j < timestamps.length; j++) {
      const t = timestamps[j] as number;
      if (t >= lo && t <= to) visit(t, values[j] as number);
    }
  }

  /**
   * The points with `from <= t <= to` (both inclusive), as columns.
   * @example const { timestamps, values } = store.range('press1.temperature', from, to)
   */
  range(series: string, from: number, to: number): PointColumns {
    const s = this.#series.get(series);
    // Size the result from the chunks that overlap the range, not from the whole series.
    let cap = 0;
    if (s !== undefined) {
      cap = s.open.count;
      for (let i = this.#firstChunk(s, Math.max(from, this.#cutoff())); i < s.chunks.length && (s.chunks[i] as Chunk).start <= to; i++) cap += (s.chunks[i] as Chunk).count;
    }
    const timestamps = new Float64Array(cap);
    const values = new Float64Array(cap);
    let n = 0;
    this.#scan(series, from, to, (t, v) => {
      timestamps[n] = t;
      values[n] = v;
      n++;
    });
    return { timestamps: timestamps.subarray(0, n), values: values.subarray(0, n) };
  }

  /**
   * Splits `[from, to]` into `buckets` equal buckets and computes the aggregates in each; NaN
   * values are skipped. The last bucket includes `to`.
   * @example store.downsample('s', 0, 60_000, 60, ['min', 'max', 'mean'])
   */
  downsample(series: string, from: number, to: number, buckets: number, aggregates: readonly BucketAggregate[] = ['count', 'min', 'max', 'mean', 'first', 'last']): Bucket[] {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1_000_000)
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `downsample: buckets must be an integer from 1 to 1000000, got ${String(buckets)}`);
    if (!(to >= from)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `downsample: "to" (${to}) must not be before "from" (${from})`);
    for (const a of aggregates)
      if (!['count', 'min', 'max', 'mean', 'first', 'last', 'sum'].includes(a))
        throw new BifrostError('BIFROST_INVALID_ARGUMENT', `downsample: unknown aggregate "${String(a)}"; expected count, min, max, mean, sum, first, last`);
    const width = (to - from) / buckets;
    const count = new Float64Array(buckets);
    const sum = new Float64Array(buckets);
    const min = new Float64Array(buckets).fill(Number.POSITIVE_INFINITY);
    const max = new Float64Array(buckets).fill(Number.NEGATIVE_INFINITY);
    const first = new Float64Array(buckets);
    const last = new Float64Array(buckets);
    this.#scan(series, from, to, (t, v) => {
      if (Number.isNaN(v)) return;
      let i = width > 0 ? Math.floor((t - from) / width) : 0;
      if (i >= buckets) i = buckets - 1;
      if (count[i] === 0) first[i] = v;
      count[i] = (count[i] as number) + 1;
      sum[i] = (sum[i] as number) + v;
      if (v < (min[i] as number)) min[i] = v;
      if (v > (max[i] as number)) max[i] = v;
      last[i] = v;
    });
    const out: Bucket[] = [];
    for (let i = 0; i < buckets; i++) {
      const c = count[i] as number;
      const b: Bucket = { start: from + i * width, end: i === buckets - 1 ? to : from + (i + 1) * width, count: c };
      for (const a of aggregates) {
        if (a === 'count') continue;
        const v = c === 0 ? null : a === 'mean' ? (sum[i] as number) / c : ({ min, max, sum, first, last }[a][i] as number);
        b[a] = v;
      }
      out.push(b);
    }
    return out;
  }

  /**
   * Largest-Triangle-Three-Buckets downsampling for charts (Steinarsson 2013, "Downsampling Time
   * Series for Visual Representation", §4.2): keeps the first and last points and, in each bucket,
   * the point forming the largest triangle with its neighbours — so a lone spike survives.
   * @example const { timestamps, values } = store.lttb('s', from, to, 500)
   */
  lttb(series: string, from: number, to: number, maxPoints: number): PointColumns {
    const r = this.range(series, from, to);
    return lttb(r.timestamps, r.values, maxPoints);
  }

  /**
   * The store's footprint and counters.
   * @example store.stats().bytesPerPoint // 1.3
   */
  stats(): StoreStats {
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
      memoryBytes: this.#memoryBytes,
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

/**
 * LTTB over columns (see {@link TimeSeriesStore.lttb}); NaN values are skipped. `maxPoints` >= 2.
 * @example lttb(timestamps, values, 300)
 */
export function lttb(timestamps: Float64Array, values: Float64Array, maxPoints: number): PointColumns {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `lttb: maxPoints must be an integer >= 2, got ${String(maxPoints)}`);
  let ts = timestamps;
  let vs = values;
  if (vs.some(Number.isNaN)) {
    const keep: number[] = [];
    vs.forEach((v, i) => {
      if (!Number.isNaN(v)) keep.push(i);
    });
    ts = Float64Array.from(keep, (i) => timestamps[i] as number);
    vs = Float64Array.from(keep, (i) => values[i] as number);
  }
  const n = ts.length;
  if (n <= maxPoints) return { timestamps: ts.slice(), values: vs.slice() };
  const outT = new Float64Array(maxPoints);
  const outV = new Float64Array(maxPoints);
  const every = (n - 2) / (maxPoints - 2);
  let a = 0;
  outT[0] = ts[0] as number;
  outV[0] = vs[0] as number;
  for (let i = 0; i < maxPoints - 2; i++) {
    // The next bucket's average is the third corner of the triangle.
    const nextStart = Math.floor((i + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgT = 0;
    let avgV = 0;
    for (let j = nextStart; j < nextEnd; j++) {
      avgT += ts[j] as number;
      avgV += vs[j] as number;
    }
    const len = nextEnd - nextStart || 1;
    if (nextEnd - nextStart === 0) {
      avgT = ts[n - 1] as number;
      avgV = vs[n - 1] as number;
    } else {
      avgT /= len;
      avgV /= len;
    }
    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const at = ts[a] as number;
    const av = vs[a] as number;
    let best = -1;
    let bestIdx = start;
    for (let j = start; j < end; j++) {
      const area = Math.abs((at - avgT) * ((vs[j] as number) - av) - (at - (ts[j] as number)) * (avgV - av));
      if (area > best) {
        best = area;
        bestIdx = j;
      }
    }
    outT[i + 1] = ts[bestIdx] as number;
    outV[i + 1] = vs[bestIdx] as number;
    a = bestIdx;
  }
  outT[maxPoints - 1] = ts[n - 1] as number;
  outV[maxPoints - 1] = vs[n - 1] as number;
  return { timestamps: outT, values: outV };
}
