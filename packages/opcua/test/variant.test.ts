/**
 * @module
 * OPC UA values ↔ Bifrost values. The fixture rows carry the Variant's binary encoding from
 * OPC 10000-6 §5.2.2.16 (encoding mask = built-in type id, 0x80 for an array; then the value as
 * §5.2.2 encodes it, little-endian): encoding what `toUaVariant` builds must give those bytes, and
 * decoding the bytes through `fromUaValue` must give the Bifrost value back. StatusCode values are
 * checked against node-opcua's table (OPC 10000-6 Annex A).
 */
import { BifrostError, type Value } from '@bifrost/core';
import { BuiltInType, bigIntToWords, coreTypeOf, errorCodeForStatus, fromUaValue, qualityOf, STATUS, statusError, statusName, toUaVariant, wordsToBigInt } from '@bifrost/opcua';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
beforeAll(async () => {
  ua = (await import('node-opcua')) as Ua;
});

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

const rows: [name: string, builtIn: number, isArray: boolean, value: Value, bytes: string][] = [
  ['Boolean true', BuiltInType.Boolean, false, true, '01 01'],
  ['SByte -2', BuiltInType.SByte, false, -2, '02 fe'],
  ['Byte 200', BuiltInType.Byte, false, 200, '03 c8'],
  ['Int16 -1234', BuiltInType.Int16, false, -1234, '04 2e fb'],
  ['UInt16 54321', BuiltInType.UInt16, false, 54321, '05 31 d4'],
  ['Int32 -123456789', BuiltInType.Int32, false, -123456789, '06 eb 32 a4 f8'],
  ['UInt32 4000000000', BuiltInType.UInt32, false, 4000000000, '07 00 28 6b ee'],
  ['Int64 -1', BuiltInType.Int64, false, -1n, '08 ff ff ff ff ff ff ff ff'],
  ['Int64 2^40', BuiltInType.Int64, false, 2n ** 40n, '08 00 00 00 00 00 01 00 00'],
  ['UInt64 max', BuiltInType.UInt64, false, 2n ** 64n - 1n, '09 ff ff ff ff ff ff ff ff'],
  ['Float -1.25', BuiltInType.Float, false, -1.25, '0a 00 00 a0 bf'],
  ['Double 21.5', BuiltInType.Double, false, 21.5, '0b 00 00 00 00 00 80 35 40'],
  ['String "abc" (length-prefixed UTF-8)', BuiltInType.String, false, 'abc', '0c 03 00 00 00 61 62 63'],
  ['String "é" as UTF-8', BuiltInType.String, false, 'é', '0c 02 00 00 00 c3 a9'],
  // DateTime: 100 ns ticks since 1601-01-01 (§5.2.2.5); 1970-01-01 is 116444736000000000 = 0x019db1ded53e8000.
  ['DateTime Unix epoch', BuiltInType.DateTime, false, new Date(0), '0d 00 80 3e d5 de b1 9d 01'],
  ['ByteString de ad', BuiltInType.ByteString, false, Uint8Array.of(0xde, 0xad), '0f 02 00 00 00 de ad'],
  ['LocalizedText as its text (mask 02 = text only)', BuiltInType.LocalizedText, false, 'hi', '15 02 02 00 00 00 68 69'],
  ['Array of Int32 [1, 2]', BuiltInType.Int32, true, [1, 2], '86 02 00 00 00 01 00 00 00 02 00 00 00'],
  ['Array of Double [0.5]', BuiltInType.Double, true, [0.5], '8b 01 00 00 00 00 00 00 00 00 00 e0 3f'],
  ['Array of Boolean [true, false]', BuiltInType.Boolean, true, [true, false], '81 02 00 00 00 01 00'],
];

describe('Variant fixtures (OPC 10000-6 §5.2.2.16)', () => {
  for (const [name, builtIn, isArray, value, bytes] of rows) {
    it(`${name}: encodes to the spec bytes and decodes back`, () => {
      const variant = new ua.Variant(toUaVariant(builtIn, value, isArray) as never);
      const stream = new ua.BinaryStream(variant.binaryStoreSize());
      variant.encode(stream);
      expect(Buffer.from(stream.buffer).toString('hex')).toBe(Buffer.from(hex(bytes)).toString('hex'));
      const back = new ua.Variant();
      back.decode(new ua.BinaryStream(Buffer.from(hex(bytes))));
      expect(back.dataType).toBe(builtIn);
      expect(fromUaValue(back.dataType, back.value)).toEqual(value);
    });
  }

  it('reads Guid, NodeId, QualifiedName and StatusCode as text and numbers', () => {
    expect(coreTypeOf(BuiltInType.Guid)).toBe('STRING');
    expect(fromUaValue(BuiltInType.QualifiedName, { namespaceIndex: 2, name: 'Temp' })).toBe('2:Temp');
    expect(fromUaValue(BuiltInType.StatusCode, { value: 0x80340000 })).toBe(0x80340000);
    expect(fromUaValue(BuiltInType.Null, null)).toBeNull();
  });

  it('refuses a value of the wrong type with BIFROST_TYPE_MISMATCH, and arrays for scalars', () => {
    for (const [builtIn, v, isArray] of [
      [BuiltInType.Double, 'abc', false],
      [BuiltInType.Int16, 1.5, false],
      [BuiltInType.Boolean, 'maybe', false],
      [BuiltInType.Double, [1, 2], false],
      [BuiltInType.Double, 1, true],
      [BuiltInType.Guid, 'not-a-guid', false],
    ] as const) {
      const err = (() => {
        try {
          toUaVariant(builtIn, v, isArray);
        } catch (e) {
          return e;
        }
      })() as BifrostError;
      expect(err, `${builtIn} ${String(v)}`).toBeInstanceOf(BifrostError);
      expect(err.code).toBe('BIFROST_TYPE_MISMATCH');
    }
    expect(() => toUaVariant(BuiltInType.Byte, 256, false)).toThrow(expect.objectContaining({ code: 'BIFROST_VALUE_OUT_OF_RANGE' }));
    expect(() => toUaVariant(BuiltInType.ExtensionObject, '{}', false)).toThrow(expect.objectContaining({ code: 'BIFROST_UNSUPPORTED_TYPE' }));
  });

  it('round-trips every 64-bit integer through node-opcua [high, low] words', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => wordsToBigInt(bigIntToWords(v), true) === v));
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => wordsToBigInt(bigIntToWords(v), false) === v));
  });

  it('round-trips random Int32 and Double arrays through the binary encoding', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 20 }), fc.array(fc.double({ noNaN: true }), { maxLength: 20 }), (ints, doubles) => {
        for (const [t, values] of [
          [BuiltInType.Int32, ints],
          [BuiltInType.Double, doubles],
        ] as const) {
          const v = new ua.Variant(toUaVariant(t, values, true) as never);
          const s = new ua.BinaryStream(v.binaryStoreSize());
          v.encode(s);
          const back = new ua.Variant();
          back.decode(new ua.BinaryStream(Buffer.from(s.buffer)));
          expect(fromUaValue(back.dataType, back.value)).toEqual(values);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('StatusCodes', () => {
  it('agree with node-opcua (OPC 10000-6 Annex A) for every code Bifrost names', () => {
    for (const [name, value] of Object.entries(STATUS)) {
      const theirs = (ua.StatusCodes as unknown as Record<string, { value: number }>)[name];
      expect(theirs?.value, name).toBe(value);
      expect(statusName(value)).toBe(name);
    }
  });

  it('give quality from the severity bits', () => {
    expect(qualityOf(0)).toBe('good');
    expect(qualityOf(0x40000000)).toBe('uncertain');
    expect(qualityOf(0x408f0000)).toBe('uncertain');
    expect(qualityOf(STATUS.BadNodeIdUnknown)).toBe('bad');
  });

  it('become errors with a stable code, the StatusCode value and its name', () => {
    const e = statusError(STATUS.BadUserAccessDenied, 'BadUserAccessDenied', { device: 'plc', address: 'ns=1;s=X', operation: 'write' });
    expect(e.code).toBe('BIFROST_OPCUA_ACCESS_DENIED');
    expect(e.status).toBe(0x801f0000);
    expect(e.statusName).toBe('BadUserAccessDenied');
    expect(e.message).toContain('write ns=1;s=X on plc');
    expect(errorCodeForStatus('BadNodeIdUnknown')).toBe('BIFROST_OPCUA_NODE_ID_UNKNOWN');
    expect(errorCodeForStatus('BadTypeMismatch')).toBe('BIFROST_OPCUA_TYPE_MISMATCH');
    expect(errorCodeForStatus('BadSomethingNew')).toBe('BIFROST_OPCUA_BAD_STATUS');
    expect(statusError(0x80ee0000, undefined).statusName).toBe('0x80EE0000');
  });
});
