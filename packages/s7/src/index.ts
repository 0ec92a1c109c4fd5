/**
 * @module
 * Siemens S7 for Bifrost: the S7comm codec (TPKT/COTP/S7 PDUs, SZL), an `S7Client` with a
 * multi-variable read planner, a pure-TypeScript simulator (`startSimulator`) and the `s7://`
 * driver used by `connect()`.
 */
export { formatS7Address, MAX_BYTE_OFFSET, parseS7Address, S7_TYPES, type S7Address, type S7Area, type S7Type } from './address.js';
export { S7Client, type S7ClientOptions, type S7Job, type S7ReadResult } from './client.js';
export * from './codec/iso-on-tcp.js';
export * from './codec/return-codes.js';
export * from './codec/s7comm.js';
export { clientOptionsFromUrl, driver } from './driver.js';
export { TpktAssembler } from './framing.js';
export { maxItemData, type PlanBlock, type PlanOptions, type PlanPiece, planReads, type ReadPlan } from './planner.js';
export { CPU_STATUS_CODE, DEFAULT_IDENTITY, type S7CpuStatus, type S7Identity, type S7Memory, S7Server, type S7ServerOptions } from './server.js';
export { DEFAULT_PLANT, DEFAULT_PORT, peek, type S7SimConfig, type S7Simulator, type SimTag, startSimulator } from './simulator.js';
export { decodeDateAndTime, decodeS7Value, encodeDateAndTime, encodeS7Value } from './values.js';
