import { ConfigSource, isBifrostError } from '@bifrost/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type AggregateEvent, compilePipeline, type PipelineEvent, pipeline } from '../src/index.js';

const yamlText = `pipelines:
  - name: temp-stats
    from: [press1.temperature]
    steps:
      - filter: { min: -50, max: 150 }
      - deadband: { percent: 1, range: [0, 100] }
      - window: { type: tumbling, size: 10s }
        aggregate: [mean, min, max, stddev]
      - anomaly: { method: zscore, window: 300, threshold: 3 }
      - alarm: { above: 80, hysteresis: 2, onDelay: 5s }
`;

function compileFromYaml(text: string) {
  const source = new ConfigSource('gateway.yaml', text);
  const cfg = source.toJS() as { pipelines: { name: string; steps: unknown[] }[] };
  const p = cfg.pipelines[0]!;
  return compilePipeline(p.steps, { name: p.name, errorAt: (path, expected, got) => source.errorAt(['pipelines', 0, 'steps', ...path], expected, got) });
}

describe('compilePipeline', () => {
  it('builds the same pipeline as the fluent API from the YAML step list', () => {
    const fromYaml = compileFromYaml(yamlText);
    const fluent = pipeline({ name: 'temp-stats' })
      .filter({ min: -50, max: 150 })
      .deadband({ percent: 1, range: [0, 100] })
      .window({ type: 'tumbling', size: '10s' })
      .aggregate(['mean', 'min', 'max', 'stddev'])
      .anomaly({ method: 'zscore', window: 300, threshold: 3 })
      .alarm({ above: 80, hysteresis: 2, onDelay: '5s' });
    expect(fromYaml.steps).toEqual(fluent.steps);
    const runIt = (p: typeof fluent) => {
      const out: unknown[] = [];
      p.on('output', (e) => out.push(e));
      for (let i = 0; i < 100; i++) p.pushValue('press1.temperature', i * 1000, 70 + (i % 20));
      p.end();
      return out;
    };
    const a = runIt(fromYaml);
    expect(a).toEqual(runIt(fluent));
    expect(a.filter((e) => (e as AggregateEvent).kind === 'aggregate')).toHaveLength(10);
  });

  const bad: [string, string, string][] = [
    [
      'window size of zero',
      '      - window: { type: tumbling, size: 0 }\n        aggregate: [mean]',
      'gateway.yaml:4:41: pipelines[0].steps[0].window.size: expected a positive duration such as 500ms, 10s, 5m, got 0',
    ],
    [
      'unknown aggregate',
      '      - window: { type: tumbling, size: 10s }\n        aggregate: [mean, mode]',
      'gateway.yaml:5:27: pipelines[0].steps[0].aggregate[1]: expected an aggregate: count, sum, mean, min, max, first, last, stddev, median or pNN (0–100), got "mode"',
    ],
    ['unknown window type', '      - window: { type: hopping, size: 10s }', 'gateway.yaml:4:25: pipelines[0].steps[0].window.type: expected one of "tumbling", "sliding", "session", got "hopping"'],
    ['map in YAML', '      - map: x * 2', 'pipelines[0].steps[0].map: expected no map step in YAML'],
    ['unknown step', '      - smooth: { alpha: 0.5 }', 'pipelines[0].steps[0].smooth: expected a step key: one of filter, scale, deadband, rateOfChange, window, anomaly, alarm, merge'],
    ['two steps in one item', '      - deadband: { absolute: 1 }\n        scale: { gain: 2 }', 'pipelines[0].steps[0].scale: expected exactly one step key'],
    ['anomaly method', '      - anomaly: { method: magic }', 'pipelines[0].steps[0].anomaly.method: expected one of "zscore", "mad", "ewma", "roc", "westernElectric", got "magic"'],
    ['zscore without window', '      - anomaly: { method: zscore }', 'pipelines[0].steps[0].anomaly.window: expected a window length in samples'],
    ['alarm without limit', '      - alarm: { hysteresis: 2 }', 'pipelines[0].steps[0].alarm.above: expected a limit: above and/or below'],
    ['deadband percent without range', '      - deadband: { percent: 1 }', 'pipelines[0].steps[0].deadband.range: expected the engineering range [low, high]'],
    ['unknown field', '      - deadband: { absolute: 1, relative: 2 }', 'pipelines[0].steps[0].deadband.relative: expected one of the fields absolute'],
    ['onDelay not a duration', '      - alarm: { above: 1, onDelay: soon }', 'pipelines[0].steps[0].alarm.onDelay: expected a duration such as 0, 500ms, 10s, got "soon"'],
  ];
  for (const [name, step, message] of bad) {
    it(`fails at load naming file, line, step and field: ${name}`, () => {
      const text = `pipelines:\n  - name: p\n    steps:\n${step}\n`;
      let caught: unknown;
      try {
        compileFromYaml(text);
      } catch (e) {
        caught = e;
      }
      expect(isBifrostError(caught, 'BIFROST_CONFIG_INVALID')).toBe(true);
      expect((caught as Error).message).toContain(message);
    });
  }

  it('gives a merge step the pipeline inputs to wait for', () => {
    const p = compilePipeline([{ merge: { as: 'line' } }], { name: 'm', from: ['a', 'b'] });
    expect(p.steps[0]).toMatchObject({ type: 'merge', as: 'line', inputs: ['a', 'b'] });
    const out: number[] = [];
    p.on('output', (e) => out.push(e.timestamp));
    p.pushValue('a', 10, 1);
    p.pushValue('a', 20, 1);
    expect(out).toEqual([]); // b not heard from yet
    p.pushValue('b', 15, 1);
    expect(out).toEqual([10, 15]);
  });

  it('any step list either compiles or fails with BIFROST_ANALYTICS_INVALID_PIPELINE, nothing else (property)', () => {
    const stepArb = fc.oneof(
      fc.anything(),
      fc.record(
        {
          window: fc.record(
            {
              type: fc.constantFrom('tumbling', 'sliding', 'session', 'x'),
              size: fc.oneof(fc.integer(), fc.string(), fc.constant('10s')),
              slide: fc.option(fc.integer()),
              gap: fc.option(fc.integer()),
            },
            { requiredKeys: ['type'] },
          ),
          aggregate: fc.option(fc.array(fc.constantFrom('mean', 'p95', 'max', 'p200', 'nope'))),
        },
        { requiredKeys: ['window'] },
      ),
      fc.record({
        anomaly: fc.record({
          method: fc.constantFrom('zscore', 'mad', 'ewma', 'roc', 'westernElectric', 'x'),
          window: fc.option(fc.integer()),
          threshold: fc.option(fc.double()),
          maxRate: fc.option(fc.double()),
          lambda: fc.option(fc.double()),
        }),
      }),
      fc.record({ alarm: fc.record({ above: fc.option(fc.double()), below: fc.option(fc.double()), hysteresis: fc.option(fc.double()), onDelay: fc.option(fc.oneof(fc.integer(), fc.string())) }) }),
      fc.record({ deadband: fc.oneof(fc.record({ absolute: fc.anything() }), fc.record({ percent: fc.anything(), range: fc.anything() })) }),
    );
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 4 }), (steps) => {
        try {
          const p = compilePipeline(steps, { name: 'fuzz' });
          for (let i = 0; i < 20; i++) p.pushValue('s', i * 100, i % 7 === 0 ? 'x' : Math.sin(i));
          p.end();
        } catch (e) {
          if (!isBifrostError(e, 'BIFROST_ANALYTICS_INVALID_PIPELINE')) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('without errorAt, throws BIFROST_ANALYTICS_INVALID_PIPELINE naming pipeline, step and field', () => {
    const steps = parse('- scale: { gain: 2 }\n- window: { type: sliding, size: 1s, slide: 2s }\n') as unknown[];
    expect(() => compilePipeline(steps, { name: 'line1' })).toThrow(
      expect.objectContaining({ code: 'BIFROST_ANALYTICS_INVALID_PIPELINE', message: 'pipeline "line1": steps[1].window.slide: expected a duration not longer than size (1000 ms), got "2s"' }),
    );
  });
});

describe('backpressure', () => {
  it('write() waits while the outputs() reader lags highWaterMark events, and resumes as it reads', async () => {
    const p = pipeline({ highWaterMark: 4 });
    const it = p.outputs();
    for (let i = 0; i < 3; i++) await p.write({ series: 's', timestamp: i, value: i });
    let done = false;
    const pending = p.write({ series: 's', timestamp: 3, value: 3 }).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false); // 4 unread: the producer waits
    expect((await it.next()).value).toMatchObject({ kind: 'value', value: 0 });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false); // 3 unread: above half of the mark
    await it.next();
    await pending; // 2 unread = half: released
    expect(done).toBe(true);
    p.end();
    const rest: PipelineEvent[] = [];
    for await (const e of it) rest.push(e);
    expect(rest.map((e) => (e as { value: number }).value)).toEqual([2, 3]);
  });

  it('outputs() carries the side outputs too, and write() without a reader never waits', async () => {
    const p = pipeline({ highWaterMark: 1 }).window({ type: 'tumbling', size: 10 }).aggregate(['count']).anomaly({ method: 'roc', maxRate: 1 });
    for (let i = 0; i < 100; i++) await p.write({ series: 's', timestamp: i, value: i });
    const it = p.outputs();
    p.push({ series: 's', timestamp: 0, value: 1 }); // late
    p.push({ series: 's', timestamp: 200, value: 'x' }); // rejected
    p.end();
    const kinds: string[] = [];
    for await (const e of it) kinds.push(e.kind);
    expect(kinds).toEqual(['late', 'rejected', 'aggregate']);
  });
});
