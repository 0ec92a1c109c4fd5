/**
 * @module
 * The Bifrost gateway: config → devices → scans → pipelines → sinks, one audited write path,
 * health and Prometheus metrics, reload without data loss, and the demo.
 */
export type { AlarmState, ErrorAt, GatewayComponents, PipelineRuntime, SinkBatch, SinkRecord, SinkRuntime, StoreRuntime } from './components.js';
export { defaultComponents } from './components.js';
export { type DemoOptions, demoConfigYaml, type RunningDemo, startDemo } from './demo.js';
export {
  batchRecords,
  type DeviceStats,
  Gateway,
  type GatewayEvents,
  type GatewayOptions,
  type GatewayTag,
  type GatewayValue,
  type ValueBatch,
  type WriteRequest,
  type WriteResult,
} from './gateway.js';
export { isLoopback, isServedHost, type ServeHealthOptions, serveHealth } from './http.js';
export { createLogger, type Logger } from './logger.js';
export { type MetricFamily, renderPrometheus } from './metrics.js';
export { type GatewayOpcUaServer, type GatewayOpcUaServerOptions, servedType, startGatewayOpcUaServer } from './opcua-server.js';
export { type RunningGateway, type RunOptions, runGateway } from './run.js';
