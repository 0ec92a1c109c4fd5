/**
 * @module
 * @bifrost/ethernetip: EtherNet/IP and CIP for Allen-Bradley Logix controllers — the pure codec,
 * a client with connected and unconnected messaging, tag browsing, ListIdentity discovery, the
 * `eip://` driver and a Logix simulator.
 */
export { EipClient, type EipClientEvents, type EipClientOptions, type EipIdentity, LogixClient, type ReadResult } from './client.js';
export * from './codec/index.js';
export { type EipDeviceInfo, type ListIdentityOptions, listIdentity, parseListIdentityReply } from './discovery.js';
export { driver, EipDevice } from './driver.js';
export { EncapFramer } from './framing.js';
export { DEFAULT_CONFIG, type EipSimConfig, loadSimConfig, type SignalSpec, type TagSpec } from './simulator/config.js';
export { DEFAULT_PORT, type EipSimulator, type EipSimulatorOptions, startEipSimulator, startSimulator } from './simulator/server.js';
export { LogixTagDb, type SimRef, type SimTag, type SimType } from './simulator/tag-db.js';
export { EipTransport, type TransportOptions, type TransportStats } from './transport.js';
