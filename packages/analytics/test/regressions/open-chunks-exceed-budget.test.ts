/**
 * A store's budget was enforced by evicting sealed chunks only, and a chunk was sealed only at
 * `chunkPoints` (1024) points. A gateway of 100,000 tags polled each second appends a point per
 * series per second, so for 17 minutes nothing was sealed: the open chunks grew past the 64 MB
 * budget (78 MB accounted after 280 s, in bench/gateway-scale.mjs) with nothing to evict, and
 * retention could not drop anything either. Open chunks are now sealed early once bookkeeping and
 * open buffers would pass three quarters of the budget.
 */
import { describe, expect, it } from 'vitest';
import { SERIES_OVERHEAD_BYTES, TimeSeriesStore } from '../../src/store.js';

describe('many series, each polled, under a budget', () => {
  it('stays within its budget, evicting the oldest, and keeps every series latest point', () => {
    const series = 2000;
    // Room for the series' bookkeeping and first buffers, and a little more: far less than the
    // open chunks of 1,024 points each would take.
    const memoryBytes = series * (SERIES_OVERHEAD_BYTES + 64) * 2;
    const store = new TimeSeriesStore({ memoryBytes });
    const handles = Array.from({ length: series }, (_, i) => store.handle(`dev.t${i}`));
    let t = 1_700_000_000_000;
    let most = 0;
    let refused = 0;
    for (let poll = 0; poll < 600; poll++) {
      t += 1000;
      for (let i = 0; i < series; i++) if (!store.appendTo(handles[i] as number, t, i % 10 === 0 ? poll : i)) refused++;
      most = Math.max(most, store.stats().bytes);
    }
    expect(refused).toBe(0);
    const st = store.stats();
    expect(most).toBeLessThanOrEqual(memoryBytes);
    expect(st.series).toBe(series);
    expect(st.evictedChunks).toBeGreaterThan(0);
    expect(st.rejected.budget).toBe(0);
    for (const i of [0, 1, 10, series - 1]) expect(store.latest(`dev.t${i}`)).toEqual({ t, v: i % 10 === 0 ? 599 : i });
    // What remains of a counter is its newest points, in order and without a gap.
    const { timestamps, values } = store.range('dev.t10', 0, t);
    expect(timestamps.length).toBeGreaterThan(1);
    expect(timestamps.at(-1)).toBe(t);
    for (let k = 1; k < values.length; k++) expect((values[k] as number) - (values[k - 1] as number)).toBe(1);
  });

  it('lets retention drop old points long before a chunk has 1,024 of them', () => {
    const store = new TimeSeriesStore({ memoryBytes: 100 * (SERIES_OVERHEAD_BYTES + 64) * 4, retentionMs: 60_000 });
    let t = 0;
    for (let poll = 0; poll < 600; poll++) {
      t += 1000;
      for (let i = 0; i < 100; i++) store.append(`s${i}`, t, poll * (i + 1));
    }
    const st = store.stats();
    // Dropped, not only hidden from queries: a minute and a chunk's worth of points per series at most.
    expect(st.expiredPoints).toBeGreaterThan(0);
    expect(st.points).toBeLessThan(100 * 600);
  });
});
