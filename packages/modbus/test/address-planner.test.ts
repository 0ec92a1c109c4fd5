import { BifrostError } from '@bifrost/core';
import { formatModbusAddress, type ModbusAddress, parseModbusAddress, planReads, resolvePlannerLimits } from '@bifrost/modbus';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const pick = (a: ModbusAddress) => ({ area: a.area, address: a.address, type: a.type, order: a.order, span: a.span, bit: a.bit, length: a.length, arrayLength: a.arrayLength });

describe('parseModbusAddress', () => {
  const table: [string, Partial<ReturnType<typeof pick>>][] = [
    ['HR100', { area: 'holdingRegisters', address: 100, type: 'UINT', order: 'ABCD', span: 1 }],
    ['hr100:float32:cdab', { area: 'holdingRegisters', address: 100, type: 'REAL', order: 'CDAB', span: 2 }],
    ['IR4:INT32', { area: 'inputRegisters', address: 4, type: 'DINT', span: 2 }],
    ['C10', { area: 'coils', address: 10, type: 'BOOL', span: 1 }],
    ['DI3', { area: 'discreteInputs', address: 3, type: 'BOOL', span: 1 }],
    ['40101', { area: 'holdingRegisters', address: 100, type: 'UINT' }],
    ['30001', { area: 'inputRegisters', address: 0 }],
    ['10001', { area: 'discreteInputs', address: 0 }],
    ['00001', { area: 'coils', address: 0 }],
    ['465536', { area: 'holdingRegisters', address: 65535 }],
    ['40001:FLOAT64:DCBA', { address: 0, type: 'LREAL', order: 'DCBA', span: 4 }],
    ['HR5.3', { address: 5, type: 'BOOL', bit: 3, span: 1 }],
    ['HR0:FLOAT32[10]', { type: 'REAL', arrayLength: 10, span: 20 }],
    ['HR20:STRING[16]', { type: 'STRING', length: 16, span: 8 }],
    ['HR20:STRING[5]', { type: 'STRING', length: 5, span: 3 }],
    ['HR0:INT64', { type: 'LINT', span: 4 }],
    ['C0:BOOL[8]', { area: 'coils', arrayLength: 8, span: 8 }],
    ['HR7:BADC:UINT32', { type: 'UDINT', order: 'BADC', span: 2 }],
  ];
  for (const [text, want] of table) {
    it(`parses ${text}`, () => {
      expect(pick(parseModbusAddress(text))).toMatchObject(want);
    });
  }

  const invalid: [string, RegExp][] = [
    ['XX1', /expected an area/],
    ['HR', /expected an area/],
    ['HR70000', /above 65535/],
    ['123', /Modicon/],
    ['50001', /Modicon/],
    ['40000', /not in 1\.\.9999/],
    ['C0:FLOAT32', /only be BOOL/],
    ['DI0:CDAB', /only be BOOL|word order/],
    ['HR5.16', /0\.\.15/],
    ['C5.1', /only to registers/],
    ['HR0:FLOAT99', /unknown data type/],
    ['HR0:STRING', /needs a length/],
    ['HR65535:FLOAT32', /run past address 65535/],
    ['HR0:FLOAT32:CDAB:ABCD', /twice/],
    ['HR5.3:INT16', /is a BOOL/],
  ];
  for (const [text, why] of invalid) {
    it(`rejects ${text} with BIFROST_INVALID_ADDRESS`, () => {
      let err: unknown;
      try {
        parseModbusAddress(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BifrostError);
      expect((err as BifrostError).code).toBe('BIFROST_INVALID_ADDRESS');
      expect((err as BifrostError).message).toMatch(why);
      expect((err as BifrostError).address).toBe(text);
    });
  }

  it('formats back to an address that parses to the same thing', () => {
    for (const [text] of table) {
      const a = parseModbusAddress(text);
      expect(pick(parseModbusAddress(formatModbusAddress(a)))).toEqual(pick(a));
    }
  });

  it('never throws anything but a BifrostError on random text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (s) => {
        try {
          parseModbusAddress(s);
        } catch (e) {
          expect(e).toBeInstanceOf(BifrostError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('planReads', () => {
  const plan = (addrs: string[], opts = {}) =>
    planReads(
      addrs.map((a) => parseModbusAddress(a)),
      opts,
    ).map((r) => ({ area: r.area, start: r.start, quantity: r.quantity, n: r.items.length }));

  it('merges neighbours, bridges small gaps, keeps tables apart', () => {
    expect(plan(['HR0:FLOAT32', 'HR4', 'HR2:FLOAT32', 'HR10', 'IR0', 'C0', 'C5', 'DI0'])).toEqual([
      { area: 'holdingRegisters', start: 0, quantity: 11, n: 4 },
      { area: 'inputRegisters', start: 0, quantity: 1, n: 1 },
      { area: 'coils', start: 0, quantity: 6, n: 2 },
      { area: 'discreteInputs', start: 0, quantity: 1, n: 1 },
    ]);
  });

  it('does not bridge a gap larger than maxGap', () => {
    expect(plan(['HR0', 'HR20'], { maxGapRegisters: 10 })).toHaveLength(2);
    expect(plan(['HR0', 'HR20'], { maxGapRegisters: 19 })).toHaveLength(1);
  });

  it('never exceeds 125 registers / 2000 bits, or a device’s lower limit', () => {
    const hr = Array.from({ length: 1000 }, (_, i) => `HR${i}`);
    const r = plan(hr);
    expect(r).toHaveLength(8);
    expect(Math.max(...r.map((x) => x.quantity))).toBe(125);
    expect(plan(hr, { maxRegisters: 50 })).toHaveLength(20);
    const coils = Array.from({ length: 5000 }, (_, i) => `C${i}`);
    expect(plan(coils)).toHaveLength(3);
  });

  it('keeps an oversized tag in one range (read in chunks by the driver)', () => {
    expect(plan(['HR0:FLOAT32[100]'])).toEqual([{ area: 'holdingRegisters', start: 0, quantity: 200, n: 1 }]);
  });

  it('property: every tag lies inside exactly one range and ranges respect the limits', () => {
    const addr = fc.oneof(
      fc.record({ p: fc.constantFrom('HR', 'IR'), n: fc.integer({ min: 0, max: 2000 }), t: fc.constantFrom('', ':FLOAT32', ':INT64', ':UINT16') }).map(({ p, n, t }) => `${p}${n}${t}`),
      fc.record({ p: fc.constantFrom('C', 'DI'), n: fc.integer({ min: 0, max: 20000 }) }).map(({ p, n }) => `${p}${n}`),
    );
    fc.assert(
      fc.property(fc.array(addr, { maxLength: 200 }), fc.integer({ min: 1, max: 125 }), fc.integer({ min: 0, max: 20 }), (texts, maxRegisters, gap) => {
        const parsed = texts.map((t) => parseModbusAddress(t));
        const limits = resolvePlannerLimits({ maxRegisters, maxGapRegisters: gap });
        const ranges = planReads(parsed, limits);
        const seen = new Array(texts.length).fill(0);
        for (const r of ranges) {
          const registers = r.area === 'holdingRegisters' || r.area === 'inputRegisters';
          if (r.items.length > 1) expect(r.quantity).toBeLessThanOrEqual(registers ? maxRegisters : 2000);
          for (const it of r.items) {
            seen[it.index]++;
            expect(it.address.area).toBe(r.area);
            expect(it.address.address).toBeGreaterThanOrEqual(r.start);
            expect(it.address.address + it.address.span).toBeLessThanOrEqual(r.start + r.quantity);
          }
        }
        expect(seen.every((n) => n === 1)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('checks its options', () => {
    expect(() => resolvePlannerLimits({ maxRegisters: 126 })).toThrow(BifrostError);
    expect(() => resolvePlannerLimits({ maxBits: 0 })).toThrow(BifrostError);
  });
});
