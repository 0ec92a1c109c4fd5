/**
 * @module
 * `ChunkSlabs`: where the store's open chunks live. Buffers come in size classes of 64 bytes times a
 * power of two; each class is an array of equal slots carved from shared slabs of 256 KiB, so
 * 100,000 open chunks of 64 bytes take 25 ArrayBuffers, not 100,000 (each with a 92-byte
 * typed-array header, more than the 64 bytes in it). A chunk that outgrows its slot moves to a slot
 * of the next class and its old slot is filled by the class's last one (the bytes are copied and
 * that row's columns updated), so every class stays dense: no free list to fragment, and the slab
 * emptied at the end of a class is given back at once. Nothing outside the table holds a view of an
 * open chunk for longer than one decode, which is what makes moving them safe.
 */
import type { ChunkSpace, GorillaTable } from './gorilla.js';

/** The smallest buffer: 64 bytes hold the 20-byte header and first point and ~30 more points of sensor data. */
export const FIRST_OPEN_BYTES = 64;

const EMPTY = new Uint8Array(0);

interface SizeClass {
  readonly size: number;
  /** Slots per slab, a power of two, and its log2. */
  readonly perSlab: number;
  readonly shift: number;
  /** The table's slab indices holding this class's slots, in slot order. */
  readonly slabIds: number[];
  /** The row in each slot. */
  owner: Int32Array;
  /** Slots in use: always 0 .. used - 1. */
  used: number;
}

/**
 * Size-class slabs for a {@link GorillaTable}'s rows (see the module comment).
 * @example
 * const slabs = new ChunkSlabs();
 * const table = new GorillaTable(slabs, 1024);
 * slabs.place(table, 0, FIRST_OPEN_BYTES); table.initRow(0); table.append(0, Date.now(), 1.5);
 */
export class ChunkSlabs implements ChunkSpace {
  readonly #slabBytes: number;
  readonly #classes: SizeClass[] = [];
  /** Per slab index: its place in its class's `slabIds`. */
  readonly #ordinal: number[] = [];
  /** Slab indices given back, for reuse. */
  readonly #freeIds: number[] = [];
  #allocated = 0;

  /** `slabBytes`: the size of a shared slab (a power of two; a larger buffer gets a slab of its own size). */
  constructor(slabBytes = 1 << 18) {
    this.#slabBytes = slabBytes;
  }

  /** Bytes held in slabs: the slots in use and the unused slots of each class's last slab. */
  get allocatedBytes(): number {
    return this.#allocated;
  }

  /** Gives `row`, which has no buffer, a zeroed one of `size` bytes (FIRST_OPEN_BYTES times a power of two). */
  place(table: GorillaTable, row: number, size: number): void {
    const c = this.#class(size);
    const slot = c.used++;
    const k = slot >>> c.shift;
    if (k === c.slabIds.length) {
      const id = this.#freeIds.pop() ?? table.slabs.length;
      table.slabs[id] = new Uint8Array(c.perSlab * size);
      this.#allocated += c.perSlab * size;
      this.#ordinal[id] = k;
      c.slabIds.push(id);
    }
    if (slot >= c.owner.length) {
      const owner = new Int32Array(Math.max(16, c.owner.length * 2));
      owner.set(c.owner);
      c.owner = owner;
    }
    c.owner[slot] = row;
    table.slab[row] = c.slabIds[k] as number;
    table.base[row] = (slot & (c.perSlab - 1)) * size;
    table.cap[row] = size;
  }

  grow(table: GorillaTable, row: number): void {
    const from = table.slabs[table.slab[row] as number] as Uint8Array;
    const base = table.base[row] as number;
    const size = table.cap[row] as number;
    const slot = this.#slotOf(table, row);
    this.place(table, row, size * 2);
    (table.slabs[table.slab[row] as number] as Uint8Array).set(from.subarray(base, base + size), table.base[row] as number);
    this.#release(table, this.#class(size), slot);
  }

  #class(size: number): SizeClass {
    const i = 31 - Math.clz32(size / FIRST_OPEN_BYTES);
    let c = this.#classes[i];
    if (c === undefined) {
      const perSlab = Math.max(1, this.#slabBytes / size);
      c = { size, perSlab, shift: 31 - Math.clz32(perSlab), slabIds: [], owner: new Int32Array(0), used: 0 };
      this.#classes[i] = c;
    }
    return c;
  }

  #slotOf(table: GorillaTable, row: number): number {
    const c = this.#class(table.cap[row] as number);
    return ((this.#ordinal[table.slab[row] as number] as number) << c.shift) + (table.base[row] as number) / c.size;
  }

  /** Frees `slot` of class `c`: the class's last slot moves into it, and the last slot is zeroed. */
  #release(table: GorillaTable, c: SizeClass, slot: number): void {
    const last = --c.used;
    const size = c.size;
    const mask = c.perSlab - 1;
    const lastSlab = table.slabs[c.slabIds[last >>> c.shift] as number] as Uint8Array;
    const lastBase = (last & mask) * size;
    if (slot !== last) {
      const id = c.slabIds[slot >>> c.shift] as number;
      const base = (slot & mask) * size;
      (table.slabs[id] as Uint8Array).set(lastSlab.subarray(lastBase, lastBase + size), base);
      const moved = c.owner[last] as number;
      c.owner[slot] = moved;
      table.slab[moved] = id;
      table.base[moved] = base;
    }
    lastSlab.fill(0, lastBase, lastBase + size);
    // A class's slots are dense, so what it gives back is always its last slab, and slot owners.
    if ((last & mask) === 0) {
      const id = c.slabIds.pop() as number;
      this.#allocated -= (table.slabs[id] as Uint8Array).length;
      table.slabs[id] = EMPTY;
      this.#freeIds.push(id);
    }
    if (c.owner.length > 16 && c.used < c.owner.length >>> 2) c.owner = c.owner.slice(0, c.owner.length >>> 1);
  }
}
