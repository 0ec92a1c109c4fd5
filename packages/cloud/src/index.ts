/**
 * @module
 * Bifrost cloud: a durable, compressed store-and-forward queue and sinks that forward records to
 * MQTT (JSON or Sparkplug B), AWS IoT Core and Azure IoT Hub without losing any.
 */
export {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  type BlockCodec,
  type BlockHeader,
  type BlockScan,
  decodeRecords,
  encodeBlockHeader,
  encodeRecords,
  parseBlockAt,
  RECORD_HEADER_BYTES,
} from './block-codec.js';
export { crc32c } from './crc32c.js';
export { type AppendResult, DurableQueue, type DurableQueueOptions, type FsyncPolicy, type OverflowPolicy, type QueueBatch, type QueuedRecord, type QueueMetrics } from './durable-queue.js';
