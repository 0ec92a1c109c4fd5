/**
 * @module
 * S7 values in PLC memory: numbers big-endian through core's one codec (`decodeValue`,
 * `encodeValueInto`), plus the layouts S7 has of its own: S7 STRING (maximum length byte,
 * actual length byte, characters), CHAR, and DATE_AND_TIME (8 BCD bytes; STEP 7 help, "Format
 * of the data type DATE_AND_TIME").
 */
import { BifrostError, coerceValue, decodeValue, encodeValueInto, type Scalar, type Value } from '@bifrost/core';
import type { S7Address } from './address.js';

const bcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);
const unbcd = (b: number) => (b >> 4) * 10 + (b & 0x0f);
const isBcd = (b: number) => b >> 4 <= 9 && (b & 0x0f) <= 9;

/**
 * Decodes an S7 DATE_AND_TIME (BCD: year, month, day, hour, minute, second, ms·10 + weekday).
 * Years 90…99 are 1990…1999, 00…89 are 2000…2089. The PLC clock has no zone: it is read as UTC.
 * @example decodeDateAndTime(Uint8Array.of(0x24, 0x03, 0x15, 0x10, 0x30, 0x00, 0x12, 0x35), 0) // 2024-03-15T10:30:00.123Z
 */
export function decodeDateAndTime(buf: Uint8Array, offset: number): Date {
  if (offset + 8 > buf.length) throw new BifrostError('BIFROST_BUFFER_TOO_SHORT', `DATE_AND_TIME needs 8 bytes at offset ${offset}, buffer has ${buf.length}`);
  for (let i = 0; i < 7; i++)
    if (!isBcd(buf[offset + i] as number)) throw new BifrostError('BIFROST_MALFORMED_FRAME', `DATE_AND_TIME byte ${i} (0x${(buf[offset + i] as number).toString(16)}) is not BCD`);
  const yy = unbcd(buf[offset] as number);
  const ms = unbcd(buf[offset + 6] as number) * 10 + ((buf[offset + 7] as number) >> 4);
  return new Date(
    Date.UTC(
      yy >= 90 ? 1900 + yy : 2000 + yy,
      unbcd(buf[offset + 1] as number) - 1,
      unbcd(buf[offset + 2] as number),
      unbcd(buf[offset + 3] as number),
      unbcd(buf[offset + 4] as number),
      unbcd(buf[offset + 5] as number),
      ms,
    ),
  );
}

/**
 * Encodes a Date as an S7 DATE_AND_TIME (UTC fields; weekday 1 = Sunday).
 * @example encodeDateAndTime(new Date('2024-03-15T10:30:00.123Z'), buf, 0)
 */
export function encodeDateAndTime(d: Date, buf: Uint8Array, offset: number): void {
  const y = d.getUTCFullYear();
  if (y < 1990 || y > 2089) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `DATE_AND_TIME covers 1990…2089, not ${y}`);
  const ms = d.getUTCMilliseconds();
  buf[offset] = bcd(y % 100);
  buf[offset + 1] = bcd(d.getUTCMonth() + 1);
  buf[offset + 2] = bcd(d.getUTCDate());
  buf[offset + 3] = bcd(d.getUTCHours());
  buf[offset + 4] = bcd(d.getUTCMinutes());
  buf[offset + 5] = bcd(d.getUTCSeconds());
  buf[offset + 6] = bcd(Math.floor(ms / 10));
  buf[offset + 7] = ((ms % 10) << 4) | (d.getUTCDay() + 1);
}

function decodeElement(a: S7Address, buf: Uint8Array, offset: number): Scalar {
  switch (a.type) {
    case 'BOOL':
      if (offset >= buf.length) throw new BifrostError('BIFROST_BUFFER_TOO_SHORT', `BOOL needs 1 byte at offset ${offset}`);
      return (((buf[offset] as number) >> a.bitOffset) & 1) === 1;
    case 'CHAR':
      return decodeValue('STRING', buf, offset, { length: 1 });
    case 'STRING': {
      const max = a.stringLength as number;
      if (offset + 2 + max > buf.length) throw new BifrostError('BIFROST_BUFFER_TOO_SHORT', `STRING[${max}] needs ${2 + max} bytes at offset ${offset}`);
      // Actual length is capped by both the declared and the addressed maximum: a PLC never sends more.
      const len = Math.min(buf[offset + 1] as number, buf[offset] as number, max);
      return Buffer.from(buf.buffer, buf.byteOffset + offset + 2, len).toString('latin1');
    }
    case 'DATE_AND_TIME':
      return decodeDateAndTime(buf, offset);
    default:
      return decodeValue(a.dataType, buf, offset);
  }
}

/**
 * Decodes the value of an address from the bytes that start at its first byte.
 * @example decodeS7Value(parseS7Address('DB1.DBD0:REAL'), bytes, 0)
 */
export function decodeS7Value(a: S7Address, buf: Uint8Array, offset = 0): Value {
  if (!a.isArray) return decodeElement(a, buf, offset);
  const out: Scalar[] = new Array(a.count);
  for (let i = 0; i < a.count; i++) out[i] = decodeElement(a, buf, offset + i * a.elementSize);
  return out;
}

function encodeElement(a: S7Address, v: unknown, buf: Uint8Array, offset: number): void {
  switch (a.type) {
    case 'BOOL':
      buf[offset] = coerceValue('BOOL', v) ? 1 : 0;
      return;
    case 'CHAR': {
      const s = coerceValue('STRING', v, { length: 1 }) as string;
      if (s.length !== 1) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `CHAR takes exactly one character, got ${JSON.stringify(s)}`, { address: a.text });
      encodeValueInto('STRING', s, buf, offset, { length: 1 });
      return;
    }
    case 'STRING': {
      const max = a.stringLength as number;
      const s = coerceValue('STRING', v, { length: max }) as string;
      buf[offset] = max;
      buf[offset + 1] = Buffer.byteLength(s, 'latin1');
      encodeValueInto('STRING', s, buf, offset + 2, { length: max });
      return;
    }
    case 'DATE_AND_TIME':
      encodeDateAndTime(coerceValue('DATETIME', v) as Date, buf, offset);
      return;
    default:
      encodeValueInto(a.dataType, v, buf, offset);
  }
}

/**
 * Encodes a value for an address into the bytes to write (for BOOL: one byte, 0 or 1, written
 * with the BIT transport size). Throws BIFROST_TYPE_MISMATCH / BIFROST_VALUE_OUT_OF_RANGE.
 * @example encodeS7Value(parseS7Address('DB1.DBW2:INT'), -2) // ff fe
 */
export function encodeS7Value(a: S7Address, value: unknown): Uint8Array {
  const buf = new Uint8Array(a.byteLength);
  try {
    if (!a.isArray) encodeElement(a, value, buf, 0);
    else {
      if (!Array.isArray(value) || value.length !== a.count) throw new BifrostError('BIFROST_TYPE_MISMATCH', `${a.text} needs an array of ${a.count} values`);
      for (let i = 0; i < a.count; i++) encodeElement(a, value[i], buf, i * a.elementSize);
    }
  } catch (e) {
    if (e instanceof BifrostError && e.address === undefined) throw new BifrostError(e.code, `${a.text}: ${e.message}`, { address: a.text, cause: e });
    throw e;
  }
  return buf;
}
