/**
 * @module
 * Padded EPATH encoding and decoding (CIP Vol 1 Appendix C): port segments for routing, logical
 * class/instance/attribute/member segments, and ANSI extended symbolic segments for Logix tag
 * names (1756-PM020 "Logix 5000 Data Access", "IOI" request paths).
 */
import { ByteReader, malformed } from './reader.js';

/** One EPATH segment. `element` is the Logix array index (logical member segment, C-1.4.2). */
export type Segment =
  | { type: 'port'; port: number; link: number | string }
  | { type: 'class'; id: number }
  | { type: 'instance'; id: number }
  | { type: 'attribute'; id: number }
  | { type: 'element'; index: number }
  | { type: 'connectionPoint'; id: number }
  | { type: 'symbolic'; name: string };

// Logical segment type bits (CIP Vol 1 Table C-1.3): 001 LLL FF with LLL the logical type and FF the format.
const LOGICAL_TYPE: Record<string, number> = { class: 0x20, instance: 0x24, element: 0x28, connectionPoint: 0x2c, attribute: 0x30 };

function logicalSize(id: number): number {
  return id <= 0xff ? 2 : id <= 0xffff ? 4 : 6;
}

/** Bytes one segment takes in a padded EPATH. */
function segmentSize(s: Segment): number {
  switch (s.type) {
    case 'port': {
      const linkLen = typeof s.link === 'string' ? s.link.length : s.link <= 0xff ? 1 : 0;
      const portExt = s.port > 14 ? 2 : 0;
      if (typeof s.link === 'number' && s.link <= 0xff) return 2 + portExt;
      const len = typeof s.link === 'string' ? linkLen : 4;
      return 2 + portExt + len + (len & 1);
    }
    case 'symbolic': {
      const n = Buffer.byteLength(s.name, 'latin1');
      return 2 + n + (n & 1);
    }
    case 'element':
      return logicalSize(s.index);
    default:
      return logicalSize(s.id);
  }
}

/**
 * Encodes segments as a padded EPATH (without the size byte).
 * @example encodeEpath([{ type: 'class', id: 2 }, { type: 'instance', id: 1 }]) // 20 02 24 01
 */
export function encodeEpath(segments: readonly Segment[]): Buffer {
  let size = 0;
  for (const s of segments) size += segmentSize(s);
  const b = Buffer.alloc(size);
  let o = 0;
  for (const s of segments) {
    switch (s.type) {
      case 'port': {
        // Port segment (CIP Vol 1 §C-1.4.1): bit 4 = extended link address, low nibble = port (15 = UINT follows).
        const numericLink = typeof s.link === 'number' && s.link <= 0xff;
        const linkBytes = typeof s.link === 'string' ? Buffer.from(s.link, 'latin1') : numericLink ? undefined : uint32(s.link);
        b[o++] = (linkBytes ? 0x10 : 0) | (s.port > 14 ? 0x0f : s.port);
        if (linkBytes) b[o++] = linkBytes.length;
        if (s.port > 14) o = b.writeUInt16LE(s.port, linkBytes ? o : o);
        if (linkBytes) {
          linkBytes.copy(b, o);
          o += linkBytes.length + (linkBytes.length & 1);
        } else b[o++] = s.link as number;
        break;
      }
      case 'symbolic': {
        // ANSI extended symbol segment 0x91 (CIP Vol 1 §C-1.5), padded to an even length.
        const n = Buffer.byteLength(s.name, 'latin1');
        b[o++] = 0x91;
        b[o++] = n;
        b.write(s.name, o, 'latin1');
        o += n + (n & 1);
        break;
      }
      default: {
        const id = s.type === 'element' ? s.index : s.id;
        const base = LOGICAL_TYPE[s.type] as number;
        if (id <= 0xff) {
          b[o++] = base;
          b[o++] = id;
        } else if (id <= 0xffff) {
          b[o++] = base | 1;
          o++;
          o = b.writeUInt16LE(id, o);
        } else {
          b[o++] = base | 2;
          o++;
          o = b.writeUInt32LE(id >>> 0, o);
        }
      }
    }
  }
  return b;
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

const LOGICAL_NAME: Record<number, Segment['type']> = { 0: 'class', 1: 'instance', 2: 'element', 3: 'connectionPoint', 4: 'attribute' };

/**
 * Decodes a padded EPATH of `buf.length` bytes into segments.
 * @example decodeEpath(Buffer.from('20022401', 'hex')) // [{type:'class',id:2},{type:'instance',id:1}]
 */
export function decodeEpath(buf: Uint8Array): Segment[] {
  const r = new ByteReader(buf, 'EPATH');
  const out: Segment[] = [];
  while (r.remaining > 0) {
    const head = r.u8();
    const kind = head >> 5;
    if (kind === 0) {
      const extended = (head & 0x10) !== 0;
      let port = head & 0x0f;
      const linkLen = extended ? r.u8() : 1;
      if (port === 0x0f) port = r.u16();
      if (!extended) out.push({ type: 'port', port, link: r.u8() });
      else {
        const raw = r.bytes(linkLen);
        if (linkLen & 1) r.u8();
        out.push({ type: 'port', port, link: /^[\x20-\x7e]+$/.test(raw.toString('latin1')) ? raw.toString('latin1') : linkLen === 4 ? raw.readUInt32LE(0) : raw.toString('latin1') });
      }
    } else if (kind === 1) {
      const t = LOGICAL_NAME[(head >> 2) & 0x07];
      if (!t) malformed(`EPATH: unsupported logical segment 0x${head.toString(16)}`);
      const format = head & 0x03;
      let id: number;
      if (format === 0) id = r.u8();
      else if (format === 1) {
        r.u8();
        id = r.u16();
      } else if (format === 2) {
        r.u8();
        id = r.u32();
      } else malformed(`EPATH: reserved logical format in 0x${head.toString(16)}`);
      out.push(t === 'element' ? { type: 'element', index: id } : ({ type: t, id } as Segment));
    } else if (head === 0x91) {
      const n = r.u8();
      const name = r.bytes(n).toString('latin1');
      if (n & 1) r.u8();
      out.push({ type: 'symbolic', name });
    } else {
      malformed(`EPATH: unsupported segment type 0x${head.toString(16)}`);
    }
  }
  return out;
}

/**
 * Parses a routing path option such as `1,0` or `1,0,2,10.0.0.5` into port segments (pairs of
 * port and link address). Throws BIFROST_MALFORMED_FRAME-free errors via the caller.
 * @example parseRoutePath('1,0') // [{ type: 'port', port: 1, link: 0 }]
 */
export function parseRoutePath(text: string): Segment[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const parts = trimmed.split(',').map((p) => p.trim());
  if (parts.length % 2 !== 0) throw new RangeError(`routing path "${text}" must be pairs of port,link (e.g. 1,0)`);
  const out: Segment[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const port = Number(parts[i]);
    const linkText = parts[i + 1] as string;
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`routing path "${text}": port "${parts[i]}" must be an integer from 1 to 65535`);
    const link = /^\d+$/.test(linkText) ? Number(linkText) : linkText;
    if (typeof link === 'string' && !/^[\w.:-]+$/.test(link)) throw new RangeError(`routing path "${text}": link address "${linkText}" is not a number or an IP address`);
    out.push({ type: 'port', port, link });
  }
  return out;
}
