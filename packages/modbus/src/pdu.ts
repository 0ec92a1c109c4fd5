/**
 * @module
 * The Modbus PDU codec: pure functions between typed request/response frames and bytes, for
 * function codes 1, 2, 3, 4, 5, 6, 15, 16, 22, 23 and 43/14, and exception responses
 * (Modbus Application Protocol Specification V1.1b3 §6, §7). No sockets, no timers: a client,
 * the simulator and the fuzz tests share it.
 *
 * Register data travels as raw big-endian bytes (`data`, two per register) so that the read path
 * decodes typed values straight from the received frame with `@bifrost/core`'s datatypes.
 */
import { BifrostError } from '@bifrost/core';
import { FunctionCode, Limits, MEI_READ_DEVICE_ID } from './constants.js';

/** FC 1–4: read coils, discrete inputs, holding or input registers (§6.1–§6.4). */
export interface ReadRequest {
  fc: 1 | 2 | 3 | 4;
  address: number;
  quantity: number;
}
/** FC 5: write single coil (§6.5). */
export interface WriteSingleCoilRequest {
  fc: 5;
  address: number;
  value: boolean;
}
/** FC 6: write single register (§6.6). */
export interface WriteSingleRegisterRequest {
  fc: 6;
  address: number;
  value: number;
}
/** FC 15: write multiple coils (§6.11). */
export interface WriteMultipleCoilsRequest {
  fc: 15;
  address: number;
  values: boolean[];
}
/** FC 16: write multiple registers (§6.12); `data` holds two bytes per register. */
export interface WriteMultipleRegistersRequest {
  fc: 16;
  address: number;
  data: Uint8Array;
}
/** FC 22: mask write register (§6.16): result = (current AND andMask) OR (orMask AND NOT andMask). */
export interface MaskWriteRegisterRequest {
  fc: 22;
  address: number;
  andMask: number;
  orMask: number;
}
/** FC 23: read/write multiple registers (§6.17); the write happens before the read. */
export interface ReadWriteMultipleRegistersRequest {
  fc: 23;
  readAddress: number;
  readQuantity: number;
  writeAddress: number;
  data: Uint8Array;
}
/** FC 43 / MEI 14: read device identification (§6.21). */
export interface ReadDeviceIdentificationRequest {
  fc: 43;
  meiType: 14;
  /** 1 basic, 2 regular, 3 extended, 4 one specific object. */
  readDeviceIdCode: number;
  objectId: number;
}

/** Any request Bifrost encodes or decodes. */
export type ModbusRequest =
  | ReadRequest
  | WriteSingleCoilRequest
  | WriteSingleRegisterRequest
  | WriteMultipleCoilsRequest
  | WriteMultipleRegistersRequest
  | MaskWriteRegisterRequest
  | ReadWriteMultipleRegistersRequest
  | ReadDeviceIdentificationRequest;

/** FC 1/2 response: the bits packed LSB first, as many bytes as the byte count says. */
export interface ReadBitsResponse {
  fc: 1 | 2;
  data: Uint8Array;
}
/** FC 3/4/23 response: two bytes per register. */
export interface ReadRegistersResponse {
  fc: 3 | 4 | 23;
  data: Uint8Array;
}
/** FC 5 response: an echo of the request. */
export interface WriteSingleCoilResponse {
  fc: 5;
  address: number;
  value: boolean;
}
/** FC 6 response: an echo of the request. */
export interface WriteSingleRegisterResponse {
  fc: 6;
  address: number;
  value: number;
}
/** FC 15/16 response: the start address and quantity written. */
export interface WriteMultipleResponse {
  fc: 15 | 16;
  address: number;
  quantity: number;
}
/** FC 22 response: an echo of the request. */
export interface MaskWriteRegisterResponse {
  fc: 22;
  address: number;
  andMask: number;
  orMask: number;
}
/** One device identification object (§6.21 Table "Object Id"). */
export interface DeviceIdObject {
  id: number;
  value: string;
}
/** FC 43/14 response. */
export interface ReadDeviceIdentificationResponse {
  fc: 43;
  meiType: 14;
  readDeviceIdCode: number;
  conformityLevel: number;
  moreFollows: boolean;
  nextObjectId: number;
  objects: DeviceIdObject[];
}
/** An exception response (§7): the request's function code and the exception code. */
export interface ExceptionResponse {
  fc: number;
  exception: number;
}

/** Any normal (non-exception) response. */
export type ModbusNormalResponse =
  | ReadBitsResponse
  | ReadRegistersResponse
  | WriteSingleCoilResponse
  | WriteSingleRegisterResponse
  | WriteMultipleResponse
  | MaskWriteRegisterResponse
  | ReadDeviceIdentificationResponse;

/** Any response, exception responses included. */
export type ModbusResponse = ModbusNormalResponse | ExceptionResponse;

/**
 * True when the response is an exception response.
 * @example if (isException(res)) console.log(res.exception)
 */
export function isException(res: ModbusResponse): res is ExceptionResponse {
  return (res as ExceptionResponse).exception !== undefined;
}

function malformed(what: string): BifrostError {
  return new BifrostError('BIFROST_MALFORMED_FRAME', `malformed Modbus PDU: ${what}`);
}

function invalid(what: string): BifrostError {
  return new BifrostError('BIFROST_INVALID_ARGUMENT', `cannot encode Modbus request: ${what}`);
}

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalid(`${name} ${v} is not in 0..65535`);
}

function checkQuantity(name: string, q: number, max: number): void {
  if (!Number.isInteger(q) || q < 1 || q > max) throw invalid(`${name} ${q} is not in 1..${max}`);
}

/** The address range must stay inside the 16-bit address space (§4.4). */
function checkSpan(address: number, quantity: number): void {
  if (address + quantity > 0x10000) throw invalid(`range ${address}+${quantity} runs past address 65535`);
}

/**
 * The byte length of a request PDU.
 * @example requestLength({ fc: 3, address: 0, quantity: 10 }) // 5
 */
export function requestLength(req: ModbusRequest): number {
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 22:
      return req.fc === 22 ? 7 : 5;
    case 15:
      return 6 + ((req.values.length + 7) >> 3);
    case 16:
      return 6 + req.data.length;
    case 23:
      return 10 + req.data.length;
    case 43:
      return 4;
  }
}

/**
 * Checks a request against the specification's quantity and range limits, throwing
 * BIFROST_INVALID_ARGUMENT before anything is sent.
 * @example validateRequest({ fc: 3, address: 0, quantity: 126 }) // throws: quantity 126 is not in 1..125
 */
export function validateRequest(req: ModbusRequest): void {
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      checkU16('address', req.address);
      checkQuantity('quantity', req.quantity, req.fc <= 2 ? Limits.maxReadBits : Limits.maxReadRegisters);
      checkSpan(req.address, req.quantity);
      return;
    case 5:
      checkU16('address', req.address);
      return;
    case 6:
      checkU16('address', req.address);
      checkU16('value', req.value);
      return;
    case 15:
      checkU16('address', req.address);
      checkQuantity('coil count', req.values.length, Limits.maxWriteBits);
      checkSpan(req.address, req.values.length);
      return;
    case 16:
      checkU16('address', req.address);
      if (req.data.length & 1) throw invalid('register data must have an even number of bytes');
      checkQuantity('register count', req.data.length >> 1, Limits.maxWriteRegisters);
      checkSpan(req.address, req.data.length >> 1);
      return;
    case 22:
      checkU16('address', req.address);
      checkU16('andMask', req.andMask);
      checkU16('orMask', req.orMask);
      return;
    case 23:
      checkU16('readAddress', req.readAddress);
      checkU16('writeAddress', req.writeAddress);
      checkQuantity('read quantity', req.readQuantity, Limits.maxReadRegisters);
      if (req.data.length & 1) throw invalid('register data must have an even number of bytes');
      checkQuantity('write quantity', req.data.length >> 1, Limits.maxReadWriteWriteRegisters);
      checkSpan(req.readAddress, req.readQuantity);
      checkSpan(req.writeAddress, req.data.length >> 1);
      return;
    case 43:
      if (req.meiType !== MEI_READ_DEVICE_ID) throw invalid(`MEI type ${req.meiType} is not supported`);
      if (!Number.isInteger(req.readDeviceIdCode) || req.readDeviceIdCode < 1 || req.readDeviceIdCode > 4) throw invalid(`ReadDevId code ${req.readDeviceIdCode} is not in 1..4`);
      if (!Number.isInteger(req.objectId) || req.objectId < 0 || req.objectId > 0xff) throw invalid(`object id ${req.objectId} is not in 0..255`);
      return;
    default:
      throw invalid(`function code ${(req as { fc: number }).fc} is not supported`);
  }
}

/**
 * Writes a request PDU into `buf` at `offset` and returns its length. Call {@link validateRequest}
 * first; this function trusts its input (it is on the hot path).
 * @example const n = writeRequest({ fc: 3, address: 107, quantity: 3 }, buf, 7)
 */
export function writeRequest(req: ModbusRequest, buf: Buffer, offset: number): number {
  buf[offset] = req.fc;
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      buf.writeUInt16BE(req.address, offset + 1);
      buf.writeUInt16BE(req.quantity, offset + 3);
      return 5;
    case 5:
      buf.writeUInt16BE(req.address, offset + 1);
      // §6.5: 0xFF00 requests ON, 0x0000 requests OFF.
      buf.writeUInt16BE(req.value ? 0xff00 : 0x0000, offset + 3);
      return 5;
    case 6:
      buf.writeUInt16BE(req.address, offset + 1);
      buf.writeUInt16BE(req.value, offset + 3);
      return 5;
    case 15: {
      const n = req.values.length;
      const bytes = (n + 7) >> 3;
      buf.writeUInt16BE(req.address, offset + 1);
      buf.writeUInt16BE(n, offset + 3);
      buf[offset + 5] = bytes;
      packBitsInto(req.values, buf, offset + 6);
      return 6 + bytes;
    }
    case 16:
      buf.writeUInt16BE(req.address, offset + 1);
      buf.writeUInt16BE(req.data.length >> 1, offset + 3);
      buf[offset + 5] = req.data.length;
      buf.set(req.data, offset + 6);
      return 6 + req.data.length;
    case 22:
      buf.writeUInt16BE(req.address, offset + 1);
      buf.writeUInt16BE(req.andMask, offset + 3);
      buf.writeUInt16BE(req.orMask, offset + 5);
      return 7;
    case 23:
      buf.writeUInt16BE(req.readAddress, offset + 1);
      buf.writeUInt16BE(req.readQuantity, offset + 3);
      buf.writeUInt16BE(req.writeAddress, offset + 5);
      buf.writeUInt16BE(req.data.length >> 1, offset + 7);
      buf[offset + 9] = req.data.length;
      buf.set(req.data, offset + 10);
      return 10 + req.data.length;
    case 43:
      buf[offset + 1] = req.meiType;
      buf[offset + 2] = req.readDeviceIdCode;
      buf[offset + 3] = req.objectId;
      return 4;
  }
}

/**
 * Encodes a request PDU, validating it first.
 * @example encodeRequest({ fc: 3, address: 107, quantity: 3 }) // 03 00 6b 00 03
 */
export function encodeRequest(req: ModbusRequest): Buffer {
  validateRequest(req);
  const buf = Buffer.allocUnsafe(requestLength(req));
  writeRequest(req, buf, 0);
  return buf;
}

/**
 * Packs booleans LSB first into bytes (§6.1: "the LSB of the first data byte contains the output addressed in the query").
 * @example packBitsInto([true, true], buf, 6) // buf[6] = 0x03
 */
export function packBitsInto(values: readonly boolean[], buf: Uint8Array, offset: number): void {
  const bytes = (values.length + 7) >> 3;
  buf.fill(0, offset, offset + bytes);
  for (let i = 0; i < values.length; i++) if (values[i]) buf[offset + (i >> 3)] = (buf[offset + (i >> 3)] as number) | (1 << (i & 7));
}

/**
 * Packs booleans LSB first into a new byte array.
 * @example packBits([true, false, true]) // Uint8Array [0x05]
 */
export function packBits(values: readonly boolean[]): Uint8Array {
  const out = new Uint8Array((values.length + 7) >> 3);
  packBitsInto(values, out, 0);
  return out;
}

/**
 * Unpacks `count` bits, LSB first, from packed bytes.
 * @example unpackBits(Uint8Array.of(0xcd), 4) // [true, false, true, true]
 */
export function unpackBits(data: Uint8Array, count: number, offset = 0): boolean[] {
  const out = new Array<boolean>(count);
  for (let i = 0; i < count; i++) out[i] = (((data[offset + (i >> 3)] as number) >> (i & 7)) & 1) === 1;
  return out;
}

function need(pdu: Uint8Array, n: number, what: string): void {
  if (pdu.length < n) throw malformed(`${what} needs ${n} bytes, got ${pdu.length}`);
}

function exact(pdu: Uint8Array, n: number, what: string): void {
  if (pdu.length !== n) throw malformed(`${what} must be ${n} bytes, got ${pdu.length}`);
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

/**
 * Decodes a request PDU (the server side). Throws BIFROST_MALFORMED_FRAME with `status` 1 for an
 * unknown function code and 3 for a malformed body: the exception code the server should answer.
 * @example decodeRequest(Buffer.from('03006b0003', 'hex')) // { fc: 3, address: 107, quantity: 3 }
 */
export function decodeRequest(pdu: Uint8Array): ModbusRequest {
  if (pdu.length < 1) throw malformed('empty PDU');
  const fc = pdu[0] as number;
  try {
    switch (fc) {
      case 1:
      case 2:
      case 3:
      case 4:
        exact(pdu, 5, `FC ${fc} request`);
        return { fc, address: u16(pdu, 1), quantity: u16(pdu, 3) };
      case 5: {
        exact(pdu, 5, 'FC 5 request');
        const v = u16(pdu, 3);
        if (v !== 0xff00 && v !== 0) throw malformed(`FC 5 output value 0x${v.toString(16)} is neither 0xFF00 nor 0x0000`);
        return { fc, address: u16(pdu, 1), value: v === 0xff00 };
      }
      case 6:
        exact(pdu, 5, 'FC 6 request');
        return { fc, address: u16(pdu, 1), value: u16(pdu, 3) };
      case 15: {
        need(pdu, 6, 'FC 15 request');
        const quantity = u16(pdu, 3);
        const count = pdu[5] as number;
        if (quantity < 1 || count !== (quantity + 7) >> 3) throw malformed(`FC 15 byte count ${count} does not match quantity ${quantity}`);
        exact(pdu, 6 + count, 'FC 15 request');
        return { fc, address: u16(pdu, 1), values: unpackBits(pdu, quantity, 6) };
      }
      case 16: {
        need(pdu, 6, 'FC 16 request');
        const quantity = u16(pdu, 3);
        const count = pdu[5] as number;
        if (quantity < 1 || count !== quantity * 2) throw malformed(`FC 16 byte count ${count} does not match quantity ${quantity}`);
        exact(pdu, 6 + count, 'FC 16 request');
        return { fc, address: u16(pdu, 1), data: pdu.slice(6, 6 + count) };
      }
      case 22:
        exact(pdu, 7, 'FC 22 request');
        return { fc, address: u16(pdu, 1), andMask: u16(pdu, 3), orMask: u16(pdu, 5) };
      case 23: {
        need(pdu, 10, 'FC 23 request');
        const writeQuantity = u16(pdu, 7);
        const count = pdu[9] as number;
        if (writeQuantity < 1 || count !== writeQuantity * 2) throw malformed(`FC 23 byte count ${count} does not match write quantity ${writeQuantity}`);
        exact(pdu, 10 + count, 'FC 23 request');
        return { fc, readAddress: u16(pdu, 1), readQuantity: u16(pdu, 3), writeAddress: u16(pdu, 5), data: pdu.slice(10, 10 + count) };
      }
      case 43:
        exact(pdu, 4, 'FC 43 request');
        if (pdu[1] !== MEI_READ_DEVICE_ID) throw malformed(`MEI type ${pdu[1]} is not supported`);
        return { fc, meiType: MEI_READ_DEVICE_ID, readDeviceIdCode: pdu[2] as number, objectId: pdu[3] as number };
      default:
        throw new BifrostError('BIFROST_MALFORMED_FRAME', `function code ${fc} is not supported`, { status: 1, statusName: 'ILLEGAL_FUNCTION' });
    }
  } catch (e) {
    if (e instanceof BifrostError && e.status === undefined) {
      throw new BifrostError(e.code, e.message, { status: 3, statusName: 'ILLEGAL_DATA_VALUE' });
    }
    throw e;
  }
}

/**
 * The byte length of a response PDU.
 * @example responseLength({ fc: 3, data: new Uint8Array(6) }) // 8
 */
export function responseLength(res: ModbusResponse): number {
  if (isException(res)) return 2;
  switch (res.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 23:
      return 2 + res.data.length;
    case 5:
    case 6:
    case 15:
    case 16:
      return 5;
    case 22:
      return 7;
    case 43: {
      let n = 7;
      for (const o of res.objects) n += 2 + Buffer.byteLength(o.value, 'latin1');
      return n;
    }
  }
}

/**
 * Writes a response PDU into `buf` at `offset` and returns its length.
 * @example writeResponse({ fc: 6, address: 1, value: 3 }, buf, 7)
 */
export function writeResponse(res: ModbusResponse, buf: Buffer, offset: number): number {
  if (isException(res)) {
    buf[offset] = (res.fc | 0x80) & 0xff;
    buf[offset + 1] = res.exception;
    return 2;
  }
  buf[offset] = res.fc;
  switch (res.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 23:
      buf[offset + 1] = res.data.length;
      buf.set(res.data, offset + 2);
      return 2 + res.data.length;
    case 5:
      buf.writeUInt16BE(res.address, offset + 1);
      buf.writeUInt16BE(res.value ? 0xff00 : 0, offset + 3);
      return 5;
    case 6:
      buf.writeUInt16BE(res.address, offset + 1);
      buf.writeUInt16BE(res.value, offset + 3);
      return 5;
    case 15:
    case 16:
      buf.writeUInt16BE(res.address, offset + 1);
      buf.writeUInt16BE(res.quantity, offset + 3);
      return 5;
    case 22:
      buf.writeUInt16BE(res.address, offset + 1);
      buf.writeUInt16BE(res.andMask, offset + 3);
      buf.writeUInt16BE(res.orMask, offset + 5);
      return 7;
    case 43: {
      buf[offset + 1] = res.meiType;
      buf[offset + 2] = res.readDeviceIdCode;
      buf[offset + 3] = res.conformityLevel;
      buf[offset + 4] = res.moreFollows ? 0xff : 0x00;
      buf[offset + 5] = res.nextObjectId;
      buf[offset + 6] = res.objects.length;
      let o = offset + 7;
      for (const obj of res.objects) {
        buf[o] = obj.id;
        const n = buf.write(obj.value, o + 2, 'latin1');
        buf[o + 1] = n;
        o += 2 + n;
      }
      return o - offset;
    }
  }
}

/**
 * Encodes a response PDU.
 * @example encodeResponse({ fc: 3, exception: 2 }) // 83 02
 */
export function encodeResponse(res: ModbusResponse): Buffer {
  const len = responseLength(res);
  if (len > Limits.maxPdu) throw invalid(`response PDU of ${len} bytes exceeds ${Limits.maxPdu}`);
  const buf = Buffer.allocUnsafe(len);
  writeResponse(res, buf, 0);
  return buf;
}

/**
 * Decodes a response PDU (the client side). Register and bit data are views into `pdu`, not copies.
 * @example decodeResponse(Buffer.from('0306022b00000064', 'hex')) // { fc: 3, data: <02 2b 00 00 00 64> }
 */
export function decodeResponse(pdu: Uint8Array): ModbusResponse {
  if (pdu.length < 2) throw malformed(`response needs at least 2 bytes, got ${pdu.length}`);
  const fc = pdu[0] as number;
  if (fc & 0x80) {
    exact(pdu, 2, 'exception response');
    return { fc: fc & 0x7f, exception: pdu[1] as number };
  }
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 23: {
      const count = pdu[1] as number;
      exact(pdu, 2 + count, `FC ${fc} response`);
      if (fc !== 1 && fc !== 2 && count & 1) throw malformed(`FC ${fc} byte count ${count} is odd`);
      return { fc, data: pdu.subarray(2, 2 + count) } as ReadBitsResponse | ReadRegistersResponse;
    }
    case 5: {
      exact(pdu, 5, 'FC 5 response');
      const v = u16(pdu, 3);
      if (v !== 0xff00 && v !== 0) throw malformed(`FC 5 output value 0x${v.toString(16)} is neither 0xFF00 nor 0x0000`);
      return { fc, address: u16(pdu, 1), value: v === 0xff00 };
    }
    case 6:
      exact(pdu, 5, 'FC 6 response');
      return { fc, address: u16(pdu, 1), value: u16(pdu, 3) };
    case 15:
    case 16:
      exact(pdu, 5, `FC ${fc} response`);
      return { fc, address: u16(pdu, 1), quantity: u16(pdu, 3) };
    case 22:
      exact(pdu, 7, 'FC 22 response');
      return { fc, address: u16(pdu, 1), andMask: u16(pdu, 3), orMask: u16(pdu, 5) };
    case 43: {
      need(pdu, 7, 'FC 43 response');
      if (pdu[1] !== MEI_READ_DEVICE_ID) throw malformed(`MEI type ${pdu[1]} is not supported`);
      const n = pdu[6] as number;
      const objects: DeviceIdObject[] = [];
      let o = 7;
      for (let i = 0; i < n; i++) {
        need(pdu, o + 2, 'FC 43 object header');
        const len = pdu[o + 1] as number;
        need(pdu, o + 2 + len, 'FC 43 object value');
        objects.push({ id: pdu[o] as number, value: Buffer.from(pdu.buffer, pdu.byteOffset + o + 2, len).toString('latin1') });
        o += 2 + len;
      }
      exact(pdu, o, 'FC 43 response');
      return {
        fc,
        meiType: MEI_READ_DEVICE_ID,
        readDeviceIdCode: pdu[2] as number,
        conformityLevel: pdu[3] as number,
        moreFollows: pdu[4] === 0xff,
        nextObjectId: pdu[5] as number,
        objects,
      };
    }
    default:
      throw malformed(`function code ${fc} is not supported`);
  }
}

/** The function code constants, re-exported for readers of this module. */
export { FunctionCode };
