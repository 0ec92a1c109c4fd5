/**
 * @module
 * The seams between the gateway and the analytics and cloud packages: the store, pipelines and
 * sinks the runtime drives. `defaultComponents()` builds them from @bifrost/analytics and
 * @bifrost/cloud; tests of the runtime alone can pass their own.
 */
import type { GatewayConfig, PipelineConfig, SinkConfig, TagValue } from '@bifrost/core';

/** Builds a config error at a path (with file and line when the config came from a file). */
export type ErrorAt = (path: (string | number)[], expected: string, got?: unknown) => Error;

/** What a sink receives: one JSON-safe record per value (values as core's `jsonValue` makes them). */
export interface SinkRecord {
  device: string;
  tag: string;
  value: unknown;
  quality: 'good' | 'uncertain' | 'bad';
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  sourceTimestamp?: number;
  unit?: string;
  error?: Record<string, unknown>;
}

/**
 * One device poll's forwarded values, column by column: one queue record, and one message where
 * the sink's format allows (instead of a {@link SinkRecord} per value).
 */
export interface SinkBatch {
  device: string;
  /** The poll's timestamp (ms since the Unix epoch); each value has it unless sourceTimestamps says otherwise. */
  timestamp: number;
  tags: string[];
  /** JSON-safe values (core's jsonValue), one per tag. */
  values: unknown[];
  qualities: Array<'good' | 'uncertain' | 'bad'>;
  /** Per value where the protocol gives one (null where not); absent when no value has one. */
  sourceTimestamps?: Array<number | null>;
  /** Per value (null where the tag has none); absent when no tag has a unit. */
  units?: Array<string | null>;
  /** Per value, the error of a bad value as BifrostError.toJSON() (null where good); absent when none. */
  errors?: Array<Record<string, unknown> | null>;
}

/** The time-series store as the gateway uses it. Series are named `device.tag` (and `pipeline.field`). */
export interface StoreRuntime {
  append(series: string, timestamp: number, value: number): void;
  /** Resolves a series once, for {@link appendTo} every poll without a lookup by name. */
  handle?(series: string): unknown;
  /** Appends through a handle from {@link handle}. */
  appendTo?(handle: unknown, timestamp: number, value: number): void;
  /** Bytes accounted against the budget (`memoryBytes`), points and series held, points evicted (budget) and expired (retention). */
  stats(): { bytes: number; memoryBytes: number; points: number; series: number; evictedPoints: number; expiredPoints: number };
  /** Names of the series held. */
  series(): string[];
  /**
   * Points of a series in [from, to] (ms since epoch); when there are more than `maxPoints`,
   * downsampled with LTTB (keeps first, last and spikes) for charts.
   */
  query(series: string, options: { from: number; to: number; maxPoints?: number }): { t: number[]; v: number[] };
}

/** An alarm as pipelines report it. */
export interface AlarmState {
  id: string;
  pipeline: string;
  /** The `device.tag` (or pipeline output) the alarm watches. */
  source: string;
  state: 'active' | 'cleared';
  acknowledged: boolean;
  acknowledgedBy?: string;
  severity?: string;
  message: string;
  value?: number;
  raisedAt: number;
  clearedAt?: number;
}

/** A running pipeline. */
export interface PipelineRuntime {
  readonly name: string;
  /** `device.tag` keys it consumes. */
  readonly inputs: ReadonlySet<string>;
  push(key: string, value: TagValue): void;
  /** Flushes open windows and stops. */
  stop(): Promise<void>;
  /** Alarms (active, and cleared but not yet acknowledged), when the pipeline has an alarm step. */
  alarms?(): AlarmState[];
  /** Acknowledges an alarm; false when the id is unknown. */
  acknowledge?(id: string, user: string): boolean;
}

/** A running sink. */
export interface SinkRuntime {
  readonly name: string;
  start(): Promise<void>;
  publish(record: SinkRecord): void | Promise<void>;
  /** One device poll's values at once; without it the gateway publishes a record per value. */
  publishBatch?(batch: SinkBatch): void | Promise<void>;
  stop(): Promise<void>;
  metrics(): Record<string, number>;
  /** `error`: connection and delivery failures; `warning`: queue losses and refusals, already rate-limited by the sink. */
  on?(event: 'error' | 'warning', listener: (error: unknown) => void): unknown;
}

/** Factories for the gateway's store, pipelines and sinks. */
export interface GatewayComponents {
  /** Checks pipelines and sinks of a config, throwing `errorAt(...)` errors. */
  validate(config: GatewayConfig, errorAt: ErrorAt): void;
  createStore(config: GatewayConfig): StoreRuntime;
  createPipeline(config: PipelineConfig, index: number, hooks: { emit: (event: unknown) => void; errorAt: ErrorAt | undefined }): PipelineRuntime;
  createSink(config: SinkConfig, context: { name: string; baseDir: string; gateway: GatewayConfig['gateway'] }): Promise<SinkRuntime>;
}

/** The components built from @bifrost/analytics and @bifrost/cloud. */
export async function defaultComponents(): Promise<GatewayComponents> {
  const { analyticsComponents } = await import('./analytics-adapter.js');
  const { cloudComponents } = await import('./cloud-adapter.js');
  const a = analyticsComponents();
  const c = cloudComponents();
  return {
    validate(config, errorAt) {
      a.validate(config, errorAt);
      c.validate(config, errorAt);
    },
    createStore: a.createStore,
    createPipeline: a.createPipeline,
    createSink: c.createSink,
  };
}
