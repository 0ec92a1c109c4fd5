import diagnostics from 'node:diagnostics_channel';
import { BifrostError } from '@bifrost/core';
import { describe, expect, it } from 'vitest';
import { type OutputEvent, pipeline, type RejectedEvent } from '../src/index.js';

function run(p: ReturnType<typeof pipeline>, events: [string, number, unknown, ('good' | 'uncertain' | 'bad')?][]) {
  const out: OutputEvent[] = [];
  const rejected: RejectedEvent[] = [];
  p.on('output', (e) => out.push(e));
  p.on('rejected', (e) => rejected.push(e));
  for (const [s, t, v, q] of events) p.pushValue(s, t, v, q);
  p.end();
  const values = out.map((e) => ('value' in e ? e.value : undefined));
  return { out, rejected, values };
}

describe('deadband (OPC 10000-4 §7.22.2)', () => {
  it('absolute: passes a value only when it differs from the last passed one by more than the deadband', () => {
    const { values } = run(
      pipeline().deadband({ absolute: 0.5 }),
      [10, 10.4, 10.6, 11.0, 11.1, 11.2, 9.9, 9.9].map((v, i) => ['a', i, v] as [string, number, number]),
    );
    // 10 (first) · 10.4 (0.4) · 10.6 (0.6 >) · 11.0 (0.4) · 11.1 (0.5, not >) · 11.2 (0.6 >) · 9.9 (1.3 >) · 9.9 (0)
    expect(values).toEqual([10, 10.6, 11.2, 9.9]);
  });

  it('percent: deadband = percent/100 · (high − low) of the EURange', () => {
    const { values } = run(
      pipeline().deadband({ percent: 1, range: [0, 200] }),
      [50, 51.9, 52.1, 50].map((v, i) => ['a', i, v] as [string, number, number]),
    );
    // 1 % of 200 = 2: 51.9 (1.9) dropped, 52.1 (2.1) passes, 50 (2.1) passes
    expect(values).toEqual([50, 52.1, 50]);
  });

  it('a zero deadband passes every change and drops repeats; a quality change always passes; series are independent', () => {
    const { out } = run(pipeline().deadband({ absolute: 0 }), [
      ['a', 0, 1],
      ['a', 1, 1],
      ['b', 2, 1],
      ['a', 3, 1, 'uncertain'],
      ['a', 4, 2, 'uncertain'],
    ]);
    expect(out.map((e) => [e.series, e.timestamp])).toEqual([
      ['a', 0],
      ['b', 2],
      ['a', 3],
      ['a', 4],
    ]);
  });
});

describe('map, filter, scale, rate of change', () => {
  it('map and a predicate filter see the value and a context', () => {
    const seen: string[] = [];
    const { values } = run(
      pipeline()
        .map((v) => (v as number) * 2)
        .filter((v, e) => {
          seen.push(`${e.series}@${e.timestamp}`);
          return (v as number) > 3;
        }),
      [
        ['a', 1, 1],
        ['a', 2, 2],
        ['b', 3, 3],
      ],
    );
    expect(values).toEqual([4, 6]);
    expect(seen).toEqual(['a@1', 'a@2', 'b@3']);
  });

  it('declarative filter: min/max inclusive, quality and series', () => {
    const { out } = run(pipeline().filter({ min: 0, max: 10, quality: ['good'], series: ['a', 'b'] }), [
      ['a', 1, -0.1],
      ['a', 2, 0],
      ['a', 3, 10],
      ['a', 4, 10.1],
      ['a', 5, 5, 'uncertain'],
      ['c', 6, 5],
      ['b', 7, 5],
    ]);
    expect(out.map((e) => e.timestamp)).toEqual([2, 3, 7]);
  });

  it('scale: gain/offset and raw range with clamp (4–20 mA → 0–100 %)', () => {
    expect(run(pipeline().scale({ gain: 0.1, offset: -5 }), [['a', 0, 100]]).values).toEqual([5]);
    const { values } = run(pipeline().scale({ rawMin: 4, rawMax: 20, engMin: 0, engMax: 100, clamp: true }), [
      ['a', 0, 4],
      ['a', 1, 12],
      ['a', 2, 20],
      ['a', 3, 22],
      ['a', 4, 3],
    ]);
    expect(values).toEqual([0, 50, 100, 100, 0]);
  });

  it('scale after a window scales the aggregates but not the count', () => {
    const { out } = run(pipeline().window({ type: 'tumbling', size: 10 }).aggregate(['mean', 'count', 'min', 'stddev']).scale({ gain: 2, offset: 1 }), [
      ['a', 0, 1],
      ['a', 1, 3],
    ]);
    expect(out[0]).toMatchObject({ value: 5, aggregates: { mean: 5, count: 2, min: 3, stddev: 2 * Math.SQRT2 } });
  });

  it('rate of change per second; a time that does not advance is rejected as out of order', () => {
    const { values, rejected } = run(pipeline().rateOfChange(), [
      ['a', 0, 10],
      ['a', 500, 11], // +1 in 0.5 s → 2/s
      ['a', 500, 12], // duplicate time
      ['a', 400, 12], // backwards
      ['a', 2500, 7], // −4 in 2 s → −2/s
    ]);
    expect(values).toEqual([2, -2]);
    expect(rejected.map((r) => [r.timestamp, r.error.code])).toEqual([
      [500, 'BIFROST_ANALYTICS_OUT_OF_ORDER'],
      [400, 'BIFROST_ANALYTICS_OUT_OF_ORDER'],
    ]);
    expect(
      run(pipeline().rateOfChange({ per: '1m' }), [
        ['a', 0, 0],
        ['a', 1000, 1],
      ]).values,
    ).toEqual([60]);
  });
});

describe('bad input has defined behavior', () => {
  it('a non-numeric, null, NaN or infinite value into a numeric step goes to the rejected side output', () => {
    const { values, rejected } = run(pipeline({ name: 'p1' }).deadband({ absolute: 1 }), [
      ['a', 0, 'hot'],
      ['a', 1, null, 'bad'],
      ['a', 2, Number.NaN],
      ['a', 3, Number.POSITIVE_INFINITY],
      ['a', 4, true],
      ['a', 5, 10n],
      ['a', 6, 3],
    ]);
    expect(values).toEqual([true, 10n, 3]); // booleans count as 0/1 and bigints as numbers: 1 → 10 → 3 each move more than 1
    expect(rejected.map((r) => r.timestamp)).toEqual([0, 1, 2, 3]);
    for (const r of rejected) {
      expect(r.error).toBeInstanceOf(BifrostError);
      expect(r.error.code).toBe('BIFROST_ANALYTICS_NOT_NUMERIC');
      expect(r.step).toBe(0);
    }
    expect(rejected[0]?.error.message).toBe('pipeline "p1" step 0: a at 0: value is a string, not a finite number (quality good)');
    expect(rejected[2]?.error.message).toContain('value is NaN');
  });

  it('publishes side outputs on diagnostics channels, never printing', () => {
    const seen: unknown[] = [];
    const onMsg = (m: unknown) => seen.push(m);
    diagnostics.subscribe('bifrost:analytics:rejected', onMsg);
    diagnostics.subscribe('bifrost:analytics:late', onMsg);
    try {
      const p = pipeline({ name: 'diag' }).window({ type: 'tumbling', size: 10 });
      p.pushValue('a', 100, 'x');
      p.pushValue('a', 100, 1);
      p.pushValue('a', 5, 1);
    } finally {
      diagnostics.unsubscribe('bifrost:analytics:rejected', onMsg);
      diagnostics.unsubscribe('bifrost:analytics:late', onMsg);
    }
    expect(seen).toMatchObject([
      { pipeline: 'diag', kind: 'rejected', series: 'a', timestamp: 100 },
      { pipeline: 'diag', kind: 'late', series: 'a', timestamp: 5 },
    ]);
  });

  it('a timestamp that is not a finite number is rejected before the first step', () => {
    const { rejected, out } = run(
      pipeline().map((v) => v),
      [['a', Number.NaN, 1]],
    );
    expect(out).toEqual([]);
    expect(rejected[0]).toMatchObject({ step: -1, error: { code: 'BIFROST_INVALID_ARGUMENT' } });
  });

  it('a bad step definition fails at build time naming the step and field', () => {
    expect(() =>
      pipeline({ name: 'x' })
        .map((v) => v)
        .window({ type: 'tumbling', size: 0 }),
    ).toThrow('pipeline "x": steps[1].window.size: expected a positive duration such as 500ms, 10s, 5m, got 0');
    expect(() => pipeline().deadband({ percent: 5 } as never)).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_INVALID_PIPELINE' }));
    expect(() => pipeline().aggregate(['mean'])).toThrow('steps[0].aggregate: expected aggregate right after a window step');
    expect(() => pipeline().window({ type: 'tumbling', size: 10 }).aggregate(['mode'])).toThrow('steps[0].aggregate[0]: expected an aggregate');
  });

  it('accepts core TagValues, using the source timestamp when the device gives one', () => {
    const out: OutputEvent[] = [];
    const p = pipeline();
    p.on('output', (e) => out.push(e));
    p.push({ address: 'HR0', value: 1, quality: 'good', timestamp: 2000, sourceTimestamp: 1500 });
    p.push({ series: 'x', timestamp: 3, value: 2 });
    expect(out).toEqual([
      { kind: 'value', series: 'HR0', timestamp: 1500, value: 1, quality: 'good' },
      { kind: 'value', series: 'x', timestamp: 3, value: 2, quality: 'good' },
    ]);
  });
});

describe('merge', () => {
  it('merges several inputs into one stream ordered by time', () => {
    const { out } = run(pipeline().merge({ as: 'line', inputs: ['a', 'b'] }), [
      ['a', 0, 'a0'],
      ['a', 20, 'a20'],
      ['b', 10, 'b10'],
      ['b', 30, 'b30'],
      ['a', 40, 'a40'],
    ]);
    expect(out.map((e) => [e.series, e.timestamp, 'value' in e ? e.value : null])).toEqual([
      ['line', 0, 'a0'],
      ['line', 10, 'b10'],
      ['line', 20, 'a20'],
      ['line', 30, 'b30'],
      ['line', 40, 'a40'],
    ]);
  });

  it('releases a silent input after maxDelay and sends older arrivals to the late side output', () => {
    const p = pipeline().merge({ maxDelay: 100, inputs: ['a', 'b'] });
    const out: number[] = [];
    const late: number[] = [];
    p.on('output', (e) => out.push(e.timestamp));
    p.on('late', (e) => late.push(e.timestamp));
    p.pushValue('a', 0, 1);
    p.pushValue('b', 5, 1);
    p.pushValue('b', 50, 1);
    expect(out).toEqual([0]); // b's 5 and 50 wait for a to reach them
    p.pushValue('b', 200, 1); // 200 − 100 = 100 ≥ 50: released without a
    expect(out).toEqual([0, 5, 50]);
    p.pushValue('a', 40, 1); // older than 50, already released
    expect(late).toEqual([40]);
  });
});
