/**
 * @module
 * A bounds-checked little-endian reader: every CIP and encapsulation field is little-endian
 * (CIP Vol 1 §C-1.4), and a short buffer is always a BIFROST_MALFORMED_FRAME, never a RangeError.
 */
import { BifrostError } from '@bifrost/core';

/**
 * Reads little-endian fields from a buffer, throwing BIFROST_MALFORMED_FRAME on overrun.
 * @example const r = new ByteReader(buf, 'ListIdentity reply'); const vendor = r.u16();
 */
export class ByteReader {
  readonly buf: Buffer;
  offset: number;
  readonly #what: string;

  constructor(buf: Uint8Array, what: string, offset = 0) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.offset = offset;
    this.#what = what;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  need(n: number): void {
    if (this.offset + n > this.buf.length) {
      throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.#what}: needs ${n} more bytes at offset ${this.offset}, has ${this.buf.length - this.offset}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.offset++] as number;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return b;
  }
}

/**
 * Throws BIFROST_MALFORMED_FRAME naming what is wrong.
 * @example if (count > 16) malformed(`too many items: ${count}`)
 */
export function malformed(message: string): never {
  throw new BifrostError('BIFROST_MALFORMED_FRAME', message);
}
