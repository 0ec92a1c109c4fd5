import diagnostics from 'node:diagnostics_channel';
import { seededRandom } from '@bifrost/core';
import { describe, expect, it } from 'vitest';
import { AlarmManager, type AnomalyEvent, type AnomalyOptions, type OutputEvent, pipeline } from '../src/index.js';

/** N(0, 1) samples by Box–Muller from a seeded generator, so the test is repeatable. */
function gaussian(n: number, seed: number): number[] {
  const rnd = seededRandom(seed);
  const out: number[] = [];
  while (out.length < n) {
    const u = 1 - rnd();
    const v = rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    out.push(r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v));
  }
  return out.slice(0, n);
}

function anomalies(options: AnomalyOptions, values: number[], dt = 1000): AnomalyEvent[] {
  const p = pipeline().anomaly(options);
  const out: AnomalyEvent[] = [];
  p.on('output', (e) => {
    if (e.kind === 'anomaly') out.push(e);
  });
  values.forEach((v, i) => {
    p.pushValue('s', i * dt, v);
  });
  return out;
}

describe('anomaly detection: each method fires on a series made for it', () => {
  it('zscore: a spike against the rolling mean and sample sd of the previous window', () => {
    const hits = anomalies({ method: 'zscore', window: 5, threshold: 3 }, [10, 11, 10, 11, 10, 10.5, 20]);
    // window before 20: [11, 10, 11, 10, 10.5] → mean 10.5, sd √(1/4) = 0.5 → z = 19
    expect(hits).toHaveLength(1);
    expect(hits[0]?.timestamp).toBe(6000);
    expect(hits[0]?.score).toBeCloseTo(19, 9);
    expect(hits[0]).toMatchObject({ kind: 'anomaly', method: 'zscore', value: 20, threshold: 3 });
  });

  it('mad: a spike against the median and MAD, which the spike itself does not inflate', () => {
    const hits = anomalies({ method: 'mad', window: 5 }, [10, 12, 11, 9, 13, 20, 13]);
    // before 20: median 11, |dev| = 1,1,0,2,2 → MAD 1 → 0.6745·9 = 6.07 > 3.5
    // before 13: [12, 11, 9, 13, 20] → median 12, |dev| 0,1,3,1,8 → MAD 1 → 0.6745 → no
    expect(hits.map((h) => h.timestamp)).toEqual([5000]);
    expect(hits[0]?.score).toBeCloseTo(0.6745 * 9, 9);
    expect(hits[0]?.threshold).toBe(3.5);
  });

  it('ewma: a sustained 2σ shift crosses the widening control limit at the third point', () => {
    const hits = anomalies({ method: 'ewma', lambda: 0.2, L: 3, target: 0, sigma: 1 }, [2, 2, 2, 2]);
    // z_i = 2(1 − 0.8^i); limit_i = 3·√(0.2/1.8·(1 − 0.64^i)): i=2 0.72 < 0.768, i=3 0.976 > 0.859
    expect(hits.map((h) => h.timestamp)).toEqual([2000, 3000]);
    expect(hits[0]?.score).toBeCloseTo(0.976 / Math.sqrt((0.2 / 1.8) * (1 - 0.64 ** 3)), 9);
  });

  it('roc: a jump faster than maxRate per second', () => {
    const hits = anomalies({ method: 'roc', maxRate: 5 }, [0, 1, 10, 11], 1000);
    expect(hits.map((h) => [h.timestamp, h.score])).toEqual([[2000, 9]]);
  });

  it('Western Electric rules 1 to 4, each by its own series', () => {
    const we = (values: number[]) => anomalies({ method: 'westernElectric', center: 0, sigma: 1 }, values).map((h) => [h.timestamp / 1000, h.rule]);
    expect(we([0, 3.5])).toEqual([[1, 1]]);
    expect(we([2.5, 0, 2.5])).toEqual([[2, 2]]);
    expect(we([1.5, 1.5, 0.5, 1.5, 1.5])).toEqual([[4, 3]]);
    expect(we([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])).toEqual([[7, 4]]);
    expect(we([2.5, 0, -2.5])).toEqual([]); // beyond 2σ twice but on opposite sides
    // estimated from warmup: centre 10, σ 1 from [9, 11, 9, 11] (sample sd 1.1547), then 14 is > 3σ
    const est = anomalies({ method: 'westernElectric', warmup: 4 }, [9, 11, 9, 11, 14]);
    expect(est.map((h) => h.rule)).toEqual([1]);
    expect(est[0]?.score).toBeCloseTo(4 / Math.sqrt(4 / 3), 9);
  });
});

describe('anomaly detection: a Gaussian series fires at the expected false-alarm rate only', () => {
  const N = 20_000;
  const noise = gaussian(N, 12345).map((x) => 50 + 2 * x);

  it('zscore |z| > 3: two-sided 0.27 %', () => {
    const rate = anomalies({ method: 'zscore', window: 300, threshold: 3 }, noise).length / N;
    expect(rate).toBeGreaterThan(0.001);
    expect(rate).toBeLessThan(0.006);
  });

  it('mad robust z > 3.5 (MAD = 0.6745σ, so |x − median| > 3.5σ): two-sided 0.047 %', () => {
    const n = 10_000;
    expect(anomalies({ method: 'mad', window: 300 }, noise.slice(0, n)).length / n).toBeLessThan(0.0015);
  });

  it('ewma λ 0.2, L 3: in-control run length of several hundred points', () => {
    const hits = anomalies({ method: 'ewma', lambda: 0.2, L: 3, warmup: 100 }, noise);
    expect(hits.length / N).toBeLessThan(0.01);
  });

  it('roc with maxRate 5σ·√2 per sample: practically never', () => {
    expect(anomalies({ method: 'roc', maxRate: 2 * 5 * Math.SQRT2 }, noise).length).toBe(0);
  });

  it('Western Electric: about one alarm in 92 points for all four rules (Champ & Woodall 1987)', () => {
    const hits = anomalies({ method: 'westernElectric', warmup: 500 }, noise);
    const rate = hits.length / N;
    expect(rate).toBeGreaterThan(0.004);
    expect(rate).toBeLessThan(0.025);
    expect(hits.filter((h) => h.rule === 1).length / N).toBeLessThan(0.006);
  });
});

describe('alarms', () => {
  function alarmRun(values: [number, number][], options = { above: 80, hysteresis: 2, onDelay: '5s' }) {
    const p = pipeline({ name: 'temp' }).alarm(options);
    const events: OutputEvent[] = [];
    p.on('output', (e) => {
      if (e.kind === 'alarm') events.push(e);
    });
    for (const [t, v] of values) p.pushValue('press1.temperature', t, v);
    return { p, events };
  }

  it('raises after the on-delay of continuous excess and clears only below the hysteresis band', () => {
    const { events } = alarmRun([
      [0, 79],
      [1000, 81], // pending from 1000
      [3000, 82],
      [5999, 83], // 4999 ms: not yet
      [6000, 84], // 5000 ms: raise
      [7000, 79], // inside the band (78..80): still active
      [8000, 77.9], // below 78: clear
    ]);
    expect(events.map((e) => e.kind === 'alarm' && [e.type, e.timestamp, e.value])).toEqual([
      ['raise', 6000, 84],
      ['clear', 8000, 77.9],
    ]);
    expect(events[0]).toMatchObject({
      id: 'temp/press1.temperature/alarm:high',
      series: 'press1.temperature',
      alarm: { condition: 'high', limit: 80, active: true, acknowledged: false, message: 'press1.temperature above 80' },
    });
  });

  it('restarts the on-delay when the condition drops out', () => {
    const { events } = alarmRun([
      [0, 81],
      [3000, 79],
      [4000, 81],
      [8000, 81], // 4000 ms since 4000
      [9000, 81], // 5000 ms
    ]);
    expect(events.map((e) => e.kind === 'alarm' && e.timestamp)).toEqual([9000]);
  });

  it('low alarms and immediate raise without on-delay', () => {
    const { events } = alarmRun(
      [
        [0, 5],
        [1, 0.5],
        [2, 1.5],
        [3, 2.1],
      ],
      { below: 1, hysteresis: 1 } as never,
    );
    expect(events.map((e) => e.kind === 'alarm' && [e.type, e.timestamp, e.alarm.condition])).toEqual([
      ['raise', 1, 'low'],
      ['clear', 3, 'low'],
    ]);
  });

  it('acknowledge: the ISA-18.2 life cycle, ack events on the pipeline output, unknown ids rejected', () => {
    const alarms = new AlarmManager({ now: () => 42 });
    const p = pipeline({ name: 'temp', alarms }).alarm({ above: 80 });
    const seen: string[] = [];
    p.on('output', (e) => {
      if (e.kind === 'alarm') seen.push(`${e.type}@${e.timestamp}${e.user ? ` by ${e.user}` : ''}`);
    });
    const id = 'temp/s/alarm:high';
    p.pushValue('s', 1, 90);
    expect(alarms.active().map((a) => [a.id, a.active, a.acknowledged])).toEqual([[id, true, false]]);
    alarms.acknowledge(id, 'operator1');
    expect(alarms.active().map((a) => [a.active, a.acknowledged, a.acknowledgedBy])).toEqual([[true, true, 'operator1']]);
    p.pushValue('s', 2, 70); // cleared and acknowledged: leaves the list
    expect(alarms.active()).toEqual([]);
    p.pushValue('s', 3, 95);
    p.pushValue('s', 4, 60); // cleared but unacknowledged: stays listed
    expect(alarms.active().map((a) => [a.active, a.acknowledged])).toEqual([[false, false]]);
    expect(alarms.acknowledge(id, 'operator2', 5)?.type).toBe('ack');
    expect(alarms.active()).toEqual([]);
    expect(seen).toEqual(['raise@1', 'ack@42 by operator1', 'clear@2', 'raise@3', 'clear@4', 'ack@5 by operator2']);
    const published: string[] = [];
    const onMsg = (m: unknown) => published.push((m as { type: string }).type);
    diagnostics.subscribe('bifrost:analytics:alarm', onMsg);
    p.pushValue('s', 6, 99);
    diagnostics.unsubscribe('bifrost:analytics:alarm', onMsg);
    expect(published).toEqual(['raise']);
    expect(() => alarms.acknowledge('nope', 'x')).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_UNKNOWN_ALARM' }));
  });

  it('an alarm after a window acts on the first aggregate', () => {
    const p = pipeline({ name: 'w' }).window({ type: 'tumbling', size: 1000 }).aggregate(['mean', 'max']).alarm({ above: 50 });
    const kinds: string[] = [];
    p.on('output', (e) => kinds.push(e.kind));
    for (const [t, v] of [
      [0, 40],
      [500, 70],
      [1000, 45],
      [1500, 50],
      [2000, 0],
    ])
      p.pushValue('s', t as number, v);
    // [0,1000) mean 55 > 50 → raise; [1000,2000) mean 47.5 → clear (hysteresis 0)
    expect(kinds).toEqual(['aggregate', 'alarm', 'aggregate', 'alarm']);
  });
});

describe('mad detector internals', () => {
  it('scores exactly as a naive median/MAD recomputation (property)', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 120 }), fc.integer({ min: 2, max: 15 }), (vals, window) => {
        const med = (a: number[]) => {
          const s = a.slice().sort((x, y) => x - y);
          const h = s.length >> 1;
          return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
        };
        const expected: number[] = [];
        vals.forEach((x, i) => {
          if (i < window) return;
          const w = vals.slice(i - window, i);
          const m = med(w);
          const mad = med(w.map((v) => Math.abs(v - m)));
          const z = mad === 0 ? (x === m ? 0 : Math.sign(x - m) * Number.POSITIVE_INFINITY) : (0.6745 * (x - m)) / mad;
          if (Math.abs(z) > 3.5) expected.push(i);
        });
        expect(anomalies({ method: 'mad', window }, vals).map((h) => h.timestamp / 1000)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
