/**
 * @module
 * The S7comm PDU codec (the "S7 protocol" carried in COTP DT TPDUs, protocol id 0x32): setup
 * communication (PDU size and parallel-job negotiation), read-variable and write-variable jobs
 * with many items, and the userdata read-SZL request and answer. Layouts follow the public
 * descriptions of the protocol: Wireshark's s7comm dissector (packet-s7comm.c) and snap7's
 * s7_types.h. Pure functions: bytes in, typed frames out, and back.
 */
import { BifrostError } from '@bifrost/core';

/**
 * The S7comm protocol id, the first byte of every PDU.
 * @example bytes[0] === S7_PROTOCOL_ID
 */
export const S7_PROTOCOL_ID = 0x32;

/**
 * Message types (header byte 1, "ROSCTR").
 * @example bytes[1] === ROSCTR.ACK_DATA
 */
export const ROSCTR = { JOB: 0x01, ACK: 0x02, ACK_DATA: 0x03, USERDATA: 0x07 } as const;

/**
 * Job functions (first parameter byte).
 * @example bytes[10] === FUNCTION.READ_VAR
 */
export const FUNCTION = { READ_VAR: 0x04, WRITE_VAR: 0x05, SETUP_COMMUNICATION: 0xf0 } as const;

/**
 * Memory areas of an S7ANY address.
 * @example { area: AREA.DB, dbNumber: 1, byteOffset: 0, bitOffset: 0, transportSize: TRANSPORT_SIZE.BYTE, count: 4 }
 */
export const AREA = { P: 0x80, I: 0x81, Q: 0x82, M: 0x83, DB: 0x84, DI: 0x85, C: 0x1c, T: 0x1d } as const;

/**
 * Transport sizes of a request item (S7ANY "transport size").
 * @example { area: AREA.M, dbNumber: 0, byteOffset: 10, bitOffset: 1, transportSize: TRANSPORT_SIZE.BIT, count: 1 }
 */
export const TRANSPORT_SIZE = { BIT: 0x01, BYTE: 0x02, CHAR: 0x03, WORD: 0x04, INT: 0x05, DWORD: 0x06, DINT: 0x07, REAL: 0x08 } as const;

/**
 * Transport sizes of a data item (answers and write data).
 * @example { returnCode: 0, transportSize: DATA_TRANSPORT_SIZE.BYTE, data: Uint8Array.of(1, 2) }
 */
export const DATA_TRANSPORT_SIZE = { NULL: 0x00, BIT: 0x03, BYTE: 0x04, INT: 0x05, DINT: 0x06, REAL: 0x07, OCTET_STRING: 0x09 } as const;

/**
 * Size of a job / userdata header.
 * @example JOB_HEADER_SIZE + 2 + VAR_SPEC_SIZE * items.length // size of a read job
 */
export const JOB_HEADER_SIZE = 10;
/**
 * Size of an ack / ack-data header (with error class and code).
 * @example pduLength - ACK_HEADER_SIZE - 2 // room for data items in an answer
 */
export const ACK_HEADER_SIZE = 12;
/**
 * Size of one S7ANY request item.
 * @example Math.floor((pduLength - JOB_HEADER_SIZE - 2) / VAR_SPEC_SIZE) // items a job can carry
 */
export const VAR_SPEC_SIZE = 12;
/**
 * Size of a data item header (return code, transport size, length).
 * @example DATA_ITEM_HEADER_SIZE + data.length // bytes one answer item takes
 */
export const DATA_ITEM_HEADER_SIZE = 4;

/** One variable of a read or write job: an S7ANY pointer. */
export interface S7VarSpec {
  /** Request transport size ({@link TRANSPORT_SIZE}). */
  transportSize: number;
  /** Number of elements of that size. */
  count: number;
  /** DB number; 0 outside DB and DI. */
  dbNumber: number;
  /** Area code ({@link AREA}). */
  area: number;
  byteOffset: number;
  /** Bit within the byte (0…7); 0 unless the transport size is BIT. */
  bitOffset: number;
}

/** A data item of a read answer or of a write job. */
export interface S7DataItem {
  /** Item return code: 0xFF success; 0x00 in write jobs. */
  returnCode: number;
  /** Data transport size ({@link DATA_TRANSPORT_SIZE}). */
  transportSize: number;
  data: Uint8Array;
}

interface Ref {
  /** PDU reference: the client picks it, the answer repeats it. */
  pduRef: number;
}
interface AckError {
  errorClass: number;
  errorCode: number;
}

/** Setup communication job. */
export interface SetupRequest extends Ref {
  kind: 'setup-request';
  maxAmqCalling: number;
  maxAmqCalled: number;
  pduLength: number;
}
/** Setup communication answer. */
export interface SetupResponse extends Ref, AckError {
  kind: 'setup-response';
  maxAmqCalling: number;
  maxAmqCalled: number;
  pduLength: number;
}
/** Read-variable job. */
export interface ReadRequest extends Ref {
  kind: 'read-request';
  items: S7VarSpec[];
}
/** Read-variable answer. */
export interface ReadResponse extends Ref, AckError {
  kind: 'read-response';
  items: S7DataItem[];
}
/** Write-variable job. */
export interface WriteRequest extends Ref {
  kind: 'write-request';
  items: S7VarSpec[];
  data: S7DataItem[];
}
/** Write-variable answer: one return code per item. */
export interface WriteResponse extends Ref, AckError {
  kind: 'write-response';
  returnCodes: number[];
}
/** Userdata "read SZL" request (CPU functions group 4, subfunction 1); `continuation` asks for the next data unit. */
export interface SzlRequest extends Ref {
  kind: 'szl-request';
  sequence: number;
  szlId: number;
  szlIndex: number;
  /** A follow-up request for the next part of a long answer (no SZL id in the data). */
  continuation?: boolean;
}
/** Userdata "read SZL" answer, possibly one of several data units. */
export interface SzlResponse extends Ref {
  kind: 'szl-response';
  sequence: number;
  /** True when this is the last data unit of the answer. */
  lastUnit: boolean;
  /** Parameter error code (0 when fine, e.g. 0xD401 invalid SZL ID). */
  errorCode: number;
  returnCode: number;
  /** The SZL bytes of this unit: the first unit starts with id, index, record length, record count. */
  data: Uint8Array;
}
/** An acknowledgement without parameters: how a PLC refuses a job (error class and code set). */
export interface AckPdu extends Ref, AckError {
  kind: 'ack';
  rosctr: number;
}

/** Any S7comm PDU this codec knows. */
export type S7Pdu = SetupRequest | SetupResponse | ReadRequest | ReadResponse | WriteRequest | WriteResponse | SzlRequest | SzlResponse | AckPdu;

/**
 * A plain Uint8Array view of part of the telegram: no copy on the hot path, and never a Buffer
 * (Buffer#subarray/slice of a socket chunk would hand out Buffers).
 */
function view(src: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(src.buffer, src.byteOffset + from, to - from);
}

function malformed(why: string): BifrostError {
  return new BifrostError('BIFROST_MALFORMED_FRAME', `malformed S7comm PDU: ${why}`);
}

/**
 * The number of data bytes a data item's length field announces: in bits for BYTE/WORD/INT
 * transports, in bytes for BIT, REAL and OCTET STRING (snap7 s7_micro_client.cpp, Wireshark).
 * @example dataItemByteLength(0x04, 32) // 4
 */
export function dataItemByteLength(transportSize: number, length: number): number {
  return transportSize === DATA_TRANSPORT_SIZE.BIT || transportSize === DATA_TRANSPORT_SIZE.REAL || transportSize === DATA_TRANSPORT_SIZE.OCTET_STRING ? length : (length + 7) >> 3;
}

function dataItemLengthField(transportSize: number, bytes: number): number {
  return transportSize === DATA_TRANSPORT_SIZE.BIT || transportSize === DATA_TRANSPORT_SIZE.REAL || transportSize === DATA_TRANSPORT_SIZE.OCTET_STRING ? bytes : bytes * 8;
}

/**
 * The size in bytes of one element of a request transport size (BIT counts as 1).
 * @example transportElementSize(TRANSPORT_SIZE.REAL) // 4
 */
export function transportElementSize(transportSize: number): number {
  switch (transportSize) {
    case TRANSPORT_SIZE.BIT:
    case TRANSPORT_SIZE.BYTE:
    case TRANSPORT_SIZE.CHAR:
      return 1;
    case TRANSPORT_SIZE.WORD:
    case TRANSPORT_SIZE.INT:
    case 0x1c: // COUNTER
    case 0x1d: // TIMER
      return 2;
    case TRANSPORT_SIZE.DWORD:
    case TRANSPORT_SIZE.DINT:
    case TRANSPORT_SIZE.REAL:
      return 4;
    default:
      return 0;
  }
}

/** Bytes a PDU takes when encoded. */
function sizeOf(pdu: S7Pdu): number {
  switch (pdu.kind) {
    case 'setup-request':
      return JOB_HEADER_SIZE + 8;
    case 'setup-response':
      return ACK_HEADER_SIZE + 8;
    case 'read-request':
      return JOB_HEADER_SIZE + 2 + VAR_SPEC_SIZE * pdu.items.length;
    case 'read-response':
      return ACK_HEADER_SIZE + 2 + dataItemsSize(pdu.items);
    case 'write-request':
      return JOB_HEADER_SIZE + 2 + VAR_SPEC_SIZE * pdu.items.length + dataItemsSize(pdu.data);
    case 'write-response':
      return ACK_HEADER_SIZE + 2 + pdu.returnCodes.length;
    case 'szl-request':
      return JOB_HEADER_SIZE + (pdu.continuation ? 12 + 4 : 8 + 8);
    case 'szl-response':
      return JOB_HEADER_SIZE + 12 + 4 + pdu.data.length;
    case 'ack':
      return ACK_HEADER_SIZE;
  }
}

/**
 * Bytes the data part of a list of data items takes: each item but the last is padded to an
 * even length (S7comm aligns data items on words).
 * @example dataItemsSize([{ returnCode: 0xff, transportSize: 4, data: new Uint8Array(3) }]) // 7
 */
export function dataItemsSize(items: readonly S7DataItem[]): number {
  let n = 0;
  for (let i = 0; i < items.length; i++) {
    const len = (items[i] as S7DataItem).data.length;
    n += DATA_ITEM_HEADER_SIZE + len + (i < items.length - 1 ? len & 1 : 0);
  }
  return n;
}

/**
 * The size an encoded PDU will have, to check it against the negotiated PDU length.
 * @example encodedSize({ kind: 'read-request', pduRef: 1, items: [spec] }) // 24
 */
export function encodedSize(pdu: S7Pdu): number {
  return sizeOf(pdu);
}

class Writer {
  readonly buf: Uint8Array;
  pos: number;
  constructor(size: number, start = 0) {
    this.buf = new Uint8Array(start + size);
    this.pos = start;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.buf[this.pos++] = (v >> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function header(w: Writer, rosctr: number, pduRef: number, paramLen: number, dataLen: number, err?: AckError): void {
  w.u8(S7_PROTOCOL_ID);
  w.u8(rosctr);
  w.u16(0);
  w.u16(pduRef);
  w.u16(paramLen);
  w.u16(dataLen);
  if (err) {
    w.u8(err.errorClass);
    w.u8(err.errorCode);
  }
}

function varSpec(w: Writer, s: S7VarSpec): void {
  // S7ANY: 0x12 variable specification, 0x0a length of the rest, 0x10 syntax id S7ANY.
  w.u8(0x12);
  w.u8(0x0a);
  w.u8(0x10);
  w.u8(s.transportSize);
  w.u16(s.count);
  w.u16(s.dbNumber);
  w.u8(s.area);
  const addr = s.byteOffset * 8 + s.bitOffset;
  w.u8(addr >> 16);
  w.u16(addr & 0xffff);
}

function dataItems(w: Writer, items: readonly S7DataItem[]): void {
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as S7DataItem;
    w.u8(it.returnCode);
    w.u8(it.transportSize);
    w.u16(dataItemLengthField(it.transportSize, it.data.length));
    w.bytes(it.data);
    if (i < items.length - 1 && it.data.length & 1) w.u8(0);
  }
}

/**
 * Encodes an S7comm PDU (the payload of a COTP DT TPDU).
 * @example encodeS7Pdu({ kind: 'setup-request', pduRef: 0, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 480 })
 */
export function encodeS7Pdu(pdu: S7Pdu): Uint8Array {
  return writePdu(pdu, new Writer(sizeOf(pdu))).buf;
}

/**
 * Encodes an S7comm PDU straight into a complete ISO-on-TCP packet (TPKT, COTP DT with EOT, PDU)
 * in one buffer: the same bytes as `encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: encodeS7Pdu(pdu) })`.
 * @example socket.write(encodeS7Packet({ kind: 'read-request', pduRef: 1, items }))
 */
export function encodeS7Packet(pdu: S7Pdu): Uint8Array {
  const size = sizeOf(pdu);
  const w = writePdu(pdu, new Writer(size, 7));
  const total = size + 7;
  if (total > 0xffff) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `TPKT packet of ${total} bytes exceeds 65535`);
  // RFC 1006 §6 TPKT (version 3, length) and ISO 8073 §13.7 DT (LI 2, code 0xF0, EOT | TPDU-NR 0).
  w.buf.set([3, 0, total >> 8, total & 0xff, 2, 0xf0, 0x80]);
  return w.buf;
}

function writePdu(pdu: S7Pdu, w: Writer): Writer {
  switch (pdu.kind) {
    case 'setup-request':
    case 'setup-response':
      if (pdu.kind === 'setup-request') header(w, ROSCTR.JOB, pdu.pduRef, 8, 0);
      else header(w, ROSCTR.ACK_DATA, pdu.pduRef, 8, 0, pdu);
      w.u8(FUNCTION.SETUP_COMMUNICATION);
      w.u8(0);
      w.u16(pdu.maxAmqCalling);
      w.u16(pdu.maxAmqCalled);
      w.u16(pdu.pduLength);
      break;
    case 'read-request':
      header(w, ROSCTR.JOB, pdu.pduRef, 2 + VAR_SPEC_SIZE * pdu.items.length, 0);
      w.u8(FUNCTION.READ_VAR);
      w.u8(pdu.items.length);
      for (const s of pdu.items) varSpec(w, s);
      break;
    case 'read-response':
      header(w, ROSCTR.ACK_DATA, pdu.pduRef, 2, dataItemsSize(pdu.items), pdu);
      w.u8(FUNCTION.READ_VAR);
      w.u8(pdu.items.length);
      dataItems(w, pdu.items);
      break;
    case 'write-request':
      header(w, ROSCTR.JOB, pdu.pduRef, 2 + VAR_SPEC_SIZE * pdu.items.length, dataItemsSize(pdu.data));
      w.u8(FUNCTION.WRITE_VAR);
      w.u8(pdu.items.length);
      for (const s of pdu.items) varSpec(w, s);
      dataItems(w, pdu.data);
      break;
    case 'write-response':
      header(w, ROSCTR.ACK_DATA, pdu.pduRef, 2, pdu.returnCodes.length, pdu);
      w.u8(FUNCTION.WRITE_VAR);
      w.u8(pdu.returnCodes.length);
      for (const rc of pdu.returnCodes) w.u8(rc);
      break;
    case 'szl-request':
      if (pdu.continuation) {
        // Follow-up: parameter head 00 01 12, length 8, method 0x12, type request | group CPU (0x44), subfunction 1, sequence, data unit ref, last unit, error code.
        header(w, ROSCTR.USERDATA, pdu.pduRef, 12, 4);
        w.bytes(Uint8Array.of(0x00, 0x01, 0x12, 0x08, 0x12, 0x44, 0x01, pdu.sequence & 0xff, 0x00, 0x00, 0x00, 0x00));
        w.bytes(Uint8Array.of(0x0a, 0x00, 0x00, 0x00));
      } else {
        header(w, ROSCTR.USERDATA, pdu.pduRef, 8, 8);
        w.bytes(Uint8Array.of(0x00, 0x01, 0x12, 0x04, 0x11, 0x44, 0x01, pdu.sequence & 0xff));
        w.bytes(Uint8Array.of(0xff, DATA_TRANSPORT_SIZE.OCTET_STRING, 0x00, 0x04));
        w.u16(pdu.szlId);
        w.u16(pdu.szlIndex);
      }
      break;
    case 'szl-response':
      header(w, ROSCTR.USERDATA, pdu.pduRef, 12, 4 + pdu.data.length);
      w.bytes(Uint8Array.of(0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, pdu.sequence & 0xff, 0x00, pdu.lastUnit ? 0x00 : 0x01));
      w.u16(pdu.errorCode);
      w.u8(pdu.returnCode);
      w.u8(pdu.data.length > 0 ? DATA_TRANSPORT_SIZE.OCTET_STRING : DATA_TRANSPORT_SIZE.NULL);
      w.u16(pdu.data.length);
      w.bytes(pdu.data);
      break;
    case 'ack':
      header(w, pdu.rosctr, pdu.pduRef, 0, 0, pdu);
      break;
  }
  return w;
}

/**
 * Decodes an S7comm PDU. Any inconsistency (lengths, counts, unknown functions) throws
 * BIFROST_MALFORMED_FRAME; nothing else is ever thrown. Data items are views of `bytes`.
 * @example decodeS7Pdu(bytes).kind // 'read-response'
 */
export function decodeS7Pdu(bytes: Uint8Array): S7Pdu {
  if (bytes.length < JOB_HEADER_SIZE) throw malformed(`${bytes.length} bytes are too few for a header`);
  if (bytes[0] !== S7_PROTOCOL_ID) throw malformed(`protocol id 0x${(bytes[0] as number).toString(16)} is not 0x32`);
  const u16 = (i: number) => ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  const rosctr = bytes[1] as number;
  const pduRef = u16(4);
  const paramLen = u16(6);
  const dataLen = u16(8);
  const isAck = rosctr === ROSCTR.ACK || rosctr === ROSCTR.ACK_DATA;
  if (!isAck && rosctr !== ROSCTR.JOB && rosctr !== ROSCTR.USERDATA) throw malformed(`unknown message type (ROSCTR) 0x${rosctr.toString(16)}`);
  const hdr = isAck ? ACK_HEADER_SIZE : JOB_HEADER_SIZE;
  if (bytes.length < hdr) throw malformed(`${bytes.length} bytes are too few for an ack header`);
  if (hdr + paramLen + dataLen !== bytes.length) throw malformed(`header announces ${hdr}+${paramLen}+${dataLen} bytes, ${bytes.length} received`);
  const err: AckError = isAck ? { errorClass: bytes[10] as number, errorCode: bytes[11] as number } : { errorClass: 0, errorCode: 0 };
  const p = hdr;
  const d = hdr + paramLen;
  const end = bytes.length;
  if (paramLen === 0) {
    if (!isAck) throw malformed('a job without parameters');
    return { kind: 'ack', pduRef, rosctr, ...err };
  }
  if (rosctr === ROSCTR.USERDATA) return decodeUserdata(bytes, pduRef, p, paramLen, d, end);
  const fn = bytes[p] as number;
  if (fn === FUNCTION.SETUP_COMMUNICATION) {
    if (paramLen !== 8) throw malformed(`setup communication parameters are ${paramLen} bytes, not 8`);
    const body = { pduRef, maxAmqCalling: u16(p + 2), maxAmqCalled: u16(p + 4), pduLength: u16(p + 6) };
    return isAck ? { kind: 'setup-response', ...body, ...err } : { kind: 'setup-request', ...body };
  }
  if (fn !== FUNCTION.READ_VAR && fn !== FUNCTION.WRITE_VAR) throw malformed(`unknown function 0x${fn.toString(16)}`);
  if (paramLen < 2) throw malformed('read/write parameters shorter than 2 bytes');
  const count = bytes[p + 1] as number;
  if (!isAck) {
    if (paramLen !== 2 + VAR_SPEC_SIZE * count) throw malformed(`${count} items need ${2 + VAR_SPEC_SIZE * count} parameter bytes, got ${paramLen}`);
    const items: S7VarSpec[] = [];
    for (let i = 0; i < count; i++) {
      const o = p + 2 + i * VAR_SPEC_SIZE;
      if (bytes[o] !== 0x12 || bytes[o + 1] !== 0x0a || bytes[o + 2] !== 0x10) throw malformed(`item ${i + 1} is not an S7ANY variable specification`);
      const addr = ((bytes[o + 9] as number) << 16) | u16(o + 10);
      items.push({ transportSize: bytes[o + 3] as number, count: u16(o + 4), dbNumber: u16(o + 6), area: bytes[o + 8] as number, byteOffset: addr >>> 3, bitOffset: addr & 7 });
    }
    if (fn === FUNCTION.READ_VAR) {
      if (dataLen !== 0) throw malformed('a read job with data');
      return { kind: 'read-request', pduRef, items };
    }
    return { kind: 'write-request', pduRef, items, data: decodeDataItems(bytes, d, end, count, false) };
  }
  if (paramLen !== 2) throw malformed(`read/write answer parameters are ${paramLen} bytes, not 2`);
  if (fn === FUNCTION.READ_VAR) return { kind: 'read-response', pduRef, ...err, items: decodeDataItems(bytes, d, end, count, true) };
  if (dataLen !== count) throw malformed(`write answer has ${dataLen} return codes for ${count} items`);
  return { kind: 'write-response', pduRef, ...err, returnCodes: Array.from(bytes.subarray(d, end)) };
}

function decodeDataItems(bytes: Uint8Array, start: number, end: number, count: number, answer: boolean): S7DataItem[] {
  const items: S7DataItem[] = [];
  let o = start;
  for (let i = 0; i < count; i++) {
    if (o + DATA_ITEM_HEADER_SIZE > end) throw malformed(`data item ${i + 1} of ${count} is truncated`);
    const returnCode = bytes[o] as number;
    const transportSize = bytes[o + 1] as number;
    // In an answer, an item that failed carries no data whatever its length field says: snap7
    // sends length 4 there, PLCs 0 (snap7 s7_server.cpp RA_NotFound; its client skips 4 bytes too).
    const len = answer && returnCode !== 0xff ? 0 : dataItemByteLength(transportSize, ((bytes[o + 2] as number) << 8) | (bytes[o + 3] as number));
    o += DATA_ITEM_HEADER_SIZE;
    if (o + len > end) throw malformed(`data item ${i + 1} announces ${len} bytes, ${end - o} left`);
    items.push({ returnCode, transportSize, data: view(bytes, o, o + len) });
    o += len;
    if (i < count - 1 && len & 1) o++;
  }
  if (o !== end) throw malformed(`${end - o} bytes left after ${count} data items`);
  return items;
}

function decodeUserdata(bytes: Uint8Array, pduRef: number, p: number, paramLen: number, d: number, end: number): SzlRequest | SzlResponse {
  if (paramLen < 8 || bytes[p] !== 0x00 || bytes[p + 1] !== 0x01 || bytes[p + 2] !== 0x12) throw malformed('userdata parameter head is not 00 01 12');
  const typeGroup = bytes[p + 5] as number;
  const subfunction = bytes[p + 6] as number;
  const sequence = bytes[p + 7] as number;
  if ((typeGroup & 0x0f) !== 0x04 || subfunction !== 0x01) throw malformed(`userdata group 0x${typeGroup.toString(16)} subfunction 0x${subfunction.toString(16)} is not read SZL`);
  if (end - d < DATA_ITEM_HEADER_SIZE) throw malformed('userdata data item is truncated');
  const returnCode = bytes[d] as number;
  const dlen = ((bytes[d + 2] as number) << 8) | (bytes[d + 3] as number);
  if (d + DATA_ITEM_HEADER_SIZE + dlen !== end) throw malformed(`userdata data item announces ${dlen} bytes, ${end - d - DATA_ITEM_HEADER_SIZE} received`);
  const type = typeGroup >> 4;
  if (type === 0x04) {
    if (paramLen === 8) {
      if (dlen !== 4) throw malformed(`read-SZL request data is ${dlen} bytes, not 4`);
      const o = d + DATA_ITEM_HEADER_SIZE;
      return { kind: 'szl-request', pduRef, sequence, szlId: ((bytes[o] as number) << 8) | (bytes[o + 1] as number), szlIndex: ((bytes[o + 2] as number) << 8) | (bytes[o + 3] as number) };
    }
    if (paramLen !== 12) throw malformed(`read-SZL follow-up parameters are ${paramLen} bytes, not 12`);
    return { kind: 'szl-request', pduRef, sequence, szlId: 0, szlIndex: 0, continuation: true };
  }
  if (type !== 0x08) throw malformed(`userdata type 0x${type.toString(16)} is neither request nor response`);
  if (paramLen !== 12) throw malformed(`read-SZL answer parameters are ${paramLen} bytes, not 12`);
  return {
    kind: 'szl-response',
    pduRef,
    sequence,
    lastUnit: bytes[p + 9] === 0x00,
    errorCode: ((bytes[p + 10] as number) << 8) | (bytes[p + 11] as number),
    returnCode,
    data: view(bytes, d + DATA_ITEM_HEADER_SIZE, end),
  };
}

/** A decoded system status list (SZL) extract. */
export interface SzlList {
  szlId: number;
  szlIndex: number;
  /** Length of one record in bytes (LENTHDR). */
  recordLength: number;
  records: Uint8Array[];
}

/**
 * Splits the (reassembled) data of a read-SZL answer into its records.
 * @example decodeSzlList(data).records.length
 */
export function decodeSzlList(data: Uint8Array): SzlList {
  if (data.length < 8) throw malformed(`SZL data of ${data.length} bytes lacks the 8-byte SZL header`);
  const u16 = (i: number) => ((data[i] as number) << 8) | (data[i + 1] as number);
  const recordLength = u16(4);
  const count = u16(6);
  if (8 + recordLength * count > data.length) throw malformed(`SZL announces ${count} records of ${recordLength} bytes, ${data.length - 8} bytes received`);
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) records.push(view(data, 8 + i * recordLength, 8 + (i + 1) * recordLength));
  return { szlId: u16(0), szlIndex: u16(2), recordLength, records };
}

/**
 * Encodes an SZL extract (header and records).
 * @example encodeSzlList({ szlId: 0x11, szlIndex: 0, recordLength: 28, records })
 */
export function encodeSzlList(list: SzlList): Uint8Array {
  const out = new Uint8Array(8 + list.recordLength * list.records.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, list.szlId);
  v.setUint16(2, list.szlIndex);
  v.setUint16(4, list.recordLength);
  v.setUint16(6, list.records.length);
  list.records.forEach((r, i) => {
    out.set(r.subarray(0, list.recordLength), 8 + i * list.recordLength);
  });
  return out;
}
