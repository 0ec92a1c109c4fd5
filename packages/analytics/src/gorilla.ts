/**
 * @module
 * Gorilla-style compression of one chunk of (timestamp, value) pairs, bit-exact for every IEEE 754
 * double (NaN payloads, -0 and the infinities included), after Pelkonen et al., "Gorilla: A Fast,
 * Scalable, In-Memory Time Series Database", VLDB 2015, §4.1.
 *
 * Timestamps (§4.1.1): the first is stored raw (64 bits); then each delta-of-delta `D` is written
 * as `0` (D = 0), `10`+5 bits (D in [-15, 16]), `110`+7 bits ([-63, 64]), `1110`+9 bits
 * ([-255, 256]), `11110`+12 bits ([-2047, 2048]), `111110`+32 bits (any other 32-bit D), or
 * `111111`+64 raw bits. Two departures from the paper, both measured in bench/analytics.mjs: the
 * paper's seconds become milliseconds here, and a polled PLC tag jitters by a few ms around its
 * period, so the extra 5-bit bucket takes that jitter at 7 bits instead of 9; the raw bucket lets
 * any double timestamp (fractions, huge gaps, -0, NaN) round-trip.
 *
 * Values (§4.1.2): the first is stored raw; then each value's XOR with the previous is written as
 * `0` (equal bits), `10`+meaningful bits (fits the previous leading/trailing-zero window), or
 * `11`+5 bits leading zeros+6 bits length+meaningful bits. 64-bit words are handled as two 32-bit
 * halves because JavaScript bit operators are 32-bit.
 *
 * Layout: 32 bits point count, then the bit stream. Decoding a truncated or corrupt buffer throws
 * a BifrostError BIFROST_ANALYTICS_CORRUPT_CHUNK, never anything else.
 */
import { BifrostError } from '@bifrost/core';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

const scratchF = new Float64Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/**
 * Where the buffers of a {@link GorillaTable}'s rows live. A row's chunk is the bytes
 * `table.slabs[table.slab[row]]` from `table.base[row]`, `table.cap[row]` long, all zero past what
 * has been written (the writer ORs bits into zeroed bytes).
 */
export interface ChunkSpace {
  /**
   * Moves `row` to a buffer of twice its capacity holding its bytes (zero beyond them) and sets the
   * row's slab, base and cap. It may move other rows' buffers too (it updates their columns).
   */
  grow(table: GorillaTable, row: number): void;
}

const EMPTY = new Uint8Array(0);

/**
 * The streaming Gorilla encoder's state for many chunks at once, one row each, in typed-array
 * columns: a row costs no JS object and no boxed number (at 100,000 series an encoder object with
 * its heap numbers cost 170 bytes, a Uint8Array header per buffer 92 more). {@link ChunkEncoder} is
 * a one-row table and the store's open chunks are the rows of one table: the bit writing below is
 * the only copy. Rows are zero when reserved; {@link GorillaTable.initRow} makes one an empty chunk.
 * Internal to the package: the columns are written by the {@link ChunkSpace} and read by the store.
 */
export class GorillaTable {
  /** The buffers rows live in, indexed by the `slab` column (the {@link ChunkSpace} fills it). */
  readonly slabs: Uint8Array[] = [];
  readonly #space: ChunkSpace;
  /** Rows the columns have room for. */
  length = 0;
  /** The last timestamp and the last delta. */
  prevT = new Float64Array(0);
  prevDelta = new Float64Array(0);
  /** The last value's high and low 32 bits. */
  ph = new Uint32Array(0);
  pl = new Uint32Array(0);
  /** Write position: byte (from the row's base) and bit in it. */
  pos = new Uint32Array(0);
  bit = new Uint8Array(0);
  /** Points written. */
  count = new Uint32Array(0);
  /** Where the row's buffer is: slab index, byte offset in it, bytes. */
  slab = new Uint32Array(0);
  base = new Uint32Array(0);
  cap = new Uint32Array(0);
  /** 1 while timestamps and their deltas are safe integers (the delta-of-delta buckets apply). */
  exact = new Uint8Array(0);
  /** The stored XOR window: leading zeros + 1 (0: none yet), trailing zeros. */
  lead = new Uint8Array(0);
  trail = new Uint8Array(0);
  // The write cursor of the append in progress, in fields so the bit writer stays a tight loop.
  #buf: Uint8Array = EMPTY;
  #byte = 0;
  #bit = 0;
  #end = 0;
  #row = 0;

  constructor(space: ChunkSpace, rows = 1) {
    this.#space = space;
    this.reserve(rows);
  }

  /** Makes room for at least `rows` rows, doubling; new rows are zero. */
  reserve(rows: number): void {
    if (rows <= this.length) return;
    let n = Math.max(this.length * 2, 1);
    while (n < rows) n *= 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    const u32 = (a: Uint32Array) => {
      const b = new Uint32Array(n);
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array) => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    };
    this.prevT = f64(this.prevT);
    this.prevDelta = f64(this.prevDelta);
    this.ph = u32(this.ph);
    this.pl = u32(this.pl);
    this.pos = u32(this.pos);
    this.bit = u8(this.bit);
    this.count = u32(this.count);
    this.slab = u32(this.slab);
    this.base = u32(this.base);
    this.cap = u32(this.cap);
    this.exact = u8(this.exact);
    this.lead = u8(this.lead);
    this.trail = u8(this.trail);
    this.length = n;
  }

  /** Makes `row` an empty chunk (its buffer, placed by the space, must be zero). */
  initRow(row: number): void {
    this.pos[row] = 4; // after the 32-bit point count
    this.bit[row] = 0;
    this.count[row] = 0;
    this.lead[row] = 0;
    this.trail[row] = 0;
  }

  /** Bytes of the chunk so far. */
  used(row: number): number {
    return (this.pos[row] as number) + ((this.bit[row] as number) > 0 ? 1 : 0);
  }

  /** The chunk so far: a view of the live buffer (valid until the row's next append or reset, or another row's growth). */
  view(row: number): Uint8Array {
    const base = this.base[row] as number;
    return (this.slabs[this.slab[row] as number] as Uint8Array).subarray(base, base + this.used(row));
  }

  /** The chunk so far, trimmed to length (a copy). */
  finish(row: number): Uint8Array {
    const base = this.base[row] as number;
    return (this.slabs[this.slab[row] as number] as Uint8Array).slice(base, base + this.used(row));
  }

  /** The first timestamp, read back from the chunk's raw first 64 bits (NaN when empty). */
  firstT(row: number): number {
    if (this.count[row] === 0) return Number.NaN;
    const b = this.slabs[this.slab[row] as number] as Uint8Array;
    const i = (this.base[row] as number) + 4;
    scratchU[HI] = (((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number)) >>> 0;
    scratchU[LO] = (((b[i + 4] as number) << 24) | ((b[i + 5] as number) << 16) | ((b[i + 6] as number) << 8) | (b[i + 7] as number)) >>> 0;
    return scratchF[0] as number;
  }

  /** Empties the chunk, keeping its buffer (zeroed again). */
  reset(row: number): void {
    const base = this.base[row] as number;
    (this.slabs[this.slab[row] as number] as Uint8Array).fill(0, base, base + this.used(row));
    this.initRow(row);
  }

  /** Compresses one point into `row`. Any double is accepted; ordering is the caller's rule. */
  append(row: number, t: number, v: number): void {
    scratchF[0] = t;
    const tHi = scratchU[HI] as number;
    const tLo = scratchU[LO] as number;
    scratchF[0] = v;
    const ch = scratchU[HI] as number;
    const cl = scratchU[LO] as number;
    const base = this.base[row] as number;
    this.#row = row;
    this.#buf = this.slabs[this.slab[row] as number] as Uint8Array;
    this.#byte = base + (this.pos[row] as number);
    this.#bit = this.bit[row] as number;
    this.#end = base + (this.cap[row] as number);
    const count = this.count[row] as number;
    if (count === 0) {
      this.#write(tHi, 32);
      this.#write(tLo, 32);
      this.#write(ch, 32);
      this.#write(cl, 32);
      this.prevDelta[row] = 0;
      this.exact[row] = Number.isSafeInteger(t) && !isNegZero(t) ? 1 : 0;
    } else {
      // ── timestamp (§4.1.1, with the extra 5-bit bucket and the raw escape) ──
      const delta = t - (this.prevT[row] as number);
      const dod = delta - (this.prevDelta[row] as number);
      const tExact = this.exact[row] === 1 && Number.isSafeInteger(t) && !isNegZero(t) && Number.isSafeInteger(delta) && Number.isSafeInteger(dod);
      if (tExact && dod === 0) this.#write(0, 1);
      else if (tExact && dod >= -15 && dod <= 16) this.#write((0b10 << 5) | (dod + 15), 7);
      else if (tExact && dod >= -63 && dod <= 64) this.#write((0b110 << 7) | (dod + 63), 10);
      else if (tExact && dod >= -255 && dod <= 256) this.#write((0b1110 << 9) | (dod + 255), 13);
      else if (tExact && dod >= -2047 && dod <= 2048) this.#write((0b11110 << 12) | (dod + 2047), 17);
      else if (tExact && dod >= -2147483647 && dod <= 2147483648) {
        this.#write(0b111110, 6);
        this.#write(dod + 2147483647, 32);
      } else {
        this.#write(0b111111, 6);
        this.#write(tHi, 32);
        this.#write(tLo, 32);
      }
      this.exact[row] = Number.isSafeInteger(t) && !isNegZero(t) && Number.isSafeInteger(delta) ? 1 : 0;
      this.prevDelta[row] = delta;
      // ── value (§4.1.2) ──
      const xh = (ch ^ (this.ph[row] as number)) >>> 0;
      const xl = (cl ^ (this.pl[row] as number)) >>> 0;
      if (xh === 0 && xl === 0) this.#write(0, 1);
      else {
        let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
        const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
        if (leading > 31) leading = 31;
        const storedLeading = (this.lead[row] as number) - 1;
        const storedTrailing = this.trail[row] as number;
        if (storedLeading >= 0 && leading >= storedLeading && trailing >= storedTrailing) {
          this.#write(0b10, 2);
          this.#writeMeaningful(xh, xl, storedTrailing, 64 - storedLeading - storedTrailing);
        } else {
          const len = 64 - leading - trailing;
          this.#write((0b11 << 11) | (leading << 6) | (len & 63), 13); // 64 meaningful bits is written as 0
          this.#writeMeaningful(xh, xl, trailing, len);
          this.lead[row] = leading + 1;
          this.trail[row] = trailing;
        }
      }
    }
    this.prevT[row] = t;
    this.ph[row] = ch;
    this.pl[row] = cl;
    // The buffer may have moved while writing (#grow): positions are taken from the row again.
    const at = this.base[row] as number;
    this.pos[row] = this.#byte - at;
    this.bit[row] = this.#bit;
    // The point count is kept current in the header, so the buffer is a decodable chunk at any time.
    const n = count + 1;
    this.count[row] = n;
    const b = this.#buf;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 0xff;
    b[at + 2] = (n >>> 8) & 0xff;
    b[at + 3] = n & 0xff;
    this.#buf = EMPTY;
  }

  /** Writes the low `n` bits (0..32) of `v`, most significant first, into zeroed bytes. */
  #write(v: number, n: number): void {
    while (n > 0) {
      if (this.#byte >= this.#end) this.#grow();
      const free = 8 - this.#bit;
      const take = Math.min(free, n);
      const chunk = (v >>> (n - take)) & ((1 << take) - 1);
      this.#buf[this.#byte] = (this.#buf[this.#byte] as number) | (chunk << (free - take));
      n -= take;
      this.#bit += take;
      if (this.#bit === 8) {
        this.#byte++;
        this.#bit = 0;
      }
    }
  }

  /** Writes bits [trailing, trailing + len) of the 64-bit word (hi, lo), most significant first. */
  #writeMeaningful(hi: number, lo: number, trailing: number, len: number): void {
    let sh: number;
    let sl: number;
    if (trailing === 0) {
      sh = hi;
      sl = lo;
    } else if (trailing >= 32) {
      sh = 0;
      sl = hi >>> (trailing - 32);
    } else {
      sh = hi >>> trailing;
      sl = ((lo >>> trailing) | (hi << (32 - trailing))) >>> 0;
    }
    if (len > 32) {
      this.#write(sh, len - 32);
      this.#write(sl, 32);
    } else this.#write(sl, len);
  }

  #grow(): void {
    const row = this.#row;
    const rel = this.#byte - (this.base[row] as number);
    this.#space.grow(this, row);
    const base = this.base[row] as number;
    this.#buf = this.slabs[this.slab[row] as number] as Uint8Array;
    this.#byte = base + rel;
    this.#end = base + (this.cap[row] as number);
  }
}

/** A {@link ChunkEncoder}'s space: its one buffer, replaced by one twice the size when full. */
const OWN_BUFFER: ChunkSpace = {
  grow(table, row) {
    const base = table.base[row] as number;
    const cap = table.cap[row] as number;
    const next = new Uint8Array(cap * 2);
    next.set((table.slabs[table.slab[row] as number] as Uint8Array).subarray(base, base + cap));
    table.slabs[table.slab[row] as number] = next;
    table.base[row] = 0;
    table.cap[row] = cap * 2;
  },
};

/**
 * A streaming Gorilla encoder: points are compressed as they arrive, so an open chunk costs its
 * compressed bytes (about 1–2 per point on sensor data) rather than 16 raw bytes per point. Its
 * buffer always holds a complete, decodable chunk (the point count is kept current in the header),
 * so {@link ChunkEncoder.view} can be read by {@link decodeChunk} at any time without a copy.
 * Timestamps are written through a `Float64Array` view so every double round-trips bit for bit.
 * It is a one-row {@link GorillaTable}: the store encodes its open chunks with the same code.
 * @example
 * const enc = new ChunkEncoder();
 * enc.append(1_700_000_000_000, 20.5);
 * decodeChunk(enc.view()) // { timestamps: [1700000000000], values: [20.5] }
 */
export class ChunkEncoder {
  readonly #t = new GorillaTable(OWN_BUFFER, 1);

  /** `capacity`: the initial buffer size in bytes (it doubles as needed). */
  constructor(capacity = 64) {
    const size = Math.max(16, capacity);
    this.#t.slabs.push(new Uint8Array(size));
    this.#t.cap[0] = size;
    this.#t.initRow(0);
  }

  /** Points written. */
  get count(): number {
    return this.#t.count[0] as number;
  }

  /** The first point's timestamp (NaN when empty). */
  get firstT(): number {
    return this.#t.firstT(0);
  }

  /** The last point's timestamp (NaN when empty). */
  get lastT(): number {
    return this.#t.count[0] === 0 ? Number.NaN : (this.#t.prevT[0] as number);
  }

  /** Bytes allocated for the buffer (what the open chunk costs in memory). */
  get capacity(): number {
    return this.#t.cap[0] as number;
  }

  /** Compresses one point. Any double is accepted; ordering is the caller's rule. */
  append(t: number, v: number): void {
    this.#t.append(0, t, v);
  }

  /** The chunk so far: a view of the live buffer (valid until the next append or reset). */
  view(): Uint8Array {
    return this.#t.view(0);
  }

  /** The chunk so far, trimmed to length (a copy, so a sealed chunk holds no slack). */
  finish(): Uint8Array {
    return this.#t.finish(0);
  }

  /** Empties the encoder, keeping its buffer. */
  reset(): void {
    this.#t.reset(0);
  }
}

/** An MSB-first bit reader; reading past the end throws BIFROST_ANALYTICS_CORRUPT_CHUNK. */
class BitReader {
  readonly #buf: Uint8Array;
  #byte = 0;
  #bit = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  /** Reads `n` bits (0..32) as an unsigned number. */
  read(n: number): number {
    let out = 0;
    while (n > 0) {
      if (this.#byte >= this.#buf.length) throw new BifrostError('BIFROST_ANALYTICS_CORRUPT_CHUNK', `compressed chunk truncated at byte ${this.#byte} of ${this.#buf.length}`);
      const avail = 8 - this.#bit;
      const take = Math.min(avail, n);
      const chunk = ((this.#buf[this.#byte] as number) >>> (avail - take)) & ((1 << take) - 1);
      out = out * (1 << take) + chunk;
      n -= take;
      this.#bit += take;
      if (this.#bit === 8) {
        this.#byte++;
        this.#bit = 0;
      }
    }
    return out;
  }

  /** Reads one bit. */
  bit(): number {
    if (this.#byte >= this.#buf.length) throw new BifrostError('BIFROST_ANALYTICS_CORRUPT_CHUNK', `compressed chunk truncated at byte ${this.#byte} of ${this.#buf.length}`);
    const b = ((this.#buf[this.#byte] as number) >>> (7 - this.#bit)) & 1;
    if (++this.#bit === 8) {
      this.#byte++;
      this.#bit = 0;
    }
    return b;
  }
}

function isNegZero(x: number): boolean {
  return x === 0 && 1 / x < 0;
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * Compresses `count` points from columnar arrays (timestamps in ms, values as doubles) in one go;
 * the same bits as appending them one by one to a {@link ChunkEncoder}.
 * @example const bytes = encodeChunk(new Float64Array([0, 1000]), new Float64Array([20.5, 20.5]))
 */
export function encodeChunk(timestamps: Float64Array, values: Float64Array, count = timestamps.length): Uint8Array {
  if (count > timestamps.length || count > values.length || count < 0 || !Number.isInteger(count))
    throw new BifrostError('BIFROST_INVALID_ARGUMENT', `encodeChunk: count ${count} exceeds the arrays (${timestamps.length} timestamps, ${values.length} values)`);
  const enc = new ChunkEncoder(16 + count * 2);
  for (let i = 0; i < count; i++) enc.append(timestamps[i] as number, values[i] as number);
  return enc.finish();
}

/** A decoded chunk: columnar timestamps and values. */
export interface DecodedChunk {
  timestamps: Float64Array;
  values: Float64Array;
}

/** Upper bound on points per chunk the decoder accepts, so a corrupt count cannot allocate gigabytes. */
export const MAX_CHUNK_POINTS = 1 << 22;

/**
 * Decompresses a chunk written by {@link encodeChunk}. Values are written through a `Uint32Array`
 * view, so the result is bit-identical to the input. Throws BIFROST_ANALYTICS_CORRUPT_CHUNK on
 * truncated or corrupt bytes.
 * @example const { timestamps, values } = decodeChunk(bytes)
 */
export function decodeChunk(bytes: Uint8Array): DecodedChunk {
  const r = new BitReader(bytes);
  const count = r.read(32);
  // Every point after the first costs at least 2 bits; a count the bytes cannot hold is corrupt.
  if (count > MAX_CHUNK_POINTS || (count > 0 && (count - 1) * 2 > bytes.length * 8))
    throw new BifrostError('BIFROST_ANALYTICS_CORRUPT_CHUNK', `compressed chunk claims ${count} points in ${bytes.length} bytes`);
  const timestamps = new Float64Array(count);
  const values = new Float64Array(count);
  if (count === 0) return { timestamps, values };
  const tBits = new Uint32Array(timestamps.buffer);
  const vBits = new Uint32Array(values.buffer);
  tBits[HI] = r.read(32);
  tBits[LO] = r.read(32);
  let ph = r.read(32);
  let pl = r.read(32);
  vBits[HI] = ph;
  vBits[LO] = pl;
  let prevT = timestamps[0] as number;
  let prevDelta = 0;
  let leading = -1;
  let trailing = 0;
  for (let i = 1; i < count; i++) {
    // The control prefix is 0, 10, 110, 1110, 11110, 111110 or 111111: count its leading ones.
    let ones = 0;
    while (ones < 6 && r.bit() === 1) ones++;
    let t: number;
    if (ones === 0) t = prevT + prevDelta;
    else if (ones === 1) t = prevT + prevDelta + (r.read(5) - 15);
    else if (ones === 2) t = prevT + prevDelta + (r.read(7) - 63);
    else if (ones === 3) t = prevT + prevDelta + (r.read(9) - 255);
    else if (ones === 4) t = prevT + prevDelta + (r.read(12) - 2047);
    else if (ones === 5) t = prevT + prevDelta + (r.read(32) - 2147483647);
    else {
      // Raw 64-bit timestamp: copied bit for bit, so NaN payloads and -0 survive.
      const hi = r.read(32);
      const lo = r.read(32);
      scratchU[HI] = hi;
      scratchU[LO] = lo;
      t = scratchF[0] as number;
      tBits[2 * i + HI] = hi;
      tBits[2 * i + LO] = lo;
      prevDelta = t - prevT;
      prevT = t;
      t = Number.NaN;
    }
    if (!Number.isNaN(t)) {
      timestamps[i] = t;
      prevDelta = t - prevT;
      prevT = t;
    }
    if (r.bit() === 1) {
      let len: number;
      let tr: number;
      if (r.bit() === 0) {
        if (leading < 0) throw new BifrostError('BIFROST_ANALYTICS_CORRUPT_CHUNK', `compressed chunk reuses a bit window before defining one at point ${i}`);
        tr = trailing;
        len = 64 - leading - trailing;
      } else {
        leading = r.read(5);
        len = r.read(6) || 64;
        tr = 64 - leading - len;
        if (tr < 0) throw new BifrostError('BIFROST_ANALYTICS_CORRUPT_CHUNK', `compressed chunk has ${leading} leading and ${len} meaningful bits at point ${i}`);
        trailing = tr;
      }
      let sh = 0;
      let sl: number;
      if (len > 32) {
        sh = r.read(len - 32);
        sl = r.read(32);
      } else sl = r.read(len);
      let xh: number;
      let xl: number;
      if (tr === 0) {
        xh = sh;
        xl = sl;
      } else if (tr >= 32) {
        xh = (sl << (tr - 32)) >>> 0;
        xl = 0;
      } else {
        xh = ((sh << tr) | (sl >>> (32 - tr))) >>> 0;
        xl = (sl << tr) >>> 0;
      }
      ph = (ph ^ xh) >>> 0;
      pl = (pl ^ xl) >>> 0;
    }
    vBits[2 * i + HI] = ph;
    vBits[2 * i + LO] = pl;
  }
  return { timestamps, values };
}
