/**
 * @module
 * Assembles TPKT packets (RFC 1006 §6) from a TCP byte stream, with a required maximum size:
 * a length above it is a BIFROST_FRAME_TOO_LARGE, a bad header a BIFROST_MALFORMED_FRAME.
 */
import { BifrostError } from '@bifrost/core';
import { TPKT_HEADER_SIZE, tpktLength } from './codec/iso-on-tcp.js';

/**
 * Collects stream chunks and returns every complete TPKT packet.
 * @example const asm = new TpktAssembler(4096); socket.on('data', (c) => { for (const p of asm.push(c)) handle(p) })
 */
export class TpktAssembler {
  readonly #max: number;
  #buf: Uint8Array = new Uint8Array(0);

  /** @param maxPacketSize the largest TPKT packet accepted, header included (at most 65535). */
  constructor(maxPacketSize: number) {
    if (!(maxPacketSize >= 7 && maxPacketSize <= 0xffff)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `TPKT maximum size ${maxPacketSize} is not 7…65535`);
    this.#max = maxPacketSize;
  }

  /** Bytes held waiting for the rest of a packet. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Adds a chunk; returns the complete packets it finished (copies that the caller may keep: the chunk may be reused). */
  push(chunk: Uint8Array): Uint8Array[] {
    let buf: Uint8Array;
    if (this.#buf.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.#buf.length + chunk.length);
      buf.set(this.#buf);
      buf.set(chunk, this.#buf.length);
    }
    const out: Uint8Array[] = [];
    let o = 0;
    while (buf.length - o >= TPKT_HEADER_SIZE) {
      const len = tpktLength(buf, o);
      if (len > this.#max) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `TPKT packet of ${len} bytes exceeds the maximum of ${this.#max}`);
      if (buf.length - o < len) break;
      out.push(copy(buf, o, o + len));
      o += len;
    }
    this.#buf = o === buf.length ? new Uint8Array(0) : copy(buf, o, buf.length);
    return out;
  }

  /** Drops any partial packet (after a reconnect). */
  reset(): void {
    this.#buf = new Uint8Array(0);
  }
}

/** A copy as a plain Uint8Array (Buffer#slice would share memory with the socket's chunk). */
function copy(src: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  out.set(src.subarray(from, to));
  return out;
}
