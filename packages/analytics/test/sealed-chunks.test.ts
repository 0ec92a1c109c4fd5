import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SealedChunks } from '../src/sealed-chunks.js';

interface Ref {
  row: number;
  start: number;
  end: number;
  count: number;
  bytes: Uint8Array;
}

/** Every chunk held reads back as added: bytes, times, count, and each series' list in order; holes stay bounded. */
function check(sealed: SealedChunks, rows: number, held: Map<number, Ref>): void {
  const wrong: string[] = [];
  let live = 0;
  const perRow: [number, Ref][][] = Array.from({ length: rows }, () => []);
  for (const [id, c] of held) {
    const b = sealed.bytes(id);
    if (b.length !== c.bytes.length || b.some((x, i) => x !== c.bytes[i])) wrong.push(`bytes of ${id}`);
    if (sealed.start(id) !== c.start || sealed.end(id) !== c.end || sealed.count(id) !== c.count || sealed.length(id) !== c.bytes.length) wrong.push(`columns of ${id}`);
    live += c.bytes.length;
    perRow[c.row]?.push([id, c]);
  }
  for (let row = 0; row < rows; row++) {
    const want = (perRow[row] as [number, Ref][]).sort((a, b) => a[1].end - b[1].end);
    let k = 0;
    for (let id = sealed.head(row); id !== -1; id = sealed.next(id), k++) if (want[k]?.[0] !== id) wrong.push(`list of row ${row} at ${k}`);
    if (k !== want.length) wrong.push(`list of row ${row} has ${k}, not ${want.length}`);
    if (sealed.points(row) !== want.reduce((n, [, c]) => n + c.count, 0)) wrong.push(`points of row ${row}`);
  }
  expect(wrong).toEqual([]);
  expect(sealed.size).toBe(held.size);
  expect(sealed.liveBytes).toBe(live);
  // Holes stay within an eighth of the live bytes or two slabs, plus the slab being written.
  const slab = sealed.slabBytes;
  expect(sealed.allocatedBytes - live).toBeLessThanOrEqual(Math.max(live / 8, 2 * slab) + slab);
}

describe('SealedChunks', () => {
  it('keeps every chunk intact and drops the oldest first while slabs fill, empty and are compacted (property)', () => {
    const op = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('add' as const),
          row: fc.nat(7),
          gap: fc.integer({ min: 1, max: 5000 }),
          size: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 400 }) }, { weight: 1, arbitrary: fc.integer({ min: 3000, max: 6000 }) }),
          seed: fc.nat(255),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), n: fc.integer({ min: 1, max: 4 }) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 400 }), (ops) => {
        const sealed = new SealedChunks(0); // the smallest slabs, 4 KiB: chunks over 512 bytes get their own
        const rows = 8;
        sealed.reserveRows(rows);
        const lastEnd = new Array<number>(rows).fill(0);
        const held = new Map<number, Ref>();
        let clock = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            // Series seal at very different rates (row 7's gaps are 64 times row 0's), so drops
            // (oldest end first) take the fast series' chunks and leave holes all over the log.
            const gap = o.gap * (o.row + 1) ** 2;
            const end = (lastEnd[o.row] as number) + gap;
            lastEnd[o.row] = end;
            const bytes = Uint8Array.from({ length: o.size }, (_, i) => (i * 31 + o.seed) & 255);
            const src = new Uint8Array(o.size + 10);
            src.set(bytes, 7);
            const id = sealed.add(o.row, end - gap / 2, end, o.size * 3, src, 7, o.size);
            expect(held.has(id)).toBe(false);
            held.set(id, { row: o.row, start: end - gap / 2, end, count: o.size * 3, bytes });
            clock++;
          } else
            for (let k = 0; k < o.n && held.size > 0; k++) {
              const oldest = Math.min(...[...held.values()].map((c) => c.end));
              const id = sealed.oldest();
              expect(held.get(id)?.end).toBe(oldest);
              sealed.dropOldest();
              held.delete(id);
            }
          check(sealed, rows, held);
        }
        while (sealed.oldest() !== -1) {
          held.delete(sealed.oldest());
          sealed.dropOldest();
        }
        check(sealed, rows, held);
        expect(sealed.allocatedBytes).toBeLessThanOrEqual(sealed.slabBytes);
        return clock >= 0;
      }),
      { numRuns: 100 },
    );
  });

  it('compacts slabs left holey by a series sealing far more often than another', () => {
    const sealed = new SealedChunks(0);
    sealed.reserveRows(2);
    const held = new Map<number, Ref>();
    // Row 0 seals every step and row 1 rarely, but their chunks alternate in the log: when row 0's
    // (older) chunks are evicted, every slab is left half empty.
    for (let i = 0; i < 400; i++) {
      const row = i % 2;
      const end = row === 0 ? i : 1e9 + i;
      const bytes = Uint8Array.from({ length: 200 }, (_, k) => (k + i) & 255);
      held.set(sealed.add(row, end, end, 10, bytes, 0, 200), { row, start: end, end, count: 10, bytes });
    }
    for (let i = 0; i < 200; i++) {
      held.delete(sealed.oldest());
      sealed.dropOldest();
      check(sealed, 2, held);
    }
    expect(sealed.liveBytes).toBe(200 * 200);
    expect(sealed.allocatedBytes).toBeLessThanOrEqual(200 * 200 * 1.125 + 3 * 4096);
  });

  it('gives emptied slabs back and reuses ids, so a steady turnover holds steady memory', () => {
    const sealed = new SealedChunks(64 * 1024 * 1024);
    expect(sealed.slabBytes).toBe(512 * 1024);
    const rows = 1000;
    sealed.reserveRows(rows);
    const bytes = new Uint8Array(64).fill(7);
    let t = 0;
    let most = 0;
    // 1,000 series each sealing a 64-byte chunk per step, the oldest 1,000 dropped per step once
    // 50,000 are held: as in a gateway whose store is at its budget.
    for (let step = 0; step < 200; step++) {
      t++;
      for (let r = 0; r < rows; r++) sealed.add(r, t, t, 30, bytes, 0, 64);
      while (sealed.size > 50_000) sealed.dropOldest();
      if (step > 60) most = Math.max(most, sealed.allocatedBytes);
    }
    expect(sealed.size).toBe(50_000);
    expect(sealed.liveBytes).toBe(50_000 * 64);
    expect(most).toBeLessThanOrEqual(50_000 * 64 + 2 * sealed.slabBytes);
    expect(sealed.points(0)).toBe(50 * 30);
  });
});
