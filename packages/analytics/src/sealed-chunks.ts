/**
 * @module
 * `SealedChunks`: where the store's sealed chunks live. A plant gateway seals thousands of small
 * chunks a minute (100,000 series, each sealing when its open buffer is full) and evicts as many,
 * so a chunk is not an object with its own ArrayBuffer (about 250 bytes of headers around 64
 * bytes of data, turned over every few minutes) but an id: a row in typed columns (series, first
 * and last timestamp, points, where its bytes are, the next chunk of its series), a slot in a
 * min-heap of ids ordered by last timestamp, and bytes appended to shared slabs, log-structured.
 *
 * Chunks are sealed in roughly the order of their last timestamp and evicted oldest first, so
 * slabs empty roughly in the order they were filled; a slab whose chunks are all gone is given
 * back. Where holes pile up anyway (series sealing at very different rates, retention), the
 * emptiest slabs' live chunks are copied to the end of the log while the holes pass an eighth of
 * the live bytes, which bounds the slabs at 1.125 times the live bytes plus three slabs (two of
 * holes, the one being written).
 *
 * Per series there is a singly linked list, oldest first, from `head` to `tail`: eviction takes
 * the oldest chunk of all series, which is always the first of its series (within a series the
 * last timestamps increase).
 */

const NONE = -1;
const EMPTY = new Uint8Array(0);

/**
 * Sealed chunks in columns and slabs (see the module comment).
 * @example
 * const sealed = new SealedChunks(64 * 1024 * 1024);
 * sealed.reserveRows(1);
 * const id = sealed.add(0, t0, t1, 2, bytes, 0, bytes.length);
 * decodeChunk(sealed.bytes(id));
 */
export class SealedChunks {
  readonly #slabBytes: number;
  // Per chunk id.
  #row = new Int32Array(0);
  #start = new Float64Array(0);
  #end = new Float64Array(0);
  #count = new Uint32Array(0);
  #slab = new Int32Array(0);
  #offset = new Uint32Array(0);
  #length = new Uint32Array(0);
  #next = new Int32Array(0);
  /** Ids never used are `#fresh` and above; ids given back are on the `#free` stack. */
  #fresh = 0;
  #free = new Int32Array(0);
  #freeN = 0;
  /** A binary min-heap of ids by last timestamp. */
  #heap = new Int32Array(0);
  #heapN = 0;
  // Per series row.
  #head = new Int32Array(0);
  #tail = new Int32Array(0);
  #points = new Float64Array(0);
  // Slabs: the log is appended at `#writeAt` in slab `#write`.
  readonly #slabs: Uint8Array[] = [];
  readonly #slabLive: number[] = [];
  /** Slab indices given back, for reuse. */
  readonly #slabIds: number[] = [];
  #write = NONE;
  #writeAt = 0;
  #allocated = 0;
  #live = 0;

  /** `budgetBytes`: the store's budget, which sizes the slabs (1/128 of it, 4 KiB to 1 MiB, a power of two). */
  constructor(budgetBytes: number) {
    let size = 4096;
    while (size < budgetBytes / 128 && size < 1 << 20) size *= 2;
    this.#slabBytes = size;
  }

  /** Sealed chunks held. */
  get size(): number {
    return this.#heapN;
  }

  /** Bytes of the slabs (the chunks' bytes and the holes and free tail between them). */
  get allocatedBytes(): number {
    return this.#allocated;
  }

  /** The size of a shared slab. */
  get slabBytes(): number {
    return this.#slabBytes;
  }

  /** Compressed bytes of the chunks held. */
  get liveBytes(): number {
    return this.#live;
  }

  /** Makes room for series rows `0 .. rows - 1` (new rows have no chunks). */
  reserveRows(rows: number): void {
    const had = this.#head.length;
    if (rows <= had) return;
    this.#head = grown(this.#head, rows).fill(NONE, had);
    this.#tail = grown(this.#tail, rows).fill(NONE, had);
    this.#points = grown(this.#points, rows);
  }

  /** The oldest chunk of `row` (NONE, -1, when it has none); follow with {@link next}. */
  head(row: number): number {
    return this.#head[row] as number;
  }

  /** The chunk after `id` in its series, or -1. */
  next(id: number): number {
    return this.#next[id] as number;
  }

  /** Points in the sealed chunks of `row`. */
  points(row: number): number {
    return this.#points[row] as number;
  }

  /** The first timestamp of chunk `id`. */
  start(id: number): number {
    return this.#start[id] as number;
  }

  /** The last timestamp of chunk `id`. */
  end(id: number): number {
    return this.#end[id] as number;
  }

  /** Points in chunk `id`. */
  count(id: number): number {
    return this.#count[id] as number;
  }

  /** Compressed bytes of chunk `id`. */
  length(id: number): number {
    return this.#length[id] as number;
  }

  /** The chunk's bytes: a view into a slab, valid until the next `add` or drop (which may move chunks). */
  bytes(id: number): Uint8Array {
    const offset = this.#offset[id] as number;
    return (this.#slabs[this.#slab[id] as number] as Uint8Array).subarray(offset, offset + (this.#length[id] as number));
  }

  /** Seals the chunk of `row` whose `length` bytes are at `from` in `src` (copied); returns its id. */
  add(row: number, start: number, end: number, count: number, src: Uint8Array, from: number, length: number): number {
    const id = this.#newId();
    this.#row[id] = row;
    this.#start[id] = start;
    this.#end[id] = end;
    this.#count[id] = count;
    this.#next[id] = NONE;
    this.#place(id, src, from, length);
    const tail = this.#tail[row] as number;
    if (tail === NONE) this.#head[row] = id;
    else this.#next[tail] = id;
    this.#tail[row] = id;
    this.#points[row] = (this.#points[row] as number) + count;
    this.#heapPush(id);
    this.#compactIfHoley();
    return id;
  }

  /** The chunk with the smallest last timestamp, or -1 when there is none. */
  oldest(): number {
    return this.#heapN === 0 ? NONE : (this.#heap[0] as number);
  }

  /** Drops the chunk {@link oldest} names (the first of its series); its id is reused later. */
  dropOldest(): void {
    const id = this.#heapPop();
    const row = this.#row[id] as number;
    const next = this.#next[id] as number;
    this.#head[row] = next;
    if (next === NONE) this.#tail[row] = NONE;
    this.#points[row] = (this.#points[row] as number) - (this.#count[id] as number);
    this.#unplace(id);
    if (this.#freeN === this.#free.length) this.#free = grown(this.#free, this.#freeN + 1);
    this.#free[this.#freeN++] = id;
    this.#compactIfHoley();
  }

  #newId(): number {
    if (this.#freeN > 0) return this.#free[--this.#freeN] as number;
    const id = this.#fresh++;
    if (id === this.#row.length) {
      const n = Math.max(64, this.#row.length * 2);
      this.#row = grown(this.#row, n);
      this.#start = grown(this.#start, n);
      this.#end = grown(this.#end, n);
      this.#count = grown(this.#count, n);
      this.#slab = grown(this.#slab, n);
      this.#offset = grown(this.#offset, n);
      this.#length = grown(this.#length, n);
      this.#next = grown(this.#next, n);
    }
    return id;
  }

  /** Appends the chunk's bytes to the log. */
  #place(id: number, src: Uint8Array, from: number, length: number): void {
    let s: number;
    let at: number;
    if (length > this.#slabBytes / 8) {
      // A chunk larger than an eighth of a slab (a big chunkPoints with a small budget) gets a slab
      // of its own, so what a shared slab leaves unused at its end is under an eighth of it.
      s = this.#newSlab(new Uint8Array(length));
      at = 0;
    } else {
      if (this.#write === NONE || this.#writeAt + length > this.#slabBytes) {
        // A slab emptied while it was being written is given back when the log moves on.
        if (this.#write !== NONE && this.#slabLive[this.#write] === 0) this.#freeSlab(this.#write);
        this.#write = this.#newSlab(new Uint8Array(this.#slabBytes));
        this.#writeAt = 0;
      }
      s = this.#write;
      at = this.#writeAt;
      this.#writeAt += length;
    }
    (this.#slabs[s] as Uint8Array).set(src.subarray(from, from + length), at);
    this.#slab[id] = s;
    this.#offset[id] = at;
    this.#length[id] = length;
    this.#slabLive[s] = (this.#slabLive[s] as number) + length;
    this.#live += length;
  }

  #unplace(id: number): void {
    const s = this.#slab[id] as number;
    const length = this.#length[id] as number;
    const left = (this.#slabLive[s] as number) - length;
    this.#slabLive[s] = left;
    this.#live -= length;
    if (left === 0 && s !== this.#write) this.#freeSlab(s);
  }

  #newSlab(bytes: Uint8Array): number {
    const s = this.#slabIds.pop() ?? this.#slabs.length;
    this.#slabs[s] = bytes;
    this.#slabLive[s] = 0;
    this.#allocated += bytes.length;
    return s;
  }

  #freeSlab(s: number): void {
    const bytes = this.#slabs[s] as Uint8Array;
    this.#allocated -= bytes.length;
    this.#slabs[s] = EMPTY;
    this.#slabIds.push(s);
  }

  /** Copies the live chunks of the emptiest slabs to the log's end while holes pass an eighth of the live bytes and two slabs. */
  #compactIfHoley(): void {
    for (let tries = this.#slabs.length; tries > 0; tries--) {
      const holes = this.#allocated - this.#live - (this.#write === NONE ? 0 : this.#slabBytes - this.#writeAt);
      if (holes <= Math.max(this.#live / 8, 2 * this.#slabBytes)) return;
      let victim = NONE;
      let least = this.#slabBytes;
      for (let s = 0; s < this.#slabs.length; s++) {
        const live = this.#slabLive[s] as number;
        if (s !== this.#write && (this.#slabs[s] as Uint8Array).length === this.#slabBytes && live < least) {
          least = live;
          victim = s;
        }
      }
      if (victim === NONE) return;
      this.#evacuate(victim);
    }
  }

  /** Moves the chunks of slab `s` to the log's end and frees it. */
  #evacuate(s: number): void {
    const from = this.#slabs[s] as Uint8Array;
    // The chunks held are the heap's ids (a free id's slab column is stale).
    for (let i = 0; i < this.#heapN && (this.#slabLive[s] as number) > 0; i++) {
      const id = this.#heap[i] as number;
      if (this.#slab[id] !== s) continue;
      const length = this.#length[id] as number;
      this.#slabLive[s] = (this.#slabLive[s] as number) - length;
      this.#live -= length;
      this.#place(id, from, this.#offset[id] as number, length);
    }
    this.#freeSlab(s);
  }

  #heapPush(id: number): void {
    if (this.#heapN === this.#heap.length) this.#heap = grown(this.#heap, this.#heapN + 1);
    const a = this.#heap;
    const end = this.#end;
    const e = end[id] as number;
    let i = this.#heapN++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const up = a[p] as number;
      if ((end[up] as number) <= e) break;
      a[i] = up;
      i = p;
    }
    a[i] = id;
  }

  #heapPop(): number {
    const a = this.#heap;
    const end = this.#end;
    const top = a[0] as number;
    const n = --this.#heapN;
    if (n > 0) {
      const last = a[n] as number;
      const e = end[last] as number;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && (end[a[r] as number] as number) < (end[a[l] as number] as number) ? r : l;
        const down = a[m] as number;
        if ((end[down] as number) >= e) break;
        a[i] = down;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/** A copy of `a` with room for at least `n` elements (doubling). */
function grown<T extends Int32Array | Uint32Array | Float64Array>(a: T, n: number): T {
  let size = Math.max(64, a.length * 2);
  while (size < n) size *= 2;
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}
