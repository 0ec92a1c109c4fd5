/**
 * @module
 * Modbus framing, pure: the MBAP header of Modbus TCP (Modbus Messaging on TCP/IP Implementation
 * Guide V1.0b §3.1.3), the RTU frame with its CRC-16 (Modbus over Serial Line V1.02 §2.5.1, §6.2.2),
 * and assemblers that cut frames out of a byte stream with a required maximum size. RTU over TCP
 * is the RTU frame carried on a TCP stream.
 */
import { BifrostError } from '@bifrost/core';
import { Limits } from './constants.js';

/**
 * The MBAP header is 7 bytes: transaction id, protocol id (0), length, unit id.
 * @example const pdu = frame.subarray(MBAP_HEADER_LENGTH)
 */
export const MBAP_HEADER_LENGTH = 7;

/** A decoded Modbus TCP frame. */
export interface TcpFrame {
  transactionId: number;
  unitId: number;
  pdu: Uint8Array;
}

/** A decoded RTU frame (the CRC already checked). */
export interface RtuFrame {
  unitId: number;
  pdu: Uint8Array;
}

// CRC-16/MODBUS, polynomial 0xA001 reflected, initial 0xFFFF (Serial Line V1.02 §6.2.2), by table.
const CRC_TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  CRC_TABLE[i] = c;
}

/**
 * CRC-16/MODBUS of `buf[start, end)`. On the wire it is sent low byte first.
 * @example crc16(Buffer.from('0103006b0003', 'hex')) // 0x1774 → sent as 74 17
 */
export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ (buf[i] as number)) & 0xff] as number);
  return crc;
}

/**
 * Wraps a PDU in an MBAP header.
 * @example encodeTcpFrame(1, 0x11, pdu) // 00 01 00 00 00 06 11 …
 */
export function encodeTcpFrame(transactionId: number, unitId: number, pdu: Uint8Array): Buffer {
  if (pdu.length < 1 || pdu.length > Limits.maxPdu) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `PDU of ${pdu.length} bytes is not in 1..${Limits.maxPdu}`);
  const buf = Buffer.allocUnsafe(MBAP_HEADER_LENGTH + pdu.length);
  writeMbapHeader(buf, transactionId, unitId, pdu.length);
  buf.set(pdu, MBAP_HEADER_LENGTH);
  return buf;
}

/**
 * Writes the 7-byte MBAP header for a PDU of `pduLength` bytes at the start of `buf`.
 * @example writeMbapHeader(buf, 1, 0x11, 5) // 00 01 00 00 00 06 11
 */
export function writeMbapHeader(buf: Buffer, transactionId: number, unitId: number, pduLength: number): void {
  buf[0] = (transactionId >> 8) & 0xff;
  buf[1] = transactionId & 0xff;
  buf[2] = 0;
  buf[3] = 0;
  // §3.1.3: the length counts the unit identifier and the PDU.
  buf[4] = ((pduLength + 1) >> 8) & 0xff;
  buf[5] = (pduLength + 1) & 0xff;
  buf[6] = unitId;
}

/**
 * Decodes exactly one Modbus TCP frame.
 * @example decodeTcpFrame(Buffer.from('0001000000061103006b0003', 'hex'))
 */
export function decodeTcpFrame(buf: Uint8Array, maxFrameSize: number = Limits.maxTcpAdu): TcpFrame {
  let out: TcpFrame | undefined;
  const a = new MbapFrameAssembler(
    {
      frame(transactionId, unitId, pdu) {
        if (out) throw new BifrostError('BIFROST_MALFORMED_FRAME', 'more than one MBAP frame in the buffer');
        out = { transactionId, unitId, pdu };
      },
      error(err) {
        throw err;
      },
    },
    { maxFrameSize },
  );
  a.push(buf);
  if (!out || a.buffered > 0) throw new BifrostError('BIFROST_MALFORMED_FRAME', `incomplete MBAP frame (${buf.length} bytes)`);
  return out;
}

/**
 * Wraps a PDU in an RTU frame: unit id, PDU, CRC low byte, CRC high byte.
 * @example encodeRtuFrame(1, Buffer.from('03006b0003', 'hex')) // 01 03 00 6b 00 03 74 17
 */
export function encodeRtuFrame(unitId: number, pdu: Uint8Array): Buffer {
  if (pdu.length < 1 || pdu.length > Limits.maxPdu) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `PDU of ${pdu.length} bytes is not in 1..${Limits.maxPdu}`);
  const buf = Buffer.allocUnsafe(pdu.length + 3);
  buf[0] = unitId;
  buf.set(pdu, 1);
  writeCrc(buf, pdu.length + 1);
  return buf;
}

/**
 * Writes the CRC of `buf[0, end)` at `end` (low byte first).
 * @example writeCrc(frame, frame.length - 2) // fills the last two bytes
 */
export function writeCrc(buf: Uint8Array, end: number): void {
  const crc = crc16(buf, 0, end);
  buf[end] = crc & 0xff;
  buf[end + 1] = crc >>> 8;
}

/**
 * Decodes exactly one RTU frame, checking its CRC.
 * @example decodeRtuFrame(Buffer.from('0103006b00037417', 'hex')) // { unitId: 1, pdu: <03 00 6b 00 03> }
 */
export function decodeRtuFrame(buf: Uint8Array): RtuFrame {
  if (buf.length < 4) throw new BifrostError('BIFROST_MALFORMED_FRAME', `RTU frame needs at least 4 bytes, got ${buf.length}`);
  if (buf.length > Limits.maxRtuAdu) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `RTU frame of ${buf.length} bytes exceeds ${Limits.maxRtuAdu}`);
  checkCrc(buf, buf.length);
  return { unitId: buf[0] as number, pdu: buf.subarray(1, buf.length - 2) };
}

function checkCrc(buf: Uint8Array, len: number): void {
  const want = crc16(buf, 0, len - 2);
  const got = (buf[len - 2] as number) | ((buf[len - 1] as number) << 8);
  if (want !== got) {
    throw new BifrostError('BIFROST_MODBUS_CRC', `RTU CRC mismatch: frame says 0x${got.toString(16).padStart(4, '0')}, computed 0x${want.toString(16).padStart(4, '0')}`, {
      details: { frame: Buffer.from(buf.subarray(0, len)).toString('hex') },
    });
  }
}

/**
 * The RTU silent interval t3.5 in ms: 3.5 character times of 11 bits, fixed at 1.75 ms above
 * 19200 baud (Serial Line V1.02 §2.5.1.1).
 * @example rtuSilentIntervalMs(9600) // 4.01
 */
export function rtuSilentIntervalMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

/** Receives frames from an assembler. Methods, not closures, so a client implements them once. */
export interface FrameHandler<F extends unknown[]> {
  frame(...args: F): void;
  error(err: BifrostError): void;
}

/** Options of the assemblers. */
export interface AssemblerOptions {
  /** Largest frame accepted, header and CRC included (default the protocol's maximum). */
  maxFrameSize?: number;
}

/**
 * Cuts MBAP frames out of a TCP byte stream. A frame that claims more than `maxFrameSize` bytes,
 * or a protocol id other than 0, is an error after which the stream cannot be trusted: the owner
 * closes the connection.
 * @example const a = new MbapFrameAssembler(handler); socket.on('data', (c) => a.push(c));
 */
export class MbapFrameAssembler {
  readonly #handler: FrameHandler<[transactionId: number, unitId: number, pdu: Uint8Array]>;
  readonly #max: number;
  #rest: Uint8Array | undefined;
  #broken = false;

  constructor(handler: FrameHandler<[transactionId: number, unitId: number, pdu: Uint8Array]>, options: AssemblerOptions = {}) {
    this.#handler = handler;
    this.#max = options.maxFrameSize ?? Limits.maxTcpAdu;
  }

  /** Bytes held of an incomplete frame. */
  get buffered(): number {
    return this.#rest?.length ?? 0;
  }

  /** Forgets any partial frame and the broken state (after a reconnect). */
  reset(): void {
    this.#rest = undefined;
    this.#broken = false;
  }

  /** Feeds bytes; calls the handler for each complete frame. Frame PDUs are views, never reused buffers. */
  push(chunk: Uint8Array): void {
    if (this.#broken) return;
    // Joining allocates a fresh buffer, so views handed out earlier are never overwritten.
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let o = 0;
    const n = buf.length;
    while (n - o >= MBAP_HEADER_LENGTH) {
      const length = ((buf[o + 4] as number) << 8) | (buf[o + 5] as number);
      const protocolId = ((buf[o + 2] as number) << 8) | (buf[o + 3] as number);
      if (protocolId !== 0) {
        this.#fail(new BifrostError('BIFROST_MALFORMED_FRAME', `MBAP protocol id ${protocolId} is not 0 (Modbus)`));
        return;
      }
      if (length < 2) {
        this.#fail(new BifrostError('BIFROST_MALFORMED_FRAME', `MBAP length ${length} is below the minimum of 2`));
        return;
      }
      const total = 6 + length;
      if (total > this.#max) {
        this.#fail(new BifrostError('BIFROST_FRAME_TOO_LARGE', `MBAP frame of ${total} bytes exceeds the maximum of ${this.#max}`));
        return;
      }
      if (n - o < total) break;
      const tid = ((buf[o] as number) << 8) | (buf[o + 1] as number);
      this.#handler.frame(tid, buf[o + 6] as number, buf.subarray(o + 7, o + total));
      o += total;
    }
    if (o < n) this.#rest = buf.subarray(o);
  }

  #fail(err: BifrostError): void {
    this.#broken = true;
    this.#rest = undefined;
    this.#handler.error(err);
  }
}

/** Which side of the line an RTU assembler listens on: a server reads requests, a client responses. */
export type RtuSide = 'request' | 'response';

/**
 * The total length of the RTU frame starting at `o`, or 0 when more bytes are needed to know it;
 * -1 when the function code is unknown. Serial lines have no length field: the length follows
 * from the function code and byte counts of each PDU (MB App Protocol §6).
 * @example rtuFrameLength(Buffer.from('0103006b0003', 'hex'), 0, 'request') // 8
 */
export function rtuFrameLength(buf: Uint8Array, o: number, side: RtuSide): number {
  const avail = buf.length - o;
  if (avail < 2) return 0;
  const fc = buf[o + 1] as number;
  if (side === 'response') {
    if (fc & 0x80) return 5;
    switch (fc) {
      case 1:
      case 2:
      case 3:
      case 4:
      case 23:
        return avail < 3 ? 0 : 5 + (buf[o + 2] as number);
      case 5:
      case 6:
      case 15:
      case 16:
        return 8;
      case 22:
        return 10;
      case 43: {
        if (avail < 8) return 0;
        const count = buf[o + 7] as number;
        let p = o + 8;
        for (let i = 0; i < count; i++) {
          if (buf.length < p + 2) return 0;
          p += 2 + (buf[p + 1] as number);
        }
        return p - o + 2;
      }
      default:
        return -1;
    }
  }
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
      return 8;
    case 15:
    case 16:
      return avail < 7 ? 0 : 9 + (buf[o + 6] as number);
    case 22:
      return 10;
    case 23:
      return avail < 11 ? 0 : 13 + (buf[o + 10] as number);
    case 43:
      return 7;
    default:
      return -1;
  }
}

/**
 * Cuts RTU frames out of a byte stream (serial line or RTU over TCP), checking each CRC. After a
 * CRC error or an unknown function code the buffered bytes are dropped to resynchronise; on a
 * serial line the transport also calls {@link RtuFrameAssembler.reset} after a silent interval.
 * @example const a = new RtuFrameAssembler(handler, 'response'); port.on('data', (c) => a.push(c));
 */
export class RtuFrameAssembler {
  readonly #handler: FrameHandler<[unitId: number, pdu: Uint8Array]>;
  readonly #side: RtuSide;
  readonly #max: number;
  #rest: Uint8Array | undefined;

  constructor(handler: FrameHandler<[unitId: number, pdu: Uint8Array]>, side: RtuSide, options: AssemblerOptions = {}) {
    this.#handler = handler;
    this.#side = side;
    this.#max = options.maxFrameSize ?? Limits.maxRtuAdu;
  }

  /** Bytes held of an incomplete frame. */
  get buffered(): number {
    return this.#rest?.length ?? 0;
  }

  /** Drops a partial frame (t3.5 of silence ends any frame, Serial Line §2.5.1.1). */
  reset(): void {
    this.#rest = undefined;
  }

  /** Feeds bytes; calls the handler for each complete, CRC-checked frame. */
  push(chunk: Uint8Array): void {
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let o = 0;
    const n = buf.length;
    while (o < n) {
      const len = rtuFrameLength(buf, o, this.#side);
      if (len === 0) break;
      if (len < 0) {
        this.#handler.error(new BifrostError('BIFROST_MALFORMED_FRAME', `RTU frame with unknown function code ${buf[o + 1]}; ${n - o} bytes dropped`));
        return;
      }
      if (len > this.#max) {
        this.#handler.error(new BifrostError('BIFROST_FRAME_TOO_LARGE', `RTU frame of ${len} bytes exceeds the maximum of ${this.#max}; ${n - o} bytes dropped`));
        return;
      }
      if (n - o < len) break;
      const frame = buf.subarray(o, o + len);
      try {
        checkCrc(frame, len);
      } catch (e) {
        this.#handler.error(e as BifrostError);
        return;
      }
      this.#handler.frame(frame[0] as number, frame.subarray(1, len - 2));
      o += len;
    }
    if (o < n) this.#rest = buf.subarray(o);
  }
}
