/**
 * @module
 * The on-disk format of the durable queue, as pure functions (no files, no timers) so the queue,
 * its recovery and the fuzz tests share one codec.
 *
 * A segment file is a run of blocks. Each block is one append batch:
 *
 * ```
 *  0  u32  magic 0x42465131 ("BFQ1"), lets recovery find the next block after a corrupt one
 *  4  u32  stored payload length (after compression)
 *  8  u32  raw payload length (before compression)
 * 12  u32  record count
 * 16  u64  sequence number of the first record
 * 24  u64  append time, ms since the Unix epoch (for the oldest-age metric)
 * 32  u8   codec: 0 none, 1 deflate (RFC 1951 raw), 2 brotli (RFC 7932)
 * 33  u8×3 reserved, zero
 * 36  u32  CRC-32C over bytes 4..35 and the stored payload
 * 40       stored payload
 * ```
 *
 * The raw payload is the records, each framed as `u32 length, u32 CRC-32C of the data, data`, so
 * a corrupt record inside an uncompressed block can be skipped on its own. All integers are
 * big-endian (network order), as in the Kafka record-batch format this layout borrows from.
 */
import { BifrostError } from '@bifrost/core';
import { crc32c } from './crc32c.js';

/** "BFQ1". */
export const BLOCK_MAGIC = 0x42465131;
/** Bytes before a block's payload. */
export const BLOCK_HEADER_BYTES = 40;
/** Bytes before each record's data inside a raw payload. */
export const RECORD_HEADER_BYTES = 8;

/** How a block's payload is compressed. */
export type BlockCodec = 'none' | 'deflate' | 'brotli';
const CODEC_IDS: Record<BlockCodec, number> = { none: 0, deflate: 1, brotli: 2 };
const CODEC_NAMES: readonly BlockCodec[] = ['none', 'deflate', 'brotli'];

/** The fields of a block header. */
export interface BlockHeader {
  storedLength: number;
  rawLength: number;
  count: number;
  firstSeq: number;
  appendedAt: number;
  codec: BlockCodec;
}

/** What {@link parseBlockAt} found at an offset. */
export type BlockScan =
  | { kind: 'ok'; header: BlockHeader; payloadStart: number; end: number }
  /** Fewer bytes than the header or its payload need: a torn tail when at the end of a file. */
  | { kind: 'short'; needed: number }
  /** Not a block: wrong magic, impossible header, or CRC mismatch. */
  | { kind: 'bad'; reason: string };

/**
 * Frames records for a raw payload: `u32 length, u32 CRC-32C, data` each.
 * @example const raw = encodeRecords([Buffer.from('{"a":1}')])
 */
export function encodeRecords(records: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const r of records) total += RECORD_HEADER_BYTES + r.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const r of records) {
    out.writeUInt32BE(r.length, o);
    out.writeUInt32BE(crc32c(r), o + 4);
    out.set(r, o + RECORD_HEADER_BYTES);
    o += RECORD_HEADER_BYTES + r.length;
  }
  return out;
}

/**
 * Splits a raw payload into records. A record whose CRC does not match is left out and counted in
 * `corrupt`; when a length runs past the payload, the rest is counted as corrupt against `expected`.
 * @example decodeRecords(encodeRecords([a, b]), 2) // { records: [a, b], corrupt: 0 }
 */
export function decodeRecords(raw: Uint8Array, expected: number): { records: Buffer[]; corrupt: number } {
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  const records: Buffer[] = [];
  let corrupt = 0;
  let o = 0;
  let seen = 0;
  while (o < buf.length) {
    if (o + RECORD_HEADER_BYTES > buf.length) break;
    const len = buf.readUInt32BE(o);
    const crc = buf.readUInt32BE(o + 4);
    const start = o + RECORD_HEADER_BYTES;
    if (start + len > buf.length) break;
    seen++;
    if (crc32c(buf, 0, start, start + len) === crc) records.push(buf.subarray(start, start + len));
    else corrupt++;
    o = start + len;
  }
  if (o < buf.length || seen < expected) corrupt += Math.max(0, expected - seen);
  return { records, corrupt };
}

/**
 * Builds a block header for a stored payload; the CRC covers the header fields and the payload.
 * @example const head = encodeBlockHeader({ storedLength: p.length, rawLength: raw.length, count: 2, firstSeq: 0, appendedAt: Date.now(), codec: 'deflate' }, p)
 */
export function encodeBlockHeader(h: BlockHeader, stored: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK_HEADER_BYTES);
  out.writeUInt32BE(BLOCK_MAGIC, 0);
  out.writeUInt32BE(h.storedLength, 4);
  out.writeUInt32BE(h.rawLength, 8);
  out.writeUInt32BE(h.count, 12);
  writeU64(out, 16, h.firstSeq);
  writeU64(out, 24, h.appendedAt);
  out.writeUInt8(CODEC_IDS[h.codec], 32);
  out.writeUInt32BE(crc32c(stored, crc32c(out, 0, 4, 36)), 36);
  return out;
}

/**
 * Reads the block at `offset` of `buf`, checking magic, limits and CRC-32C.
 * @example const scan = parseBlockAt(file, 0, 16 * 1024 * 1024); if (scan.kind === 'ok') …
 */
export function parseBlockAt(buf: Buffer, offset: number, maxBlockBytes: number): BlockScan {
  if (offset + BLOCK_HEADER_BYTES > buf.length) return { kind: 'short', needed: offset + BLOCK_HEADER_BYTES - buf.length };
  if (buf.readUInt32BE(offset) !== BLOCK_MAGIC) return { kind: 'bad', reason: 'no block magic' };
  const storedLength = buf.readUInt32BE(offset + 4);
  const rawLength = buf.readUInt32BE(offset + 8);
  const count = buf.readUInt32BE(offset + 12);
  const codecId = buf.readUInt8(offset + 32);
  const codec = CODEC_NAMES[codecId];
  if (codec === undefined || storedLength > maxBlockBytes || rawLength > maxBlockBytes || count * RECORD_HEADER_BYTES > rawLength) return { kind: 'bad', reason: 'impossible block header' };
  const end = offset + BLOCK_HEADER_BYTES + storedLength;
  if (end > buf.length) return { kind: 'short', needed: end - buf.length };
  const crc = crc32c(buf, crc32c(buf, 0, offset + 4, offset + 36), offset + BLOCK_HEADER_BYTES, end);
  if (crc !== buf.readUInt32BE(offset + 36)) return { kind: 'bad', reason: 'CRC-32C mismatch' };
  return {
    kind: 'ok',
    header: { storedLength, rawLength, count, firstSeq: readU64(buf, offset + 16), appendedAt: readU64(buf, offset + 24), codec },
    payloadStart: offset + BLOCK_HEADER_BYTES,
    end,
  };
}

/**
 * The offset of the next block after `from` that parses cleanly, or -1.
 * @example const next = findNextBlock(file, badOffset + 1, max)
 */
export function findNextBlock(buf: Buffer, from: number, maxBlockBytes: number): number {
  const magic = Buffer.from([0x42, 0x46, 0x51, 0x31]);
  let at = buf.indexOf(magic, from);
  while (at >= 0) {
    if (parseBlockAt(buf, at, maxBlockBytes).kind === 'ok') return at;
    at = buf.indexOf(magic, at + 1);
  }
  return -1;
}

function writeU64(buf: Buffer, at: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `block field ${n} is not a safe unsigned integer`);
  buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
  buf.writeUInt32BE(n >>> 0, at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}
