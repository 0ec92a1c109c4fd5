/**
 * @module
 * Data types and their byte codecs: one implementation for every protocol. Multi-byte values are
 * read in the four word orders met in the field (IEC 61131-3 type names; Modbus vendors' ABCD
 * naming): ABCD big-endian, DCBA little-endian, CDAB big-endian bytes in swapped 16-bit words
 * ("word swap", common on Modicon-style float pairs), BADC swapped bytes in big-endian word order.
 */
import { BifrostError } from './errors/index.js';

/** The data types every Bifrost driver maps its own types to (IEC 61131-3 names). */
export const DATA_TYPES = ['BOOL', 'SINT', 'USINT', 'INT', 'UINT', 'DINT', 'UDINT', 'LINT', 'ULINT', 'REAL', 'LREAL', 'STRING', 'BYTES', 'DATETIME'] as const;
/** A Bifrost data type. */
export type DataType = (typeof DATA_TYPES)[number];

/** Word order of a multi-byte value: the position of bytes A (most significant) … D. */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';
/** The four word orders. */
export const WORD_ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** How a STRING is laid out: fixed length (NUL padded), or a length prefix of 1, 2 or 4 bytes before the characters. */
export type StringFormat = 'fixed' | 'prefix8' | 'prefix16' | 'prefix32';

/** A value of any Bifrost data type (arrays of them for array tags). */
export type Scalar = boolean | number | bigint | string | Uint8Array | Date;
/** A tag value: a scalar or an array of scalars. */
export type Value = Scalar | Scalar[];

/** Options of the byte codec. */
export interface CodecOptions {
  /** Word order for 16/32/64-bit types; `ABCD` (big-endian) by default. `LE` byte order is `DCBA`. */
  order?: WordOrder;
  /** Length in bytes of a STRING's character area or of BYTES. */
  length?: number;
  /** STRING layout; `fixed` by default. */
  stringFormat?: StringFormat;
  /** STRING character encoding; `latin1` by default (one byte per character, as PLCs store them). */
  encoding?: 'latin1' | 'utf8' | 'ascii';
}

const ALIASES: Record<string, DataType> = {
  BOOL: 'BOOL',
  BIT: 'BOOL',
  COIL: 'BOOL',
  SINT: 'SINT',
  INT8: 'SINT',
  CHAR: 'SINT',
  USINT: 'USINT',
  UINT8: 'USINT',
  BYTE: 'USINT',
  INT: 'INT',
  INT16: 'INT',
  SHORT: 'INT',
  UINT: 'UINT',
  UINT16: 'UINT',
  WORD: 'UINT',
  DINT: 'DINT',
  INT32: 'DINT',
  LONG: 'DINT',
  UDINT: 'UDINT',
  UINT32: 'UDINT',
  DWORD: 'UDINT',
  LINT: 'LINT',
  INT64: 'LINT',
  ULINT: 'ULINT',
  UINT64: 'ULINT',
  LWORD: 'ULINT',
  REAL: 'REAL',
  FLOAT: 'REAL',
  FLOAT32: 'REAL',
  LREAL: 'LREAL',
  DOUBLE: 'LREAL',
  FLOAT64: 'LREAL',
  STRING: 'STRING',
  BYTES: 'BYTES',
  DATETIME: 'DATETIME',
  DATE_AND_TIME: 'DATETIME',
  DT: 'DATETIME',
};

/**
 * Parses a type name or a common alias (INT16, FLOAT32, WORD, DWORD, …) to a Bifrost data type.
 * @example parseDataType('float32') // 'REAL'
 */
export function parseDataType(name: string): DataType {
  const t = ALIASES[name.toUpperCase()];
  if (t === undefined) throw new BifrostError('BIFROST_UNSUPPORTED_TYPE', `unknown data type "${name}"; expected one of ${Object.keys(ALIASES).join(', ')}`);
  return t;
}

/** True for the types whose values are JavaScript numbers or bigints. */
export function isNumericType(t: DataType): boolean {
  return t !== 'BOOL' && t !== 'STRING' && t !== 'BYTES' && t !== 'DATETIME';
}

const FIXED_SIZE: Record<DataType, number> = { BOOL: 1, SINT: 1, USINT: 1, INT: 2, UINT: 2, DINT: 4, UDINT: 4, LINT: 8, ULINT: 8, REAL: 4, LREAL: 8, STRING: 0, BYTES: 0, DATETIME: 8 };

/**
 * The number of bytes a value of `type` occupies with these options.
 * @example byteSize('LREAL') // 8
 */
export function byteSize(type: DataType, options: CodecOptions = {}): number {
  if (type === 'STRING') return stringLength(options) + prefixSize(options.stringFormat);
  if (type === 'BYTES') return stringLength(options);
  return FIXED_SIZE[type];
}

function stringLength(options: CodecOptions): number {
  const n = options.length;
  if (n === undefined || !Number.isInteger(n) || n < 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'STRING and BYTES need a non-negative integer length');
  return n;
}

function prefixSize(f: StringFormat | undefined): number {
  return f === 'prefix8' ? 1 : f === 'prefix16' ? 2 : f === 'prefix32' ? 4 : 0;
}

// One scratch buffer for reordering: values are decoded synchronously, so it is never shared.
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

/** Copies `size` bytes from `src` at `offset` into `dst` in canonical big-endian order. */
function toBigEndian(src: Uint8Array, offset: number, size: number, order: WordOrder, dst: Uint8Array): void {
  for (let i = 0; i < size; i++) dst[i] = src[offset + mapIndex(i, size, order)] as number;
}

/** For canonical byte `i` of a `size`-byte value, its position in a buffer laid out in `order`. */
function mapIndex(i: number, size: number, order: WordOrder): number {
  switch (order) {
    case 'ABCD':
      return i;
    case 'DCBA':
      return size - 1 - i;
    case 'CDAB': {
      if (size < 4) return i;
      const word = i >> 1;
      return (size / 2 - 1 - word) * 2 + (i & 1);
    }
    case 'BADC':
      return size < 2 ? i : i ^ 1;
  }
}

function checkRoom(buf: Uint8Array, offset: number, size: number, type: DataType): void {
  if (offset < 0 || offset + size > buf.length) throw new BifrostError('BIFROST_BUFFER_TOO_SHORT', `${type} needs ${size} bytes at offset ${offset}, buffer has ${buf.length}`);
}

/**
 * Decodes one value of `type` from `buf` at `offset`.
 * @example decodeValue('REAL', Uint8Array.of(0x42, 0xf6, 0xe9, 0x79), 0) // 123.456…
 */
export function decodeValue(type: DataType, buf: Uint8Array, offset = 0, options: CodecOptions = {}): Scalar {
  const order = options.order ?? 'ABCD';
  if (type === 'STRING') return decodeString(buf, offset, options, order);
  if (type === 'BYTES') {
    const n = stringLength(options);
    checkRoom(buf, offset, n, type);
    return buf.slice(offset, offset + n);
  }
  const size = FIXED_SIZE[type];
  checkRoom(buf, offset, size, type);
  if (type === 'BOOL') return buf[offset] !== 0;
  toBigEndian(buf, offset, size, order, scratch);
  const v = scratchView;
  switch (type) {
    case 'SINT':
      return v.getInt8(0);
    case 'USINT':
      return v.getUint8(0);
    case 'INT':
      return v.getInt16(0);
    case 'UINT':
      return v.getUint16(0);
    case 'DINT':
      return v.getInt32(0);
    case 'UDINT':
      return v.getUint32(0);
    case 'LINT':
      return v.getBigInt64(0);
    case 'ULINT':
      return v.getBigUint64(0);
    case 'REAL':
      return v.getFloat32(0);
    case 'LREAL':
      return v.getFloat64(0);
    case 'DATETIME':
      return new Date(Number(v.getBigInt64(0)));
  }
}

function decodeString(buf: Uint8Array, offset: number, options: CodecOptions, order: WordOrder): string {
  const max = stringLength(options);
  const p = prefixSize(options.stringFormat);
  checkRoom(buf, offset, p + max, 'STRING');
  let len = max;
  if (p > 0) {
    const declared = Number(decodeValue(p === 1 ? 'USINT' : p === 2 ? 'UINT' : 'UDINT', buf, offset, { order }));
    len = Math.min(declared, max);
  }
  const start = offset + p;
  // Swap over the whole character area (as it was written), then cut to the declared length.
  let bytes = buf.subarray(start, start + max);
  if (order === 'BADC' || order === 'DCBA') bytes = swapPairs(bytes);
  bytes = bytes.subarray(0, len);
  if (p === 0) {
    const nul = bytes.indexOf(0);
    if (nul >= 0) bytes = bytes.subarray(0, nul);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(options.encoding ?? 'latin1');
}

/** Swaps the bytes of every 16-bit pair (register byte swap for strings). */
function swapPairs(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i + 1 < src.length; i += 2) {
    out[i] = src[i + 1] as number;
    out[i + 1] = src[i] as number;
  }
  if (src.length & 1) out[src.length - 1] = src[src.length - 1] as number;
  return out;
}

const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  SINT: [-128, 127],
  USINT: [0, 255],
  INT: [-32768, 32767],
  UINT: [0, 65535],
  DINT: [-2147483648, 2147483647],
  UDINT: [0, 4294967295],
};
const BIG_RANGE: Partial<Record<DataType, [bigint, bigint]>> = {
  LINT: [-(2n ** 63n), 2n ** 63n - 1n],
  ULINT: [0n, 2n ** 64n - 1n],
};

/**
 * Checks and converts a JavaScript value to the canonical form of `type` (boolean, number, bigint,
 * string, Uint8Array or Date), parsing strings as a CLI or a JSON body gives them. Throws
 * BIFROST_TYPE_MISMATCH or BIFROST_VALUE_OUT_OF_RANGE naming the value.
 * @example coerceValue('INT', '-42') // -42
 */
export function coerceValue(type: DataType, input: unknown, options: CodecOptions = {}): Scalar {
  const bad = (why: string) => new BifrostError('BIFROST_TYPE_MISMATCH', `${JSON.stringify(stringifySafe(input))} is not a valid ${type}: ${why}`);
  switch (type) {
    case 'BOOL': {
      if (typeof input === 'boolean') return input;
      if (input === 0 || input === 1) return input === 1;
      if (typeof input === 'string') {
        const s = input.trim().toLowerCase();
        if (['true', '1', 'on', 'yes'].includes(s)) return true;
        if (['false', '0', 'off', 'no'].includes(s)) return false;
      }
      throw bad('expected true/false, 1/0 or on/off');
    }
    case 'REAL':
    case 'LREAL': {
      const n = typeof input === 'number' ? input : typeof input === 'string' && input.trim() !== '' ? Number(input) : typeof input === 'bigint' ? Number(input) : Number.NaN;
      if (Number.isNaN(n) && !(typeof input === 'number' || (typeof input === 'string' && input.trim().toLowerCase() === 'nan'))) throw bad('expected a number');
      if (type === 'REAL' && Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${n} does not fit REAL (32-bit float)`);
      return n;
    }
    case 'LINT':
    case 'ULINT': {
      let b: bigint;
      try {
        if (typeof input === 'bigint') b = input;
        else if (typeof input === 'number' && Number.isInteger(input)) b = BigInt(input);
        else if (typeof input === 'string' && /^\s*-?(0x[0-9a-f]+|\d+)\s*$/i.test(input)) b = input.trim().startsWith('-') ? -BigInt(input.trim().slice(1)) : BigInt(input.trim());
        else throw bad('expected an integer');
      } catch (e) {
        if (e instanceof BifrostError) throw e;
        throw bad('expected an integer');
      }
      const [lo, hi] = BIG_RANGE[type] as [bigint, bigint];
      if (b < lo || b > hi) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${b} does not fit ${type} (${lo}..${hi})`);
      return b;
    }
    case 'STRING': {
      if (typeof input !== 'string') throw bad('expected a string');
      if (options.length !== undefined && Buffer.byteLength(input, options.encoding ?? 'latin1') > options.length)
        throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `string of ${input.length} characters does not fit STRING[${options.length}]`);
      return input;
    }
    case 'BYTES': {
      if (input instanceof Uint8Array) return input;
      if (typeof input === 'string' && /^([0-9a-f]{2})*$/i.test(input.replace(/[\s:]/g, ''))) return Uint8Array.from(Buffer.from(input.replace(/[\s:]/g, ''), 'hex'));
      if (Array.isArray(input) && input.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) return Uint8Array.from(input as number[]);
      throw bad('expected hex bytes');
    }
    case 'DATETIME': {
      const d = input instanceof Date ? input : typeof input === 'string' || typeof input === 'number' ? new Date(input) : new Date(Number.NaN);
      if (Number.isNaN(d.getTime())) throw bad('expected an ISO 8601 date-time or epoch milliseconds');
      return d;
    }
    default: {
      const n =
        typeof input === 'number'
          ? input
          : typeof input === 'bigint'
            ? Number(input)
            : typeof input === 'string' && /^\s*[-+]?(0x[0-9a-f]+|\d+(\.0*)?)\s*$/i.test(input)
              ? parseIntLoose(input)
              : Number.NaN;
      if (!Number.isInteger(n)) throw bad('expected an integer');
      const [lo, hi] = INT_RANGE[type] as [number, number];
      if (n < lo || n > hi) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${n} does not fit ${type} (${lo}..${hi})`);
      return n;
    }
  }
}

function parseIntLoose(s: string): number {
  const t = s.trim();
  const neg = t.startsWith('-');
  const body = t.replace(/^[-+]/, '');
  const n = /^0x/i.test(body) ? Number.parseInt(body.slice(2), 16) : Number(body);
  return neg ? -n : n;
}

function stringifySafe(v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
}

/**
 * Encodes one value of `type` into `buf` at `offset` and returns the number of bytes written.
 * The value is checked first (see {@link coerceValue}).
 * @example encodeValueInto('UINT', 258, buf, 0) // buf[0] = 1, buf[1] = 2
 */
export function encodeValueInto(type: DataType, value: unknown, buf: Uint8Array, offset = 0, options: CodecOptions = {}): number {
  const v = coerceValue(type, value, options);
  const order = options.order ?? 'ABCD';
  const size = byteSize(type, options);
  checkRoom(buf, offset, size, type);
  if (type === 'STRING') return encodeString(v as string, buf, offset, options, order);
  if (type === 'BYTES') {
    const b = v as Uint8Array;
    buf.fill(0, offset, offset + size);
    buf.set(b.subarray(0, size), offset);
    return size;
  }
  if (type === 'BOOL') {
    buf[offset] = v ? 1 : 0;
    return 1;
  }
  const s = scratchView;
  switch (type) {
    case 'SINT':
      s.setInt8(0, v as number);
      break;
    case 'USINT':
      s.setUint8(0, v as number);
      break;
    case 'INT':
      s.setInt16(0, v as number);
      break;
    case 'UINT':
      s.setUint16(0, v as number);
      break;
    case 'DINT':
      s.setInt32(0, v as number);
      break;
    case 'UDINT':
      s.setUint32(0, v as number);
      break;
    case 'LINT':
      s.setBigInt64(0, v as bigint);
      break;
    case 'ULINT':
      s.setBigUint64(0, v as bigint);
      break;
    case 'REAL':
      s.setFloat32(0, v as number);
      break;
    case 'LREAL':
      s.setFloat64(0, v as number);
      break;
    case 'DATETIME':
      s.setBigInt64(0, BigInt((v as Date).getTime()));
      break;
  }
  for (let i = 0; i < size; i++) buf[offset + mapIndex(i, size, order)] = scratch[i] as number;
  return size;
}

function encodeString(s: string, buf: Uint8Array, offset: number, options: CodecOptions, order: WordOrder): number {
  const max = stringLength(options);
  const p = prefixSize(options.stringFormat);
  let chars = Buffer.from(s, options.encoding ?? 'latin1').subarray(0, max) as Uint8Array;
  if (p > 0) encodeValueInto(p === 1 ? 'USINT' : p === 2 ? 'UINT' : 'UDINT', chars.length, buf, offset, { order });
  const area = new Uint8Array(max);
  area.set(chars);
  chars = order === 'BADC' || order === 'DCBA' ? swapPairs(area) : area;
  buf.set(chars, offset + p);
  return p + max;
}

/**
 * Encodes one value of `type` into a new byte array.
 * @example encodeValue('REAL', 123.456) // 42 f6 e9 79
 */
export function encodeValue(type: DataType, value: unknown, options: CodecOptions = {}): Uint8Array {
  const buf = new Uint8Array(byteSize(type, options));
  encodeValueInto(type, value, buf, 0, options);
  return buf;
}

/** Linear scaling from raw device units to engineering units. Give either the two ranges or gain/offset. */
export type LinearScale = { rawMin: number; rawMax: number; engMin: number; engMax: number; clamp?: boolean } | { gain: number; offset?: number };

/**
 * Raw → engineering units.
 * @example applyScale(16384, { rawMin: 0, rawMax: 32768, engMin: 0, engMax: 100 }) // 50
 */
export function applyScale(raw: number, s: LinearScale): number {
  if ('gain' in s) return raw * s.gain + (s.offset ?? 0);
  let eng = s.engMin + ((raw - s.rawMin) * (s.engMax - s.engMin)) / (s.rawMax - s.rawMin);
  if (s.clamp) eng = Math.min(Math.max(eng, Math.min(s.engMin, s.engMax)), Math.max(s.engMin, s.engMax));
  return eng;
}

/**
 * Engineering units → raw (the inverse of {@link applyScale}), for writes.
 * @example removeScale(50, { gain: 0.1 }) // 500
 */
export function removeScale(eng: number, s: LinearScale): number {
  if ('gain' in s) {
    if (s.gain === 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'scale gain must not be 0');
    return (eng - (s.offset ?? 0)) / s.gain;
  }
  return s.rawMin + ((eng - s.engMin) * (s.rawMax - s.rawMin)) / (s.engMax - s.engMin);
}

/** Validates a scale definition. */
export function checkScale(s: LinearScale): void {
  if ('gain' in s) {
    if (!Number.isFinite(s.gain) || s.gain === 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'scale gain must be a finite non-zero number');
  } else if (s.rawMax === s.rawMin || s.engMax === s.engMin) {
    throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'scale ranges must not be empty (rawMin ≠ rawMax, engMin ≠ engMax)');
  }
}

const NON_FINITE_TEXT = /^\s*[-+]?(nan|inf|infinity)\s*$/i;

/**
 * True when a value to write is, or holds, a number that is not finite: NaN or ±Infinity as a
 * number, or as text a number parser would turn into one (`"NaN"`, `" nan "`, `"-Infinity"`).
 * Comparisons with NaN are all false, so a tag's `min`/`max` alone never stop it: the write paths
 * refuse such values for numeric tags unless the tag opts in. With `text: false` only numbers
 * count (for values already coerced to the tag's type, where a string is a STRING tag's text).
 * @example containsNonFinite('NaN') // true
 */
export function containsNonFinite(value: unknown, options: { text?: boolean } = {}): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (typeof value === 'string') return options.text !== false && NON_FINITE_TEXT.test(value);
  if (Array.isArray(value)) return value.some((v) => containsNonFinite(v, options));
  return false;
}
