/**
 * @module
 * Bifrost cloud: a durable, compressed store-and-forward queue and sinks that forward records to
 * MQTT (JSON or Sparkplug B), AWS IoT Core and Azure IoT Hub without losing any.
 */

/** The limiter lives in core (the gateway uses it too); re-exported for existing imports. */
export { RepeatLimiter, type RepeatLimiterOptions, type RepeatSummary } from '@bifrost/core';
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
export { type EmbeddedBroker, type EmbeddedBrokerOptions, startEmbeddedBroker } from './embedded-broker.js';
export { classifyConnectError, MqttSink, type MqttSinkOptions, type SinkEvents, type SinkMetrics, type SinkTlsOptions } from './mqtt-sink.js';
export { AZURE_API_VERSION, type AzureSasOptions, azureHubHost, azureMqttIdentity, azureSasToken } from './profiles.js';
export { deviceMessage, entryValues, expandBatch, isSinkBatch, type QueueEntry, renderTopic, type SinkBatch, type SinkRecord, toSinkRecord } from './record.js';
export { type CreateSinkOptions, createSink, type ErrorAt, type SinkConfig, type SinkLogger, validateSinkConfig } from './sink-config.js';
export {
  decodeSparkplugPayload,
  encodeSparkplugPayload,
  SPARKPLUG_B_PROTO,
  SparkplugDataType,
  SparkplugEdgeNode,
  type SparkplugMessage,
  type SparkplugMetric,
  type SparkplugPayload,
  type SparkplugSample,
  sparkplugTopic,
  sparkplugValue,
} from './sparkplug.js';

/** The sink types `createSink` builds. */
export const SINK_TYPES = ['mqtt', 'aws-iot', 'azure-iot'] as const;
