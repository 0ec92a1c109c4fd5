/**
 * @module
 * The gateway's store and pipelines, built from @bifrost/analytics. Pipelines run on event time;
 * a one-second timer advances their clock so windows of a quiet tag still close. Late and
 * rejected events are reported, never silently dropped.
 */
import { type AlarmState as AnalyticsAlarm, compilePipeline, type OutputEvent, type Pipeline, type SeriesHandle, TimeSeriesStore } from '@bifrost/analytics';
import type { GatewayConfig, PipelineConfig, TagValue } from '@bifrost/core';
import type { AlarmState, ErrorAt, GatewayComponents, PipelineRuntime, StoreRuntime } from './components.js';

function toAlarm(pipeline: string, a: AnalyticsAlarm): AlarmState {
  const out: AlarmState = {
    id: a.id,
    pipeline,
    source: a.series,
    state: a.active ? 'active' : 'cleared',
    acknowledged: a.acknowledged,
    severity: String(a.severity),
    message: a.message,
    value: a.value,
    raisedAt: a.raisedAt,
  };
  if (a.acknowledgedBy !== undefined) out.acknowledgedBy = a.acknowledgedBy;
  if (a.clearedAt !== undefined) out.clearedAt = a.clearedAt;
  return out;
}

class PipelineAdapter implements PipelineRuntime {
  readonly name: string;
  readonly inputs: ReadonlySet<string>;
  readonly #p: Pipeline;
  readonly #timer: NodeJS.Timeout;

  constructor(config: PipelineConfig, p: Pipeline, emit: (event: unknown) => void) {
    this.name = config.name;
    this.inputs = new Set(config.from);
    this.#p = p;
    // Anomaly and alarm steps pass their input through unchanged: forwarding those values would
    // send every sample twice. Their findings (anomaly, alarm events) and windows' aggregates are
    // the pipeline's output; plain values are, when the last step transforms them.
    const last = p.steps.at(-1)?.type;
    const passThrough = last === 'anomaly' || last === 'alarm';
    p.on('output', (e: OutputEvent) => {
      if (!(passThrough && e.kind === 'value')) emit(e);
    });
    p.on('late', (e) => emit({ kind: 'late', series: e.series, timestamp: e.timestamp, value: e.value, error: e.error.code }));
    p.on('rejected', (e) => emit({ kind: 'rejected', series: e.series, timestamp: e.timestamp, value: e.value, error: e.error.code }));
    this.#timer = setInterval(() => p.advance(Date.now()), 1000);
    this.#timer.unref();
  }

  push(key: string, value: TagValue): void {
    this.#p.pushValue(key, value.sourceTimestamp ?? value.timestamp, value.value, value.quality);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#p.end();
  }

  alarms(): AlarmState[] {
    return this.#p.alarms
      .all()
      .filter((a) => a.active || !a.acknowledged)
      .map((a) => toAlarm(this.name, a));
  }

  acknowledge(id: string, user: string): boolean {
    if (!this.#p.alarms.get(id)) return false;
    this.#p.alarms.acknowledge(id, user);
    return true;
  }
}

/** Store and pipeline factories from @bifrost/analytics. */
export function analyticsComponents(): Pick<GatewayComponents, 'createStore' | 'createPipeline'> & { validate(config: GatewayConfig, errorAt: ErrorAt): void } {
  return {
    validate(config, errorAt) {
      config.pipelines.forEach((p, i) => {
        compilePipeline(p.steps, { name: p.name, from: p.from, errorAt: (path, expected, got) => errorAt(['pipelines', i, 'steps', ...path], expected, got) });
      });
    },
    createStore(config): StoreRuntime {
      const options: ConstructorParameters<typeof TimeSeriesStore>[0] = { memoryBytes: config.store.memory };
      if (config.store.retention !== undefined) options.retentionMs = config.store.retention;
      if (config.store.chunkPoints !== undefined) options.chunkPoints = config.store.chunkPoints;
      const store = new TimeSeriesStore(options);
      return {
        append: (s, t, v) => void store.append(s, t, v),
        handle: (s) => store.handle(s),
        appendTo: (h, t, v) => void store.appendTo(h as SeriesHandle, t, v),
        stats: () => {
          const st = store.stats();
          return { bytes: st.bytes, memoryBytes: st.memoryBytes, points: st.points, series: st.series, evictedPoints: st.evictedPoints, expiredPoints: st.expiredPoints };
        },
        series: () => store.series(),
        query(series, { from, to, maxPoints }) {
          const cols = maxPoints !== undefined ? store.lttb(series, from, to, maxPoints) : store.range(series, from, to);
          return { t: Array.from(cols.timestamps), v: Array.from(cols.values) };
        },
      };
    },
    createPipeline(config, _index, hooks): PipelineRuntime {
      const p = compilePipeline(
        config.steps,
        hooks.errorAt
          ? { name: config.name, from: config.from, errorAt: (path, expected, got) => (hooks.errorAt as ErrorAt)(['steps', ...path], expected, got) }
          : { name: config.name, from: config.from },
      );
      return new PipelineAdapter(config, p, hooks.emit);
    },
  };
}
