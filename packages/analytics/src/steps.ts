/**
 * @module
 * Step definitions and their validation. The YAML step list of the gateway config and the fluent
 * builder go through the same `parseStep`, so both reject the same mistakes with the same words;
 * a failure names the step index and the field (`steps[1].window.size: expected a positive
 * duration such as 10s, got 0`).
 */
import { BifrostError, parseDuration, type Quality } from '@bifrost/core';
import { isAggregateName } from './aggregates.js';
import type { AnomalySpec } from './anomaly.js';
import type { AggregateName } from './events.js';

/** Context given to `map` and `filter` functions (one reused object: copy what you keep). */
export interface StepContext {
  series: string;
  timestamp: number;
  quality: Quality;
}

/** A `map` function: returns the new value. */
export type MapFn = (value: unknown, e: StepContext) => unknown;
/** A `filter` predicate: true keeps the event. */
export type FilterFn = (value: unknown, e: StepContext) => boolean;

/** A declarative filter (the YAML form). All given conditions must hold. */
export interface FilterSpec {
  /** Keep values >= min. */
  min?: number;
  /** Keep values <= max. */
  max?: number;
  /** Keep only these qualities. */
  quality?: Quality[];
  /** Keep only these series. */
  series?: string[];
}

/** Window options. Durations are ms numbers or strings such as `500ms`, `10s`, `5m`. */
export interface WindowOptions {
  type: 'tumbling' | 'sliding' | 'session';
  /** Window length (tumbling, sliding). */
  size?: number | string;
  /** Distance between sliding window starts (default: size). */
  slide?: number | string;
  /** Inactivity gap that closes a session. */
  gap?: number | string;
  /** How far behind the newest event time the watermark trails (default 0). */
  outOfOrder?: number | string;
  /** How long after the watermark passes a window's end late events still update it (default 0). */
  allowedLateness?: number | string;
  /** Shift of window boundaries from the epoch (default 0). */
  offset?: number | string;
}

/** Deadband options, as OPC UA defines them (OPC 10000-4 §7.22.2, OPC 10000-8 §6.2 PercentDeadband). */
export type DeadbandOptions = { absolute: number } | { percent: number; range: [number, number] };

/** Scale options: `gain`/`offset`, or raw → engineering range (as core's tag scaling). */
export type ScaleOptions = { gain: number; offset?: number } | { rawMin: number; rawMax: number; engMin: number; engMax: number; clamp?: boolean };

/** Alarm options. */
export interface AlarmOptions {
  /** Raise when the value goes above this limit. */
  above?: number;
  /** Raise when the value goes below this limit. */
  below?: number;
  /** Clear only when the value is back past the limit by this much (default 0). */
  hysteresis?: number;
  /** The condition must hold this long (event time) before the alarm is raised (default 0). */
  onDelay?: number | string;
  /** The normal condition must hold this long before the alarm clears (default 0). */
  offDelay?: number | string;
  /** Alarm name within the series (default `alarm`). */
  name?: string;
  /** 1 (low) … 1000 (urgent), as OPC UA Alarms & Conditions severity (default 500). */
  severity?: number;
  message?: string;
}

/** Anomaly options as written (defaults filled by `parseStep`). */
export interface AnomalyOptions {
  method: 'zscore' | 'mad' | 'ewma' | 'roc' | 'westernElectric';
  window?: number;
  threshold?: number;
  minSamples?: number;
  lambda?: number;
  L?: number;
  warmup?: number;
  target?: number;
  sigma?: number;
  center?: number;
  maxRate?: number;
  per?: number | string;
  rules?: number[];
}

/** Merge options. */
export interface MergeOptions {
  /** Rename every merged event to this series. */
  as?: string;
  /** Release events this far (event time) behind the newest even when another input is silent. */
  maxDelay?: number | string;
  /** The inputs to wait for (the gateway passes the pipeline's `from`); default: those seen so far. */
  inputs?: string[];
}

/** A validated step. */
export type StepSpec =
  | { type: 'map'; fn: MapFn }
  | { type: 'filter'; fn: FilterFn | undefined; spec: FilterSpec | undefined }
  | { type: 'scale'; gain: number; offset: number; clamp: [number, number] | undefined }
  | { type: 'deadband'; deadband: number }
  | { type: 'rateOfChange'; per: number }
  | { type: 'window'; window: 'tumbling' | 'sliding' | 'session'; size: number; slide: number; gap: number; outOfOrder: number; allowedLateness: number; offset: number; aggregates: AggregateName[] }
  | { type: 'anomaly'; anomaly: AnomalySpec }
  | { type: 'alarm'; above: number | undefined; below: number | undefined; hysteresis: number; onDelay: number; offDelay: number; name: string; severity: number; message: string | undefined }
  | { type: 'merge'; as: string | undefined; maxDelay: number; inputs: string[] };

/** Reports a bad field: path relative to the step, what was expected, what was found. */
export type Fail = (path: (string | number)[], expected: string, got?: unknown) => never;

/** The step keys a YAML step may use. */
export const STEP_KEYS = ['filter', 'scale', 'deadband', 'rateOfChange', 'window', 'anomaly', 'alarm', 'merge'] as const;

/** The default aggregates of a window with none listed. */
export const DEFAULT_AGGREGATES: AggregateName[] = ['count', 'mean', 'min', 'max'];

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function finite(o: Record<string, unknown>, key: string, path: (string | number)[], fail: Fail, opts: { min?: number; positive?: boolean; integer?: boolean } = {}): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const what = opts.integer ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v)) fail([...path, key], what, v);
  if (opts.integer && !Number.isInteger(v)) fail([...path, key], what, v);
  if (opts.positive && !(v > 0)) fail([...path, key], `${opts.integer ? 'a positive integer' : 'a positive number'}`, v);
  if (opts.min !== undefined && v < opts.min) fail([...path, key], `${what} >= ${opts.min}`, v);
  return v;
}

function duration(o: Record<string, unknown>, key: string, path: (string | number)[], fail: Fail, positive: boolean): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const expected = positive ? 'a positive duration such as 500ms, 10s, 5m' : 'a duration such as 0, 500ms, 10s';
  if (typeof v !== 'number' && typeof v !== 'string') fail([...path, key], expected, v);
  let ms: number;
  try {
    ms = parseDuration(v as string | number);
  } catch {
    return fail([...path, key], expected, v);
  }
  if (positive && !(ms > 0)) fail([...path, key], expected, v);
  return ms;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], path: (string | number)[], fail: Fail): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail([...path, k], `one of the fields ${keys.join(', ')}`);
}

function parseAggregates(v: unknown, path: (string | number)[], fail: Fail): AggregateName[] {
  if (!Array.isArray(v) || v.length === 0) return fail(path, 'a non-empty list of aggregates (count, sum, mean, min, max, first, last, stddev, median, p95 …)', v);
  v.forEach((a, i) => {
    if (!isAggregateName(a)) fail([...path, i], 'an aggregate: count, sum, mean, min, max, first, last, stddev, median or pNN (0–100)', a);
  });
  return v as AggregateName[];
}

/**
 * Validates one step object (`{ window: {...}, aggregate: [...] }`, `{ deadband: {...} }`, …).
 * Function-valued fields (`map`, a predicate `filter`) are accepted only when `allowFunctions`.
 * @example parseStep({ deadband: { absolute: 0.5 } }, pipelineFail('p', 0)) // { type: 'deadband', deadband: 0.5 }
 */
export function parseStep(raw: unknown, fail: Fail, allowFunctions = false): StepSpec {
  if (!isObject(raw)) return fail([], `a step: a mapping with one of ${STEP_KEYS.join(', ')}`, raw);
  const keys = Object.keys(raw);
  if (keys.includes('map')) {
    if (!allowFunctions || typeof raw.map !== 'function')
      return fail(['map'], 'no map step in YAML: map takes a function and exists only in the fluent API (pipeline().map(fn)); use scale for linear maps');
    return { type: 'map', fn: raw.map as MapFn };
  }
  if (keys.includes('aggregate') && !keys.includes('window')) return fail(['aggregate'], 'aggregate in the same step as a window (window: { type: tumbling, size: 10s } with aggregate: [mean])');
  const stepKeys = keys.filter((k) => k !== 'aggregate');
  if (stepKeys.length !== 1) return fail(stepKeys.length === 0 ? [] : [stepKeys[1] as string], `exactly one step key of ${STEP_KEYS.join(', ')} per step`);
  const key = stepKeys[0] as string;
  const body = raw[key];
  const p = [key];
  switch (key) {
    case 'filter': {
      if (typeof body === 'function') {
        if (!allowFunctions) return fail(p, 'a filter mapping (min, max, quality, series); predicates exist only in the fluent API');
        return { type: 'filter', fn: body as FilterFn, spec: undefined };
      }
      if (!isObject(body)) return fail(p, 'a filter mapping with min, max, quality or series', body);
      onlyKeys(body, ['min', 'max', 'quality', 'series'], p, fail);
      const spec: FilterSpec = {};
      const min = finite(body, 'min', p, fail);
      const max = finite(body, 'max', p, fail);
      if (min !== undefined) spec.min = min;
      if (max !== undefined) spec.max = max;
      if (min !== undefined && max !== undefined && min > max) fail([...p, 'max'], `a number >= min (${min})`, max);
      if (body.quality !== undefined) {
        const q = typeof body.quality === 'string' ? [body.quality] : body.quality;
        if (!Array.isArray(q) || q.length === 0 || !q.every((x) => x === 'good' || x === 'uncertain' || x === 'bad')) fail([...p, 'quality'], 'good, uncertain, bad or a list of them', body.quality);
        spec.quality = q as Quality[];
      }
      if (body.series !== undefined) {
        if (!Array.isArray(body.series) || !body.series.every((s) => typeof s === 'string')) fail([...p, 'series'], 'a list of series names', body.series);
        spec.series = body.series as string[];
      }
      return { type: 'filter', fn: undefined, spec };
    }
    case 'scale': {
      if (!isObject(body)) return fail(p, 'a mapping with gain and offset, or rawMin, rawMax, engMin, engMax', body);
      if ('gain' in body) {
        onlyKeys(body, ['gain', 'offset'], p, fail);
        const gain = finite(body, 'gain', p, fail) as number;
        return { type: 'scale', gain, offset: finite(body, 'offset', p, fail) ?? 0, clamp: undefined };
      }
      onlyKeys(body, ['rawMin', 'rawMax', 'engMin', 'engMax', 'clamp'], p, fail);
      for (const k of ['rawMin', 'rawMax', 'engMin', 'engMax']) if (body[k] === undefined) fail([...p, k], 'a number (or use gain and offset)');
      const rawMin = finite(body, 'rawMin', p, fail) as number;
      const rawMax = finite(body, 'rawMax', p, fail) as number;
      const engMin = finite(body, 'engMin', p, fail) as number;
      const engMax = finite(body, 'engMax', p, fail) as number;
      if (rawMax === rawMin) fail([...p, 'rawMax'], `a number different from rawMin (${rawMin})`, rawMax);
      if (body.clamp !== undefined && typeof body.clamp !== 'boolean') fail([...p, 'clamp'], 'true or false', body.clamp);
      const gain = (engMax - engMin) / (rawMax - rawMin);
      return { type: 'scale', gain, offset: engMin - rawMin * gain, clamp: body.clamp === true ? [Math.min(engMin, engMax), Math.max(engMin, engMax)] : undefined };
    }
    case 'deadband': {
      if (!isObject(body)) return fail(p, 'a mapping with absolute, or percent and range', body);
      if ('absolute' in body) {
        onlyKeys(body, ['absolute'], p, fail);
        return { type: 'deadband', deadband: finite(body, 'absolute', p, fail, { min: 0 }) as number };
      }
      if (!('percent' in body)) return fail([...p, 'absolute'], 'a number (absolute deadband) or percent with range');
      onlyKeys(body, ['percent', 'range'], p, fail);
      const percent = finite(body, 'percent', p, fail, { min: 0 }) as number;
      if (percent > 100) fail([...p, 'percent'], 'a percentage from 0 to 100', percent);
      const r = body.range;
      if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x)) || !((r[1] as number) > (r[0] as number)))
        return fail([...p, 'range'], 'the engineering range [low, high] with high > low (OPC UA EURange)', r);
      // OPC 10000-8 §6.2: exceeds when |last − v| > (percent/100)·(high − low).
      return { type: 'deadband', deadband: (percent / 100) * ((r[1] as number) - (r[0] as number)) };
    }
    case 'rateOfChange': {
      const o = body === null || body === true ? {} : body;
      if (!isObject(o)) return fail(p, 'a mapping (per: 1s) or nothing', body);
      onlyKeys(o, ['per'], p, fail);
      return { type: 'rateOfChange', per: duration(o, 'per', p, fail, true) ?? 1000 };
    }
    case 'window': {
      if (!isObject(body)) return fail(p, 'a mapping with type and size (or gap for sessions)', body);
      onlyKeys(body, ['type', 'size', 'slide', 'gap', 'outOfOrder', 'allowedLateness', 'offset', 'aggregate'], p, fail);
      const type = body.type;
      if (type !== 'tumbling' && type !== 'sliding' && type !== 'session') return fail([...p, 'type'], 'one of "tumbling", "sliding", "session"', type);
      let size = 0;
      let slide = 0;
      let gap = 0;
      if (type === 'session') {
        if (body.gap === undefined) fail([...p, 'gap'], 'a positive duration such as 30s (the inactivity gap that ends a session)');
        gap = duration(body, 'gap', p, fail, true) as number;
        if (body.size !== undefined || body.slide !== undefined) fail([...p, body.size !== undefined ? 'size' : 'slide'], 'no size or slide for a session window (it is sized by gap)');
      } else {
        if (body.size === undefined) fail([...p, 'size'], 'a positive duration such as 10s');
        size = duration(body, 'size', p, fail, true) as number;
        if (type === 'sliding') {
          slide = duration(body, 'slide', p, fail, true) ?? size;
          if (slide > size) fail([...p, 'slide'], `a duration not longer than size (${size} ms)`, body.slide);
          if (size / slide > 10_000) fail([...p, 'slide'], 'at most 10000 overlapping windows (size / slide)', body.slide);
        } else if (body.slide !== undefined) fail([...p, 'slide'], 'no slide for a tumbling window (use type: sliding)');
        if (body.gap !== undefined) fail([...p, 'gap'], 'no gap for a tumbling or sliding window (use type: session)');
      }
      const outOfOrder = duration(body, 'outOfOrder', p, fail, false) ?? 0;
      const allowedLateness = duration(body, 'allowedLateness', p, fail, false) ?? 0;
      const offset = duration(body, 'offset', p, fail, false) ?? 0;
      let aggregates = DEFAULT_AGGREGATES;
      if (raw.aggregate !== undefined) aggregates = parseAggregates(raw.aggregate, ['aggregate'], fail);
      else if (body.aggregate !== undefined) aggregates = parseAggregates(body.aggregate, [...p, 'aggregate'], fail);
      return { type: 'window', window: type, size, slide, gap, outOfOrder, allowedLateness, offset, aggregates };
    }
    case 'anomaly':
      return { type: 'anomaly', anomaly: parseAnomaly(body, p, fail) };
    case 'alarm': {
      if (!isObject(body)) return fail(p, 'a mapping with above and/or below', body);
      onlyKeys(body, ['above', 'below', 'hysteresis', 'onDelay', 'offDelay', 'name', 'severity', 'message'], p, fail);
      const above = finite(body, 'above', p, fail);
      const below = finite(body, 'below', p, fail);
      if (above === undefined && below === undefined) fail([...p, 'above'], 'a limit: above and/or below');
      if (above !== undefined && below !== undefined && below >= above) fail([...p, 'below'], `a limit below "above" (${above})`, below);
      const name = body.name ?? 'alarm';
      if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) fail([...p, 'name'], 'a name of letters, digits, _, . and -', name);
      if (body.message !== undefined && typeof body.message !== 'string') fail([...p, 'message'], 'a string', body.message);
      const severity = finite(body, 'severity', p, fail, { integer: true, positive: true }) ?? 500;
      if (severity > 1000) fail([...p, 'severity'], 'an integer from 1 to 1000', severity);
      return {
        type: 'alarm',
        above,
        below,
        hysteresis: finite(body, 'hysteresis', p, fail, { min: 0 }) ?? 0,
        onDelay: duration(body, 'onDelay', p, fail, false) ?? 0,
        offDelay: duration(body, 'offDelay', p, fail, false) ?? 0,
        name: name as string,
        severity,
        message: body.message as string | undefined,
      };
    }
    case 'merge': {
      const o = body === null || body === true ? {} : body;
      if (!isObject(o)) return fail(p, 'a mapping (as: name, maxDelay: 5s) or nothing', body);
      onlyKeys(o, ['as', 'maxDelay', 'inputs'], p, fail);
      if (o.as !== undefined && (typeof o.as !== 'string' || o.as === '')) fail([...p, 'as'], 'a series name', o.as);
      if (o.inputs !== undefined && (!Array.isArray(o.inputs) || !o.inputs.every((x) => typeof x === 'string'))) fail([...p, 'inputs'], 'a list of series names', o.inputs);
      return { type: 'merge', as: o.as as string | undefined, maxDelay: duration(o, 'maxDelay', p, fail, false) ?? Number.POSITIVE_INFINITY, inputs: (o.inputs as string[] | undefined) ?? [] };
    }
    default:
      return fail([key], `a step key: one of ${STEP_KEYS.join(', ')}${allowFunctions ? ', map' : ''}`);
  }
}

function parseAnomaly(body: unknown, p: (string | number)[], fail: Fail): AnomalySpec {
  if (!isObject(body)) return fail(p, 'a mapping with method: zscore, mad, ewma, roc or westernElectric', body);
  const method = body.method;
  switch (method) {
    case 'zscore':
    case 'mad': {
      onlyKeys(body, ['method', 'window', 'threshold', 'minSamples'], p, fail);
      if (body.window === undefined) fail([...p, 'window'], 'a window length in samples, an integer >= 2');
      const window = finite(body, 'window', p, fail, { integer: true, min: 2 }) as number;
      if (window > 100_000) fail([...p, 'window'], 'at most 100000 samples', window);
      const threshold = finite(body, 'threshold', p, fail, { positive: true }) ?? (method === 'mad' ? 3.5 : 3);
      const minSamples = finite(body, 'minSamples', p, fail, { integer: true, min: 2 }) ?? window;
      if (minSamples > window) fail([...p, 'minSamples'], `at most window (${window})`, minSamples);
      return { method, window, threshold, minSamples };
    }
    case 'ewma': {
      onlyKeys(body, ['method', 'lambda', 'L', 'warmup', 'target', 'sigma'], p, fail);
      const lambda = finite(body, 'lambda', p, fail) ?? 0.2;
      if (!(lambda > 0 && lambda <= 1)) fail([...p, 'lambda'], 'a smoothing weight in (0, 1]', lambda);
      const spec: AnomalySpec = { method, lambda, L: finite(body, 'L', p, fail, { positive: true }) ?? 3, warmup: finite(body, 'warmup', p, fail, { integer: true, min: 2 }) ?? 30 };
      const target = finite(body, 'target', p, fail);
      const sigma = finite(body, 'sigma', p, fail, { positive: true });
      if (target !== undefined) spec.target = target;
      if (sigma !== undefined) spec.sigma = sigma;
      return spec;
    }
    case 'roc': {
      onlyKeys(body, ['method', 'maxRate', 'per'], p, fail);
      if (body.maxRate === undefined) fail([...p, 'maxRate'], 'the largest normal change per `per` (default per second), a positive number');
      return { method, maxRate: finite(body, 'maxRate', p, fail, { positive: true }) as number, per: duration(body, 'per', p, fail, true) ?? 1000 };
    }
    case 'westernElectric': {
      onlyKeys(body, ['method', 'warmup', 'center', 'sigma', 'rules'], p, fail);
      const spec: AnomalySpec = { method, warmup: finite(body, 'warmup', p, fail, { integer: true, min: 2 }) ?? 30, rules: [1, 2, 3, 4] };
      const center = finite(body, 'center', p, fail);
      const sigma = finite(body, 'sigma', p, fail, { positive: true });
      if (center !== undefined) spec.center = center;
      if (sigma !== undefined) spec.sigma = sigma;
      if (body.rules !== undefined) {
        if (!Array.isArray(body.rules) || body.rules.length === 0 || !body.rules.every((r) => r === 1 || r === 2 || r === 3 || r === 4))
          fail([...p, 'rules'], 'a list of rule numbers from 1 to 4', body.rules);
        spec.rules = body.rules as number[];
      }
      return spec;
    }
    default:
      return fail([...p, 'method'], 'one of "zscore", "mad", "ewma", "roc", "westernElectric"', method);
  }
}

/**
 * A `Fail` that throws BIFROST_ANALYTICS_INVALID_PIPELINE naming the pipeline and step.
 * @example parseStep(raw, pipelineFail('temp-stats', 2))
 */
export function pipelineFail(pipeline: string, index: number): Fail {
  return (path, expected, got) => {
    const field = path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : `${s}.${k}`), `steps[${index}]`);
    const gotText = got === undefined ? '' : `, got ${safeJson(got)}`;
    throw new BifrostError('BIFROST_ANALYTICS_INVALID_PIPELINE', `pipeline "${pipeline}": ${field}: expected ${expected}${gotText}`, {
      details: { pipeline, step: index, path: ['steps', index, ...path], expected },
    });
  };
}

function safeJson(v: unknown): string {
  try {
    return typeof v === 'function' ? 'a function' : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
}
