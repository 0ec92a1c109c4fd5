/**
 * @module
 * `@bifrost/modbus`: Modbus TCP, RTU and RTU-over-TCP for Bifrost: a pure codec, clients with
 * pipelining, a read planner, a simulator (server) and the `driver` behind `connect('modbus://…')`.
 */
export { AREA_PREFIX, formatModbusAddress, isRegisterArea, type ModbusAddress, type ModbusArea, parseModbusAddress } from './address.js';
export {
  ModbusClient,
  type ModbusClientEvents,
  type ModbusClientOptions,
  ModbusRtuClient,
  type ModbusRtuClientOptions,
  ModbusRtuOverTcpClient,
  ModbusTcpClient,
  type ModbusTcpClientOptions,
  type RequestOptions,
  registersToBytes,
} from './client.js';
export { EXCEPTION_NAMES, ExceptionCode, exceptionErrorCode, exceptionName, FunctionCode, Limits, MEI_READ_DEVICE_ID } from './constants.js';
export { DEVICE_ID_OBJECTS, type DeviceIdentification, ModbusUnit } from './data-model.js';
export { driver, type ModbusConnectOptions, ModbusDevice } from './device.js';
export {
  type AssemblerOptions,
  crc16,
  decodeRtuFrame,
  decodeTcpFrame,
  encodeRtuFrame,
  encodeTcpFrame,
  type FrameHandler,
  MBAP_HEADER_LENGTH,
  MbapFrameAssembler,
  type RtuFrame,
  RtuFrameAssembler,
  type RtuSide,
  rtuFrameLength,
  rtuSilentIntervalMs,
  type TcpFrame,
} from './framing.js';
export * from './pdu.js';
export { type PlannedItem, type PlannedRange, type PlannerLimits, type PlannerOptions, planReads, resolvePlannerLimits } from './planner.js';
export { ModbusServer, type ModbusServerEvents, type ModbusServerOptions } from './server.js';
export {
  buildUnits,
  DEFAULT_PORT,
  DEFAULT_SIMULATOR_CONFIG,
  loadSimulatorConfig,
  type ModbusSimulatorConfig,
  type ModbusSimulatorOptions,
  type PointConfig,
  type RunningModbusSimulator,
  type SignalConfig,
  startModbusSimulator,
  startSimulator,
  type UnitConfig,
} from './simulator.js';
export { loadSerialPort, openSerial, openTcp, type SerialOptions, type SerialStream } from './transport.js';
