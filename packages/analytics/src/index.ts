/**
 * @module
 * Bifrost edge analytics: a compressed in-memory time-series store and stream-processing
 * pipelines (windows, aggregates, anomaly detection, alarms) over TagValue-like events.
 * It knows nothing of protocols.
 */
export { type DecodedChunk, decodeChunk, encodeChunk, MAX_CHUNK_POINTS } from './gorilla.js';
export {
  type Bucket,
  type BucketAggregate,
  CHUNK_OVERHEAD_BYTES,
  lttb,
  type Point,
  type PointColumns,
  SERIES_OVERHEAD_BYTES,
  type StoreStats,
  TimeSeriesStore,
  type TimeSeriesStoreOptions,
} from './store.js';
