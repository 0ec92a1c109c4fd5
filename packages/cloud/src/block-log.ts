/**
 * @module
 * `BlockLog`: where a durable queue keeps what it knows of the blocks on disk (which segment,
 * where, which records, when), in typed columns rather than an object per block. A gateway of 100
 * devices appends 100 blocks a second and a 64 MB segment holds about 200,000 of them until it is
 * deleted: as objects they took 115 bytes each (22 MB at the peak, growing the old generation by a
 * megabyte a minute); as columns 40 bytes (at most twice that while the columns have room to
 * grow), in a few arrays the collector does not walk.
 *
 * Blocks are in sequence order and leave from the front, a whole segment at a time, so the log is
 * an array window `[head, tail)` that is shifted down when it reaches its end with room at the front.
 */

/** One block, as the queue reads it: made on demand, never kept by the log. */
export interface Block<S> {
  segment: S;
  offset: number;
  length: number;
  firstSeq: number;
  count: number;
  appendedAt: number;
}

/**
 * Blocks in columns (see the module comment). Index 0 is the oldest block held.
 * @example
 * const log = new BlockLog<Segment>();
 * log.push(seg, 0, 120, 0, 10, Date.now());
 * log.firstSeq(0) // 0
 */
export class BlockLog<S> {
  #segment: (S | undefined)[] = [];
  #offset = new Float64Array(64);
  #length = new Uint32Array(64);
  #firstSeq = new Float64Array(64);
  #count = new Uint32Array(64);
  #appendedAt = new Float64Array(64);
  #head = 0;
  #tail = 0;
  /** Bumped whenever blocks leave, so a reader holding an index across an await knows to find its place again. */
  #version = 0;

  /** Blocks held. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Changes when blocks are removed (indices shift). */
  get version(): number {
    return this.#version;
  }

  segment(i: number): S {
    return this.#segment[this.#head + i] as S;
  }

  offset(i: number): number {
    return this.#offset[this.#head + i] as number;
  }

  /** Bytes of block `i` on disk, header included. */
  blockLength(i: number): number {
    return this.#length[this.#head + i] as number;
  }

  firstSeq(i: number): number {
    return this.#firstSeq[this.#head + i] as number;
  }

  count(i: number): number {
    return this.#count[this.#head + i] as number;
  }

  /** The sequence number after block `i`'s last record. */
  endSeq(i: number): number {
    return (this.#firstSeq[this.#head + i] as number) + (this.#count[this.#head + i] as number);
  }

  appendedAt(i: number): number {
    return this.#appendedAt[this.#head + i] as number;
  }

  /** Block `i` as an object (for a read in progress). */
  get(i: number): Block<S> {
    const k = this.#head + i;
    return {
      segment: this.#segment[k] as S,
      offset: this.#offset[k] as number,
      length: this.#length[k] as number,
      firstSeq: this.#firstSeq[k] as number,
      count: this.#count[k] as number,
      appendedAt: this.#appendedAt[k] as number,
    };
  }

  /** Appends a block (newer than every block held). */
  push(segment: S, offset: number, length: number, firstSeq: number, count: number, appendedAt: number): void {
    if (this.#tail === this.#offset.length) this.#makeRoom();
    const k = this.#tail++;
    this.#segment[k] = segment;
    this.#offset[k] = offset;
    this.#length[k] = length;
    this.#firstSeq[k] = firstSeq;
    this.#count[k] = count;
    this.#appendedAt[k] = appendedAt;
  }

  /** Removes `n` blocks starting at index `from` (a segment's blocks). */
  remove(from: number, n: number): void {
    if (n <= 0) return;
    const a = this.#head + from;
    if (from === 0) {
      this.#segment.fill(undefined, a, a + n);
      this.#head += n;
    } else {
      const b = a + n;
      this.#segment.copyWithin(a, b, this.#tail);
      this.#offset.copyWithin(a, b, this.#tail);
      this.#length.copyWithin(a, b, this.#tail);
      this.#firstSeq.copyWithin(a, b, this.#tail);
      this.#count.copyWithin(a, b, this.#tail);
      this.#appendedAt.copyWithin(a, b, this.#tail);
      this.#tail -= n;
      this.#segment.fill(undefined, this.#tail, this.#tail + n);
    }
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    this.#version++;
  }

  /** The index of the first block with a record at or after `seq` (length when none). */
  indexOf(seq: number): number {
    let lo = this.#head;
    let hi = this.#tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#firstSeq[mid] as number) + (this.#count[mid] as number) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#head;
  }

  /** Room at the end: shift the window down when half the columns are free at the front, else double them. */
  #makeRoom(): void {
    const n = this.#tail - this.#head;
    const size = this.#head >= this.#offset.length / 2 ? this.#offset.length : this.#offset.length * 2;
    const move = <T extends Float64Array | Uint32Array>(a: T): T => {
      if (size === a.length) {
        a.copyWithin(0, this.#head, this.#tail);
        return a;
      }
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a.subarray(this.#head, this.#tail));
      return b;
    };
    this.#offset = move(this.#offset);
    this.#length = move(this.#length);
    this.#firstSeq = move(this.#firstSeq);
    this.#count = move(this.#count);
    this.#appendedAt = move(this.#appendedAt);
    this.#segment = this.#segment.slice(this.#head, this.#tail);
    this.#head = 0;
    this.#tail = n;
  }
}
