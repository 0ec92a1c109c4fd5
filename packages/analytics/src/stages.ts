/**
 * @module
 * The runtime form of each step. A stage receives values as scalars — series id, timestamp,
 * value, quality and, after a window, the aggregate event — so the hot path allocates no object
 * per event (DESIGN.md: "avoid a heap object per value"). Anomaly and alarm events go straight to
 * the pipeline output; later steps see the values.
 */
import { BifrostError, type Quality } from '@bifrost/core';
import { Accumulator, needsOf } from './aggregates.js';
import type { AlarmManager } from './alarms.js';
import { createDetector, type Detector, thresholdOf } from './anomaly.js';
import type { AggregateEvent, AnomalyEvent, OutputEvent } from './events.js';
import type { StepContext, StepSpec } from './steps.js';

/** What stages share with their pipeline. */
export interface StageContext {
  readonly pipeline: string;
  /** Series names by id. */
  readonly names: string[];
  /** The id of a series name, registering it when new. */
  id(name: string): number;
  emit(e: OutputEvent): void;
  late(sid: number, t: number, v: unknown, q: Quality, step: number, watermark: number, error: BifrostError): void;
  reject(sid: number, t: number, v: unknown, q: Quality, step: number, error: BifrostError): void;
  readonly alarms: AlarmManager;
  /** Alarm ids raised by this pipeline (its ack events are forwarded). */
  readonly alarmIds: Set<string>;
}

/** One step at run time. */
export abstract class Stage {
  next!: Stage;
  readonly ctx: StageContext;
  readonly index: number;
  constructor(ctx: StageContext, index: number) {
    this.ctx = ctx;
    this.index = index;
  }
  abstract value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void;
  /** Moves the watermark of every series to at least `now` minus the stage's delay (idle flush). */
  advance(now: number): void {
    this.next.advance(now);
  }
  /** End of input: close everything open. */
  end(): void {
    this.next.end();
  }

  /** The number in `v`, or rejects the event and returns NaN. Booleans are 0/1; bigints are converted. */
  protected num(sid: number, t: number, v: unknown, q: Quality): number {
    const x = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? Number(v) : Number.NaN;
    if (x - x === 0) return x;
    const what = typeof v === 'number' ? String(v) : v === null ? 'null' : `a ${typeof v}`;
    this.ctx.reject(
      sid,
      t,
      v,
      q,
      this.index,
      new BifrostError('BIFROST_ANALYTICS_NOT_NUMERIC', `pipeline "${this.ctx.pipeline}" step ${this.index}: ${this.ctx.names[sid]} at ${t}: value is ${what}, not a finite number (quality ${q})`, {
        address: this.ctx.names[sid],
      }),
    );
    return Number.NaN;
  }
}

/** The end of the chain: turns scalars back into output events. */
export class OutputStage extends Stage {
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    this.ctx.emit(agg ?? { kind: 'value', series: this.ctx.names[sid] as string, timestamp: t, value: v, quality: q });
  }
  override advance(): void {}
  override end(): void {}
}

function withValue(agg: AggregateEvent, value: number, aggregates: Record<string, number> = agg.aggregates): AggregateEvent {
  return { ...agg, value, aggregates };
}

export class MapStage extends Stage {
  readonly #fn: (v: unknown, e: StepContext) => unknown;
  readonly #e: StepContext = { series: '', timestamp: 0, quality: 'good' };
  constructor(ctx: StageContext, index: number, fn: (v: unknown, e: StepContext) => unknown) {
    super(ctx, index);
    this.#fn = fn;
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const e = this.#e;
    e.series = this.ctx.names[sid] as string;
    e.timestamp = t;
    e.quality = q;
    let out: unknown;
    try {
      out = this.#fn(v, e);
    } catch (cause) {
      this.ctx.reject(
        sid,
        t,
        v,
        q,
        this.index,
        new BifrostError('BIFROST_INVALID_ARGUMENT', `pipeline "${this.ctx.pipeline}" step ${this.index}: map function threw: ${(cause as Error)?.message ?? String(cause)}`, { cause }),
      );
      return;
    }
    this.next.value(sid, t, out, q, agg === undefined ? undefined : typeof out === 'number' ? withValue(agg, out) : undefined);
  }
}

export class FilterStage extends Stage {
  readonly #fn: ((v: unknown, e: StepContext) => boolean) | undefined;
  readonly #unary: boolean;
  readonly #min: number;
  readonly #max: number;
  readonly #numeric: boolean;
  readonly #quality: Set<Quality> | undefined;
  readonly #series: Set<string> | undefined;
  readonly #e: StepContext = { series: '', timestamp: 0, quality: 'good' };
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'filter' }>) {
    super(ctx, index);
    this.#fn = spec.fn;
    // A predicate of one parameter does not need the context filled in (hot path).
    this.#unary = spec.fn !== undefined && spec.fn.length < 2;
    this.#min = spec.spec?.min ?? Number.NEGATIVE_INFINITY;
    this.#max = spec.spec?.max ?? Number.POSITIVE_INFINITY;
    this.#numeric = spec.spec?.min !== undefined || spec.spec?.max !== undefined;
    this.#quality = spec.spec?.quality ? new Set(spec.spec.quality) : undefined;
    this.#series = spec.spec?.series ? new Set(spec.spec.series) : undefined;
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    if (this.#fn !== undefined) {
      if (this.#unary) {
        if ((this.#fn as (v: unknown) => boolean)(v)) this.next.value(sid, t, v, q, agg);
        return;
      }
      const e = this.#e;
      e.series = this.ctx.names[sid] as string;
      e.timestamp = t;
      e.quality = q;
      if (this.#fn(v, e)) this.next.value(sid, t, v, q, agg);
      return;
    }
    if (this.#quality !== undefined && !this.#quality.has(q)) return;
    if (this.#series !== undefined && !this.#series.has(this.ctx.names[sid] as string)) return;
    if (this.#numeric) {
      const x = this.num(sid, t, v, q);
      if (!(x >= this.#min && x <= this.#max)) return;
    }
    this.next.value(sid, t, v, q, agg);
  }
}

export class ScaleStage extends Stage {
  readonly #gain: number;
  readonly #offset: number;
  readonly #lo: number;
  readonly #hi: number;
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'scale' }>) {
    super(ctx, index);
    this.#gain = spec.gain;
    this.#offset = spec.offset;
    this.#lo = spec.clamp?.[0] ?? Number.NEGATIVE_INFINITY;
    this.#hi = spec.clamp?.[1] ?? Number.POSITIVE_INFINITY;
  }
  #scale(x: number): number {
    const y = x * this.#gain + this.#offset;
    return Math.min(Math.max(y, this.#lo), this.#hi);
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    const y = this.#scale(x);
    if (agg === undefined) {
      this.next.value(sid, t, y, q, undefined);
      return;
    }
    // Scale every aggregate that carries the value's unit; count does not.
    const scaled: Record<string, number> = {};
    for (const [k, a] of Object.entries(agg.aggregates))
      scaled[k] = k === 'count' ? a : k === 'stddev' ? a * Math.abs(this.#gain) : k === 'sum' ? a * this.#gain + this.#offset * agg.count : this.#scale(a);
    this.next.value(sid, t, y, q, withValue(agg, y, scaled));
  }
}

/**
 * Passes a value when it differs from the last passed value of its series by more than the
 * deadband (OPC 10000-4 §7.22.2 DataChangeFilter: |last − v| > deadband). A quality change
 * always passes. A zero deadband passes every change.
 */
export class DeadbandStage extends Stage {
  readonly #db: number;
  #last = new Float64Array(16);
  #lastQ: (Quality | undefined)[] = [];
  constructor(ctx: StageContext, index: number, deadband: number) {
    super(ctx, index);
    this.#db = deadband;
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    if (sid >= this.#last.length) {
      const n = new Float64Array(Math.max(sid + 1, this.#last.length * 2));
      n.set(this.#last);
      this.#last = n;
    }
    const lq = this.#lastQ[sid];
    if (lq === q) {
      const d = x - (this.#last[sid] as number);
      if (Math.abs(d) <= this.#db) return;
    } else this.#lastQ[sid] = q;
    this.#last[sid] = x;
    this.next.value(sid, t, v, q, agg);
  }
}

/** (v − v_prev) / (t − t_prev) · per. The first value of a series only primes it. */
export class RateOfChangeStage extends Stage {
  readonly #per: number;
  readonly #t: number[] = [];
  readonly #v: number[] = [];
  constructor(ctx: StageContext, index: number, per: number) {
    super(ctx, index);
    this.#per = per;
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    const pt = this.#t[sid];
    if (pt !== undefined && !(t > pt)) {
      this.ctx.reject(
        sid,
        t,
        v,
        q,
        this.index,
        new BifrostError(
          'BIFROST_ANALYTICS_OUT_OF_ORDER',
          `pipeline "${this.ctx.pipeline}" step ${this.index}: ${this.ctx.names[sid]}: timestamp ${t} is not after ${pt}; a rate of change needs increasing time`,
          {
            address: this.ctx.names[sid],
          },
        ),
      );
      return;
    }
    const pv = this.#v[sid];
    this.#t[sid] = t;
    this.#v[sid] = x;
    if (pt === undefined || pv === undefined) return;
    const r = ((x - pv) / (t - pt)) * this.#per;
    this.next.value(sid, t, r, q, agg === undefined ? undefined : withValue(agg, r));
  }
}

interface WindowSeries {
  /** Watermark: newest event time minus outOfOrder. */
  wm: number;
  /** Open (and fired-but-within-lateness) windows, sorted by start. */
  open: Accumulator[];
}

/**
 * Tumbling, sliding and session windows on event time, per series. The watermark of a series is
 * its newest event time minus `outOfOrder`. A window `[start, end)` fires when the watermark
 * reaches `end`, and is kept `allowedLateness` longer: a late event inside that time updates it
 * and re-emits it (`revision` + 1). An event whose windows are all past `end + allowedLateness`
 * goes to the late side output. (The model of Akidau et al., "The Dataflow Model", VLDB 2015.)
 */
export class WindowStage extends Stage {
  readonly #spec: Extract<StepSpec, { type: 'window' }>;
  readonly #series: (WindowSeries | undefined)[] = [];
  readonly #needs: ReturnType<typeof needsOf>;
  readonly #names: string[];
  readonly #primary: string;
  readonly #tumbling: boolean;
  readonly #size: number;
  readonly #offset: number;
  readonly #lateness: number;
  readonly #outOfOrder: number;
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'window' }>) {
    super(ctx, index);
    this.#spec = spec;
    this.#tumbling = spec.window === 'tumbling';
    this.#size = spec.size;
    this.#offset = spec.offset;
    this.#lateness = spec.allowedLateness;
    this.#outOfOrder = spec.outOfOrder;
    this.#needs = needsOf(spec.aggregates);
    this.#names = spec.aggregates;
    this.#primary = spec.aggregates[0] as string;
  }

  value(sid: number, t: number, v: unknown, q: Quality): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    let st = this.#series[sid];
    if (st === undefined) this.#series[sid] = st = { wm: Number.NEGATIVE_INFINITY, open: [] };
    const s = this.#spec;
    if (this.#tumbling) {
      const open = st.open;
      let acc = open[open.length - 1];
      // Most events fall in their series' newest window: skip the (floating-point) modulo then.
      // Any window still held has end + allowedLateness > watermark, so it cannot be late.
      if (acc === undefined || t < acc.start || t >= acc.end) {
        const size = this.#size;
        const start = t - mod(t - this.#offset, size);
        const end = start + size;
        if (end + this.#lateness <= st.wm) {
          this.#late(sid, t, v, q, st.wm);
          return;
        }
        acc = this.#find(st, start, end);
      }
      acc.add(t, x, q);
      if (acc.fired) this.#fire(sid, acc);
    } else if (s.window === 'sliding') {
      const lastStart = t - mod(t - s.offset, s.slide);
      if (lastStart + s.size + s.allowedLateness <= st.wm) {
        this.#late(sid, t, v, q, st.wm);
        return;
      }
      for (let start = lastStart; start > t - s.size; start -= s.slide) {
        const end = start + s.size;
        if (end + s.allowedLateness <= st.wm) continue; // that window is gone; newer ones still take it
        const acc = this.#find(st, start, end);
        acc.add(t, x, q);
        if (acc.fired) this.#fire(sid, acc);
      }
    } else {
      // Late only if a new session [t, t + gap) is past its lateness and no session still held takes t.
      if (t + s.gap + s.allowedLateness <= st.wm && !st.open.some((a) => t > a.firstT - s.gap && t < a.lastT + s.gap)) {
        this.#late(sid, t, v, q, st.wm);
        return;
      }
      this.#session(sid, st, t, x, q);
    }
    const w = t - this.#outOfOrder;
    if (w > st.wm) {
      st.wm = w;
      this.#close(sid, st);
    }
  }

  #late(sid: number, t: number, v: unknown, q: Quality, wm: number): void {
    this.ctx.late(
      sid,
      t,
      v,
      q,
      this.index,
      wm,
      new BifrostError(
        'BIFROST_ANALYTICS_LATE',
        `pipeline "${this.ctx.pipeline}" step ${this.index}: ${this.ctx.names[sid]} at ${t} is behind the watermark ${wm} beyond the allowed lateness of ${this.#spec.allowedLateness} ms`,
        {
          address: this.ctx.names[sid],
        },
      ),
    );
  }

  /** The accumulator for [start, end), created in sorted position when new. */
  #find(st: WindowSeries, start: number, end: number): Accumulator {
    const open = st.open;
    let i = open.length;
    while (i > 0 && (open[i - 1] as Accumulator).start > start) i--;
    const prev = open[i - 1];
    if (prev !== undefined && prev.start === start) return prev;
    const acc = new Accumulator(start, end, this.#needs);
    open.splice(i, 0, acc);
    return acc;
  }

  #session(sid: number, st: WindowSeries, t: number, x: number, q: Quality): void {
    const gap = this.#spec.gap;
    const open = st.open;
    // A session covers [first, last + gap); t joins every session it falls within gap of.
    let joined: Accumulator | undefined;
    for (let i = 0; i < open.length; i++) {
      const a = open[i] as Accumulator;
      if (t > a.firstT - gap && t < a.lastT + gap) {
        if (joined === undefined) {
          joined = a;
          a.add(t, x, q);
          a.start = Math.min(a.start, t);
          a.end = Math.max(a.end, t + gap);
        } else {
          joined.merge(a);
          joined.fired = joined.fired && a.fired;
          open.splice(i, 1);
          i--;
        }
      }
    }
    if (joined === undefined) {
      const acc = new Accumulator(t, t + gap, this.#needs);
      acc.add(t, x, q);
      let i = open.length;
      while (i > 0 && (open[i - 1] as Accumulator).start > t) i--;
      open.splice(i, 0, acc);
    } else if (joined.fired) this.#fire(sid, joined);
  }

  /** Fires windows whose end the watermark has reached; forgets those past the lateness. */
  #close(sid: number, st: WindowSeries): void {
    const open = st.open;
    const lateness = this.#spec.allowedLateness;
    let drop = 0;
    for (let i = 0; i < open.length; i++) {
      const a = open[i] as Accumulator;
      if (a.end > st.wm) break;
      if (!a.fired) this.#fire(sid, a);
      if (a.end + lateness <= st.wm && drop === i) drop = i + 1;
    }
    if (drop > 0) open.splice(0, drop);
  }

  #fire(sid: number, a: Accumulator): void {
    const revision = a.fired ? ++a.revision : 0;
    a.fired = true;
    const aggregates = a.results(this.#names);
    const value = aggregates[this.#primary] as number;
    const e: AggregateEvent = {
      kind: 'aggregate',
      series: this.ctx.names[sid] as string,
      timestamp: a.end,
      start: a.start,
      end: a.end,
      count: a.count,
      value,
      quality: a.quality,
      aggregates,
      revision,
    };
    this.next.value(sid, a.end, value, a.quality, e);
  }

  override advance(now: number): void {
    const w = now - this.#spec.outOfOrder;
    this.#series.forEach((st, sid) => {
      if (st !== undefined && w > st.wm) {
        st.wm = w;
        this.#close(sid, st);
      }
    });
    this.next.advance(now);
  }

  override end(): void {
    for (let sid = 0; sid < this.#series.length; sid++) {
      const st = this.#series[sid];
      if (st === undefined) continue;
      for (const a of st.open) if (!a.fired) this.#fire(sid, a);
      st.open = [];
      st.wm = Number.POSITIVE_INFINITY;
    }
    this.next.end();
  }
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

export class AnomalyStage extends Stage {
  readonly #spec: Extract<StepSpec, { type: 'anomaly' }>['anomaly'];
  readonly #detectors: (Detector | undefined)[] = [];
  readonly #threshold: number;
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'anomaly' }>['anomaly']) {
    super(ctx, index);
    this.#spec = spec;
    this.#threshold = thresholdOf(spec);
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    let d = this.#detectors[sid];
    if (d === undefined) this.#detectors[sid] = d = createDetector(this.#spec);
    const hit = d.test(t, x);
    this.next.value(sid, t, v, q, agg);
    if (hit !== undefined) {
      const e: AnomalyEvent = {
        kind: 'anomaly',
        series: this.ctx.names[sid] as string,
        timestamp: t,
        value: x,
        method: this.#spec.method,
        score: hit.score,
        threshold: this.#threshold,
        message: hit.message,
      };
      if (hit.rule !== undefined) e.rule = hit.rule;
      if (hit.rules !== undefined) e.rules = hit.rules;
      this.ctx.emit(e);
    }
  }
}

interface AlarmCondition {
  readonly id: string;
  /** When the alarm condition (or, while active, the normal condition) started holding; NaN if not. */
  since: number;
}

/**
 * A threshold alarm with hysteresis and delays, on event time: raised when the value stays beyond
 * the limit for `onDelay`, cleared when it stays back past `limit ∓ hysteresis` for `offDelay`.
 */
export class AlarmStage extends Stage {
  readonly #spec: Extract<StepSpec, { type: 'alarm' }>;
  /** Per series id: [high, low] conditions. */
  readonly #state: (AlarmCondition | undefined)[] = [];
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'alarm' }>) {
    super(ctx, index);
    this.#spec = spec;
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    const x = typeof v === 'number' && v - v === 0 ? v : this.num(sid, t, v, q);
    if (Number.isNaN(x)) return;
    const s = this.#spec;
    this.next.value(sid, t, v, q, agg);
    if (s.above !== undefined) this.#check(sid, t, x, 'high', s.above, x > s.above, x < s.above - s.hysteresis);
    if (s.below !== undefined) this.#check(sid, t, x, 'low', s.below, x < s.below, x > s.below + s.hysteresis);
  }

  #check(sid: number, t: number, x: number, condition: 'high' | 'low', limit: number, beyond: boolean, normal: boolean): void {
    const slot = 2 * sid + (condition === 'high' ? 0 : 1);
    let st = this.#state[slot];
    if (st === undefined) {
      const series = this.ctx.names[sid] as string;
      this.#state[slot] = st = { id: `${this.ctx.pipeline}/${series}/${this.#spec.name}:${condition}`, since: Number.NaN };
    }
    const id = st.id;
    const series = this.ctx.names[sid] as string;
    const alarms = this.ctx.alarms;
    const active = alarms.isActive(id);
    const watch = active ? normal : beyond;
    if (!watch) {
      st.since = Number.NaN;
      return;
    }
    if (Number.isNaN(st.since)) st.since = t;
    const delay = active ? this.#spec.offDelay : this.#spec.onDelay;
    if (t - st.since < delay) return;
    st.since = Number.NaN;
    let e: ReturnType<AlarmManager['raise']>;
    if (active) e = alarms.clear(id, x, t);
    else {
      const message = this.#spec.message ?? `${series} ${condition === 'high' ? 'above' : 'below'} ${limit}`;
      this.ctx.alarmIds.add(id);
      e = alarms.raise(id, { series, name: this.#spec.name, condition, limit, severity: this.#spec.severity, message }, x, t);
    }
    if (e !== undefined) this.ctx.emit(e);
  }
}

interface Pending {
  sid: number;
  t: number;
  v: unknown;
  q: Quality;
  agg: AggregateEvent | undefined;
  seq: number;
}

/**
 * Merges several series into one stream ordered by time: an event is released once every input
 * seen so far has reached its time (each input is in time order), or once it is `maxDelay` behind
 * the newest event. An event older than one already released goes to the late side output.
 */
export class MergeStage extends Stage {
  readonly #as: number | undefined;
  readonly #maxDelay: number;
  readonly #heap: Pending[] = [];
  readonly #lastT = new Map<number, number>();
  #released = Number.NEGATIVE_INFINITY;
  #newest = Number.NEGATIVE_INFINITY;
  #seq = 0;
  constructor(ctx: StageContext, index: number, spec: Extract<StepSpec, { type: 'merge' }>) {
    super(ctx, index);
    this.#as = spec.as === undefined ? undefined : ctx.id(spec.as);
    this.#maxDelay = spec.maxDelay;
    for (const name of spec.inputs) this.#lastT.set(ctx.id(name), Number.NEGATIVE_INFINITY);
  }
  value(sid: number, t: number, v: unknown, q: Quality, agg: AggregateEvent | undefined): void {
    if (t < this.#released) {
      this.ctx.late(
        sid,
        t,
        v,
        q,
        this.index,
        this.#released,
        new BifrostError(
          'BIFROST_ANALYTICS_LATE',
          `pipeline "${this.ctx.pipeline}" step ${this.index}: ${this.ctx.names[sid]} at ${t} is older than merged output already released (${this.#released})`,
          {
            address: this.ctx.names[sid],
          },
        ),
      );
      return;
    }
    const prev = this.#lastT.get(sid);
    if (prev === undefined || t > prev) this.#lastT.set(sid, t);
    if (t > this.#newest) this.#newest = t;
    this.#push({ sid, t, v, q, agg, seq: this.#seq++ });
    let bound = Number.POSITIVE_INFINITY;
    for (const lt of this.#lastT.values()) if (lt < bound) bound = lt;
    this.#release(Math.max(bound, this.#newest - this.#maxDelay));
  }
  #release(upTo: number): void {
    for (let top = this.#heap[0]; top !== undefined && top.t <= upTo; top = this.#heap[0]) {
      this.#pop();
      this.#released = top.t;
      const sid = this.#as ?? top.sid;
      const agg = top.agg !== undefined && this.#as !== undefined ? { ...top.agg, series: this.ctx.names[sid] as string } : top.agg;
      this.next.value(sid, top.t, top.v, top.q, agg);
    }
  }
  #less(a: Pending, b: Pending): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }
  #push(p: Pending): void {
    const h = this.#heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(p, h[parent] as Pending)) break;
      h[i] = h[parent] as Pending;
      i = parent;
    }
    h[i] = p;
  }
  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (h.length === 0 || last === undefined) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const m = r < h.length && this.#less(h[r] as Pending, h[l] as Pending) ? r : l;
      if (!this.#less(h[m] as Pending, last)) break;
      h[i] = h[m] as Pending;
      i = m;
    }
    h[i] = last;
  }
  override advance(now: number): void {
    this.#release(now - (Number.isFinite(this.#maxDelay) ? this.#maxDelay : 0));
    this.next.advance(now);
  }
  override end(): void {
    this.#release(Number.POSITIVE_INFINITY);
    this.next.end();
  }
}

/** Builds the stage chain for validated steps; the last stage is the output. */
export function buildStages(ctx: StageContext, steps: readonly StepSpec[]): Stage {
  const stages: Stage[] = steps.map((s, i): Stage => {
    switch (s.type) {
      case 'map':
        return new MapStage(ctx, i, s.fn);
      case 'filter':
        return new FilterStage(ctx, i, s);
      case 'scale':
        return new ScaleStage(ctx, i, s);
      case 'deadband':
        return new DeadbandStage(ctx, i, s.deadband);
      case 'rateOfChange':
        return new RateOfChangeStage(ctx, i, s.per);
      case 'window':
        return new WindowStage(ctx, i, s);
      case 'anomaly':
        return new AnomalyStage(ctx, i, s.anomaly);
      case 'alarm':
        return new AlarmStage(ctx, i, s);
      case 'merge':
        return new MergeStage(ctx, i, s);
      default:
        throw new BifrostError('BIFROST_ANALYTICS_INVALID_PIPELINE', `pipeline "${ctx.pipeline}": unknown step type at ${i}`);
    }
  });
  const out = new OutputStage(ctx, steps.length);
  stages.push(out);
  for (let i = 0; i < stages.length - 1; i++) (stages[i] as Stage).next = stages[i + 1] as Stage;
  return stages[0] as Stage;
}
