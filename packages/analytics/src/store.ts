/**
 * @module
 * `TimeSeriesStore`: an in-memory, per-series compressed store. New points are Gorilla-encoded as
 * they arrive into the series' open chunk (as Gorilla's own open block and Prometheus' head chunk
 * are), so a point costs its compressed bytes from the moment it is stored; a chunk of
 * `chunkPoints` points is sealed (trimmed to length).
 *
 * Per series state is columnar, because a plant gateway holds 100,000 series and most of them only
 * ever have an open chunk: a series is a row number (its name maps to it in one Map), its open
 * chunk's encoder state a row of one {@link GorillaTable} (typed arrays, no object and no boxed
 * number per series) and its bytes a slot in the shared slabs of {@link ChunkSlabs}. Sealed chunks
 * are ids in the columns of {@link SealedChunks}, their bytes in slabs of their own: no object per
 * series or per chunk.
 *
 * A memory budget in bytes is enforced by evicting the oldest sealed chunks
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
import { ChunkSlabs, FIRST_OPEN_BYTES } from './chunk-slabs.js';
import { decodeChunk, GorillaTable } from './gorilla.js';
import { SealedChunks } from './sealed-chunks.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
/** A series' last value is read back from its two 32-bit halves through these. */
const lastValue = new Float64Array(1);
const lastBits = new Uint32Array(lastValue.buffer);

/** Store options. */
export interface TimeSeriesStoreOptions {
  /** The memory budget in bytes for all series (compressed chunks, open chunks and bookkeeping). */
  memoryBytes: number;
  /** Drop data older than this many ms behind the newest point in the store. */
  retentionMs?: number;
  /** Points per chunk before it is sealed and compressed (default 1024). */
  chunkPoints?: number;
}

/**
 * Bytes the store accounts for each sealed chunk beyond its compressed bytes: its row in the
 * columns of {@link SealedChunks} and its heap slot (44 bytes), with room for the columns' doubling.
 */
export const CHUNK_OVERHEAD_BYTES = 96;
/**
 * Bytes the store accounts for each series beyond its open chunk's buffer (its row, its name's map
 * entry, its chunk list). An upper bound: bench/analytics.mjs measures about 130 at 100,000 series.
 */
export const SERIES_OVERHEAD_BYTES = 256;
/** The most bytes one more point can add to a chunk: 6+64 timestamp bits and 2+5+6+64 value bits, and a partly written byte. */
const MAX_POINT_BYTES = Math.ceil(147 / 8) + 1;
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

/**
 * A series resolved once, for {@link TimeSeriesStore.appendTo}: the series' row number in the
 * store, so holding one per tag costs nothing beyond the number. Valid only for the store that gave it.
 */
export type SeriesHandle = number;

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
  /** Name → row. A row is made by `handle` or the first `append`, and is a series of the store (counted, listed, queried) once its first append is charged to the budget, which gives it an open chunk: `cap[row] > 0`. */
  readonly #series = new Map<string, number>();
  readonly #slabs = new ChunkSlabs();
  /** The open chunks; `prevT` is also each series' last timestamp (-Infinity before its first point), `ph`/`pl` its last value's bits. */
  readonly #open = new GorillaTable(this.#slabs, 16);
  /** The sealed chunks of all series. */
  readonly #sealed: SealedChunks;
  #rows = 0;
  /** The rows of the series, in the order they were charged (what `series()` lists). */
  #order = new Int32Array(16);
  #live = 0;
  /** The open buffer that holds a whole chunk of `chunkPoints` points (a size class). */
  readonly #fullOpen: number;
  /**
   * How far an open chunk grows before it is sealed early (a size class, at least
   * FIRST_OPEN_BYTES): the series' bookkeeping and open buffers stay within three quarters of the
   * budget, so sealed chunks, which eviction and retention drop oldest first, can always make room.
   * With whole chunks of `chunkPoints` only, 100,000 series polled each second filled their open
   * chunks past a 64 MB budget, with nothing sealed for 17 minutes to evict or expire. Half the
   * budget sealed 64-byte chunks at that scale, 20 of them header, and 96 accounted bytes each:
   * three quarters seals 128-byte chunks and holds 2.2 times the history (146 instead of 66 points
   * per series in 64 MB).
   */
  #openLimit: number;
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
    this.#sealed = new SealedChunks(memoryBytes);
    this.#fullOpen = openBuffer;
    this.#openLimit = openBuffer;
  }

  /** {@link #openLimit} for the series there are now. */
  #limitOpen(): void {
    const room = (this.#memoryBytes * 3) / 4 / Math.max(1, this.#live) - SERIES_OVERHEAD_BYTES;
    let size = FIRST_OPEN_BYTES;
    while (size * 2 <= room && size * 2 <= this.#fullOpen) size *= 2;
    this.#openLimit = size;
  }

  /**
   * Appends a point. Returns false (and counts it) when `t` is not after the series' last
   * timestamp, or when a new series does not fit the budget even after eviction.
   * @example store.append('line1.speed', 1_700_000_000_000, 12.5)
   */
  append(series: string, t: number, v: number): boolean {
    let row = this.#series.get(series);
    if (row === undefined) {
      if (typeof series !== 'string') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series must be a string, got ${typeof series}`);
      row = this.#newRow(series);
      if (!this.#charge(row)) {
        // A refused new series leaves nothing behind, as if it had never been named.
        this.#dropNewRow(series, row);
        return false;
      }
    } else if (this.#open.cap[row] === 0 && !this.#charge(row)) return false;
    return this.#append(row, t, v);
  }

  /**
   * A handle to a series, for appends without a lookup by name: the gateway resolves one per tag
   * when it starts and appends through it every poll. It is the series' row number; the series
   * itself (listed, counted, charged to the budget) begins with its first append.
   * @example const h = store.handle('line1.speed'); store.appendTo(h, Date.now(), 12.5)
   */
  handle(series: string): SeriesHandle {
    if (typeof series !== 'string') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series must be a string, got ${typeof series}`);
    return this.#series.get(series) ?? this.#newRow(series);
  }

  /**
   * {@link append} through a {@link handle}.
   * @example store.appendTo(h, 1_700_000_000_000, 12.5)
   */
  appendTo(h: SeriesHandle, t: number, v: number): boolean {
    if (h >>> 0 !== h || h >= this.#rows) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `appendTo: ${String(h)} is not a series handle of this store`);
    if (this.#open.cap[h] === 0 && !this.#charge(h)) return false;
    return this.#append(h, t, v);
  }

  #newRow(name: string): number {
    const row = this.#rows++;
    this.#open.reserve(this.#rows);
    this.#open.prevT[row] = Number.NEGATIVE_INFINITY;
    this.#sealed.reserveRows(this.#rows);
    this.#series.set(name, row);
    return row;
  }

  /** Undoes {@link #newRow} of the last row, which was never charged. */
  #dropNewRow(name: string, row: number): void {
    this.#series.delete(name);
    this.#open.prevT[row] = 0;
    this.#rows--;
  }

  /** Charges a new series to the budget and gives it its first open buffer; false (counted) when it does not fit. */
  #charge(row: number): boolean {
    const cost = SERIES_OVERHEAD_BYTES + FIRST_OPEN_BYTES;
    this.#bytes += cost;
    this.#enforce();
    if (this.#bytes > this.#memoryBytes) {
      this.#bytes -= cost;
      this.#budgetRejected++;
      return false;
    }
    this.#slabs.place(this.#open, row, FIRST_OPEN_BYTES);
    this.#open.initRow(row);
    if (this.#live === this.#order.length) {
      const order = new Int32Array(this.#order.length * 2);
      order.set(this.#order);
      this.#order = order;
    }
    this.#order[this.#live++] = row;
    this.#limitOpen();
    return true;
  }

  /** The name of a row: a scan, for error messages only (a row keeps no name, to cost nothing). */
  #nameOf(row: number): string {
    for (const [name, r] of this.#series) if (r === row) return name;
    return `#${row}`;
  }

  #append(row: number, t: number, v: number): boolean {
    if (typeof v !== 'number') {
      const name = this.#nameOf(row);
      throw new BifrostError('BIFROST_ANALYTICS_NOT_NUMERIC', `series ${name}: value ${String(v)} at ${t} is a ${typeof v}, not a number`, { address: name });
    }
    const open = this.#open;
    const lastT = open.prevT[row] as number;
    if (!(t > lastT)) {
      if (t === lastT) this.#duplicate++;
      else if (typeof t !== 'number' || Number.isNaN(t)) {
        const name = this.#nameOf(row);
        throw new BifrostError('BIFROST_INVALID_ARGUMENT', `series ${name}: timestamp ${String(t)} is not a number`, { address: name });
      } else this.#outOfOrder++;
      return false;
    }
    const capacity = open.cap[row] as number;
    if (open.count[row] === this.#chunkPoints || (capacity >= this.#openLimit && open.used(row) + MAX_POINT_BYTES > capacity && open.count[row] !== 0)) this.#seal(row);
    open.append(row, t, v);
    const grown = (open.cap[row] as number) - capacity;
    if (grown !== 0) {
      this.#bytes += grown;
      this.#enforce();
    }
    if (t > this.#newest) {
      this.#newest = t;
      if (this.#retentionMs !== undefined) this.#expire();
    }
    return true;
  }

  /** Seals the open chunk: its bytes are copied to the sealed chunks' slabs; the row keeps its buffer. */
  #seal(row: number): void {
    const open = this.#open;
    const n = open.count[row] as number;
    const used = open.used(row);
    this.#sealed.add(row, open.firstT(row), open.prevT[row] as number, n, open.slabs[open.slab[row] as number] as Uint8Array, open.base[row] as number, used);
    open.reset(row);
    this.#bytes += used + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes += used;
    this.#compressedPoints += n;
    this.#enforce();
  }

  /** Evicts oldest sealed chunks until the accounted bytes fit the budget. */
  #enforce(): void {
    const sealed = this.#sealed;
    while (this.#bytes > this.#memoryBytes) {
      const id = sealed.oldest();
      if (id === -1) return;
      this.#evictedChunks++;
      this.#evictedPoints += sealed.count(id);
      this.#dropOldest(id);
    }
  }

  #expire(): void {
    const sealed = this.#sealed;
    const cutoff = this.#newest - (this.#retentionMs as number);
    for (let id = sealed.oldest(); id !== -1 && sealed.end(id) < cutoff; id = sealed.oldest()) {
      this.#expiredPoints += sealed.count(id);
      this.#dropOldest(id);
    }
  }

  /** Drops `id`, the oldest sealed chunk. */
  #dropOldest(id: number): void {
    const sealed = this.#sealed;
    const length = sealed.length(id);
    this.#bytes -= length + CHUNK_OVERHEAD_BYTES;
    this.#compressedBytes -= length;
    this.#compressedPoints -= sealed.count(id);
    sealed.dropOldest();
  }

  /** The earliest timestamp queries may return (retention cut-off). */
  #cutoff(): number {
    return this.#retentionMs === undefined ? Number.NEGATIVE_INFINITY : this.#newest - this.#retentionMs;
  }

  /** The row of a series of the store (charged), or undefined. */
  #rowOf(series: string): number | undefined {
    const row = this.#series.get(series);
    return row !== undefined && (this.#open.cap[row] as number) > 0 ? row : undefined;
  }

  #points(row: number): number {
    return this.#sealed.points(row) + (this.#open.count[row] as number);
  }

  /**
   * The newest point of a series, or undefined.
   * @example store.latest('press1.temperature') // { t: 1700000000000, v: 21.5 }
   */
  latest(series: string): Point | undefined {
    const row = this.#rowOf(series);
    if (row === undefined || this.#points(row) === 0) return undefined;
    const t = this.#open.prevT[row] as number;
    if (t < this.#cutoff()) return undefined;
    // The last value is the open chunk's XOR reference, kept as its two 32-bit halves.
    lastBits[HI] = this.#open.ph[row] as number;
    lastBits[LO] = this.#open.pl[row] as number;
    return { t, v: lastValue[0] as number };
  }

  /** The names of all series in the store, in the order of their first point. */
  series(): string[] {
    const names: string[] = new Array(this.#rows);
    for (const [name, row] of this.#series) names[row] = name;
    return Array.from(this.#order.subarray(0, this.#live), (row) => names[row] as string);
  }

  /** The first sealed chunk of `row` whose newest point is at or after `lo`, or -1. */
  #firstChunk(row: number, lo: number): number {
    const sealed = this.#sealed;
    let id = sealed.head(row);
    while (id !== -1 && sealed.end(id) < lo) id = sealed.next(id);
    return id;
  }

  /** Calls `visit(t, v)` for every stored point with from <= t <= to, in time order. */
  #scan(series: string, from: number, to: number, visit: (t: number, v: number) => void): void {
    const row = this.#rowOf(series);
    if (row === undefined) return;
    const lo = Math.max(from, this.#cutoff());
    const sealed = this.#sealed;
    for (let id = this.#firstChunk(row, lo); id !== -1; id = sealed.next(id)) {
      if (sealed.start(id) > to) return;
      const { timestamps, values } = decodeChunk(sealed.bytes(id));
      for (let j = 0; j < timestamps.length; j++) {
        const t = timestamps[j] as number;
        if (t >= lo && t <= to) visit(t, values[j] as number);
      }
    }
    const open = this.#open;
    if (open.count[row] === 0 || open.firstT(row) > to) return;
    // Decoded at once: the view is into a shared slab whose slots move when a chunk grows.
    const { timestamps, values } = decodeChunk(open.view(row));
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
    const row = this.#rowOf(series);
    // Size the result from the chunks that overlap the range, not from the whole series.
    let cap = 0;
    if (row !== undefined) {
      cap = this.#open.count[row] as number;
      const sealed = this.#sealed;
      for (let id = this.#firstChunk(row, Math.max(from, this.#cutoff())); id !== -1 && sealed.start(id) <= to; id = sealed.next(id)) cap += sealed.count(id);
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
    let openBytes = 0;
    const t = this.#open;
    for (let row = 0; row < this.#rows; row++) {
      const cap = t.cap[row] as number;
      if (cap === 0) continue;
      points += this.#points(row);
      openBytes += cap;
      if (t.count[row] !== 0) open++;
    }
    return {
      series: this.#live,
      points,
      sealedChunks: this.#sealed.size,
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
