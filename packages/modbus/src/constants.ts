/**
 * @module
 * Modbus constants: function codes, exception codes and the protocol's size limits, named as the
 * Modbus Application Protocol Specification V1.1b3 names them.
 */
import type { ErrorCode } from '@bifrost/core';

/**
 * Function codes Bifrost speaks (MB App Protocol v1.1b3 §5.1, §6).
 * @example FunctionCode.ReadHoldingRegisters // 3
 */
export const FunctionCode = {
  ReadCoils: 0x01,
  ReadDiscreteInputs: 0x02,
  ReadHoldingRegisters: 0x03,
  ReadInputRegisters: 0x04,
  WriteSingleCoil: 0x05,
  WriteSingleRegister: 0x06,
  WriteMultipleCoils: 0x0f,
  WriteMultipleRegisters: 0x10,
  MaskWriteRegister: 0x16,
  ReadWriteMultipleRegisters: 0x17,
  EncapsulatedInterfaceTransport: 0x2b,
} as const;

/**
 * MEI type of Read Device Identification (§6.21).
 * @example { fc: 43, meiType: MEI_READ_DEVICE_ID, readDeviceIdCode: 1, objectId: 0 }
 */
export const MEI_READ_DEVICE_ID = 0x0e;

/**
 * Exception codes (§7) with the names the specification gives them.
 * @example EXCEPTION_NAMES[2] // 'ILLEGAL_DATA_ADDRESS'
 */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ILLEGAL_FUNCTION',
  2: 'ILLEGAL_DATA_ADDRESS',
  3: 'ILLEGAL_DATA_VALUE',
  4: 'SERVER_DEVICE_FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SERVER_DEVICE_BUSY',
  8: 'MEMORY_PARITY_ERROR',
  10: 'GATEWAY_PATH_UNAVAILABLE',
  11: 'GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND',
};

/**
 * Exception codes as constants.
 * @example unit.handle(req) // may answer { fc: 3, exception: ExceptionCode.IllegalDataAddress }
 */
export const ExceptionCode = {
  IllegalFunction: 0x01,
  IllegalDataAddress: 0x02,
  IllegalDataValue: 0x03,
  ServerDeviceFailure: 0x04,
  Acknowledge: 0x05,
  ServerDeviceBusy: 0x06,
  GatewayPathUnavailable: 0x0a,
  GatewayTargetFailed: 0x0b,
} as const;

/**
 * The Bifrost error code for a Modbus exception code.
 * @example exceptionErrorCode(2) // 'BIFROST_MODBUS_ILLEGAL_ADDRESS'
 */
export function exceptionErrorCode(exception: number): ErrorCode {
  switch (exception) {
    case 0x01:
      return 'BIFROST_MODBUS_ILLEGAL_FUNCTION';
    case 0x02:
      return 'BIFROST_MODBUS_ILLEGAL_ADDRESS';
    case 0x03:
      return 'BIFROST_MODBUS_ILLEGAL_VALUE';
    case 0x04:
      return 'BIFROST_MODBUS_DEVICE_FAILURE';
    case 0x05:
    case 0x06:
      return 'BIFROST_MODBUS_BUSY';
    case 0x0a:
    case 0x0b:
      return 'BIFROST_MODBUS_GATEWAY';
    default:
      return 'BIFROST_MODBUS_EXCEPTION';
  }
}

/**
 * The readable name of an exception code (`EXCEPTION_0x0C` for codes the specification does not name).
 * @example exceptionName(6) // 'SERVER_DEVICE_BUSY'
 */
export function exceptionName(exception: number): string {
  return EXCEPTION_NAMES[exception] ?? `EXCEPTION_0x${exception.toString(16).padStart(2, '0').toUpperCase()}`;
}

/**
 * Protocol limits. A PDU is at most 253 bytes (§4.1: 256-byte RS485 ADU minus address and CRC);
 * the quantities follow from it (§6.1–§6.17).
 * @example if (quantity > Limits.maxReadRegisters) split()
 */
export const Limits = {
  maxPdu: 253,
  /** MBAP header (7) + PDU (§4.1). */
  maxTcpAdu: 260,
  /** Address (1) + PDU + CRC (2) (Serial Line v1.02 §2.5.1). */
  maxRtuAdu: 256,
  maxReadBits: 2000,
  maxReadRegisters: 125,
  maxWriteBits: 1968,
  maxWriteRegisters: 123,
  /** FC 23 write quantity (§6.17). */
  maxReadWriteWriteRegisters: 121,
} as const;
