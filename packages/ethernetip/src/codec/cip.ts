/**
 * @module
 * CIP messages (CIP Vol 1 §2-4 Message Router request/response format), the general status codes
 * (Vol 1 Appendix B), Multiple Service Packet (Vol 1 §A-4.10), Unconnected Send, Forward Open,
 * Large Forward Open and Forward Close (Vol 1 §3-5.4, Connection Manager object class 0x06).
 */
import { BifrostError, type ErrorCode } from '@bifrost/core';
import { decodeEpath, encodeEpath, type Segment } from './epath.js';
import { ByteReader, malformed } from './reader.js';

/**
 * CIP service codes used here (Vol 1 Appendix A; Logix services from 1756-PM020).
 * @example encodeRequest({ service: Service.ReadTag, path, data })
 */
export const Service = {
  GetAttributesAll: 0x01,
  GetAttributeList: 0x03,
  MultipleServicePacket: 0x0a,
  GetAttributeSingle: 0x0e,
  ReadTag: 0x4c,
  WriteTag: 0x4d,
  ReadModifyWriteTag: 0x4e,
  ForwardClose: 0x4e,
  ReadTagFragmented: 0x52,
  UnconnectedSend: 0x52,
  WriteTagFragmented: 0x53,
  ForwardOpen: 0x54,
  GetInstanceAttributeList: 0x55,
  LargeForwardOpen: 0x5b,
} as const;

/**
 * CIP object classes used here.
 * @example encodeEpath([{ type: 'class', id: ClassId.Identity }, { type: 'instance', id: 1 }])
 */
export const ClassId = { Identity: 0x01, MessageRouter: 0x02, ConnectionManager: 0x06, Symbol: 0x6b, Template: 0x6c } as const;

/**
 * CIP general status names (Vol 1 Appendix B, Table B-1.1).
 * @example GENERAL_STATUS[0x04] // 'PATH_SEGMENT_ERROR'
 */
export const GENERAL_STATUS: Readonly<Record<number, string>> = {
  0: 'SUCCESS',
  1: 'CONNECTION_FAILURE',
  2: 'RESOURCE_UNAVAILABLE',
  3: 'INVALID_PARAMETER_VALUE',
  4: 'PATH_SEGMENT_ERROR',
  5: 'PATH_DESTINATION_UNKNOWN',
  6: 'PARTIAL_TRANSFER',
  7: 'CONNECTION_LOST',
  8: 'SERVICE_NOT_SUPPORTED',
  9: 'INVALID_ATTRIBUTE_VALUE',
  10: 'ATTRIBUTE_LIST_ERROR',
  12: 'OBJECT_STATE_CONFLICT',
  14: 'ATTRIBUTE_NOT_SETTABLE',
  15: 'PRIVILEGE_VIOLATION',
  16: 'DEVICE_STATE_CONFLICT',
  17: 'REPLY_DATA_TOO_LARGE',
  19: 'NOT_ENOUGH_DATA',
  20: 'ATTRIBUTE_NOT_SUPPORTED',
  21: 'TOO_MUCH_DATA',
  22: 'OBJECT_DOES_NOT_EXIST',
  30: 'EMBEDDED_SERVICE_ERROR',
  31: 'VENDOR_SPECIFIC_ERROR',
  32: 'INVALID_PARAMETER',
  38: 'PATH_SIZE_INVALID',
  255: 'GENERAL_ERROR',
};

/**
 * Extended status names that matter to a Logix client (1756-PM020 "Error Codes"; Vol 1 Table 3-5.29).
 * @example EXTENDED_STATUS[0x2107] // 'DATA_TYPE_MISMATCH'
 */
export const EXTENDED_STATUS: Readonly<Record<number, string>> = {
  256: 'CONNECTION_IN_USE',
  265: 'INVALID_CONNECTION_SIZE',
  516: 'UNCONNECTED_SEND_TIMEOUT',
  785: 'INVALID_PORT',
  786: 'INVALID_LINK_ADDRESS',
  789: 'INVALID_SEGMENT_IN_PATH',
  8452: 'OFFSET_BEYOND_END_OF_TAG',
  8453: 'ELEMENTS_BEYOND_END_OF_TAG',
  8455: 'DATA_TYPE_MISMATCH',
};

/** A Message Router request. */
export interface CipRequest {
  service: number;
  /** The request path, already encoded (padded EPATH without the size byte). */
  path: Buffer;
  data: Buffer;
}

/** A Message Router response. */
export interface CipResponse {
  /** The reply service (request service | 0x80). */
  service: number;
  status: number;
  /** Additional (extended) status words. */
  extended: number[];
  data: Buffer;
}

/**
 * Encodes a Message Router request: service, path size in words, path, data (Vol 1 §2-4.1).
 * @example encodeRequest({ service: Service.ReadTag, path: encodeEpath([{ type: 'symbolic', name: 'Counter' }]), data: Buffer.from([1, 0]) })
 */
export function encodeRequest(req: CipRequest): Buffer {
  if (req.path.length & 1) malformed('a CIP request path must be an even number of bytes');
  const b = Buffer.allocUnsafe(2 + req.path.length + req.data.length);
  b[0] = req.service;
  b[1] = req.path.length >> 1;
  req.path.copy(b, 2);
  req.data.copy(b, 2 + req.path.length);
  return b;
}

/**
 * Decodes a Message Router request.
 * @example const { service, path } = decodeRequest(mr)
 */
export function decodeRequest(buf: Uint8Array): CipRequest {
  const r = new ByteReader(buf, 'CIP request');
  const service = r.u8();
  const words = r.u8();
  const path = r.bytes(words * 2);
  return { service, path, data: r.rest() };
}

/**
 * Encodes a Message Router response (Vol 1 §2-4.2).
 * @example encodeResponse({ service: 0xcc, status: 0, extended: [], data })
 */
export function encodeResponse(res: CipResponse): Buffer {
  const b = Buffer.allocUnsafe(4 + res.extended.length * 2 + res.data.length);
  b[0] = res.service;
  b[1] = 0;
  b[2] = res.status;
  b[3] = res.extended.length;
  let o = 4;
  for (const w of res.extended) o = b.writeUInt16LE(w & 0xffff, o);
  res.data.copy(b, o);
  return b;
}

/**
 * Decodes a Message Router response.
 * @example const res = decodeResponse(items[1].data); if (res.status !== 0) throw cipError(res)
 */
export function decodeResponse(buf: Uint8Array): CipResponse {
  const r = new ByteReader(buf, 'CIP response');
  const service = r.u8();
  r.u8();
  const status = r.u8();
  const n = r.u8();
  const extended: number[] = [];
  for (let i = 0; i < n; i++) extended.push(r.u16());
  return { service, status, extended, data: r.rest() };
}

/** Where a CIP error happened, for its message. */
export interface CipErrorContext {
  device?: string;
  address?: string;
  /** What was being done, e.g. `read`, `Forward Open`. */
  what?: string;
}

/**
 * The BifrostError for a failed CIP response: a specific code for the statuses users act on
 * (tag not found, type mismatch, index out of range, routing), BIFROST_EIP_CIP_ERROR otherwise.
 * @example if (res.status !== 0) throw cipError(res.status, res.extended, { address: 'Counter', what: 'read' })
 */
export function cipError(status: number, extended: readonly number[], ctx: CipErrorContext = {}): BifrostError {
  const ext = extended[0];
  const statusName = GENERAL_STATUS[status] ?? `0x${status.toString(16).padStart(2, '0')}`;
  const extName = ext === undefined ? undefined : (EXTENDED_STATUS[ext] ?? `0x${ext.toString(16).padStart(4, '0')}`);
  let code: ErrorCode = 'BIFROST_EIP_CIP_ERROR';
  // Path errors mean "no such tag" only for tag requests; for an object path they stay generic.
  if ((status === 0x04 || status === 0x05 || status === 0x16) && ctx.address !== undefined) code = 'BIFROST_EIP_TAG_NOT_FOUND';
  else if (status === 0x08) code = 'BIFROST_EIP_SERVICE_NOT_SUPPORTED';
  else if (status === 0xff && ext === 0x2107) code = 'BIFROST_EIP_TYPE_MISMATCH';
  else if (status === 0xff && (ext === 0x2104 || ext === 0x2105)) code = 'BIFROST_EIP_INDEX_OUT_OF_RANGE';
  else if (status === 0x01) code = 'BIFROST_EIP_ROUTE_FAILED';
  const subject = ctx.address ? ` of "${ctx.address}"` : '';
  const where = ctx.device ? ` on ${ctx.device}` : '';
  const message = `${ctx.what ?? 'CIP request'}${subject} failed${where}: general status 0x${status.toString(16).padStart(2, '0')} ${statusName}${extName ? `, extended status ${extName}` : ''}`;
  return new BifrostError(code, message, {
    status,
    statusName,
    ...(ctx.device ? { device: ctx.device } : {}),
    ...(ctx.address ? { address: ctx.address } : {}),
    details: { extendedStatus: [...extended] },
  });
}

/**
 * Encodes a Multiple Service Packet's data: count, offsets from the start of the count, requests
 * (Vol 1 §A-4.10.1). The caller wraps it in a request to the Message Router (class 2, instance 1).
 * @example encodeRequest({ service: Service.MultipleServicePacket, path: MESSAGE_ROUTER_PATH, data: encodeMultipleServiceData(reqs) })
 */
export function encodeMultipleServiceData(parts: readonly Buffer[]): Buffer {
  const head = 2 + parts.length * 2;
  let size = head;
  for (const p of parts) size += p.length;
  const b = Buffer.allocUnsafe(size);
  b.writeUInt16LE(parts.length, 0);
  let off = head;
  for (let i = 0; i < parts.length; i++) {
    b.writeUInt16LE(off, 2 + i * 2);
    (parts[i] as Buffer).copy(b, off);
    off += (parts[i] as Buffer).length;
  }
  return b;
}

/**
 * Splits Multiple Service Packet data (request or reply) into its embedded messages.
 * @example decodeMultipleServiceData(res.data).map(decodeResponse)
 */
export function decodeMultipleServiceData(buf: Uint8Array): Buffer[] {
  const r = new ByteReader(buf, 'Multiple Service Packet');
  const count = r.u16();
  r.need(count * 2);
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) offsets.push(r.u16());
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const start = offsets[i] as number;
    const end = i + 1 < count ? (offsets[i + 1] as number) : r.buf.length;
    if (start < 2 + count * 2 || end > r.buf.length || end < start) malformed(`Multiple Service Packet: offset ${start}..${end} of message ${i} is outside the ${r.buf.length}-byte packet`);
    out.push(r.buf.subarray(start, end));
  }
  return out;
}

/**
 * The Message Router path (class 2, instance 1).
 * @example encodeRequest({ service: Service.MultipleServicePacket, path: MESSAGE_ROUTER_PATH, data })
 */
export const MESSAGE_ROUTER_PATH = encodeEpath([
  { type: 'class', id: ClassId.MessageRouter },
  { type: 'instance', id: 1 },
]);
/**
 * The Connection Manager path (class 6, instance 1).
 * @example encodeRequest({ service: Service.ForwardOpen, path: CONNECTION_MANAGER_PATH, data })
 */
export const CONNECTION_MANAGER_PATH = encodeEpath([
  { type: 'class', id: ClassId.ConnectionManager },
  { type: 'instance', id: 1 },
]);

/**
 * Wraps a request in an Unconnected Send to the Connection Manager so the target routes it along
 * `route` (Vol 1 §3-5.5.2): tick time, timeout ticks, message size, message, pad, route path
 * size in words, reserved byte, route path.
 * @example encodeUnconnectedSend(encodeRequest(req), parseRoutePath('1,0'))
 */
export function encodeUnconnectedSend(message: Buffer, route: readonly Segment[], tickTime = 0x0a, timeoutTicks = 0x05): Buffer {
  const routeBytes = encodeEpath(route);
  const pad = message.length & 1;
  const data = Buffer.alloc(4 + message.length + pad + 2 + routeBytes.length);
  data[0] = tickTime;
  data[1] = timeoutTicks;
  data.writeUInt16LE(message.length, 2);
  message.copy(data, 4);
  let o = 4 + message.length + pad;
  data[o++] = routeBytes.length >> 1;
  data[o++] = 0;
  routeBytes.copy(data, o);
  return encodeRequest({ service: Service.UnconnectedSend, path: CONNECTION_MANAGER_PATH, data });
}

/** The parts of an Unconnected Send request's data. */
export interface UnconnectedSend {
  tickTime: number;
  timeoutTicks: number;
  message: Buffer;
  route: Segment[];
}

/**
 * Decodes an Unconnected Send request's data (the part after the Connection Manager path).
 * @example const { message, route } = decodeUnconnectedSend(req.data)
 */
export function decodeUnconnectedSend(buf: Uint8Array): UnconnectedSend {
  const r = new ByteReader(buf, 'Unconnected Send');
  const tickTime = r.u8();
  const timeoutTicks = r.u8();
  const size = r.u16();
  const message = r.bytes(size);
  if (size & 1) r.u8();
  const words = r.u8();
  r.u8();
  const route = decodeEpath(r.bytes(words * 2));
  return { tickTime, timeoutTicks, message, route };
}

/** Forward Open / Large Forward Open request parameters (Vol 1 Table 3-5.16). */
export interface ForwardOpenRequest {
  large: boolean;
  tickTime: number;
  timeoutTicks: number;
  otConnectionId: number;
  toConnectionId: number;
  connectionSerial: number;
  vendorId: number;
  originatorSerial: number;
  timeoutMultiplier: number;
  otRpi: number;
  /** O→T network connection parameters (16-bit word, or 32-bit for Large Forward Open). */
  otParams: number;
  toRpi: number;
  toParams: number;
  transportTrigger: number;
  /** Connection path: route port segments then the Message Router path. */
  path: Segment[];
}

/**
 * Network connection parameters for a point-to-point, variable-size, low-priority connection of
 * `size` bytes (Vol 1 §3-5.4.1.1: size in bits 0-8, or 0-15 for Large Forward Open; variable bit
 * 9/25; type point-to-point = 2 in bits 13-14/29-30).
 * @example connectionParams(504, false) // 0x43f8
 */
export function connectionParams(size: number, large: boolean): number {
  return large ? ((0x4200 << 16) | (size & 0xffff)) >>> 0 : 0x4200 | (size & 0x1ff);
}

/**
 * The connection size in bytes encoded in network connection parameters.
 * @example connectionSizeOf(0x43f8, false) // 504
 */
export function connectionSizeOf(params: number, large: boolean): number {
  return large ? params & 0xffff : params & 0x1ff;
}

/**
 * Encodes a Forward Open or Large Forward Open request (Message Router request to the
 * Connection Manager).
 * @example encodeForwardOpen({ large: true, … path: [...parseRoutePath('1,0'), { type: 'class', id: 2 }, { type: 'instance', id: 1 }] })
 */
export function encodeForwardOpen(f: ForwardOpenRequest): Buffer {
  const path = encodeEpath(f.path);
  const p = f.large ? 4 : 2;
  const b = Buffer.alloc(36 + 2 * p + 1 + path.length);
  let o = 0;
  b[o++] = f.tickTime;
  b[o++] = f.timeoutTicks;
  o = b.writeUInt32LE(f.otConnectionId >>> 0, o);
  o = b.writeUInt32LE(f.toConnectionId >>> 0, o);
  o = b.writeUInt16LE(f.connectionSerial, o);
  o = b.writeUInt16LE(f.vendorId, o);
  o = b.writeUInt32LE(f.originatorSerial >>> 0, o);
  b[o++] = f.timeoutMultiplier;
  o += 3;
  o = b.writeUInt32LE(f.otRpi >>> 0, o);
  o = f.large ? b.writeUInt32LE(f.otParams >>> 0, o) : b.writeUInt16LE(f.otParams, o);
  o = b.writeUInt32LE(f.toRpi >>> 0, o);
  o = f.large ? b.writeUInt32LE(f.toParams >>> 0, o) : b.writeUInt16LE(f.toParams, o);
  b[o++] = f.transportTrigger;
  b[o++] = path.length >> 1;
  path.copy(b, o);
  return encodeRequest({ service: f.large ? Service.LargeForwardOpen : Service.ForwardOpen, path: CONNECTION_MANAGER_PATH, data: b });
}

/**
 * Decodes Forward Open request data (after the Connection Manager path).
 * @example decodeForwardOpen(req.data, req.service === Service.LargeForwardOpen)
 */
export function decodeForwardOpen(buf: Uint8Array, large: boolean): ForwardOpenRequest {
  const r = new ByteReader(buf, large ? 'Large Forward Open' : 'Forward Open');
  const tickTime = r.u8();
  const timeoutTicks = r.u8();
  const otConnectionId = r.u32();
  const toConnectionId = r.u32();
  const connectionSerial = r.u16();
  const vendorId = r.u16();
  const originatorSerial = r.u32();
  const timeoutMultiplier = r.u8();
  r.bytes(3);
  const otRpi = r.u32();
  const otParams = large ? r.u32() : r.u16();
  const toRpi = r.u32();
  const toParams = large ? r.u32() : r.u16();
  const transportTrigger = r.u8();
  const words = r.u8();
  const path = decodeEpath(r.bytes(words * 2));
  return { large, tickTime, timeoutTicks, otConnectionId, toConnectionId, connectionSerial, vendorId, originatorSerial, timeoutMultiplier, otRpi, otParams, toRpi, toParams, transportTrigger, path };
}

/** A successful Forward Open reply (Vol 1 Table 3-5.17). */
export interface ForwardOpenReply {
  otConnectionId: number;
  toConnectionId: number;
  connectionSerial: number;
  vendorId: number;
  originatorSerial: number;
  otApi: number;
  toApi: number;
}

/**
 * Encodes a successful Forward Open reply's data.
 * @example encodeResponse({ service: 0xd4, status: 0, extended: [], data: encodeForwardOpenReply(r) })
 */
export function encodeForwardOpenReply(f: ForwardOpenReply): Buffer {
  const b = Buffer.alloc(26);
  let o = b.writeUInt32LE(f.otConnectionId >>> 0, 0);
  o = b.writeUInt32LE(f.toConnectionId >>> 0, o);
  o = b.writeUInt16LE(f.connectionSerial, o);
  o = b.writeUInt16LE(f.vendorId, o);
  o = b.writeUInt32LE(f.originatorSerial >>> 0, o);
  o = b.writeUInt32LE(f.otApi >>> 0, o);
  b.writeUInt32LE(f.toApi >>> 0, o);
  return b;
}

/**
 * Decodes a successful Forward Open reply's data.
 * @example const { otConnectionId } = decodeForwardOpenReply(res.data)
 */
export function decodeForwardOpenReply(buf: Uint8Array): ForwardOpenReply {
  const r = new ByteReader(buf, 'Forward Open reply');
  return { otConnectionId: r.u32(), toConnectionId: r.u32(), connectionSerial: r.u16(), vendorId: r.u16(), originatorSerial: r.u32(), otApi: r.u32(), toApi: r.u32() };
}

/** Forward Close request parameters (Vol 1 Table 3-5.19). */
export interface ForwardCloseRequest {
  tickTime: number;
  timeoutTicks: number;
  connectionSerial: number;
  vendorId: number;
  originatorSerial: number;
  path: Segment[];
}

/**
 * Encodes a Forward Close request.
 * @example encodeForwardClose({ tickTime: 10, timeoutTicks: 5, connectionSerial, vendorId, originatorSerial, path })
 */
export function encodeForwardClose(f: ForwardCloseRequest): Buffer {
  const path = encodeEpath(f.path);
  const b = Buffer.alloc(12 + path.length);
  b[0] = f.tickTime;
  b[1] = f.timeoutTicks;
  b.writeUInt16LE(f.connectionSerial, 2);
  b.writeUInt16LE(f.vendorId, 4);
  b.writeUInt32LE(f.originatorSerial >>> 0, 6);
  b[10] = path.length >> 1;
  b[11] = 0;
  path.copy(b, 12);
  return encodeRequest({ service: Service.ForwardClose, path: CONNECTION_MANAGER_PATH, data: b });
}

/**
 * Decodes Forward Close request data.
 * @example decodeForwardClose(req.data).connectionSerial
 */
export function decodeForwardClose(buf: Uint8Array): ForwardCloseRequest {
  const r = new ByteReader(buf, 'Forward Close');
  const tickTime = r.u8();
  const timeoutTicks = r.u8();
  const connectionSerial = r.u16();
  const vendorId = r.u16();
  const originatorSerial = r.u32();
  const words = r.u8();
  r.u8();
  const path = decodeEpath(r.bytes(Math.min(words * 2, r.remaining)));
  return { tickTime, timeoutTicks, connectionSerial, vendorId, originatorSerial, path };
}
