import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AggregateEvent, type LateEvent, type OutputEvent, pipeline, type RejectedEvent } from '../src/index.js';

function collect(p: ReturnType<typeof pipeline>) {
  const out: OutputEvent[] = [];
  const late: LateEvent[] = [];
  const rejected: RejectedEvent[] = [];
  p.on('output', (e) => out.push(e));
  p.on('late', (e) => late.push(e));
  p.on('rejected', (e) => rejected.push(e));
  const aggs = () => out.filter((e): e is AggregateEvent => e.kind === 'aggregate').map((e) => ({ start: e.start, end: e.end, revision: e.revision, ...e.aggregates }));
  return { out, late, rejected, aggs };
}

describe('tumbling windows', () => {
  it('closes [start, end) windows when the watermark reaches the end, and flushes on end()', () => {
    const p = pipeline().window({ type: 'tumbling', size: '1s' }).aggregate(['count', 'mean', 'min', 'max', 'first', 'last', 'sum']);
    const c = collect(p);
    for (const [t, v] of [
      [0, 1],
      [500, 3],
      [999, 5],
      [1000, 7],
      [1999, 9],
    ])
      p.pushValue('a', t as number, v);
    // 999 belongs to [0,1000); 1000 opens [1000,2000) and closes [0,1000).
    expect(c.aggs()).toEqual([{ start: 0, end: 1000, revision: 0, count: 3, mean: 3, min: 1, max: 5, first: 1, last: 5, sum: 9 }]);
    p.pushValue('a', 2000, 11);
    expect(c.aggs()[1]).toEqual({ start: 1000, end: 2000, revision: 0, count: 2, mean: 8, min: 7, max: 9, first: 7, last: 9, sum: 16 });
    p.end();
    expect(c.aggs()[2]).toEqual({ start: 2000, end: 3000, revision: 0, count: 1, mean: 11, min: 11, max: 11, first: 11, last: 11, sum: 11 });
    const first = c.out[0] as AggregateEvent;
    expect(first).toMatchObject({ kind: 'aggregate', series: 'a', timestamp: 1000, value: 3, count: 3, quality: 'good' });
  });

  it('sends an event behind a closed window to the late side output, never drops it', () => {
    const p = pipeline({ name: 'w' }).window({ type: 'tumbling', size: 1000 }).aggregate(['count']);
    const c = collect(p);
    p.pushValue('a', 100, 1);
    p.pushValue('a', 1200, 2); // watermark 1200 closes [0,1000)
    p.pushValue('a', 999, 3); // late
    expect(c.late).toHaveLength(1);
    expect(c.late[0]).toMatchObject({ kind: 'late', series: 'a', timestamp: 999, value: 3, step: 0, watermark: 1200 });
    expect(c.late[0]?.error.code).toBe('BIFROST_ANALYTICS_LATE');
    expect(c.late[0]?.error.message).toContain('pipeline "w" step 0: a at 999');
    expect(p.stats()).toEqual({ in: 3, out: 1, late: 1, rejected: 0 });
  });

  it('lets the watermark trail by outOfOrder so disordered events still land in their window', () => {
    const p = pipeline().window({ type: 'tumbling', size: 1000, outOfOrder: 500 }).aggregate(['count', 'first', 'last']);
    const c = collect(p);
    p.pushValue('a', 0, 10);
    p.pushValue('a', 1000, 20); // watermark 500: [0,1000) stays open
    p.pushValue('a', 400, 30); // in time
    expect(c.aggs()).toEqual([]);
    p.pushValue('a', 1500, 40); // watermark 1000: [0,1000) fires
    expect(c.aggs()).toEqual([{ start: 0, end: 1000, revision: 0, count: 2, first: 10, last: 30 }]);
    p.pushValue('a', 600, 50); // watermark is 1000 → late
    expect(c.late.map((e) => e.timestamp)).toEqual([600]);
  });

  it('re-emits a window updated by a late event inside allowedLateness, then drops the window', () => {
    const p = pipeline().window({ type: 'tumbling', size: 1000, allowedLateness: 1000 }).aggregate(['count', 'sum']);
    const c = collect(p);
    p.pushValue('a', 100, 1);
    p.pushValue('a', 1200, 2); // fires [0,1000) rev 0, kept until watermark 2000
    p.pushValue('a', 300, 4); // late but allowed: rev 1
    p.pushValue('a', 2000, 8); // fires [1000,2000); [0,1000) is now past its lateness
    p.pushValue('a', 500, 16); // late
    expect(c.aggs()).toEqual([
      { start: 0, end: 1000, revision: 0, count: 1, sum: 1 },
      { start: 0, end: 1000, revision: 1, count: 2, sum: 5 },
      { start: 1000, end: 2000, revision: 0, count: 1, sum: 2 },
    ]);
    expect(c.late.map((e) => e.value)).toEqual([16]);
  });

  it('keeps one watermark per series', () => {
    const p = pipeline().window({ type: 'tumbling', size: 1000 }).aggregate(['count']);
    const c = collect(p);
    p.pushValue('a', 5000, 1);
    p.pushValue('b', 100, 1); // b's own watermark is still behind: not late
    expect(c.late).toEqual([]);
    p.pushValue('b', 1100, 1);
    expect(c.out.map((e) => [e.series, e.timestamp])).toEqual([['b', 1000]]);
  });

  it('closes quiet series on advance(now)', () => {
    const p = pipeline().window({ type: 'tumbling', size: 1000 }).aggregate(['count']);
    const c = collect(p);
    p.pushValue('a', 100, 1);
    p.advance(999);
    expect(c.out).toEqual([]);
    p.advance(1000);
    expect(c.aggs()).toEqual([{ start: 0, end: 1000, revision: 0, count: 1 }]);
  });

  it('computes stddev (sample) and percentiles (linear between closest ranks)', () => {
    const p = pipeline().window({ type: 'tumbling', size: 100 }).aggregate(['mean', 'stddev', 'median', 'p90', 'p0', 'p100']);
    const c = collect(p);
    [2, 4, 4, 4, 5, 5, 7, 9].forEach((v, i) => {
      p.pushValue('a', i, v);
    });
    p.end();
    // Σ(x−5)² = 32 → sqrt(32/7); p90: h = 7·0.9 = 6.3 → 7 + 0.3·(9 − 7) = 7.6
    const [w] = c.aggs();
    expect(w?.mean).toBe(5);
    expect(w?.stddev).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(w?.median).toBe(4.5);
    expect(w?.p90).toBeCloseTo(7.6, 12);
    expect(w?.p0).toBe(2);
    expect(w?.p100).toBe(9);
  });
});

describe('sliding and session windows', () => {
  it('puts each event in size/slide sliding windows', () => {
    const p = pipeline().window({ type: 'sliding', size: 2000, slide: 1000 }).aggregate(['count', 'sum']);
    const c = collect(p);
    p.pushValue('a', 500, 1);
    p.pushValue('a', 1500, 2); // closes [-1000,1000)
    p.pushValue('a', 2500, 4); // closes [0,2000)
    p.end();
    expect(c.aggs()).toEqual([
      { start: -1000, end: 1000, revision: 0, count: 1, sum: 1 },
      { start: 0, end: 2000, revision: 0, count: 2, sum: 3 },
      { start: 1000, end: 3000, revision: 0, count: 2, sum: 6 },
      { start: 2000, end: 4000, revision: 0, count: 1, sum: 4 },
    ]);
  });

  it('groups a session until a gap of inactivity, and merges sessions an event bridges', () => {
    const p = pipeline().window({ type: 'session', gap: '1s' }).aggregate(['count', 'sum']);
    const c = collect(p);
    for (const t of [0, 500, 1400, 3000, 3100]) p.pushValue('a', t, 1);
    // session 1: [0, 1400 + 1000) fires once the watermark reaches 2400 (at t = 3000)
    expect(c.aggs()).toEqual([{ start: 0, end: 2400, revision: 0, count: 3, sum: 3 }]);
    p.end();
    expect(c.aggs()[1]).toEqual({ start: 3000, end: 4100, revision: 0, count: 2, sum: 2 });

    // A session held for its lateness takes an old event that falls inside it (revision 1).
    const r = pipeline().window({ type: 'session', gap: 1000, allowedLateness: 1000 }).aggregate(['count']);
    const e = collect(r);
    r.pushValue('a', 0, 1);
    r.pushValue('a', 500, 1); // session [0, 1500)
    r.pushValue('a', 2400, 1); // watermark 2400: fires it; held until 2500
    r.pushValue('a', 100, 1); // 100 + gap + lateness = 2100 <= 2400, but inside the held session
    r.pushValue('a', 2600, 1); // the first session is released
    r.pushValue('a', 200, 1); // now late
    expect(e.aggs().slice(0, 2)).toEqual([
      { start: 0, end: 1500, revision: 0, count: 2 },
      { start: 0, end: 1500, revision: 1, count: 3 },
    ]);
    expect(e.late.map((x) => x.timestamp)).toEqual([200]);

    const q = pipeline().window({ type: 'session', gap: 1000, outOfOrder: 5000 }).aggregate(['count']);
    const d = collect(q);
    q.pushValue('a', 0, 1);
    q.pushValue('a', 1800, 1); // a second session: 1800 − 0 ≥ gap
    q.pushValue('a', 900, 1); // within gap of both: they merge
    q.end();
    expect(d.aggs()).toEqual([{ start: 0, end: 2800, revision: 0, count: 3 }]);
  });
});

describe('windowed aggregates equal a naive recomputation (property)', () => {
  const naive = (events: { t: number; v: number }[], start: number, end: number) => {
    const vs = events.filter((e) => e.t >= start && e.t < end).map((e) => e.v);
    return { count: vs.length, sum: vs.reduce((a, b) => a + b, 0), min: Math.min(...vs), max: Math.max(...vs) };
  };
  const eventsArb = fc.array(fc.record({ dt: fc.integer({ min: 0, max: 700 }), v: fc.integer({ min: -1000, max: 1000 }) }), { minLength: 1, maxLength: 200 });

  it('tumbling, in order', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 3000 }), (raw, size) => {
        let t = 0;
        const events = raw.map((r) => ({ t: (t += r.dt), v: r.v }));
        const p = pipeline().window({ type: 'tumbling', size }).aggregate(['count', 'sum', 'min', 'max']);
        const c = collect(p);
        for (const e of events) p.pushValue('s', e.t, e.v);
        p.end();
        const got = c.aggs();
        const starts = [...new Set(events.map((e) => e.t - (e.t % size)))];
        expect(got.map((g) => g.start)).toEqual(starts);
        for (const g of got) expect({ count: g.count, sum: g.sum, min: g.min, max: g.max }).toEqual(naive(events, g.start, g.end));
        expect(c.late).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('sliding, disordered within outOfOrder: nothing late, every window exact', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 100, max: 1500 }), fc.integer(), (raw, k, slide, seed) => {
        const size = slide * k;
        let t = 0;
        const events = raw.map((r) => ({ t: (t += r.dt), v: r.v }));
        // Shuffle inside blocks of 4 events: every event stays < 4·700 ms from its place.
        const shuffled = events.slice();
        let s = seed;
        for (let i = 0; i + 1 < shuffled.length; i += 2) {
          s = (s * 1103515245 + 12345) | 0;
          if (s & 1) [shuffled[i], shuffled[i + 1]] = [shuffled[i + 1]!, shuffled[i]!];
        }
        const p = pipeline().window({ type: 'sliding', size, slide, outOfOrder: 700 }).aggregate(['count', 'sum', 'min', 'max']);
        const c = collect(p);
        for (const e of shuffled) p.pushValue('s', e.t, e.v);
        p.end();
        expect(c.late).toEqual([]);
        const got = c.aggs();
        const expectedStarts = new Set<number>();
        for (const e of events) for (let st = e.t - (e.t % slide); st > e.t - size; st -= slide) expectedStarts.add(st);
        expect(new Set(got.map((g) => g.start))).toEqual(expectedStarts);
        for (const g of got) expect({ count: g.count, sum: g.sum, min: g.min, max: g.max }).toEqual(naive(events, g.start, g.end));
      }),
      { numRuns: 150 },
    );
  });

  it('mean, sample stddev, median, p90, first and last (tumbling, shuffled within outOfOrder)', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 50, max: 3000 }), (raw, size) => {
        let t = 0;
        const events = raw.map((r) => ({ t: (t += r.dt + 1), v: r.v / 8 }));
        const shuffled = events.slice().reverse(); // fully reversed: the watermark must trail by the whole span
        const p = pipeline()
          .window({ type: 'tumbling', size, outOfOrder: t + 1 })
          .aggregate(['mean', 'stddev', 'median', 'p90', 'first', 'last']);
        const c = collect(p);
        for (const e of shuffled) p.pushValue('s', e.t, e.v);
        p.end();
        expect(c.late).toEqual([]);
        for (const g of c.aggs()) {
          const inW = events.filter((e) => e.t >= g.start && e.t < g.end);
          const vs = inW.map((e) => e.v);
          const n = vs.length;
          const mean = vs.reduce((a, b) => a + b, 0) / n;
          const sd = n < 2 ? 0 : Math.sqrt(vs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
          const sorted = vs.slice().sort((a, b) => a - b);
          const rank = (q: number) => {
            const h = (n - 1) * q;
            const lo = Math.floor(h);
            return sorted[lo]! + (h - lo) * (sorted[Math.min(lo + 1, n - 1)]! - sorted[lo]!);
          };
          expect(g.mean).toBeCloseTo(mean, 9);
          expect(g.stddev).toBeCloseTo(sd, 9);
          expect(g.median).toBeCloseTo(rank(0.5), 9);
          expect(g.p90).toBeCloseTo(rank(0.9), 9);
          expect(g.first).toBe(inW[0]!.v);
          expect(g.last).toBe(inW[n - 1]!.v);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('duplicate timestamps in windows', () => {
  it('are separate events: both counted, the later arrival is the last', () => {
    const p = pipeline().window({ type: 'tumbling', size: 100 }).aggregate(['count', 'first', 'last', 'sum']);
    const c = collect(p);
    p.pushValue('a', 10, 1);
    p.pushValue('a', 10, 2);
    p.end();
    expect(c.aggs()).toEqual([{ start: 0, end: 100, revision: 0, count: 2, first: 1, last: 2, sum: 3 }]);
  });
});

describe('session windows equal a naive split at gaps (property)', () => {
  it('in any arrival order within outOfOrder', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 1, max: 3000 }), v: fc.integer({ min: -100, max: 100 }) }), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 100, max: 2500 }),
        fc.boolean(),
        (raw, gap, reverse) => {
          let t = 0;
          const events = raw.map((r) => ({ t: (t += r.dt), v: r.v }));
          const p = pipeline()
            .window({ type: 'session', gap, outOfOrder: reverse ? t + 1 : 0 })
            .aggregate(['count', 'sum', 'first', 'last']);
          const c = collect(p);
          for (const e of reverse ? events.slice().reverse() : events) p.pushValue('s', e.t, e.v);
          p.end();
          const sessions: { t: number; v: number }[][] = [];
          for (const e of events) {
            const cur = sessions[sessions.length - 1];
            if (cur !== undefined && e.t - cur[cur.length - 1]!.t < gap) cur.push(e);
            else sessions.push([e]);
          }
          const want = sessions.map((s) => ({
            start: s[0]!.t,
            end: s[s.length - 1]!.t + gap,
            revision: 0,
            count: s.length,
            sum: s.reduce((a, e) => a + e.v, 0),
            first: s[0]!.v,
            last: s[s.length - 1]!.v,
          }));
          expect(c.aggs().sort((a, b) => a.start - b.start)).toEqual(want);
          expect(c.late).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a pipeline after end()', () => {
  it('refuses more events with BIFROST_CLOSED', () => {
    const p = pipeline();
    p.end();
    p.end(); // idempotent
    expect(() => p.pushValue('a', 1, 1)).toThrow(expect.objectContaining({ code: 'BIFROST_CLOSED' }));
  });
});
