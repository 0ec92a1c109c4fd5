/**
 * @module
 * OPC UA built-in types (OPC 10000-6 §5.1.2, numbered as in the DataType enumeration) mapped to
 * Bifrost's core types, and the conversions of values both ways. Pure: it works on the plain
 * shapes node-opcua uses (Int64 as `[high, low]` 32-bit words, typed arrays, `{ text }` for
 * LocalizedText) and never imports node-opcua.
 */
import { BifrostError, coerceValue, type DataType, type Scalar, type Value } from '@bifrost/core';

/**
 * OPC UA built-in type ids (OPC 10000-6 §5.1.2, Table 1).
 * @example coreTypeOf(BuiltInType.Double) // 'LREAL'
 */
export const BuiltInType = {
  Null: 0,
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
  DateTime: 13,
  Guid: 14,
  ByteString: 15,
  XmlElement: 16,
  NodeId: 17,
  ExpandedNodeId: 18,
  StatusCode: 19,
  QualifiedName: 20,
  LocalizedText: 21,
  ExtensionObject: 22,
  DataValue: 23,
  Variant: 24,
  DiagnosticInfo: 25,
} as const;

const TO_CORE: Record<number, DataType> = {
  1: 'BOOL',
  2: 'SINT',
  3: 'USINT',
  4: 'INT',
  5: 'UINT',
  6: 'DINT',
  7: 'UDINT',
  8: 'LINT',
  9: 'ULINT',
  10: 'REAL',
  11: 'LREAL',
  12: 'STRING',
  13: 'DATETIME',
  14: 'STRING',
  15: 'BYTES',
  16: 'STRING',
  17: 'STRING',
  18: 'STRING',
  19: 'UDINT',
  20: 'STRING',
  21: 'STRING',
  22: 'STRING',
};

const FROM_CORE: Record<DataType, number> = {
  BOOL: 1,
  SINT: 2,
  USINT: 3,
  INT: 4,
  UINT: 5,
  DINT: 6,
  UDINT: 7,
  LINT: 8,
  ULINT: 9,
  REAL: 10,
  LREAL: 11,
  STRING: 12,
  DATETIME: 13,
  BYTES: 15,
};

const NAMES = Object.fromEntries(Object.entries(BuiltInType).map(([k, v]) => [v, k])) as Record<number, string>;

/**
 * The OPC UA name of a built-in type id.
 * @example builtInTypeName(11) // 'Double'
 */
export function builtInTypeName(id: number): string {
  return NAMES[id] ?? `DataType(${id})`;
}

/**
 * The Bifrost type for an OPC UA built-in type; Guid, NodeId, QualifiedName, LocalizedText and
 * XmlElement read as strings, StatusCode as UDINT. `undefined` for Null, Variant and the rest.
 * @example coreTypeOf(BuiltInType.Float) // 'REAL'
 */
export function coreTypeOf(builtInType: number): DataType | undefined {
  return TO_CORE[builtInType];
}

/**
 * The OPC UA built-in type a Bifrost type is written as.
 * @example builtInTypeOf('LREAL') // 11 (Double)
 */
export function builtInTypeOf(type: DataType): number {
  return FROM_CORE[type];
}

/** `[high, low]` unsigned 32-bit words of a 64-bit integer, as node-opcua carries Int64/UInt64. */
export type Int64Words = [number, number];

/**
 * A 64-bit integer from node-opcua's `[high, low]` words.
 * @example wordsToBigInt([0xffffffff, 0xffffffff], true) // -1n
 */
export function wordsToBigInt(words: readonly number[], signed: boolean): bigint {
  const u = (BigInt((words[0] ?? 0) >>> 0) << 32n) | BigInt((words[1] ?? 0) >>> 0);
  return signed ? BigInt.asIntN(64, u) : u;
}

/**
 * node-opcua's `[high, low]` words of a 64-bit integer.
 * @example bigIntToWords(-1n) // [0xffffffff, 0xffffffff]
 */
export function bigIntToWords(v: bigint): Int64Words {
  const u = BigInt.asUintN(64, v);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

function scalarFromUa(builtInType: number, v: unknown): Scalar {
  if (v === null || v === undefined) return '';
  switch (builtInType) {
    case BuiltInType.Int64:
      return Array.isArray(v) ? wordsToBigInt(v as number[], true) : BigInt(v as number | bigint);
    case BuiltInType.UInt64:
      return Array.isArray(v) ? wordsToBigInt(v as number[], false) : BigInt(v as number | bigint);
    case BuiltInType.ByteString:
      return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array(0);
    case BuiltInType.LocalizedText:
      return typeof v === 'object' ? String((v as { text?: unknown }).text ?? '') : String(v);
    case BuiltInType.QualifiedName: {
      const q = v as { namespaceIndex?: number; name?: unknown };
      return typeof v === 'object' ? (q.namespaceIndex ? `${q.namespaceIndex}:${String(q.name ?? '')}` : String(q.name ?? '')) : String(v);
    }
    case BuiltInType.StatusCode:
      return typeof v === 'number' ? v : Number((v as { value?: number }).value ?? 0);
    case BuiltInType.ExtensionObject:
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    case BuiltInType.DateTime:
      return v instanceof Date ? v : new Date(v as string);
    case BuiltInType.Boolean:
    case BuiltInType.String:
      return v as Scalar;
    default:
      return typeof v === 'number' || typeof v === 'string' ? v : String(v);
  }
}

/**
 * A Bifrost value from a node-opcua Variant's `dataType` and `value`. Arrays (including typed
 * arrays and matrices, flattened) become plain arrays; Int64 words become bigint; ByteString a
 * Uint8Array; LocalizedText its text.
 * @example fromUaValue(BuiltInType.Int64, [0, 42]) // 42n
 */
export function fromUaValue(builtInType: number, value: unknown): Value | null {
  if (builtInType === BuiltInType.Null || value === null || value === undefined) return null;
  const isInt64Pair = (builtInType === BuiltInType.Int64 || builtInType === BuiltInType.UInt64) && Array.isArray(value) && typeof value[0] === 'number';
  if (!isInt64Pair && (Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof Uint8Array && builtInType === BuiltInType.ByteString)))) {
    const out: Scalar[] = [];
    for (const x of value as Iterable<unknown>) out.push(scalarFromUa(builtInType, x));
    return out;
  }
  return scalarFromUa(builtInType, value);
}

/** A plain Variant description node-opcua accepts (`new Variant(options)`). */
export interface UaVariantOptions {
  dataType: number;
  arrayType: 0 | 1;
  value: unknown;
}

function scalarToUa(builtInType: number, v: unknown): unknown {
  const core = TO_CORE[builtInType];
  if (core === undefined) throw new BifrostError('BIFROST_UNSUPPORTED_TYPE', `writing OPC UA ${builtInTypeName(builtInType)} is not supported`);
  // Guid, NodeId, QualifiedName, XmlElement and LocalizedText are written from their text form.
  const c = coerceValue(core, v);
  switch (builtInType) {
    case BuiltInType.Int64:
    case BuiltInType.UInt64:
      return bigIntToWords(c as bigint);
    case BuiltInType.ByteString:
      return Buffer.from(c as Uint8Array);
    case BuiltInType.LocalizedText:
      return { text: c as string };
    case BuiltInType.Guid:
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(c as string)) throw new BifrostError('BIFROST_TYPE_MISMATCH', `"${c as string}" is not a Guid`);
      return c;
    case BuiltInType.ExtensionObject:
      throw new BifrostError('BIFROST_UNSUPPORTED_TYPE', 'writing an ExtensionObject (structure) is not supported; write its fields');
    default:
      return c;
  }
}

/**
 * A Variant for writing `value` to a variable of `builtInType`: checks and converts the value
 * (core `coerceValue`: strings from a CLI are parsed), and writes an array when the variable is one.
 * @example toUaVariant(BuiltInType.Double, '21.5', false) // { dataType: 11, arrayType: 0, value: 21.5 }
 */
export function toUaVariant(builtInType: number, value: unknown, isArray: boolean): UaVariantOptions {
  if (isArray) {
    if (!Array.isArray(value)) throw new BifrostError('BIFROST_TYPE_MISMATCH', `the variable is an array of ${builtInTypeName(builtInType)}; write an array`);
    return { dataType: builtInType, arrayType: 1, value: value.map((x) => scalarToUa(builtInType, x)) };
  }
  if (Array.isArray(value)) throw new BifrostError('BIFROST_TYPE_MISMATCH', `the variable is a scalar ${builtInTypeName(builtInType)}; write one value, not an array`);
  return { dataType: builtInType, arrayType: 0, value: scalarToUa(builtInType, value) };
}
