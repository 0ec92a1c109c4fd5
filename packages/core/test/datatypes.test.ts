import { applyScale, BifrostError, byteSize, coerceValue, type DataType, decodeValue, encodeValue, parseDataType, removeScale, WORD_ORDERS, type WordOrder } from '@bifrost/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// Fixtures from vendor documentation of word orders: 123.456 as IEEE 754 single is 0x42F6E979
// (e.g. Simply Modbus "FLOAT32 byte orders", Kepware "Modbus float word order"); 0x12345678 as a
// 32-bit integer; 123.456 as IEEE 754 double is 0x405EDD2F1A9FBE77.
const fixtures: Array<[string, DataType, WordOrder, number | bigint, string]> = [
  ['REAL 123.456 ABCD', 'REAL', 'ABCD', 123.456, '42f6e979'],
  ['REAL 123.456 CDAB', 'REAL', 'CDAB', 123.456, 'e97942f6'],
  ['REAL 123.456 BADC', 'REAL', 'BADC', 123.456, 'f64279e9'],
  ['REAL 123.456 DCBA', 'REAL', 'DCBA', 123.456, '79e9f642'],
  ['DINT 0x12345678 ABCD', 'DINT', 'ABCD', 0x12345678, '12345678'],
  ['DINT 0x12345678 CDAB', 'DINT', 'CDAB', 0x12345678, '56781234'],
  ['DINT 0x12345678 BADC', 'DINT', 'BADC', 0x12345678, '34127856'],
  ['DINT 0x12345678 DCBA', 'DINT', 'DCBA', 0x12345678, '78563412'],
  ['DINT -2 ABCD', 'DINT', 'ABCD', -2, 'fffffffe'],
  ['UDINT 4294967295', 'UDINT', 'ABCD', 4294967295, 'ffffffff'],
  ['INT -1 ABCD', 'INT', 'ABCD', -1, 'ffff'],
  ['INT 0x1234 BADC (byte swap)', 'INT', 'BADC', 0x1234, '3412'],
  ['UINT 0x1234 CDAB (no-op for one word)', 'UINT', 'CDAB', 0x1234, '1234'],
  ['SINT -128', 'SINT', 'ABCD', -128, '80'],
  ['USINT 255', 'USINT', 'ABCD', 255, 'ff'],
  ['LREAL 123.456 ABCD', 'LREAL', 'ABCD', 123.456, '405edd2f1a9fbe77'],
  ['LREAL 123.456 CDAB', 'LREAL', 'CDAB', 123.456, 'be771a9fdd2f405e'],
  ['LREAL 123.456 BADC', 'LREAL', 'BADC', 123.456, '5e402fdd9f1a77be'],
  ['LREAL 123.456 DCBA', 'LREAL', 'DCBA', 123.456, '77be9f1a2fdd5e40'],
  ['LINT 0x0102030405060708 CDAB', 'LINT', 'CDAB', 0x0102030405060708n, '0708050603040102'],
  ['LINT -1', 'LINT', 'ABCD', -1n, 'ffffffffffffffff'],
  ['ULINT max', 'ULINT', 'ABCD', 2n ** 64n - 1n, 'ffffffffffffffff'],
];

describe('type codec fixtures', () => {
  for (const [name, type, order, value, bytes] of fixtures) {
    it(name, () => {
      expect(toHex(encodeValue(type, value, { order }))).toBe(bytes);
      const decoded = decodeValue(type, hex(bytes), 0, { order });
      if (type === 'REAL') expect(decoded).toBe(Math.fround(value as number));
      else expect(decoded).toBe(value);
    });
  }

  it('decodes at an offset inside a larger buffer', () => {
    expect(decodeValue('REAL', hex('0000 42f6e979 0000'), 2)).toBeCloseTo(123.456, 3);
  });

  it('BOOL is any non-zero byte', () => {
    expect(decodeValue('BOOL', hex('00'))).toBe(false);
    expect(decodeValue('BOOL', hex('02'))).toBe(true);
    expect(toHex(encodeValue('BOOL', true))).toBe('01');
  });

  it('fixed STRING is NUL padded and trimmed', () => {
    expect(toHex(encodeValue('STRING', 'AB', { length: 4 }))).toBe('41420000');
    expect(decodeValue('STRING', hex('41420000'), 0, { length: 4 })).toBe('AB');
  });

  it('fixed STRING in byte-swapped registers (BADC)', () => {
    expect(toHex(encodeValue('STRING', 'ABC', { length: 4, order: 'BADC' }))).toBe('42410043');
    expect(decodeValue('STRING', hex('42410043'), 0, { length: 4, order: 'BADC' })).toBe('ABC');
  });

  it('length-prefixed STRING (Logix: 32-bit little-endian length then characters)', () => {
    const bytes = encodeValue('STRING', 'Hi', { length: 6, stringFormat: 'prefix32', order: 'DCBA' });
    expect(toHex(bytes)).toBe('02000000' + '6948' + '00000000');
    // DCBA swaps character pairs too; Logix stores characters in order, so protocols that need
    // a little-endian prefix with in-order characters encode the prefix separately.
    expect(decodeValue('STRING', bytes, 0, { length: 6, stringFormat: 'prefix32', order: 'DCBA' })).toBe('Hi');
    const be = encodeValue('STRING', 'Hi', { length: 4, stringFormat: 'prefix8' });
    expect(toHex(be)).toBe('02' + '48690000');
    expect(decodeValue('STRING', be, 0, { length: 4, stringFormat: 'prefix8' })).toBe('Hi');
  });

  it('a declared length longer than the area is clamped to the area', () => {
    expect(decodeValue('STRING', hex('ff4142'), 0, { length: 2, stringFormat: 'prefix8' })).toBe('AB');
  });

  it('BYTES', () => {
    expect(toHex(encodeValue('BYTES', 'dead', { length: 3 }))).toBe('dead00');
    expect(toHex(decodeValue('BYTES', hex('01020304'), 1, { length: 2 }) as Uint8Array)).toBe('0203');
  });

  it('DATETIME as epoch milliseconds', () => {
    const d = new Date('2026-01-02T03:04:05.678Z');
    expect((decodeValue('DATETIME', encodeValue('DATETIME', d)) as Date).toISOString()).toBe(d.toISOString());
  });

  it('byteSize', () => {
    expect(byteSize('LREAL')).toBe(8);
    expect(byteSize('STRING', { length: 10, stringFormat: 'prefix16' })).toBe(12);
    expect(() => byteSize('STRING')).toThrow(BifrostError);
  });
});

describe('type codec errors', () => {
  it('a short buffer is BIFROST_BUFFER_TOO_SHORT', () => {
    const e = (() => {
      try {
        decodeValue('LREAL', hex('0102'), 0);
      } catch (err) {
        return err as BifrostError;
      }
    })();
    expect(e?.code).toBe('BIFROST_BUFFER_TOO_SHORT');
  });

  it.each([
    ['INT', 40000, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['USINT', -1, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['UDINT', 2 ** 32, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['DINT', 1.5, 'BIFROST_TYPE_MISMATCH'],
    ['DINT', 'abc', 'BIFROST_TYPE_MISMATCH'],
    ['REAL', 1e39, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['LINT', 2n ** 63n, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['BOOL', 'maybe', 'BIFROST_TYPE_MISMATCH'],
    ['STRING', 42, 'BIFROST_TYPE_MISMATCH'],
  ] as const)('%s rejects %s with %s', (type, value, code) => {
    expect(() => encodeValue(type, value, { length: 4 })).toThrow(expect.objectContaining({ code }));
  });

  it('a string too long for STRING[n] is out of range', () => {
    expect(() => coerceValue('STRING', 'abcdef', { length: 3 })).toThrow(expect.objectContaining({ code: 'BIFROST_VALUE_OUT_OF_RANGE' }));
  });

  it('coerces CLI strings', () => {
    expect(coerceValue('INT', '-42')).toBe(-42);
    expect(coerceValue('UINT', '0x10')).toBe(16);
    expect(coerceValue('BOOL', 'on')).toBe(true);
    expect(coerceValue('REAL', '1.5')).toBe(1.5);
    expect(coerceValue('LINT', '-9223372036854775808')).toBe(-(2n ** 63n));
    expect(parseDataType('float32')).toBe('REAL');
    expect(() => parseDataType('QUAD')).toThrow(expect.objectContaining({ code: 'BIFROST_UNSUPPORTED_TYPE' }));
  });
});

const arb: Record<string, fc.Arbitrary<unknown>> = {
  BOOL: fc.boolean(),
  SINT: fc.integer({ min: -128, max: 127 }),
  USINT: fc.integer({ min: 0, max: 255 }),
  INT: fc.integer({ min: -32768, max: 32767 }),
  UINT: fc.integer({ min: 0, max: 65535 }),
  DINT: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  UDINT: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  LINT: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  ULINT: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  REAL: fc.float({ noNaN: false }).map((f) => Math.fround(f)),
  LREAL: fc.double(),
};

describe('type codec properties', () => {
  for (const [type, valueArb] of Object.entries(arb)) {
    it(`${type} round-trips in every word order`, () => {
      fc.assert(
        fc.property(valueArb, fc.constantFrom(...WORD_ORDERS), (v, order) => {
          const bytes = encodeValue(type as DataType, v, { order });
          const back = decodeValue(type as DataType, bytes, 0, { order });
          expect(Object.is(back, v) || (Number.isNaN(back as number) && Number.isNaN(v as number))).toBe(true);
          // The four orders are permutations of the same bytes.
          expect([...bytes].sort().join()).toBe([...encodeValue(type as DataType, v)].sort().join());
        }),
        { numRuns: 300 },
      );
    });
  }

  it('STRING round-trips in every format and order', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
        fc.constantFrom('fixed', 'prefix8', 'prefix16', 'prefix32' as const),
        fc.constantFrom(...WORD_ORDERS),
        (s, stringFormat, order) => {
          const opts = { length: 20, stringFormat, order };
          expect(decodeValue('STRING', encodeValue('STRING', s, opts), 0, opts)).toBe(s);
        },
      ),
    );
  });

  it('random bytes never throw anything but a BifrostError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 12 }),
        fc.constantFrom(...Object.keys(arb), 'STRING', 'BYTES', 'DATETIME'),
        fc.integer({ min: -2, max: 14 }),
        fc.constantFrom(...WORD_ORDERS),
        (bytes, type, offset, order) => {
          try {
            decodeValue(type as DataType, bytes, offset, { order, length: 4, stringFormat: 'prefix8' });
          } catch (e) {
            expect(e).toBeInstanceOf(BifrostError);
          }
        },
      ),
    );
  });
});

describe('linear scaling', () => {
  it('maps raw ranges to engineering units and back', () => {
    const s = { rawMin: 0, rawMax: 27648, engMin: 0, engMax: 100 }; // Siemens analog input 0..27648
    expect(applyScale(13824, s)).toBe(50);
    expect(removeScale(50, s)).toBe(13824);
    expect(applyScale(4000, { rawMin: 4000, rawMax: 20000, engMin: -50, engMax: 150 })).toBe(-50);
  });
  it('gain and offset', () => {
    expect(applyScale(215, { gain: 0.1, offset: -1 })).toBeCloseTo(20.5);
    expect(removeScale(20.5, { gain: 0.1, offset: -1 })).toBeCloseTo(215);
  });
  it('clamps when asked', () => {
    expect(applyScale(40000, { rawMin: 0, rawMax: 27648, engMin: 0, engMax: 100, clamp: true })).toBe(100);
  });
  it('round trip property', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 0.001, max: 1000, noNaN: true }), fc.double({ min: -1000, max: 1000, noNaN: true }), (raw, gain, offset) => {
        expect(removeScale(applyScale(raw, { gain, offset }), { gain, offset })).toBeCloseTo(raw, 3);
      }),
    );
  });
});
