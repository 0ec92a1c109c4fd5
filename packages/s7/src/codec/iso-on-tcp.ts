/**
 * @module
 * ISO-on-TCP framing: TPKT (RFC 1006 §6) around COTP class 0 TPDUs (ISO 8073 / X.224 §13):
 * connection request (CR), connection confirm (CC), disconnect request (DR) and data (DT).
 * Pure functions, no sockets.
 */
import { BifrostError } from '@bifrost/core';

/**
 * TPKT version, always 3 (RFC 1006 §6).
 * @example packet[0] === TPKT_VERSION
 */
export const TPKT_VERSION = 3;
/**
 * Size of the TPKT header.
 * @example packet.subarray(TPKT_HEADER_SIZE) // the COTP TPDU
 */
export const TPKT_HEADER_SIZE = 4;
/**
 * Size of a COTP DT header (LI, code, TPDU-NR/EOT).
 * @example tpdu.subarray(COTP_DT_HEADER_SIZE) // the S7 PDU of a DT
 */
export const COTP_DT_HEADER_SIZE = 3;

/**
 * COTP TPDU codes (ISO 8073 §13.2.2.3).
 * @example (tpdu[1] & 0xf0) === COTP_CODE.CC
 */
export const COTP_CODE = { CR: 0xe0, CC: 0xd0, DR: 0x80, DT: 0xf0 } as const;

/** A COTP connection request or confirm (ISO 8073 §13.3, §13.4). */
export interface CotpConnect {
  type: 'CR' | 'CC';
  dstRef: number;
  srcRef: number;
  /** Class and options byte; 0 for class 0. */
  classOption: number;
  /** Maximum TPDU size in bytes (a power of two, 128…8192), parameter 0xC0. */
  tpduSize?: number;
  /** Calling TSAP, parameter 0xC1. */
  srcTsap?: number;
  /** Called TSAP, parameter 0xC2. */
  dstTsap?: number;
}

/** A COTP disconnect request (ISO 8073 §13.5). */
export interface CotpDisconnect {
  type: 'DR';
  dstRef: number;
  srcRef: number;
  reason: number;
}

/** A COTP data TPDU, class 0 (ISO 8073 §13.7). */
export interface CotpData {
  type: 'DT';
  /** End of TSDU: the last TPDU of a user message. */
  eot: boolean;
  tpduNr: number;
  payload: Uint8Array;
}

/** Any COTP TPDU this codec knows. */
export type CotpTpdu = CotpConnect | CotpDisconnect | CotpData;

function malformed(why: string, details?: Record<string, unknown>): BifrostError {
  return new BifrostError('BIFROST_MALFORMED_FRAME', `malformed ISO-on-TCP telegram: ${why}`, details ? { details } : {});
}

/**
 * Wraps a payload in a TPKT header (RFC 1006 §6: version 3, reserved 0, 16-bit length incl. header).
 * @example encodeTpkt(Uint8Array.of(0x02, 0xf0, 0x80)) // 03 00 00 07 02 f0 80
 */
export function encodeTpkt(payload: Uint8Array): Uint8Array {
  const total = payload.length + TPKT_HEADER_SIZE;
  if (total > 0xffff) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `TPKT packet of ${total} bytes exceeds 65535`);
  const out = new Uint8Array(total);
  out[0] = TPKT_VERSION;
  out[2] = total >> 8;
  out[3] = total & 0xff;
  out.set(payload, TPKT_HEADER_SIZE);
  return out;
}

/**
 * The total length a TPKT header announces, or throws when the header is not a TPKT header.
 * @example tpktLength(Uint8Array.of(3, 0, 0, 22)) // 22
 */
export function tpktLength(header: Uint8Array, offset = 0): number {
  if (header.length - offset < TPKT_HEADER_SIZE) throw malformed('TPKT header needs 4 bytes');
  if (header[offset] !== TPKT_VERSION) throw malformed(`TPKT version ${header[offset]} is not 3`);
  const len = ((header[offset + 2] as number) << 8) | (header[offset + 3] as number);
  if (len < TPKT_HEADER_SIZE + 2) throw malformed(`TPKT length ${len} is too small`);
  return len;
}

/**
 * Unwraps one complete TPKT packet, returning its payload (a view, not a copy).
 * @example decodeTpkt(Uint8Array.of(3, 0, 0, 7, 2, 0xf0, 0x80)) // 02 f0 80
 */
export function decodeTpkt(packet: Uint8Array): Uint8Array {
  const len = tpktLength(packet);
  if (len !== packet.length) throw malformed(`TPKT length ${len} does not match the ${packet.length} bytes received`);
  return packet.subarray(TPKT_HEADER_SIZE);
}

const log2 = (n: number) => Math.round(Math.log2(n));

/**
 * Encodes a COTP TPDU (without TPKT).
 * @example encodeCotp({ type: 'DT', eot: true, tpduNr: 0, payload }) // 02 f0 80 …payload
 */
export function encodeCotp(tpdu: CotpTpdu): Uint8Array {
  if (tpdu.type === 'DT') {
    const out = new Uint8Array(COTP_DT_HEADER_SIZE + tpdu.payload.length);
    out[0] = 2;
    out[1] = COTP_CODE.DT;
    out[2] = (tpdu.eot ? 0x80 : 0) | (tpdu.tpduNr & 0x7f);
    out.set(tpdu.payload, COTP_DT_HEADER_SIZE);
    return out;
  }
  if (tpdu.type === 'DR') {
    return Uint8Array.of(6, COTP_CODE.DR, tpdu.dstRef >> 8, tpdu.dstRef & 0xff, tpdu.srcRef >> 8, tpdu.srcRef & 0xff, tpdu.reason & 0xff);
  }
  const params: number[] = [];
  if (tpdu.tpduSize !== undefined) params.push(0xc0, 1, log2(tpdu.tpduSize));
  if (tpdu.srcTsap !== undefined) params.push(0xc1, 2, tpdu.srcTsap >> 8, tpdu.srcTsap & 0xff);
  if (tpdu.dstTsap !== undefined) params.push(0xc2, 2, tpdu.dstTsap >> 8, tpdu.dstTsap & 0xff);
  const fixed = [tpdu.type === 'CR' ? COTP_CODE.CR : COTP_CODE.CC, tpdu.dstRef >> 8, tpdu.dstRef & 0xff, tpdu.srcRef >> 8, tpdu.srcRef & 0xff, tpdu.classOption & 0xff];
  return Uint8Array.from([fixed.length + params.length, ...fixed, ...params]);
}

/**
 * Decodes a COTP TPDU (the TPKT payload). Unknown variable-part parameters are skipped.
 * @example decodeCotp(Uint8Array.of(2, 0xf0, 0x80)) // { type: 'DT', eot: true, tpduNr: 0, payload: <empty> }
 */
export function decodeCotp(bytes: Uint8Array): CotpTpdu {
  if (bytes.length < 2) throw malformed('COTP header needs at least 2 bytes');
  const li = bytes[0] as number;
  if (li + 1 > bytes.length) throw malformed(`COTP length indicator ${li} exceeds the ${bytes.length} bytes received`);
  const code = (bytes[1] as number) & 0xf0;
  if (code === COTP_CODE.DT) {
    if (li !== 2 || bytes.length < 3) throw malformed(`COTP DT length indicator ${li} is not 2`);
    const b = bytes[2] as number;
    return { type: 'DT', eot: (b & 0x80) !== 0, tpduNr: b & 0x7f, payload: bytes.subarray(li + 1) };
  }
  const u16 = (i: number) => ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (code === COTP_CODE.DR) {
    if (li < 6) throw malformed(`COTP DR length indicator ${li} is below 6`);
    return { type: 'DR', dstRef: u16(2), srcRef: u16(4), reason: bytes[6] as number };
  }
  if (code === COTP_CODE.CR || code === COTP_CODE.CC) {
    if (li < 6) throw malformed(`COTP ${code === COTP_CODE.CR ? 'CR' : 'CC'} length indicator ${li} is below 6`);
    const out: CotpConnect = { type: code === COTP_CODE.CR ? 'CR' : 'CC', dstRef: u16(2), srcRef: u16(4), classOption: bytes[6] as number };
    let i = 7;
    while (i < li + 1) {
      if (i + 2 > li + 1) throw malformed('COTP parameter header truncated');
      const p = bytes[i] as number;
      const n = bytes[i + 1] as number;
      if (i + 2 + n > li + 1) throw malformed(`COTP parameter 0x${p.toString(16)} of ${n} bytes overruns the header`);
      if (p === 0xc0 && n === 1) {
        const e = bytes[i + 2] as number;
        if (e < 7 || e > 13) throw malformed(`COTP TPDU size code 0x${e.toString(16)} is not 0x07…0x0d`);
        out.tpduSize = 1 << e;
      } else if (p === 0xc1 && n === 2) out.srcTsap = u16(i + 2);
      else if (p === 0xc2 && n === 2) out.dstTsap = u16(i + 2);
      i += 2 + n;
    }
    return out;
  }
  throw malformed(`unknown COTP TPDU code 0x${(bytes[1] as number).toString(16)}`);
}

/**
 * Encodes a COTP TPDU inside a TPKT packet, ready for the socket.
 * @example encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: s7pdu })
 */
export function encodeIsoPacket(tpdu: CotpTpdu): Uint8Array {
  return encodeTpkt(encodeCotp(tpdu));
}

/**
 * Decodes one complete TPKT packet to its COTP TPDU.
 * @example decodeIsoPacket(packet).type // 'CC'
 */
export function decodeIsoPacket(packet: Uint8Array): CotpTpdu {
  return decodeCotp(decodeTpkt(packet));
}

/**
 * Connection types (high byte of the remote TSAP): PG, OP, S7 basic (Siemens S7 communication manual, "TSAP").
 * @example (CONNECTION_TYPE.op << 8) | slot // remote TSAP of an OP connection to rack 0
 */
export const CONNECTION_TYPE = { pg: 1, op: 2, basic: 3 } as const;
/** A connection type name. */
export type ConnectionType = keyof typeof CONNECTION_TYPE;

/**
 * The remote TSAP of an S7-300/400/1200/1500 CPU: connection type in the high byte, rack·32 + slot in the low byte.
 * @example remoteTsapFor(0, 2) // 0x0102 (PG connection to rack 0, slot 2)
 */
export function remoteTsapFor(rack: number, slot: number, type: ConnectionType = 'pg'): number {
  return (CONNECTION_TYPE[type] << 8) | ((rack & 0x07) << 5) | (slot & 0x1f);
}
