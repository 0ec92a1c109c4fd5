/**
 * @module
 * Reassembles encapsulation packets from a TCP byte stream (CIP Vol 2 §2-3: a 24-byte header whose
 * length field counts the data that follows). The maximum packet size is a required option: a
 * larger length field is a BIFROST_FRAME_TOO_LARGE, reported once, after which the stream is dead.
 */
import { BifrostError } from '@bifrost/core';
import { ENCAP_HEADER_SIZE, encapFrameLength } from './codec/encapsulation.js';

/**
 * Splits a byte stream into whole encapsulation packets.
 * @example const framer = new EncapFramer(8192, (frame) => handle(frame), (err) => socket.destroy(err)); socket.on('data', (c) => framer.push(c));
 */
export class EncapFramer {
  readonly #max: number;
  readonly #onFrame: (frame: Buffer) => void;
  readonly #onError: (err: BifrostError) => void;
  #pending: Buffer | undefined;
  #dead = false;

  constructor(maxFrameSize: number, onFrame: (frame: Buffer) => void, onError: (err: BifrostError) => void) {
    if (!(maxFrameSize >= ENCAP_HEADER_SIZE)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `maxFrameSize must be at least ${ENCAP_HEADER_SIZE}`);
    this.#max = maxFrameSize;
    this.#onFrame = onFrame;
    this.#onError = onError;
  }

  push(chunk: Buffer): void {
    if (this.#dead) return;
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const len = encapFrameLength(buf, offset);
      if (len < 0) break;
      if (len > this.#max) {
        this.#dead = true;
        this.#pending = undefined;
        this.#onError(new BifrostError('BIFROST_FRAME_TOO_LARGE', `encapsulation packet of ${len} bytes exceeds the ${this.#max}-byte limit`));
        return;
      }
      if (buf.length - offset < len) break;
      const frame = buf.subarray(offset, offset + len);
      offset += len;
      this.#onFrame(frame);
      if (this.#dead) return;
    }
    if (offset >= buf.length) this.#pending = undefined;
    else {
      buf = buf.subarray(offset);
      // Copy a small remainder so the big chunk it came from can be collected.
      this.#pending = offset > 0 ? Buffer.from(buf) : buf;
    }
  }

  /** Stops delivering frames. */
  stop(): void {
    this.#dead = true;
    this.#pending = undefined;
  }
}
