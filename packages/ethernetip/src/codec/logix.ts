/**
 * @module
 * Logix specifics (Rockwell 1756-PM020 "Logix 5000 Controllers Data Access"): atomic type codes,
 * the structure type 0x02A0 with its handle, the Logix STRING layout, Read/Write Tag
 * (fragmented) request data, Read-Modify-Write masks, the symbolic tag address syntax
 * (`Program:Main.Motor[3].Speed`, `Counter.5`, `Temps{10}`, `:DINT`), the Symbol Object 0x6B
 * instance list and the Template Object 0x6C definitions.
 */
import { BifrostError, type DataType, decodeValue, encodeValueInto, parseDataType, type Scalar, type Value } from '@bifrost/core';
import { encodeEpath, type Segment } from './epath.js';
import { ByteReader, malformed } from './reader.js';

/**
 * CIP elementary type codes (CIP Vol 1 §C-6.1; 1756-PM020 "Atomic Data Types").
 * @example writeTagData({ code: CipType.DINT }, 1, data)
 */
export const CipType = {
  BOOL: 0xc1,
  SINT: 0xc2,
  INT: 0xc3,
  DINT: 0xc4,
  LINT: 0xc5,
  USINT: 0xc6,
  UINT: 0xc7,
  UDINT: 0xc8,
  ULINT: 0xc9,
  REAL: 0xca,
  LREAL: 0xcb,
  WORD: 0xd1,
  DWORD: 0xd2,
  BIT_STRING: 0xd3,
  LWORD: 0xd4,
  /** Structured types: followed in the data by a UINT structure handle. */
  STRUCT: 0x02a0,
} as const;

/**
 * The structure handle of the predefined Logix STRING (LEN DINT, DATA SINT[82]).
 * @example encodeTypeId({ code: CipType.STRUCT, handle: STRING_HANDLE }) // a0 02 ce 0f
 */
export const STRING_HANDLE = 0x0fce;
/**
 * Bytes of a Logix STRING: 4 (LEN) + 82 (DATA) + 2 padding to a 4-byte boundary.
 * @example Buffer.alloc(STRING_SIZE * count)
 */
export const STRING_SIZE = 88;
/**
 * Characters a Logix STRING holds.
 * @example if (s.length > STRING_CAPACITY) …
 */
export const STRING_CAPACITY = 82;

const CODE_TO_TYPE: Record<number, DataType> = {
  193: 'BOOL',
  194: 'SINT',
  195: 'INT',
  196: 'DINT',
  197: 'LINT',
  198: 'USINT',
  199: 'UINT',
  200: 'UDINT',
  201: 'ULINT',
  202: 'REAL',
  203: 'LREAL',
  209: 'UINT',
  210: 'UDINT',
  211: 'UDINT',
  212: 'ULINT',
};
// The atomic Logix types share their names with Bifrost's: their codes come from CipType.
const TYPE_TO_CODE: Partial<Record<DataType, number>> = Object.fromEntries(
  (['BOOL', 'SINT', 'INT', 'DINT', 'LINT', 'USINT', 'UINT', 'UDINT', 'ULINT', 'REAL', 'LREAL'] as const).map((t) => [t, CipType[t]]),
);
const CODE_NAME: Record<number, string> = { 209: 'WORD', 210: 'DWORD', 211: 'BIT_STRING', 212: 'LWORD' };

/**
 * Size in bytes of an atomic type code, or 0 if it is not atomic.
 * @example atomicSize(0xca) // 4
 */
export function atomicSize(code: number): number {
  if (code === 0xc1 || code === 0xc2 || code === 0xc6) return 1;
  if (code === 0xc3 || code === 0xc7 || code === 0xd1) return 2;
  if (code === 0xc4 || code === 0xc8 || code === 0xca || code === 0xd2 || code === 0xd3) return 4;
  if (code === 0xc5 || code === 0xc9 || code === 0xcb || code === 0xd4) return 8;
  return 0;
}

/**
 * The Bifrost data type of a CIP atomic type code.
 * @example dataTypeOf(0xc4) // 'DINT'
 */
export function dataTypeOf(code: number): DataType | undefined {
  return CODE_TO_TYPE[code];
}

/**
 * The CIP type code of a Bifrost data type (STRING is a structure: use STRUCT + STRING_HANDLE).
 * @example cipTypeOf('REAL') // 0xca
 */
export function cipTypeOf(type: DataType): number | undefined {
  return TYPE_TO_CODE[type];
}

/**
 * The Logix name of a type code, e.g. `DINT`, `BIT_STRING`.
 * @example typeName(0xd3) // 'BIT_STRING'
 */
export function typeName(code: number): string {
  return CODE_NAME[code] ?? CODE_TO_TYPE[code] ?? `0x${code.toString(16)}`;
}

/** The type a Read Tag reply carries: an atomic code, or STRUCT with its handle. */
export interface TagType {
  code: number;
  /** Structure handle when code is STRUCT. */
  handle?: number;
}

/** A parsed Logix tag address. */
export interface LogixAddress {
  /** The address as given. */
  address: string;
  /** The tag path without bit, count or type hint, e.g. `Program:Main.Motor[3].Speed`. */
  tag: string;
  /** The IOI segments: symbolic names and element indexes. */
  segments: Segment[];
  /** Bit of an integer tag (`Counter.5`). */
  bit?: number;
  /** Elements to read (`{n}` suffix), default 1. */
  count: number;
  /** The `:TYPE` hint. */
  type?: DataType;
  /** The encoded request path. */
  path: Buffer;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

function invalid(address: string, why: string): never {
  throw new BifrostError(
    'BIFROST_INVALID_ADDRESS',
    `"${address}" is not a Logix tag address: ${why}; expected e.g. Counter, Temps[3], Motor1.Speed, Program:Main.X, Counter.5, Temps{10}, Setpoint:REAL`,
    {
      address,
    },
  );
}

/**
 * Parses a Logix symbolic address: `Tag`, `Tag[1]`, `Tag[1,2]`, `Udt.Member`, `Program:Name.Tag`,
 * a bit of an integer `Tag.5`, an element count `Tag{10}` (or `Tag[0]{10}`) and a `:TYPE` hint.
 * Throws BIFROST_INVALID_ADDRESS naming the address.
 * @example parseLogixAddress('Program:Main.Motor[3].Speed:REAL').segments.length // 4
 */
export function parseLogixAddress(address: string): LogixAddress {
  let text = address.trim();
  if (text === '') invalid(address, 'it is empty');
  let type: DataType | undefined;
  const hint = /:([A-Za-z][A-Za-z0-9_]*)$/.exec(text);
  if (hint && !/^program$/i.test(text.slice(0, hint.index))) {
    try {
      type = parseDataType(hint[1] as string);
    } catch {
      invalid(address, `unknown type hint "${hint[1]}"`);
    }
    text = text.slice(0, hint.index);
  }
  let count = 1;
  const cnt = /\{(\d+)\}$/.exec(text);
  if (cnt) {
    count = Number(cnt[1]);
    if (!(count >= 1 && count <= 0xffff)) invalid(address, `element count ${cnt[1]} must be 1..65535`);
    text = text.slice(0, cnt.index);
  }
  const segments: Segment[] = [];
  let rest = text;
  let program = '';
  const prog = /^program:([A-Za-z_][A-Za-z0-9_]{0,39})\./i.exec(rest);
  if (prog) {
    program = `Program:${prog[1]}`;
    segments.push({ type: 'symbolic', name: program });
    rest = rest.slice(prog[0].length);
  } else if (/^program:/i.test(rest)) invalid(address, 'a program-scoped tag is written Program:<program>.<tag>');
  const parts = rest.split('.');
  let bit: number | undefined;
  for (let i = 0; i < parts.length; i++) {
    const part = (parts[i] as string).trim();
    if (/^\d+$/.test(part)) {
      if (i === 0 || i !== parts.length - 1) invalid(address, `"${part}" can only be a bit number at the end`);
      bit = Number(part);
      if (bit > 63) invalid(address, `bit ${bit} is above 63`);
      break;
    }
    const m = /^([^[\]]+)(?:\[([^\]]*)\])?$/.exec(part);
    if (!m || !NAME.test(m[1] as string)) invalid(address, `"${part}" is not a tag or member name`);
    segments.push({ type: 'symbolic', name: m[1] as string });
    if (m[2] !== undefined) {
      const idx = (m[2] as string).split(',').map((s) => s.trim());
      if (idx.length > 3 || idx.some((s) => !/^\d+$/.test(s))) invalid(address, `"[${m[2]}]" must be one to three non-negative integer indexes`);
      for (const s of idx) {
        const n = Number(s);
        if (n > 0xffffffff) invalid(address, `index ${s} is too large`);
        segments.push({ type: 'element', index: n });
      }
    }
  }
  const tag = (program ? `${program}.` : '') + (bit === undefined ? rest : parts.slice(0, -1).join('.'));
  const out: LogixAddress = { address, tag, segments, count, path: encodeEpath(segments) };
  if (bit !== undefined) out.bit = bit;
  if (type !== undefined) out.type = type;
  return out;
}

/**
 * Read Tag (0x4C) request data: the number of elements (1756-PM020 "Read Tag Service").
 * @example readTagData(10) // 0a 00
 */
export function readTagData(count: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(count, 0);
  return b;
}

/**
 * Read Tag Fragmented (0x52) request data: elements and the byte offset to start at.
 * @example readTagFragmentedData(100, 480)
 */
export function readTagFragmentedData(count: number, offset: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16LE(count, 0);
  b.writeUInt32LE(offset >>> 0, 2);
  return b;
}

/**
 * Bytes a type id takes at the start of Read Tag reply data or Write Tag request data.
 * @example typeIdSize({ code: 0x02a0, handle: 0x0fce }) // 4
 */
export function typeIdSize(t: TagType): number {
  return t.code === CipType.STRUCT ? 4 : 2;
}

/**
 * Encodes a type id (atomic code, or 0x02A0 + structure handle).
 * @example encodeTypeId({ code: 0x02a0, handle: 0x0fce }) // a0 02 ce 0f
 */
export function encodeTypeId(t: TagType, into?: Buffer, offset = 0): Buffer {
  const b = into ?? Buffer.allocUnsafe(typeIdSize(t));
  b.writeUInt16LE(t.code, offset);
  if (t.code === CipType.STRUCT) b.writeUInt16LE(t.handle ?? 0, offset + 2);
  return b;
}

/**
 * Decodes the type id at the start of Read Tag reply data; returns it with the data after it.
 * @example const { type, data } = decodeTypeId(res.data)
 */
export function decodeTypeId(buf: Uint8Array): { type: TagType; data: Buffer } {
  const r = new ByteReader(buf, 'Read Tag reply');
  const code = r.u16();
  if (code === CipType.STRUCT) return { type: { code, handle: r.u16() }, data: r.rest() };
  return { type: { code }, data: r.rest() };
}

/**
 * Write Tag (0x4D) request data: type id, element count, data.
 * @example writeTagData({ code: 0xc4 }, 1, Buffer.from([42, 0, 0, 0]))
 */
export function writeTagData(t: TagType, count: number, data: Buffer): Buffer {
  const n = typeIdSize(t);
  const b = Buffer.allocUnsafe(n + 2 + data.length);
  encodeTypeId(t, b, 0);
  b.writeUInt16LE(count, n);
  data.copy(b, n + 2);
  return b;
}

/**
 * Write Tag Fragmented (0x53) request data: type id, element count, byte offset, data.
 * @example writeTagFragmentedData({ code: 0xca }, 100, 0, chunk)
 */
export function writeTagFragmentedData(t: TagType, count: number, offset: number, data: Buffer): Buffer {
  const n = typeIdSize(t);
  const b = Buffer.allocUnsafe(n + 6 + data.length);
  encodeTypeId(t, b, 0);
  b.writeUInt16LE(count, n);
  b.writeUInt32LE(offset >>> 0, n + 2);
  data.copy(b, n + 6);
  return b;
}

/** The decoded request data of Write Tag / Write Tag Fragmented. */
export interface WriteTagRequest {
  type: TagType;
  count: number;
  offset: number;
  data: Buffer;
}

/**
 * Decodes Write Tag (fragmented when `fragmented`) request data.
 * @example decodeWriteTagData(req.data, false)
 */
export function decodeWriteTagData(buf: Uint8Array, fragmented: boolean): WriteTagRequest {
  const r = new ByteReader(buf, fragmented ? 'Write Tag Fragmented' : 'Write Tag');
  const code = r.u16();
  const type: TagType = code === CipType.STRUCT ? { code, handle: r.u16() } : { code };
  const count = r.u16();
  const offset = fragmented ? r.u32() : 0;
  return { type, count, offset, data: r.rest() };
}

/**
 * Read-Modify-Write Tag (0x4E) request data: mask size, OR mask, AND mask
 * (1756-PM020 "Read Modify Write Tag Service"). Sets or clears one bit of an integer.
 * @example readModifyWriteData(4, 5, true) // sets bit 5 of a DINT
 */
export function readModifyWriteData(size: number, bit: number, value: boolean): Buffer {
  const b = Buffer.alloc(2 + size * 2);
  b.writeUInt16LE(size, 0);
  const byte = bit >> 3;
  const mask = 1 << (bit & 7);
  for (let i = 0; i < size; i++) b[2 + size + i] = 0xff;
  if (value) b[2 + byte] = mask;
  else b[2 + size + byte] = 0xff & ~mask;
  return b;
}

/**
 * Decodes a value of an atomic type or Logix STRING from Read Tag reply data. One element gives a
 * scalar, more an array; other structures give their raw bytes.
 * @example decodeTagValue({ code: 0xc4 }, Buffer.from([42, 0, 0, 0]), 1) // 42
 */
export function decodeTagValue(t: TagType, data: Buffer, count: number): Value {
  if (t.code === CipType.STRUCT) {
    if (t.handle === STRING_HANDLE) {
      const out: string[] = [];
      for (let o = 0; o + 4 <= data.length; o += STRING_SIZE) out.push(decodeLogixString(data, o));
      if (out.length === 0) malformed('Logix STRING reply is shorter than its LEN field');
      return count === 1 ? (out[0] as string) : out;
    }
    return Uint8Array.from(data);
  }
  const type = dataTypeOf(t.code);
  const size = atomicSize(t.code);
  if (!type || size === 0) throw new BifrostError('BIFROST_UNSUPPORTED_TYPE', `CIP type ${typeName(t.code)} is not supported`, { status: t.code });
  const n = Math.floor(data.length / size);
  if (n === 0) malformed(`${typeName(t.code)} reply has ${data.length} data bytes, needs ${size}`);
  if (count === 1 || n === 1) return decodeAtomic(type, data, 0);
  const out: Scalar[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = decodeAtomic(type, data, i * size);
  return out;
}

function decodeAtomic(type: DataType, data: Buffer, offset: number): Scalar {
  switch (type) {
    case 'DINT':
      return data.readInt32LE(offset);
    case 'REAL':
      return data.readFloatLE(offset);
    case 'BOOL':
      return data[offset] !== 0;
    default:
      return decodeValue(type, data, offset, { order: 'DCBA' });
  }
}

/**
 * Decodes a Logix STRING (LEN DINT, then characters) at `offset`.
 * @example decodeLogixString(data, 0) // 'Hello'
 */
export function decodeLogixString(data: Buffer, offset = 0): string {
  if (offset + 4 > data.length) malformed('Logix STRING is shorter than its LEN field');
  const len = Math.max(0, Math.min(data.readInt32LE(offset), STRING_CAPACITY, data.length - offset - 4));
  return data.toString('latin1', offset + 4, offset + 4 + len);
}

/**
 * Encodes a Logix STRING into its 88-byte layout; throws BIFROST_VALUE_OUT_OF_RANGE above 82 characters.
 * @example encodeLogixString('Hello').length // 88
 */
export function encodeLogixString(s: string): Buffer {
  const chars = Buffer.from(s, 'latin1');
  if (chars.length > STRING_CAPACITY) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `a Logix STRING holds ${STRING_CAPACITY} characters; got ${chars.length}`);
  const b = Buffer.alloc(STRING_SIZE);
  b.writeInt32LE(chars.length, 0);
  chars.copy(b, 4);
  return b;
}

/**
 * Encodes a JavaScript value (scalar or array) as `count` elements of atomic type `code`.
 * Throws BIFROST_TYPE_MISMATCH / BIFROST_VALUE_OUT_OF_RANGE naming the value.
 * @example encodeTagValue(0xca, 21.5) // 00 00 ac 41
 */
export function encodeTagValue(code: number, value: Value): Buffer {
  const type = dataTypeOf(code);
  const size = atomicSize(code);
  if (!type || size === 0) throw new BifrostError('BIFROST_UNSUPPORTED_TYPE', `writing CIP type ${typeName(code)} is not supported`);
  const values = Array.isArray(value) ? value : [value];
  const b = Buffer.alloc(values.length * size);
  for (let i = 0; i < values.length; i++) {
    encodeValueInto(type, values[i], b, i * size, { order: 'DCBA' });
  }
  return b;
}

/** A symbol (tag) the Symbol Object lists (1756-PM020 "Symbol Object", class 0x6B). */
export interface SymbolInstance {
  instance: number;
  name: string;
  /** The symbol type word: bit 15 structure, bits 13-14 dimension count, bits 0-11 type code or template id. */
  symbolType: number;
  /** Array dimensions (attribute 8), zeros beyond the dimension count. */
  dimensions: number[];
  /** Attribute 3: the symbol's data address in controller memory (UDINT). */
  address?: number;
  /** Attribute 5: the address of the symbol object itself (UDINT). */
  objectAddress?: number;
  /** Attribute 6: software control flags (UDINT); bit 26 set for a base tag, clear for an alias. */
  softwareControl?: number;
  /** Attribute 10: external access (USINT): 0 read/write, 2 read only, 3 none. */
  externalAccess?: number;
}

/**
 * Symbol attributes this codec encodes and decodes, with their wire size (0 = the name, a UINT
 * length and its characters): 1 name, 2 type, 3 address, 5 object address, 6 software control,
 * 8 dimensions, 10 external access (1756-PM020 "Symbol Object"; 3, 5, 6 and 10 as a 1756-L8x
 * answers them to pycomm3's tag list request).
 * @example SYMBOL_ATTRIBUTE_SIZES[8] // 12
 */
export const SYMBOL_ATTRIBUTE_SIZES: Readonly<Record<number, number>> = { 1: 0, 2: 2, 3: 4, 5: 4, 6: 4, 8: 12, 10: 1 };

/** Software control bit of a base tag (not an alias), as Logix reports it in symbol attribute 6. */
export const BASE_TAG_BIT = 1 << 26;

/** The fields of a symbol type word. */
export interface SymbolTypeInfo {
  structure: boolean;
  dimensionCount: number;
  system: boolean;
  /** Atomic type code (0xC1…) or template instance id. */
  code: number;
  /** Bit position for BOOL (bits 8-10). */
  bit?: number;
}

/**
 * Splits a symbol type word (1756-PM020 "Symbol Type Attribute").
 * @example decodeSymbolType(0x8fce) // { structure: true, code: 0xfce, … }
 */
export function decodeSymbolType(word: number): SymbolTypeInfo {
  const structure = (word & 0x8000) !== 0;
  const dimensionCount = (word >> 13) & 0x03;
  const system = (word & 0x1000) !== 0;
  if (!structure && (word & 0xff) === 0xc1) return { structure, dimensionCount, system, code: 0xc1, bit: (word >> 8) & 0x07 };
  return { structure, dimensionCount, system, code: word & 0x0fff };
}

/**
 * Symbol attributes a Get Instance Attribute List asks for: 1 name, 2 type, 8 dimensions.
 * @example instanceAttributeListData(SYMBOL_ATTRIBUTES)
 */
export const SYMBOL_ATTRIBUTES = [1, 2, 8] as const;

/**
 * Get Instance Attribute List (0x55) request data for `attributes`.
 * @example instanceAttributeListData([1, 2, 8]) // 03 00 01 00 02 00 08 00
 */
export function instanceAttributeListData(attributes: readonly number[] = SYMBOL_ATTRIBUTES): Buffer {
  const b = Buffer.allocUnsafe(2 + attributes.length * 2);
  b.writeUInt16LE(attributes.length, 0);
  for (let i = 0; i < attributes.length; i++) b.writeUInt16LE(attributes[i] as number, 2 + i * 2);
  return b;
}

/**
 * Encodes one symbol's entry of a Get Instance Attribute List reply.
 * @example encodeSymbolEntry(sym, [1, 2, 8])
 */
export function encodeSymbolEntry(s: SymbolInstance, attributes: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(s.instance >>> 0, 0);
  parts.push(head);
  for (const a of attributes) {
    if (a === 1) {
      const name = Buffer.from(s.name, 'latin1');
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16LE(name.length, 0);
      parts.push(len, name);
    } else if (a === 2) {
      const t = Buffer.allocUnsafe(2);
      t.writeUInt16LE(s.symbolType, 0);
      parts.push(t);
    } else if (a === 8) {
      const d = Buffer.alloc(12);
      for (let i = 0; i < 3; i++) d.writeUInt32LE(s.dimensions[i] ?? 0, i * 4);
      parts.push(d);
    } else if (a === 3 || a === 5 || a === 6) {
      const d = Buffer.allocUnsafe(4);
      d.writeUInt32LE((a === 3 ? s.address : a === 5 ? s.objectAddress : s.softwareControl) ?? 0, 0);
      parts.push(d);
    } else if (a === 10) {
      parts.push(Buffer.from([s.externalAccess ?? 0]));
    } else malformed(`symbol attribute ${a} is not understood`);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes the entries of a Get Instance Attribute List reply for `attributes` (those of {@link SYMBOL_ATTRIBUTE_SIZES}).
 * @example decodeSymbolList(res.data, [1, 2, 8])
 */
export function decodeSymbolList(buf: Uint8Array, attributes: readonly number[] = SYMBOL_ATTRIBUTES): SymbolInstance[] {
  const r = new ByteReader(buf, 'Symbol Object instance list');
  const out: SymbolInstance[] = [];
  while (r.remaining > 0) {
    const s: SymbolInstance = { instance: r.u32(), name: '', symbolType: 0, dimensions: [0, 0, 0] };
    for (const a of attributes) {
      if (a === 1) s.name = r.bytes(r.u16()).toString('latin1');
      else if (a === 2) s.symbolType = r.u16();
      else if (a === 8) s.dimensions = [r.u32(), r.u32(), r.u32()];
      else if (a === 3) s.address = r.u32();
      else if (a === 5) s.objectAddress = r.u32();
      else if (a === 6) s.softwareControl = r.u32();
      else if (a === 10) s.externalAccess = r.u8();
      else malformed(`symbol attribute ${a} is not understood`);
    }
    out.push(s);
  }
  return out;
}

/** One member of a template (1756-PM020 "Template Object"). */
export interface TemplateMember {
  name: string;
  /** Array length for array members, bit number for BOOL members, 0 otherwise. */
  info: number;
  /** Member type word: same layout as a symbol type word. */
  type: number;
  /** Byte offset in the structure. */
  offset: number;
}

/** A structure template: attributes 1, 2, 4, 5 and the definition read with service 0x4C. */
export interface Template {
  id: number;
  name: string;
  handle: number;
  /** Structure size in bytes (attribute 5). */
  size: number;
  members: TemplateMember[];
}

/**
 * Encodes a template's definition as Read Template returns it: 8 bytes per member (info UINT,
 * type UINT, offset UDINT), then the template name and the member names, each NUL-terminated,
 * padded with 1 to 4 zeros to a multiple of 4 bytes. The template name is `Name;n` followed by one byte
 * per member written as two letters A–P (a nibble each), as a Logix sends it (`my_UDT;nHAEA` for
 * two members in a capture quoted in dmroeder/pylogix#45); pylogix reads the member's access from
 * the second letter's low bits, so each member gets `AA`.
 * @example encodeTemplateDefinition(motorTemplate)
 */
export function encodeTemplateDefinition(t: Template): Buffer {
  const defs = Buffer.alloc(t.members.length * 8);
  t.members.forEach((m, i) => {
    defs.writeUInt16LE(m.info, i * 8);
    defs.writeUInt16LE(m.type, i * 8 + 2);
    defs.writeUInt32LE(m.offset, i * 8 + 4);
  });
  const names = [`${t.name};n${'AA'.repeat(t.members.length)}`, ...t.members.map((m) => m.name)].map((n) => Buffer.from(`${n}\0`, 'latin1'));
  const raw = Buffer.concat([defs, ...names]);
  // At least one zero after the last name's NUL: pycomm3 reads one byte short of the padded length.
  return Buffer.concat([raw, Buffer.alloc(4 - (raw.length % 4))]);
}

/**
 * Object definition size (attribute 4, in 32-bit words) for a definition of `bytes` bytes (a
 * multiple of 4, as {@link encodeTemplateDefinition} pads it). Readers turn it back into a byte
 * count two ways, both used against real controllers: size·4 − 23 rounded up to 4 (pylogix, and
 * this package's client) and size·4 − 21 (pycomm3). ⌊(bytes + 23) / 4⌋ makes the first exactly
 * `bytes` and the second `bytes − 1`, both inside the definition and past the last name's NUL, since
 * the padding has at least one zero (1756-PM020 "Template Object").
 * @example objectDefinitionSize(encodeTemplateDefinition(t).length)
 */
export function objectDefinitionSize(bytes: number): number {
  return Math.floor((bytes + 23) / 4);
}

/**
 * The definition bytes to read for an object definition size (attribute 4): size·4 − 23, rounded up
 * to a multiple of 4 as pylogix does against real controllers.
 * @example templateDefinitionBytes(objectDefinitionSize(36)) // 36
 */
export function templateDefinitionBytes(objectDefinitionSize: number): number {
  return Math.max(0, Math.ceil((objectDefinitionSize * 4 - 23) / 4) * 4);
}

/**
 * Decodes a template definition with `memberCount` members.
 * @example decodeTemplateDefinition(data, 3, { id: 0x100, handle: 0x100, size: 12 })
 */
export function decodeTemplateDefinition(buf: Uint8Array, memberCount: number, attrs: { id: number; handle: number; size: number }): Template {
  const r = new ByteReader(buf, 'template definition');
  const members: TemplateMember[] = [];
  for (let i = 0; i < memberCount; i++) members.push({ name: '', info: r.u16(), type: r.u16(), offset: r.u32() });
  const readName = (): string => {
    const start = r.offset;
    const end = r.buf.indexOf(0, start);
    if (end < 0) malformed('template definition: a name is not NUL-terminated');
    r.offset = end + 1;
    return r.buf.toString('latin1', start, end);
  };
  const full = readName();
  const name = full.split(';')[0] as string;
  for (const m of members) m.name = readName();
  return { id: attrs.id, name, handle: attrs.handle, size: attrs.size, members };
}

/**
 * Get Attribute List (0x03) request data for the template attributes 4, 5, 2, 1.
 * @example templateAttributesData() // 04 00 04 00 05 00 02 00 01 00
 */
export function templateAttributesData(): Buffer {
  return instanceAttributeListData([4, 5, 2, 1]);
}

/** The template attributes a Get Attribute List reply carries. */
export interface TemplateAttributes {
  objectDefinitionSize: number;
  structureSize: number;
  memberCount: number;
  handle: number;
}

/**
 * Encodes a Get Attribute List reply for the template attributes `ids` (default 4, 5, 2, 1), in
 * the order asked, each as id, status, value: 1 handle (UINT), 2 member count (UINT), 4 object
 * definition size (UDINT), 5 structure size (UDINT). Attribute 3 is not in 1756-PM020, but pylogix
 * asks for 4, 3, 2, 1 and reads the member count where a two-byte attribute 3 puts it, so a Logix
 * answers it with a UINT; its meaning is not published and this encodes 0. Others answer status
 * 0x14 (attribute not supported, CIP Vol 1 Table B-1.1) without a value.
 * @example encodeTemplateAttributes({ objectDefinitionSize: 20, structureSize: 12, memberCount: 3, handle: 0x100 })
 */
export function encodeTemplateAttributes(a: TemplateAttributes, ids: readonly number[] = [4, 5, 2, 1]): Buffer {
  const parts: Buffer[] = [Buffer.from([ids.length & 0xff, ids.length >> 8])];
  for (const id of ids) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(id, 0);
    let value: Buffer;
    if (id === 4 || id === 5) {
      value = Buffer.alloc(4);
      value.writeUInt32LE(id === 4 ? a.objectDefinitionSize : a.structureSize, 0);
    } else if (id === 1 || id === 2 || id === 3) {
      value = Buffer.alloc(2);
      value.writeUInt16LE(id === 1 ? a.handle : id === 2 ? a.memberCount : 0, 0);
    } else {
      head.writeUInt16LE(0x14, 2);
      value = Buffer.alloc(0);
    }
    parts.push(head, value);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a Get Attribute List reply for template attributes (any order of 1, 2, 3, 4, 5).
 * @example decodeTemplateAttributes(res.data).memberCount
 */
export function decodeTemplateAttributes(buf: Uint8Array): TemplateAttributes {
  const r = new ByteReader(buf, 'template attributes');
  const n = r.u16();
  const out: TemplateAttributes = { objectDefinitionSize: 0, structureSize: 0, memberCount: 0, handle: 0 };
  for (let i = 0; i < n; i++) {
    const id = r.u16();
    const status = r.u16();
    if (status !== 0) malformed(`template attribute ${id} returned status 0x${status.toString(16)}`);
    if (id === 4) out.objectDefinitionSize = r.u32();
    else if (id === 5) out.structureSize = r.u32();
    else if (id === 2) out.memberCount = r.u16();
    else if (id === 1) out.handle = r.u16();
    else if (id === 3) r.u16();
    else malformed(`template attribute ${id} is not understood`);
  }
  return out;
}

/**
 * Template read request data (service 0x4C on class 0x6C): byte offset and byte count.
 * @example encodeRequest({ service: Service.ReadTag, path: templatePath, data: readTemplateData(0, 200) })
 */
export function readTemplateData(offset: number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt32LE(offset >>> 0, 0);
  b.writeUInt16LE(bytes, 4);
  return b;
}
