import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHUNK_OVERHEAD_BYTES, lttb, SERIES_OVERHEAD_BYTES, TimeSeriesStore } from '../src/store.js';

const MB = 1024 * 1024;

describe('TimeSeriesStore', () => {
  it('returns latest and inclusive ranges across sealed and open chunks', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints: 4 });
    for (let i = 0; i < 10; i++) expect(store.append('a', i * 1000, i * 1.5)).toBe(true);
    expect(store.latest('a')).toEqual({ t: 9000, v: 13.5 });
    expect(store.latest('missing')).toBeUndefined();
    const r = store.range('a', 2000, 6000);
    expect(Array.from(r.timestamps)).toEqual([2000, 3000, 4000, 5000, 6000]);
    expect(Array.from(r.values)).toEqual([3, 4.5, 6, 7.5, 9]);
    const st = store.stats();
    expect(st.sealedChunks).toBe(2); // 8 points sealed in 2 chunks of 4, 2 points open
    expect(st.points).toBe(10);
    expect(store.series()).toEqual(['a']);
  });

  it('rejects duplicate and out-of-order timestamps and counts them', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB });
    expect(store.append('a', 1000, 1)).toBe(true);
    expect(store.append('a', 1000, 2)).toBe(false);
    expect(store.append('a', 999, 3)).toBe(false);
    expect(store.append('a', 1001, 4)).toBe(true);
    expect(store.stats().rejected).toEqual({ outOfOrder: 1, duplicate: 1, budget: 0 });
    expect(Array.from(store.range('a', 0, 2000).values)).toEqual([1, 4]);
  });

  it('throws a typed error for a non-number value and for a budget too small for one chunk', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB });
    expect(() => store.append('a', 1, '3' as unknown as number)).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_NOT_NUMERIC' }));
    expect(() => new TimeSeriesStore({ memoryBytes: 1000, chunkPoints: 1024 })).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_BUDGET_TOO_SMALL' }));
    // A chunk of 64 incompressible points needs maxChunkBytes(64) = 1,178 bytes: the open buffer doubles from 64 to 2,048.
    expect(() => new TimeSeriesStore({ memoryBytes: SERIES_OVERHEAD_BYTES + 2047, chunkPoints: 64 })).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_BUDGET_TOO_SMALL' }));
    const tight = new TimeSeriesStore({ memoryBytes: SERIES_OVERHEAD_BYTES + 2048, chunkPoints: 64 });
    // ...and at that minimum, a series of random bit patterns still fills and seals chunks without refusals.
    const v = new Float64Array(1);
    const w = new Uint32Array(v.buffer);
    for (let i = 0; i < 1000; i++) {
      w[0] = Math.random() * 2 ** 32;
      w[1] = Math.random() * 2 ** 32;
      expect(tight.append('noise', i * 1000 + (i % 3), v[0] as number)).toBe(true);
      expect(tight.stats().bytes).toBeLessThanOrEqual(SERIES_OVERHEAD_BYTES + 2048);
    }
    expect(tight.stats().rejected.budget).toBe(0);
    expect(() => new TimeSeriesStore({ memoryBytes: MB, chunkPoints: 1 })).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_ARGUMENT' }));
  });

  it('stores NaN, -0 and the infinities bit-exactly', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints: 4 });
    const vs = [Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 1e-310, -1.5, Number.NaN];
    vs.forEach((v, i) => {
      store.append('x', i, v);
    });
    const back = Array.from(store.range('x', 0, 100).values);
    expect(back.map((v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual(vs.map((v) => (Object.is(v, -0) ? '-0' : String(v))));
  });

  it('downsamples into buckets with exact hand-computed aggregates and skips NaN', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints: 3 });
    // t:    0  10  20  30  40  50  60  70  80  90 100
    // v:    1   2 NaN   4   5   6   7   8   9  10  11
    const vs = [1, 2, Number.NaN, 4, 5, 6, 7, 8, 9, 10, 11];
    vs.forEach((v, i) => {
      store.append('s', i * 10, v);
    });
    const b = store.downsample('s', 0, 100, 4, ['count', 'min', 'max', 'mean', 'first', 'last', 'sum']);
    // width 25: [0,25) → 1,2 (NaN skipped); [25,50) → 4,5; [50,75) → 6,7,8; [75,100] → 9,10,11
    expect(b).toEqual([
      { start: 0, end: 25, count: 2, min: 1, max: 2, mean: 1.5, first: 1, last: 2, sum: 3 },
      { start: 25, end: 50, count: 2, min: 4, max: 5, mean: 4.5, first: 4, last: 5, sum: 9 },
      { start: 50, end: 75, count: 3, min: 6, max: 8, mean: 7, first: 6, last: 8, sum: 21 },
      { start: 75, end: 100, count: 3, min: 9, max: 11, mean: 10, first: 9, last: 11, sum: 30 },
    ]);
    const empty = store.downsample('s', 1000, 2000, 2, ['mean']);
    expect(empty).toEqual([
      { start: 1000, end: 1500, count: 0, mean: null },
      { start: 1500, end: 2000, count: 0, mean: null },
    ]);
    expect(() => store.downsample('s', 0, 10, 0, ['mean'])).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_ARGUMENT' }));
  });

  it('range equals a naive filter of the accepted points (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -5, max: 50 }), fc.double({ noNaN: true })), { maxLength: 300 }),
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 0, max: 6000 }),
        (steps, chunkPoints, a, b) => {
          const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints });
          const kept: [number, number][] = [];
          let t = 0;
          for (const [dt, v] of steps) {
            t += dt; // dt <= 0: a duplicate or out-of-order point, which is refused
            const ok = store.append('s', t, v);
            expect(ok).toBe(kept.length === 0 || t > kept[kept.length - 1]![0]);
            if (ok) kept.push([t, v]);
          }
          const [from, to] = a <= b ? [a, b] : [b, a];
          const r = store.range('s', from, to);
          const want = kept.filter(([pt]) => pt >= from && pt <= to);
          expect(Array.from(r.timestamps)).toEqual(want.map((p) => p[0]));
          expect(Array.from(r.values)).toEqual(want.map((p) => p[1]));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('downsample equals a naive recomputation (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2, max: 50 }), (vals, buckets, chunkPoints) => {
        const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints });
        vals.forEach((v, i) => {
          store.append('s', i * 7, v / 4);
        });
        const to = (vals.length - 1) * 7;
        const got = store.downsample('s', 0, to, buckets, ['count', 'min', 'max', 'sum']);
        const width = to / buckets;
        for (let k = 0; k < buckets; k++) {
          const inB = vals.map((v, i) => ({ t: i * 7, v: v / 4 })).filter((p) => Math.min(width > 0 ? Math.floor(p.t / width) : 0, buckets - 1) === k);
          const g = got[k]!;
          expect(g.count).toBe(inB.length);
          if (inB.length > 0) {
            expect(g.min).toBe(Math.min(...inB.map((p) => p.v)));
            expect(g.max).toBe(Math.max(...inB.map((p) => p.v)));
            expect(g.sum).toBe(inB.reduce((a, p) => a + p.v, 0));
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('evicts the oldest chunks first and keeps the accounted bytes within the budget', () => {
    const budget = 64 * 1024;
    const store = new TimeSeriesStore({ memoryBytes: budget, chunkPoints: 128 });
    for (let i = 0; i < 50_000; i++) {
      store.append('a', i * 1000, Math.sin(i / 10) * 100);
      store.append('b', i * 1000 + 1, i % 7);
      expect(store.stats().bytes).toBeLessThanOrEqual(budget);
    }
    const st = store.stats();
    expect(st.evictedChunks).toBeGreaterThan(0);
    // What remains is the newest data of each series: a contiguous suffix ending at the last point.
    const a = store.range('a', 0, Number.POSITIVE_INFINITY);
    expect(a.timestamps[a.timestamps.length - 1]).toBe(49_999_000);
    expect(a.timestamps[1]! - a.timestamps[0]!).toBe(1000);
    expect(a.timestamps.length).toBe((49_999_000 - a.timestamps[0]!) / 1000 + 1);
    expect(st.bytes).toBeLessThanOrEqual(budget);
    expect(st.compressedBytes + st.sealedChunks * CHUNK_OVERHEAD_BYTES + 2 * SERIES_OVERHEAD_BYTES + st.openBytes).toBe(st.bytes);
    // The open chunks are compressed too: a sine at 100 resolution and a small cycle fit far under 16 bytes a point.
    expect(st.openBytes).toBeLessThan(2 * 16 * 128);
  });

  it('drops data older than the retention behind the newest point', () => {
    const store = new TimeSeriesStore({ memoryBytes: MB, chunkPoints: 10, retentionMs: 50_000 });
    for (let i = 0; i <= 100; i++) store.append('a', i * 1000, i);
    // newest 100 000 → cut-off 50 000: queries return t >= 50 000; chunks ending before it are gone.
    const r = store.range('a', 0, 1e9);
    expect(r.timestamps[0]).toBe(50_000);
    expect(r.timestamps.length).toBe(51);
    expect(store.stats().expiredPoints).toBe(50); // chunks [0..9] … [40..49]
  });

  it('LTTB keeps the first point, the last point and a lone spike', () => {
    const n = 10_000;
    const ts = Float64Array.from({ length: n }, (_, i) => i);
    const vs = Float64Array.from({ length: n }, (_, i) => (i === 6543 ? 1000 : Math.sin(i / 500)));
    const r = lttb(ts, vs, 100);
    expect(r.timestamps.length).toBe(100);
    expect(r.timestamps[0]).toBe(0);
    expect(r.timestamps[99]).toBe(n - 1);
    expect(Array.from(r.timestamps)).toContain(6543);
    expect(Array.from(r.values)).toContain(1000);
    // Fewer points than asked: returned as they are.
    expect(Array.from(lttb(ts.subarray(0, 5), vs.subarray(0, 5), 10).timestamps)).toEqual([0, 1, 2, 3, 4]);
    // Through the store.
    const store = new TimeSeriesStore({ memoryBytes: 4 * MB });
    for (let i = 0; i < n; i++) store.append('s', ts[i]!, vs[i]!);
    expect(Array.from(store.lttb('s', 0, n, 50).timestamps)).toContain(6543);
  });

  it('LTTB output is time-ordered, inside the input and of the asked size (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 3, maxLength: 400 }), fc.integer({ min: 2, max: 100 }), (vals, m) => {
        const ts = Float64Array.from(vals, (_, i) => i);
        const r = lttb(ts, Float64Array.from(vals), m);
        expect(r.timestamps.length).toBe(Math.min(m, vals.length));
        for (let i = 1; i < r.timestamps.length; i++) expect(r.timestamps[i]!).toBeGreaterThan(r.timestamps[i - 1]!);
        r.timestamps.forEach((t, i) => {
          expect(r.values[i]).toBe(vals[t]);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('compresses a slowly varying sensor to under 2 bytes per point and constant data to under 0.3', () => {
    const store = new TimeSeriesStore({ memoryBytes: 64 * MB });
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 100_000; i++) {
      // 1 s polling; a temperature drifting slowly, read through a 0.1 °C resolution.
      store.append('sensor', 1_700_000_000_000 + i * 1000, Math.round((20 + 3 * Math.sin(i / 3600) + (rnd() - 0.5) * 0.05) * 10) / 10);
      store.append('const', 1_700_000_000_000 + i * 1000, 42);
    }
    const sensor = new TimeSeriesStore({ memoryBytes: 64 * MB });
    const flat = new TimeSeriesStore({ memoryBytes: 64 * MB });
    const r1 = store.range('sensor', 0, Number.POSITIVE_INFINITY);
    const r2 = store.range('const', 0, Number.POSITIVE_INFINITY);
    r1.timestamps.forEach((t, i) => {
      sensor.append('s', t, r1.values[i]!);
    });
    r2.timestamps.forEach((t, i) => {
      flat.append('s', t, r2.values[i]!);
    });
    expect(sensor.stats().bytesPerPoint).toBeLessThan(2);
    expect(flat.stats().bytesPerPoint).toBeLessThan(0.3);
  });
});
