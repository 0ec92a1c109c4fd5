/**
 * @module
 * Bifrost edge analytics: a compressed in-memory time-series store and stream-processing
 * pipelines (windows, aggregates, anomaly detection, alarms) over TagValue-like events.
 * It knows nothing of protocols.
 */

export { Accumulator, type AccumulatorNeeds, isAggregateName, needsOf, percentile } from './aggregates.js';
export { AlarmManager, type AlarmRaise, alarmChannel } from './alarms.js';
export type { AnomalyHit, AnomalySpec, Detector } from './anomaly.js';
export { createDetector } from './anomaly.js';
export type { AggregateEvent, AggregateName, AlarmEvent, AlarmState, AnalyticsEvent, AnomalyEvent, LateEvent, OutputEvent, PipelineEvent, RejectedEvent, ValueEvent } from './events.js';
export { ChunkEncoder, type DecodedChunk, decodeChunk, encodeChunk, MAX_CHUNK_POINTS } from './gorilla.js';
export { type CompileOptions, compilePipeline, lateChannel, Pipeline, type PipelineOptions, type PipelineStats, pipeline, rejectedChannel } from './pipeline.js';
export type { AlarmOptions, AnomalyOptions, DeadbandOptions, FilterFn, FilterSpec, MapFn, MergeOptions, ScaleOptions, StepContext, StepSpec, WindowOptions } from './steps.js';
export { DEFAULT_AGGREGATES, type Fail, parseStep, pipelineFail, STEP_KEYS } from './steps.js';
export {
  type Bucket,
  type BucketAggregate,
  CHUNK_OVERHEAD_BYTES,
  lttb,
  maxChunkBytes,
  type Point,
  type PointColumns,
  SERIES_OVERHEAD_BYTES,
  type SeriesHandle,
  type StoreStats,
  TimeSeriesStore,
  type TimeSeriesStoreOptions,
} from './store.js';
