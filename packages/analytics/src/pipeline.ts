/**
 * @module
 * `Pipeline`: a chain of steps over a stream of events, built with a fluent API (`pipeline()`) or
 * from the gateway's YAML step list (`compilePipeline`).
 *
 * Backpressure: the core is synchronous. `push` / `pushValue` run an event through every step and
 * hand the outputs to the `on(...)` listeners before returning — the fast path, no promise per
 * event. A consumer that is slower than the producer reads `outputs()` (an async iterator) and the
 * producer calls `await write(event)`: it resolves at once while fewer than `highWaterMark`
 * outputs wait unread, and otherwise waits until the reader has drained them to half of it
 * (as a Node stream waits for 'drain'). So the producer is slowed to the reader's pace, and
 * memory stays bounded, end to end.
 */
import { BifrostError, channel, type Quality, type TagValue } from '@bifrost/core';
import { AlarmManager } from './alarms.js';
import type { AnalyticsEvent, LateEvent, OutputEvent, PipelineEvent, RejectedEvent } from './events.js';
import { buildStages, type Stage, type StageContext } from './stages.js';
import {
  type AlarmOptions,
  type AnomalyOptions,
  type DeadbandOptions,
  type Fail,
  type FilterFn,
  type FilterSpec,
  type MapFn,
  type MergeOptions,
  parseStep,
  pipelineFail,
  type ScaleOptions,
  type StepSpec,
  type WindowOptions,
} from './steps.js';

/**
 * `bifrost:analytics:late` and `bifrost:analytics:rejected` carry every pipeline's side-output
 * events (with a `pipeline` field), so an app can log them without subscribing to each pipeline.
 */
export const lateChannel = channel('analytics', 'late');
export const rejectedChannel = channel('analytics', 'rejected');

/** Pipeline options. */
export interface PipelineOptions {
  /** Name used in errors and alarm ids (default `pipeline`). */
  name?: string;
  /** The alarm manager alarm steps report to (default: a manager of its own). */
  alarms?: AlarmManager;
  /** Unread outputs of `outputs()` at which `write()` starts to wait (default 1024). */
  highWaterMark?: number;
}

/** Counters of a pipeline. */
export interface PipelineStats {
  in: number;
  out: number;
  late: number;
  rejected: number;
}

type Listener<E> = (e: E) => void;

/**
 * A stream-processing pipeline.
 * @example
 * const p = pipeline({ name: 'temp' })
 *   .filter((v) => typeof v === 'number')
 *   .deadband({ absolute: 0.5 })
 *   .window({ type: 'tumbling', size: '1s' })
 *   .aggregate(['mean', 'max']);
 * p.on('output', (e) => console.log(e));
 * p.pushValue('press1.temperature', Date.now(), 21.5);
 */
export class Pipeline {
  readonly name: string;
  readonly alarms: AlarmManager;
  readonly #steps: StepSpec[] = [];
  readonly #highWaterMark: number;
  readonly #ids = new Map<string, number>();
  readonly #names: string[] = [];
  readonly #alarmIds = new Set<string>();
  readonly #outputs: Listener<OutputEvent>[] = [];
  readonly #lates: Listener<LateEvent>[] = [];
  readonly #rejects: Listener<RejectedEvent>[] = [];
  #head: Stage | undefined;
  #stats: PipelineStats = { in: 0, out: 0, late: 0, rejected: 0 };
  #in = 0;
  #queue: PipelineEvent[] | undefined;
  #qHead = 0;
  #wakeReader: (() => void) | undefined;
  #wakeWriters: (() => void)[] = [];
  #ended = false;
  #unsubscribeAlarms: (() => void) | undefined;

  constructor(options: PipelineOptions = {}) {
    this.name = options.name ?? 'pipeline';
    this.alarms = options.alarms ?? new AlarmManager();
    this.#highWaterMark = options.highWaterMark ?? 1024;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 1)
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `highWaterMark must be a positive integer, got ${String(options.highWaterMark)}`);
  }

  /** The validated steps. */
  get steps(): readonly StepSpec[] {
    return this.#steps;
  }

  /** Appends an already validated step (used by compilePipeline). */
  addStep(step: StepSpec): this {
    if (this.#head !== undefined) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `pipeline "${this.name}": steps cannot be added after the first event`);
    this.#steps.push(step);
    return this;
  }

  #add(raw: Record<string, unknown>): this {
    return this.addStep(parseStep(raw, pipelineFail(this.name, this.#steps.length) as Fail, true));
  }

  /** Replaces each value with `fn(value, context)` (fluent API only). */
  map(fn: MapFn): this {
    return this.#add({ map: fn });
  }
  /** Keeps the events for which `fn` is true, or those matching a declarative filter. */
  filter(fn: FilterFn | FilterSpec): this {
    return this.#add({ filter: fn });
  }
  /** Linear scaling: `gain`/`offset`, or raw → engineering range. */
  scale(options: ScaleOptions): this {
    return this.#add({ scale: options });
  }
  /** Drops values within the deadband of the last passed value (absolute, or percent of range). */
  deadband(options: DeadbandOptions): this {
    return this.#add({ deadband: options });
  }
  /** Replaces each value with its rate of change per `per` (default 1 s). */
  rateOfChange(options: { per?: number | string } = {}): this {
    return this.#add({ rateOfChange: options });
  }
  /** Groups values into windows; follow with `aggregate([...])`. */
  window(options: WindowOptions): this {
    return this.#add({ window: options });
  }
  /** Sets the aggregates of the window step just added. */
  aggregate(names: string[]): this {
    const last = this.#steps[this.#steps.length - 1];
    const fail = pipelineFail(this.name, Math.max(0, this.#steps.length - 1)) as Fail;
    if (last?.type !== 'window') return fail(['aggregate'], 'aggregate right after a window step');
    const parsed = parseStep({ window: windowOptionsOf(last), aggregate: names }, fail, true);
    this.#steps[this.#steps.length - 1] = parsed;
    return this;
  }
  /** Emits anomaly events for values a detector flags (values pass through). */
  anomaly(options: AnomalyOptions): this {
    return this.#add({ anomaly: options });
  }
  /** Raises and clears threshold alarms (values pass through). */
  alarm(options: AlarmOptions): this {
    return this.#add({ alarm: options });
  }
  /** Merges the input series into one time-ordered stream. */
  merge(options: MergeOptions = {}): this {
    return this.#add({ merge: options });
  }

  /**
   * Subscribes to the main output (`output`) or a side output (`late`, `rejected`); returns the
   * unsubscribe function. Listeners run synchronously inside `push`.
   */
  on(type: 'output', fn: Listener<OutputEvent>): () => void;
  on(type: 'late', fn: Listener<LateEvent>): () => void;
  on(type: 'rejected', fn: Listener<RejectedEvent>): () => void;
  on(type: 'output' | 'late' | 'rejected', fn: Listener<never>): () => void {
    const list = (type === 'output' ? this.#outputs : type === 'late' ? this.#lates : this.#rejects) as Listener<never>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  #start(): Stage {
    if (this.#ended) throw new BifrostError('BIFROST_CLOSED', `pipeline "${this.name}" has ended`);
    const ctx: StageContext = {
      pipeline: this.name,
      names: this.#names,
      id: (n) => this.#id(n),
      emit: (e) => this.#emit(e),
      late: (sid, t, v, q, step, watermark, error) => {
        this.#stats.late++;
        const e: LateEvent = { kind: 'late', series: this.#names[sid] as string, timestamp: t, value: v, quality: q, step, watermark, error };
        for (const l of this.#lates) l(e);
        if (lateChannel.hasSubscribers) lateChannel.publish({ pipeline: this.name, ...e });
        this.#enqueue(e);
      },
      reject: (sid, t, v, q, step, error) => {
        this.#stats.rejected++;
        const e: RejectedEvent = { kind: 'rejected', series: this.#names[sid] as string, timestamp: t, value: v, quality: q, step, error };
        this.#publishRejected(e);
      },
      alarms: this.alarms,
      alarmIds: this.#alarmIds,
    };
    this.#head = buildStages(ctx, this.#steps);
    this.#unsubscribeAlarms = this.alarms.on((e) => {
      if (e.type === 'ack' && this.#alarmIds.has(e.id)) this.#emit(e);
    });
    return this.#head;
  }

  #publishRejected(e: RejectedEvent): void {
    for (const l of this.#rejects) l(e);
    if (rejectedChannel.hasSubscribers) rejectedChannel.publish({ pipeline: this.name, ...e });
    this.#enqueue(e);
  }

  #emit(e: OutputEvent): void {
    this.#stats.out++;
    const ls = this.#outputs;
    if (ls.length === 1) (ls[0] as Listener<OutputEvent>)(e);
    else for (const l of ls) l(e);
    if (this.#queue !== undefined) this.#enqueue(e);
  }

  #enqueue(e: PipelineEvent): void {
    if (this.#queue === undefined) return;
    this.#queue.push(e);
    const wake = this.#wakeReader;
    if (wake !== undefined) {
      this.#wakeReader = undefined;
      wake();
    }
  }

  #id(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.#names.length;
      this.#names.push(name);
      this.#ids.set(name, id);
    }
    return id;
  }

  /**
   * Runs one value through the pipeline synchronously (the fast path).
   * @example p.pushValue('press1.temperature', 1_700_000_000_000, 21.5)
   */
  pushValue(series: string, timestamp: number, value: unknown, quality: Quality = 'good'): void {
    const head = this.#head ?? this.#start();
    if (this.#ended) throw new BifrostError('BIFROST_CLOSED', `pipeline "${this.name}" has ended; it takes no more events`);
    this.#in++;
    let id = this.#ids.get(series);
    if (id === undefined) {
      if (typeof series !== 'string') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `pipeline "${this.name}": series must be a string, got ${typeof series}`);
      id = this.#id(series);
    }
    if (typeof timestamp !== 'number' || timestamp - timestamp !== 0) {
      const ctxReject = new BifrostError('BIFROST_INVALID_ARGUMENT', `pipeline "${this.name}": ${series}: timestamp ${String(timestamp)} is not a finite number of ms`, { address: series });
      this.#stats.rejected++;
      const e: RejectedEvent = { kind: 'rejected', series, timestamp, value, quality, step: -1, error: ctxReject };
      this.#publishRejected(e);
      return;
    }
    head.value(id, timestamp, value, quality, undefined);
  }

  /**
   * Runs one event (an AnalyticsEvent or a core TagValue, whose address is the series) synchronously.
   * @example p.push({ series: 'press1.temperature', timestamp: Date.now(), value: 21.5 })
   */
  push(event: AnalyticsEvent | TagValue): void {
    const e = event as AnalyticsEvent;
    if (e.series !== undefined) {
      this.pushValue(e.series, e.timestamp, e.value, e.quality ?? 'good');
      return;
    }
    const tv = event as TagValue;
    this.pushValue(tv.address, tv.sourceTimestamp ?? tv.timestamp, tv.value, tv.quality ?? 'good');
  }

  /**
   * Pushes an event and waits while the `outputs()` reader lags `highWaterMark` outputs behind.
   * Without a reader it never waits.
   * @example for (const e of events) await p.write(e);
   */
  async write(event: AnalyticsEvent | TagValue): Promise<void> {
    this.push(event);
    while (this.#queue !== undefined && this.#queue.length - this.#qHead >= this.#highWaterMark) {
      await new Promise<void>((resolve) => this.#wakeWriters.push(resolve));
    }
  }

  /**
   * Moves every window's watermark to `now` (minus its outOfOrder) so windows of series that went
   * quiet still close — call it from a timer with the gateway clock.
   * @example setInterval(() => p.advance(Date.now()), 1000)
   */
  advance(now: number): void {
    (this.#head ?? this.#start()).advance(now);
  }

  /** Ends the input: closes every open window and merge buffer, ends `outputs()`. Idempotent. */
  end(): void {
    if (this.#ended) return;
    (this.#head ?? this.#start()).end();
    this.#ended = true;
    this.#unsubscribeAlarms?.();
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  /** Counters: events in, outputs, late and rejected events. */
  stats(): PipelineStats {
    return { ...this.#stats, in: this.#in };
  }

  /**
   * Every event the pipeline emits from now on — outputs and the `late` and `rejected` side
   * outputs, told apart by `kind` — as an async iterator that ends after `end()`. While it lags,
   * `write()` waits (see the module comment). One reader at a time.
   * @example for await (const e of p.outputs()) if (e.kind === 'aggregate') send(e);
   */
  outputs(): AsyncIterableIterator<PipelineEvent> {
    if (this.#queue !== undefined) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `pipeline "${this.name}": outputs() already has a reader`);
    this.#queue = [];
    this.#qHead = 0;
    const next = async (): Promise<IteratorResult<PipelineEvent>> => {
      for (;;) {
        const q = this.#queue;
        if (q === undefined) return { done: true, value: undefined };
        if (this.#qHead < q.length) {
          const e = q[this.#qHead] as PipelineEvent;
          q[this.#qHead++] = undefined as unknown as PipelineEvent;
          if (this.#qHead > 1024 && this.#qHead * 2 > q.length) {
            q.splice(0, this.#qHead);
            this.#qHead = 0;
          }
          if (q.length - this.#qHead <= this.#highWaterMark >> 1) this.#drain();
          return { done: false, value: e };
        }
        if (this.#ended) {
          this.#queue = undefined;
          this.#drain();
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        });
      }
    };
    const stop = async (): Promise<IteratorResult<PipelineEvent>> => {
      this.#queue = undefined;
      this.#drain();
      return { done: true, value: undefined };
    };
    return {
      next,
      return: stop,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #drain(): void {
    const ws = this.#wakeWriters;
    if (ws.length === 0) return;
    this.#wakeWriters = [];
    for (const w of ws) w();
  }
}

function windowOptionsOf(s: Extract<StepSpec, { type: 'window' }>): WindowOptions {
  const o: WindowOptions = { type: s.window, outOfOrder: s.outOfOrder, allowedLateness: s.allowedLateness, offset: s.offset };
  if (s.window === 'session') o.gap = s.gap;
  else o.size = s.size;
  if (s.window === 'sliding') o.slide = s.slide;
  return o;
}

/**
 * A new pipeline to build with the fluent API.
 * @example pipeline({ name: 'x' }).deadband({ absolute: 0.5 }).window({ type: 'tumbling', size: '1s' }).aggregate(['mean', 'max'])
 */
export function pipeline(options: PipelineOptions = {}): Pipeline {
  return new Pipeline(options);
}

/** Options of {@link compilePipeline}. */
export interface CompileOptions extends Omit<PipelineOptions, 'name'> {
  name: string;
  /** The pipeline's inputs (the gateway's `from`); a `merge` step without `inputs` waits for these. */
  from?: string[];
  /**
   * Builds the error for a bad field; `path` is relative to the step list (`[1, 'window', 'size']`).
   * The gateway passes `(p, e, g) => source.errorAt(['pipelines', i, 'steps', ...p], e, g)` so the
   * error names the file and line.
   */
  errorAt?: (path: (string | number)[], expected: string, got?: unknown) => Error;
}

/**
 * Turns the YAML step list of a gateway pipeline into a Pipeline, failing at load on the first bad
 * step with its index and field named.
 * @example
 * const p = compilePipeline([{ window: { type: 'tumbling', size: '10s' }, aggregate: ['mean', 'max'] }, { anomaly: { method: 'zscore', window: 300, threshold: 3 } }], { name: 'temp-stats' });
 */
export function compilePipeline(steps: unknown[], options: CompileOptions): Pipeline {
  const { errorAt, from, ...rest } = options;
  const p = new Pipeline(rest);
  if (!Array.isArray(steps)) {
    if (errorAt) throw errorAt([], 'a list of steps', steps);
    throw new BifrostError('BIFROST_ANALYTICS_INVALID_PIPELINE', `pipeline "${p.name}": steps: expected a list of steps`);
  }
  steps.forEach((raw, i) => {
    const fail: Fail = errorAt
      ? (path, expected, got) => {
          throw errorAt([i, ...path], expected, got);
        }
      : pipelineFail(p.name, i);
    const step = parseStep(raw, fail, false);
    if (step.type === 'merge' && step.inputs.length === 0 && from !== undefined) step.inputs = [...from];
    p.addStep(step);
  });
  return p;
}
