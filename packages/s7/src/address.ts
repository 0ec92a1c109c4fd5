/**
 * @module
 * S7 addresses in the STEP 7 notation (`DB1.DBX0.0`, `DB1.DBW2`, `DB1.DBD4:REAL`, `M10.1`,
 * `MW20`, `I0.0`, `QB1`, `DB2.DBB10:STRING[20]`), parsed to an area, a byte and bit offset and
 * an S7 data type. German mnemonics `E` (inputs) and `A` (outputs) are accepted too.
 */
import { BifrostError, type DataType } from '@bifrost/core';
import { AREA } from './codec/s7comm.js';

/**
 * The S7 data types Bifrost reads and writes.
 * @example S7_TYPES.includes('REAL') // true
 */
export const S7_TYPES = ['BOOL', 'BYTE', 'WORD', 'DWORD', 'LWORD', 'CHAR', 'SINT', 'USINT', 'INT', 'UINT', 'DINT', 'UDINT', 'LINT', 'ULINT', 'REAL', 'LREAL', 'STRING', 'DATE_AND_TIME'] as const;
/** An S7 data type. */
export type S7Type = (typeof S7_TYPES)[number];

/** A memory area. */
export type S7Area = 'DB' | 'M' | 'I' | 'Q';

/** A parsed S7 address. */
export interface S7Address {
  /** The address as written. */
  readonly text: string;
  readonly area: S7Area;
  /** The S7comm area code ({@link AREA}). */
  readonly areaCode: number;
  /** DB number; 0 outside DBs. */
  readonly dbNumber: number;
  readonly byteOffset: number;
  /** Bit 0…7 for BOOL, otherwise 0. */
  readonly bitOffset: number;
  readonly type: S7Type;
  /** The Bifrost data type of one element. */
  readonly dataType: DataType;
  /** Bytes per element (for STRING: 2 + maximum length). */
  readonly elementSize: number;
  /** Number of elements; an array when the address ends in `[n]` (other than STRING). */
  readonly count: number;
  /** Whether the value is an array. */
  readonly isArray: boolean;
  /** STRING maximum length (characters). */
  readonly stringLength?: number;
  /** Total bytes the address spans. */
  readonly byteLength: number;
}

const SIZE: Record<S7Type, number> = {
  BOOL: 1,
  BYTE: 1,
  CHAR: 1,
  SINT: 1,
  USINT: 1,
  WORD: 2,
  INT: 2,
  UINT: 2,
  DWORD: 4,
  DINT: 4,
  UDINT: 4,
  REAL: 4,
  LWORD: 8,
  LINT: 8,
  ULINT: 8,
  LREAL: 8,
  STRING: 0,
  DATE_AND_TIME: 8,
};
const DATA_TYPE: Record<S7Type, DataType> = {
  BOOL: 'BOOL',
  BYTE: 'USINT',
  CHAR: 'STRING',
  SINT: 'SINT',
  USINT: 'USINT',
  WORD: 'UINT',
  INT: 'INT',
  UINT: 'UINT',
  DWORD: 'UDINT',
  DINT: 'DINT',
  UDINT: 'UDINT',
  REAL: 'REAL',
  LWORD: 'ULINT',
  LINT: 'LINT',
  ULINT: 'ULINT',
  LREAL: 'LREAL',
  STRING: 'STRING',
  DATE_AND_TIME: 'DATETIME',
};
const TYPE_ALIASES: Record<string, S7Type> = { DT: 'DATE_AND_TIME', DATETIME: 'DATE_AND_TIME', FLOAT: 'REAL', DOUBLE: 'LREAL', X: 'BOOL', BIT: 'BOOL' };
const WIDTH_DEFAULT: Record<string, S7Type> = { B: 'BYTE', W: 'WORD', D: 'DWORD' };
const AREA_OF: Record<string, S7Area> = { M: 'M', F: 'M', I: 'I', E: 'I', Q: 'Q', A: 'Q' };

/**
 * Largest byte offset an S7ANY pointer can carry (a 24-bit bit address).
 * @example parseS7Address(`DB1.DBB${MAX_BYTE_OFFSET}`) // the last addressable byte
 */
export const MAX_BYTE_OFFSET = 0x1fffff;

const RE_DB = /^DB(\d+)\.DB([XBWD])(\d+)(?:\.(\d+))?$/;
const RE_AREA = /^([MFIEQA])([XBWD])?(\d+)(?:\.(\d+))?$/;
const RE_TYPE = /^([A-Z_]+)(?:\[(\d+)\])?$/;

function invalid(text: string, why: string): BifrostError {
  return new BifrostError('BIFROST_INVALID_ADDRESS', `invalid S7 address "${text}": ${why}`, {
    address: text,
    hint: 'S7 addresses look like DB1.DBX0.0, DB1.DBW2, DB1.DBD4:REAL, DB2.DBB10:STRING[20], M10.1, MW20, I0.0, QB1',
  });
}

/**
 * Parses an S7 address. Width letters give the default type (B BYTE, W WORD, D DWORD, X BOOL);
 * a `:TYPE` suffix overrides it (`DB1.DBD4:REAL`, `DB1.DBB8:LREAL`, `MB0:CHAR`), `[n]` after a
 * type makes an array, and `STRING[n]` is an S7 STRING of at most n characters (2 + n bytes).
 * Throws BIFROST_INVALID_ADDRESS naming what is wrong.
 * @example parseS7Address('DB1.DBD4:REAL') // { area: 'DB', dbNumber: 1, byteOffset: 4, type: 'REAL', … }
 */
export function parseS7Address(text: string): S7Address {
  const colon = text.indexOf(':');
  const loc = (colon < 0 ? text : text.slice(0, colon)).trim().toUpperCase();
  const typePart =
    colon < 0
      ? undefined
      : text
          .slice(colon + 1)
          .trim()
          .toUpperCase();
  let area: S7Area;
  let dbNumber = 0;
  let width: string | undefined;
  let byteStr: string;
  let bitStr: string | undefined;
  const db = RE_DB.exec(loc);
  if (db) {
    area = 'DB';
    dbNumber = Number(db[1]);
    width = db[2] as string;
    byteStr = db[3] as string;
    bitStr = db[4];
    if (dbNumber < 1 || dbNumber > 65535) throw invalid(text, `DB number ${dbNumber} is not 1…65535`);
  } else {
    const m = RE_AREA.exec(loc);
    if (!m) throw invalid(text, 'expected DB<n>.DB{X,B,W,D}<offset> or {M,I,Q}[B,W,D]<offset>');
    area = AREA_OF[m[1] as string] as S7Area;
    width = m[2];
    byteStr = m[3] as string;
    bitStr = m[4];
    if (width === undefined) {
      if (bitStr === undefined) throw invalid(text, `a bit address needs ".bit" (e.g. ${m[1]}${byteStr}.0), or use ${m[1]}B/${m[1]}W/${m[1]}D for a byte, word or double word`);
      width = 'X';
    }
  }
  const byteOffset = Number(byteStr);
  if (byteOffset > MAX_BYTE_OFFSET) throw invalid(text, `byte offset ${byteOffset} exceeds ${MAX_BYTE_OFFSET}`);
  let bitOffset = 0;
  if (width === 'X') {
    if (bitStr === undefined) throw invalid(text, 'a bit address needs ".bit", e.g. DBX0.3');
    bitOffset = Number(bitStr);
    if (bitOffset > 7) throw invalid(text, `bit ${bitOffset} is not 0…7`);
  } else if (bitStr !== undefined) throw invalid(text, `only X (bit) addresses take ".${bitStr}"`);

  let type: S7Type = width === 'X' ? 'BOOL' : (WIDTH_DEFAULT[width] as S7Type);
  let count = 1;
  let isArray = false;
  let stringLength: number | undefined;
  if (typePart !== undefined) {
    const t = RE_TYPE.exec(typePart);
    if (!t) throw invalid(text, `"${typePart}" is not a type such as REAL, DINT, STRING[20] or INT[4]`);
    const name = t[1] as string;
    const resolved = (S7_TYPES as readonly string[]).includes(name) ? (name as S7Type) : TYPE_ALIASES[name];
    if (!resolved) throw invalid(text, `unknown S7 type ${name}; expected one of ${S7_TYPES.join(', ')}`);
    if ((resolved === 'BOOL') !== (width === 'X'))
      throw invalid(text, resolved === 'BOOL' ? 'BOOL needs a bit address such as DBX0.0' : `${resolved} needs a byte address (B, W or D), not a bit address`);
    type = resolved;
    if (type === 'STRING') {
      stringLength = t[2] === undefined ? 254 : Number(t[2]);
      if (stringLength < 1 || stringLength > 254) throw invalid(text, `STRING length ${stringLength} is not 1…254`);
    } else if (t[2] !== undefined) {
      count = Number(t[2]);
      isArray = true;
      if (count < 1 || count > 65535) throw invalid(text, `array length ${count} is not 1…65535`);
      if (type === 'BOOL' && count !== 1) throw invalid(text, 'BOOL arrays are not supported; read the byte instead');
    }
  }
  const elementSize = type === 'STRING' ? 2 + (stringLength as number) : SIZE[type];
  const out: S7Address = {
    text,
    area,
    areaCode: AREA[area],
    dbNumber,
    byteOffset,
    bitOffset,
    type,
    dataType: DATA_TYPE[type],
    elementSize,
    count,
    isArray,
    byteLength: elementSize * count,
  };
  if (stringLength !== undefined) (out as { stringLength?: number }).stringLength = stringLength;
  return out;
}

/**
 * Writes an address back in canonical form.
 * @example formatS7Address(parseS7Address('db1.dbd4:real')) // 'DB1.DBD4:REAL'
 */
export function formatS7Address(a: S7Address): string {
  const prefix = a.area === 'DB' ? `DB${a.dbNumber}.DB` : a.area;
  if (a.type === 'BOOL') return `${prefix}X${a.byteOffset}.${a.bitOffset}`;
  const width = a.elementSize === 2 && !a.isArray ? 'W' : a.elementSize === 4 && !a.isArray ? 'D' : 'B';
  const natural = WIDTH_DEFAULT[width] === a.type && !a.isArray;
  const suffix = natural ? '' : a.type === 'STRING' ? `:STRING[${a.stringLength}]` : `:${a.type}${a.isArray ? `[${a.count}]` : ''}`;
  return `${prefix}${width}${a.byteOffset}${suffix}`;
}
