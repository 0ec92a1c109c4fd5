/**
 * @module
 * Bifrost OPC UA: the `opc.tcp://` driver, the gateway's OPC UA server, the simulator and the
 * PKI tooling, on node-opcua. node-opcua is loaded only when one of them is used.
 */
export * from './address.js';
export { driver, OpcUaDevice, type OpcUaSubscribeOptions, type OperationLimits } from './client.js';
export { describeServer, type ServerDescription } from './describe.js';
export type { FastReadStats } from './fast-read.js';
export { type HostileInputStats, hostileInputStats } from './harden.js';
export * from './options.js';
export * from './pki.js';
export { type AlarmHandle, createOpcUaServer, OpcUaServer, type OpcUaServerEvents, type OpcUaServerOptions, type ServedDevice, type ServedTag, type TagHandle, type TagProvider } from './server.js';
export { DEFAULT_PORT, type OpcUaSimulatorConfig, SimulatedPlant, startSimulator } from './simulator.js';
export * from './status.js';
export * from './variant.js';
