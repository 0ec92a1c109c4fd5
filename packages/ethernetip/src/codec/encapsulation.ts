/**
 * @module
 * EtherNet/IP encapsulation (CIP Vol 2 §2-3 and §2-4): the 24-byte header, the commands a Logix
 * client and server exchange, and the Common Packet Format items (§2-6) that carry CIP messages.
 * Pure: bytes in, typed frames out.
 */
import { BifrostError } from '@bifrost/core';
import { ByteReader, malformed } from './reader.js';

/**
 * Length of the encapsulation header (CIP Vol 2 §2-3.1).
 * @example const total = ENCAP_HEADER_SIZE + buf.readUInt16LE(2)
 */
export const ENCAP_HEADER_SIZE = 24;

/**
 * Encapsulation commands (CIP Vol 2 Table 2-3.2).
 * @example encodeEncap({ command: EncapCommand.ListIdentity, session: 0, status: 0, context: 0n, options: 0, data: Buffer.alloc(0) })
 */
export const EncapCommand = {
  NOP: 0x0000,
  ListServices: 0x0004,
  ListIdentity: 0x0063,
  ListInterfaces: 0x0064,
  RegisterSession: 0x0065,
  UnRegisterSession: 0x0066,
  SendRRData: 0x006f,
  SendUnitData: 0x0070,
} as const;

/**
 * Encapsulation status codes (CIP Vol 2 Table 2-3.3).
 * @example EncapStatus[0x64] // 'INVALID_SESSION_HANDLE'
 */
export const EncapStatus: Readonly<Record<number, string>> = {
  0: 'SUCCESS',
  1: 'INVALID_COMMAND',
  2: 'INSUFFICIENT_MEMORY',
  3: 'INCORRECT_DATA',
  100: 'INVALID_SESSION_HANDLE',
  101: 'INVALID_LENGTH',
  105: 'UNSUPPORTED_PROTOCOL_REVISION',
};

/**
 * Common Packet Format item type ids (CIP Vol 2 Table 2-6.3).
 * @example items.find((i) => i.type === CpfType.UnconnectedData)
 */
export const CpfType = {
  NullAddress: 0x0000,
  ListIdentity: 0x000c,
  ConnectedAddress: 0x00a1,
  ConnectedData: 0x00b1,
  UnconnectedData: 0x00b2,
  ListServices: 0x0100,
  SockaddrOT: 0x8000,
  SockaddrTO: 0x8001,
} as const;

/** An encapsulation packet: header fields plus the command-specific data. */
export interface EncapPacket {
  command: number;
  session: number;
  status: number;
  /** The 8-byte sender context, echoed by the target; a bigint for cheap matching. */
  context: bigint;
  options: number;
  data: Buffer;
}

/** One Common Packet Format item. */
export interface CpfItem {
  type: number;
  data: Buffer;
}

/**
 * Encodes an encapsulation packet (header + data).
 * @example encodeEncap({ command: EncapCommand.RegisterSession, session: 0, status: 0, context: 0n, options: 0, data: Buffer.from([1, 0, 0, 0]) })
 */
export function encodeEncap(p: EncapPacket): Buffer {
  const out = Buffer.allocUnsafe(ENCAP_HEADER_SIZE + p.data.length);
  out.writeUInt16LE(p.command, 0);
  out.writeUInt16LE(p.data.length, 2);
  out.writeUInt32LE(p.session >>> 0, 4);
  out.writeUInt32LE(p.status >>> 0, 8);
  out.writeBigUInt64LE(BigInt.asUintN(64, p.context), 12);
  out.writeUInt32LE(p.options >>> 0, 20);
  p.data.copy(out, ENCAP_HEADER_SIZE);
  return out;
}

/**
 * The total length of the packet that starts at `offset`, or -1 when the header is incomplete.
 * Used by the framer: the length field counts the data after the 24-byte header (CIP Vol 2 §2-3.1).
 * @example encapFrameLength(buf) // 24 + data length
 */
export function encapFrameLength(buf: Buffer, offset = 0): number {
  if (buf.length - offset < ENCAP_HEADER_SIZE) return -1;
  return ENCAP_HEADER_SIZE + buf.readUInt16LE(offset + 2);
}

/**
 * Decodes one whole encapsulation packet; throws BIFROST_MALFORMED_FRAME when the length field
 * disagrees with the bytes.
 * @example const p = decodeEncap(frame); if (p.command === EncapCommand.SendRRData) …
 */
export function decodeEncap(buf: Uint8Array): EncapPacket {
  const r = new ByteReader(buf, 'encapsulation header');
  const command = r.u16();
  const length = r.u16();
  const session = r.u32();
  const status = r.u32();
  r.need(8);
  const context = r.buf.readBigUInt64LE(r.offset);
  r.offset += 8;
  const options = r.u32();
  if (r.remaining !== length) malformed(`encapsulation length field says ${length} data bytes, frame has ${r.remaining}`);
  return { command, session, status, context, options, data: r.rest() };
}

/**
 * Encodes Common Packet Format items (CIP Vol 2 §2-6.1): item count, then type/length/data.
 * @example encodeCpf([{ type: CpfType.NullAddress, data: Buffer.alloc(0) }, { type: CpfType.UnconnectedData, data: mr }])
 */
export function encodeCpf(items: readonly CpfItem[]): Buffer {
  let size = 2;
  for (const it of items) size += 4 + it.data.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16LE(items.length, 0);
  let o = 2;
  for (const it of items) {
    out.writeUInt16LE(it.type, o);
    out.writeUInt16LE(it.data.length, o + 2);
    it.data.copy(out, o + 4);
    o += 4 + it.data.length;
  }
  return out;
}

/**
 * Decodes Common Packet Format items.
 * @example const [addr, data] = decodeCpf(r.rest())
 */
export function decodeCpf(buf: Uint8Array): CpfItem[] {
  const r = new ByteReader(buf, 'common packet format');
  const count = r.u16();
  if (count > 16) malformed(`common packet format declares ${count} items; at most 16 are accepted`);
  const items: CpfItem[] = [];
  for (let i = 0; i < count; i++) {
    const type = r.u16();
    const len = r.u16();
    items.push({ type, data: r.bytes(len) });
  }
  return items;
}

/**
 * SendRRData / SendUnitData command data: interface handle (0 = CIP), timeout, CPF items
 * (CIP Vol 2 §2-4.7 and §2-4.8).
 * @example encodeSendData([{ type: CpfType.NullAddress, data: Buffer.alloc(0) }, { type: CpfType.UnconnectedData, data: mr }])
 */
export function encodeSendData(items: readonly CpfItem[], timeout = 0): Buffer {
  const cpf = encodeCpf(items);
  const out = Buffer.allocUnsafe(6 + cpf.length);
  out.writeUInt32LE(0, 0);
  out.writeUInt16LE(timeout, 4);
  cpf.copy(out, 6);
  return out;
}

/** The decoded data of a SendRRData or SendUnitData command. */
export interface SendData {
  interfaceHandle: number;
  timeout: number;
  items: CpfItem[];
}

/**
 * Decodes SendRRData / SendUnitData command data.
 * @example const { items } = decodeSendData(packet.data)
 */
export function decodeSendData(buf: Uint8Array): SendData {
  const r = new ByteReader(buf, 'SendRRData/SendUnitData');
  const interfaceHandle = r.u32();
  const timeout = r.u16();
  return { interfaceHandle, timeout, items: decodeCpf(r.rest()) };
}

/**
 * The unconnected message items: a Null Address item and an Unconnected Data item carrying the
 * message router request (CIP Vol 2 §2-6.2.1 and §2-6.3.2).
 * @example encodeSendData(unconnectedItems(mr))
 */
export function unconnectedItems(mr: Buffer): CpfItem[] {
  return [
    { type: CpfType.NullAddress, data: Buffer.alloc(0) },
    { type: CpfType.UnconnectedData, data: mr },
  ];
}

/**
 * The connected message items: a Connected Address item (connection id) and a Connected Data
 * item whose first two bytes are the sequence count (CIP Vol 2 §2-6.2.2 and §2-6.3.1).
 * @example encodeSendData(connectedItems(connId, seq, mr))
 */
export function connectedItems(connectionId: number, sequence: number, mr: Buffer): CpfItem[] {
  const addr = Buffer.allocUnsafe(4);
  addr.writeUInt32LE(connectionId >>> 0, 0);
  const data = Buffer.allocUnsafe(2 + mr.length);
  data.writeUInt16LE(sequence & 0xffff, 0);
  mr.copy(data, 2);
  return [
    { type: CpfType.ConnectedAddress, data: addr },
    { type: CpfType.ConnectedData, data },
  ];
}

/**
 * RegisterSession command data: protocol version 1, options 0 (CIP Vol 2 §2-4.4).
 * @example encodeEncap({ command: EncapCommand.RegisterSession, …, data: registerSessionData() })
 */
export function registerSessionData(version = 1): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(version, 0);
  return b;
}

/**
 * Throws BIFROST_EIP_ENCAPSULATION for a non-zero encapsulation status.
 * @example checkEncapStatus(decodeEncap(frame), '10.0.0.5')
 */
export function checkEncapStatus(p: EncapPacket, device?: string): void {
  if (p.status === 0) return;
  const name = EncapStatus[p.status] ?? 'UNKNOWN';
  throw new BifrostError(
    'BIFROST_EIP_ENCAPSULATION',
    `encapsulation command 0x${p.command.toString(16).padStart(4, '0')} failed with status 0x${p.status.toString(16)} ${name}${device ? ` on ${device}` : ''}`,
    {
      status: p.status,
      statusName: name,
      ...(device ? { device } : {}),
    },
  );
}

/** The identity a target reports in its ListIdentity reply (CIP Vol 2 Table 2-4.4). */
export interface IdentityItem {
  encapsulationVersion: number;
  /** The socket address the target reports (family, port, IPv4 address). */
  socketAddress: { family: number; port: number; address: string };
  vendorId: number;
  deviceType: number;
  productCode: number;
  revision: { major: number; minor: number };
  status: number;
  serialNumber: number;
  productName: string;
  state: number;
}

/**
 * Encodes the CIP Identity item of a ListIdentity reply. Socket address fields are big-endian
 * (CIP Vol 2 §2-6.3.3: "sockaddr … in network byte order").
 * @example encodeCpf([{ type: CpfType.ListIdentity, data: encodeIdentityItem(id) }])
 */
export function encodeIdentityItem(id: IdentityItem): Buffer {
  const name = Buffer.from(id.productName, 'latin1').subarray(0, 255);
  const b = Buffer.alloc(2 + 16 + 2 + 2 + 2 + 2 + 2 + 4 + 1 + name.length + 1);
  let o = b.writeUInt16LE(id.encapsulationVersion, 0);
  o = b.writeUInt16BE(id.socketAddress.family, o);
  o = b.writeUInt16BE(id.socketAddress.port, o);
  const parts = id.socketAddress.address.split('.').map((x) => Number(x) & 0xff);
  for (let i = 0; i < 4; i++) b[o + i] = parts[i] ?? 0;
  o += 4 + 8;
  o = b.writeUInt16LE(id.vendorId, o);
  o = b.writeUInt16LE(id.deviceType, o);
  o = b.writeUInt16LE(id.productCode, o);
  b[o++] = id.revision.major;
  b[o++] = id.revision.minor;
  o = b.writeUInt16LE(id.status, o);
  o = b.writeUInt32LE(id.serialNumber >>> 0, o);
  b[o++] = name.length;
  name.copy(b, o);
  o += name.length;
  b[o] = id.state;
  return b;
}

/**
 * Decodes the CIP Identity item of a ListIdentity reply.
 * @example const id = decodeIdentityItem(items[0].data)
 */
export function decodeIdentityItem(buf: Uint8Array): IdentityItem {
  const r = new ByteReader(buf, 'ListIdentity identity item');
  const encapsulationVersion = r.u16();
  const sa = r.bytes(16);
  const socketAddress = { family: sa.readUInt16BE(0), port: sa.readUInt16BE(2), address: `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}` };
  const vendorId = r.u16();
  const deviceType = r.u16();
  const productCode = r.u16();
  const major = r.u8();
  const minor = r.u8();
  const status = r.u16();
  const serialNumber = r.u32();
  const nameLen = r.u8();
  const productName = r.bytes(nameLen).toString('latin1');
  const state = r.remaining > 0 ? r.u8() : 0xff;
  return { encapsulationVersion, socketAddress, vendorId, deviceType, productCode, revision: { major, minor }, status, serialNumber, productName, state };
}

/** A service a target lists in its ListServices reply (CIP Vol 2 §2-4.6.3). */
export interface ServiceItem {
  version: number;
  /** Bit 5: CIP encapsulation over TCP; bit 8: CIP class 0/1 over UDP. */
  capabilities: number;
  name: string;
}

/**
 * Encodes a ListServices "Communications" item.
 * @example encodeServiceItem({ version: 1, capabilities: 0x0120, name: 'Communications' })
 */
export function encodeServiceItem(s: ServiceItem): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(s.version, 0);
  b.writeUInt16LE(s.capabilities, 2);
  Buffer.from(s.name, 'latin1').subarray(0, 15).copy(b, 4);
  return b;
}

/**
 * Decodes a ListServices item.
 * @example decodeServiceItem(items[0].data).name // 'Communications'
 */
export function decodeServiceItem(buf: Uint8Array): ServiceItem {
  const r = new ByteReader(buf, 'ListServices item');
  const version = r.u16();
  const capabilities = r.u16();
  const raw = r.bytes(16);
  const nul = raw.indexOf(0);
  return { version, capabilities, name: raw.subarray(0, nul < 0 ? 16 : nul).toString('latin1') };
}

/**
 * A whole SendRRData packet carrying one unconnected message, built in one allocation (the hot
 * path; the same bytes as encodeEncap + encodeSendData + unconnectedItems).
 * @example socket.write(encodeUnconnectedPacket(session, context, mr))
 */
export function encodeUnconnectedPacket(session: number, context: bigint, mr: Buffer): Buffer {
  const dataLen = 6 + 2 + 4 + 4 + mr.length;
  const b = Buffer.allocUnsafe(ENCAP_HEADER_SIZE + dataLen);
  b.writeUInt16LE(EncapCommand.SendRRData, 0);
  b.writeUInt16LE(dataLen, 2);
  b.writeUInt32LE(session >>> 0, 4);
  b.writeUInt32LE(0, 8);
  b.writeBigUInt64LE(BigInt.asUintN(64, context), 12);
  b.writeUInt32LE(0, 20);
  b.writeUInt32LE(0, 24);
  b.writeUInt16LE(0, 28);
  b.writeUInt16LE(2, 30);
  b.writeUInt32LE(CpfType.NullAddress, 32);
  b.writeUInt16LE(CpfType.UnconnectedData, 36);
  b.writeUInt16LE(mr.length, 38);
  mr.copy(b, 40);
  return b;
}

/**
 * A whole SendUnitData packet carrying one connected message with its sequence count, built in
 * one allocation (same bytes as encodeEncap + encodeSendData + connectedItems).
 * @example socket.write(encodeConnectedPacket(session, connectionId, seq, mr))
 */
export function encodeConnectedPacket(session: number, connectionId: number, sequence: number, mr: Buffer): Buffer {
  const dataLen = 6 + 2 + 8 + 4 + 2 + mr.length;
  const b = Buffer.allocUnsafe(ENCAP_HEADER_SIZE + dataLen);
  b.writeUInt16LE(EncapCommand.SendUnitData, 0);
  b.writeUInt16LE(dataLen, 2);
  b.writeUInt32LE(session >>> 0, 4);
  b.writeUInt32LE(0, 8);
  b.writeBigUInt64LE(0n, 12);
  b.writeUInt32LE(0, 20);
  b.writeUInt32LE(0, 24);
  b.writeUInt16LE(0, 28);
  b.writeUInt16LE(2, 30);
  b.writeUInt16LE(CpfType.ConnectedAddress, 32);
  b.writeUInt16LE(4, 34);
  b.writeUInt32LE(connectionId >>> 0, 36);
  b.writeUInt16LE(CpfType.ConnectedData, 40);
  b.writeUInt16LE(2 + mr.length, 42);
  b.writeUInt16LE(sequence & 0xffff, 44);
  mr.copy(b, 46);
  return b;
}
