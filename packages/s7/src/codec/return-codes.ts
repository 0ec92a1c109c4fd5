/**
 * @module
 * S7comm return codes and their Bifrost errors: the data item return code of a read/write
 * answer, and the 16-bit error class + code of the header of an Ack_Data (as Wireshark's
 * s7comm dissector and snap7's s7_types.h name them).
 */
import { BifrostError, type BifrostErrorOptions, type ErrorCode } from '@bifrost/core';

/**
 * Data item return codes (S7comm read/write var answers).
 * @example if (item.returnCode !== ITEM_RETURN_CODE.SUCCESS) throw itemError(item.returnCode)
 */
export const ITEM_RETURN_CODE = {
  RESERVED: 0x00,
  HARDWARE_FAULT: 0x01,
  ACCESS_DENIED: 0x03,
  ADDRESS_OUT_OF_RANGE: 0x05,
  DATA_TYPE_NOT_SUPPORTED: 0x06,
  DATA_TYPE_INCONSISTENT: 0x07,
  OBJECT_DOES_NOT_EXIST: 0x0a,
  SUCCESS: 0xff,
} as const;

const ITEM_NAMES = new Map<number, string>(Object.entries(ITEM_RETURN_CODE).map(([k, v]) => [v, k]));

/**
 * The name of a data item return code.
 * @example itemReturnCodeName(0x0a) // 'OBJECT_DOES_NOT_EXIST'
 */
export function itemReturnCodeName(rc: number): string {
  return ITEM_NAMES.get(rc) ?? `UNKNOWN_0x${rc.toString(16).padStart(2, '0')}`;
}

const ITEM_CODE: Record<number, ErrorCode> = {
  3: 'BIFROST_S7_ACCESS_DENIED',
  5: 'BIFROST_S7_ADDRESS_OUT_OF_RANGE',
  6: 'BIFROST_S7_DATA_TYPE',
  7: 'BIFROST_S7_DATA_TYPE',
  10: 'BIFROST_S7_OBJECT_NOT_FOUND',
};

const ITEM_WHY: Record<number, string> = {
  1: 'hardware fault',
  3: 'access to the object is not allowed',
  5: 'the address is out of range',
  6: 'the data type (transport size) is not supported',
  7: 'the data type is inconsistent with the written size',
  10: 'the object does not exist',
};

/**
 * The Bifrost error for a failed data item.
 * @example itemError(0x0a, { address: 'DB9.DBW0', device: 's7://plc' }).code // 'BIFROST_S7_OBJECT_NOT_FOUND'
 */
export function itemError(rc: number, options: BifrostErrorOptions = {}): BifrostError {
  const code = ITEM_CODE[rc] ?? 'BIFROST_S7_ITEM_ERROR';
  const name = itemReturnCodeName(rc);
  const where = [options.address, options.device && `on ${options.device}`].filter(Boolean).join(' ');
  const why = ITEM_WHY[rc] ?? 'the PLC returned an error';
  return new BifrostError(code, `S7 ${where || 'item'}: ${why} (return code 0x${rc.toString(16).padStart(2, '0')} ${name})`, { ...options, status: rc, statusName: name });
}

/**
 * Error classes of the Ack_Data header (Wireshark s7comm: "Error class").
 * @example ERROR_CLASS_NAMES[0x81] // 'APPLICATION_RELATIONSHIP'
 */
export const ERROR_CLASS_NAMES: Readonly<Record<number, string>> = {
  0: 'NO_ERROR',
  129: 'APPLICATION_RELATIONSHIP',
  130: 'OBJECT_DEFINITION',
  131: 'NO_RESOURCES_AVAILABLE',
  132: 'SERVICE_PROCESSING',
  133: 'SUPPLIES',
  135: 'ACCESS',
};

/**
 * Well-known 16-bit class+code values (Wireshark s7comm "param_errcode" table, snap7 s7_types.h).
 * @example HEADER_ERROR_NAMES[0x8500] // 'PDU_SIZE_ERROR'
 */
export const HEADER_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'NO_ERROR',
  272: 'INVALID_BLOCK_NUMBER',
  273: 'INVALID_REQUEST_LENGTH',
  274: 'INVALID_PARAMETER',
  32769: 'SERVICE_NOT_ALLOWED_IN_STATE',
  33028: 'FUNCTION_NOT_AVAILABLE',
  34048: 'PDU_SIZE_ERROR',
  34562: 'ADDRESS_INVALID',
  53769: 'ITEM_NOT_AVAILABLE',
  53825: 'NEED_PASSWORD',
  54273: 'INVALID_SZL_ID',
  54274: 'INVALID_SZL_INDEX',
  56321: 'INVALID_VALUE',
};

/**
 * The name of a 16-bit header error (class << 8 | code).
 * @example headerErrorName(0x8104) // 'FUNCTION_NOT_AVAILABLE'
 */
export function headerErrorName(status: number): string {
  return HEADER_ERROR_NAMES[status] ?? `${ERROR_CLASS_NAMES[status >> 8] ?? 'UNKNOWN_CLASS'}_0x${(status & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The Bifrost error for an S7 job the PLC refused in the header (error class and code).
 * @example headerError(0x81, 0x04, { device: 's7://plc' }).code // 'BIFROST_S7_FUNCTION_NOT_AVAILABLE'
 */
export function headerError(errorClass: number, errorCode: number, options: BifrostErrorOptions = {}): BifrostError {
  const status = ((errorClass & 0xff) << 8) | (errorCode & 0xff);
  const name = headerErrorName(status);
  const hex = `0x${status.toString(16).padStart(4, '0')}`;
  const where = options.device ? ` by ${options.device}` : '';
  if (status === 0x8104)
    return new BifrostError('BIFROST_S7_FUNCTION_NOT_AVAILABLE', `S7 job refused${where}: function not available (${hex}); PUT/GET access may be disabled`, { ...options, status, statusName: name });
  if (status === 0x8500) return new BifrostError('BIFROST_S7_PDU_TOO_LARGE', `S7 job refused${where}: the telegram exceeds the PDU size (${hex})`, { ...options, status, statusName: name });
  if (status >> 8 === 0xd4) return new BifrostError('BIFROST_S7_SZL_ERROR', `S7 SZL read refused${where}: ${name} (${hex})`, { ...options, status, statusName: name });
  return new BifrostError('BIFROST_S7_JOB_ERROR', `S7 job refused${where}: ${name} (${hex})`, { ...options, status, statusName: name });
}
