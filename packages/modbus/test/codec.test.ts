import { BifrostError } from '@bifrost/core';
import {
  crc16,
  decodeRequest,
  decodeResponse,
  decodeRtuFrame,
  decodeTcpFrame,
  encodeRequest,
  encodeResponse,
  encodeRtuFrame,
  encodeTcpFrame,
  MbapFrameAssembler,
  type ModbusRequest,
  type ModbusResponse,
  RtuFrameAssembler,
  rtuSilentIntervalMs,
  unpackBits,
} from '@bifrost/modbus';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const bits = (s: string) => [...s].map((c) => c === '1');

/** Turns byte arrays into hex so Buffer and Uint8Array compare equal. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

// Requests and responses of the examples in the Modbus Application Protocol Specification V1.1b3, §6.
const requests: [string, ModbusRequest, string][] = [
  ['§6.1 FC 1 read coils 20-38', { fc: 1, address: 19, quantity: 19 }, '01 0013 0013'],
  ['§6.2 FC 2 read discrete inputs 197-218', { fc: 2, address: 196, quantity: 22 }, '02 00C4 0016'],
  ['§6.3 FC 3 read holding registers 108-110', { fc: 3, address: 107, quantity: 3 }, '03 006B 0003'],
  ['§6.4 FC 4 read input register 9', { fc: 4, address: 8, quantity: 1 }, '04 0008 0001'],
  ['§6.5 FC 5 write coil 173 ON', { fc: 5, address: 172, value: true }, '05 00AC FF00'],
  ['§6.6 FC 6 write register 2 = 3', { fc: 6, address: 1, value: 3 }, '06 0001 0003'],
  ['§6.11 FC 15 write 10 coils from 20', { fc: 15, address: 19, values: bits('1011001110') }, '0F 0013 000A 02 CD01'],
  ['§6.12 FC 16 write registers 2-3', { fc: 16, address: 1, data: hex('000A 0102') }, '10 0001 0002 04 000A0102'],
  ['§6.16 FC 22 mask write register 5', { fc: 22, address: 4, andMask: 0x00f2, orMask: 0x0025 }, '16 0004 00F2 0025'],
  ['§6.17 FC 23 read 4-9, write 15-17', { fc: 23, readAddress: 3, readQuantity: 6, writeAddress: 14, data: hex('00FF 00FF 00FF') }, '17 0003 0006 000E 0003 06 00FF00FF00FF'],
  ['§6.21 FC 43/14 basic device identification', { fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 }, '2B 0E 01 00'],
];

const responses: [string, ModbusResponse, string][] = [
  ['§6.1 FC 1 coils 27-20 = CD, 35-28 = 6B, 38-36 = 05', { fc: 1, data: hex('CD6B05') }, '01 03 CD6B05'],
  ['§6.2 FC 2 discrete inputs', { fc: 2, data: hex('ACDB35') }, '02 03 ACDB35'],
  ['§6.3 FC 3 registers 108-110 = 555, 0, 100', { fc: 3, data: hex('022B 0000 0064') }, '03 06 022B00000064'],
  ['§6.4 FC 4 input register 9 = 10', { fc: 4, data: hex('000A') }, '04 02 000A'],
  ['§6.5 FC 5 echo', { fc: 5, address: 172, value: true }, '05 00AC FF00'],
  ['§6.6 FC 6 echo', { fc: 6, address: 1, value: 3 }, '06 0001 0003'],
  ['§6.11 FC 15 confirmation', { fc: 15, address: 19, quantity: 10 }, '0F 0013 000A'],
  ['§6.12 FC 16 confirmation', { fc: 16, address: 1, quantity: 2 }, '10 0001 0002'],
  ['§6.16 FC 22 echo', { fc: 22, address: 4, andMask: 0x00f2, orMask: 0x0025 }, '16 0004 00F2 0025'],
  ['§6.17 FC 23 registers 4-9', { fc: 23, data: hex('00FE 0ACD 0001 0003 000D 00FF') }, '17 0C 00FE0ACD00010003000D00FF'],
  ['§7 exception: FC 1 illegal data address', { fc: 1, exception: 2 }, '81 02'],
  ['§7 exception: FC 3 server device busy', { fc: 3, exception: 6 }, '83 06'],
  [
    '§6.21 FC 43/14 basic identification (three objects)',
    {
      fc: 43,
      meiType: 14,
      readDeviceIdCode: 1,
      conformityLevel: 0x01,
      moreFollows: false,
      nextObjectId: 0,
      objects: [
        { id: 0, value: 'Company identification' },
        { id: 1, value: 'Product code XX' },
        { id: 2, value: 'V2.11' },
      ],
    },
    `2B 0E 01 01 00 00 03 00 16 ${Buffer.from('Company identification').toString('hex')} 01 0F ${Buffer.from('Product code XX').toString('hex')} 02 05 ${Buffer.from('V2.11').toString('hex')}`,
  ],
];

describe('PDU fixtures (Modbus Application Protocol V1.1b3)', () => {
  for (const [name, frame, bytes] of requests) {
    it(`request ${name}: encode, decode, round trip`, () => {
      expect(Buffer.from(encodeRequest(frame)).toString('hex')).toBe(Buffer.from(hex(bytes)).toString('hex'));
      expect(norm(decodeRequest(hex(bytes)))).toEqual(norm(frame));
      expect(norm(decodeRequest(encodeRequest(frame)))).toEqual(norm(frame));
    });
  }
  for (const [name, frame, bytes] of responses) {
    it(`response ${name}: encode, decode, round trip`, () => {
      expect(Buffer.from(encodeResponse(frame)).toString('hex')).toBe(Buffer.from(hex(bytes)).toString('hex'));
      expect(norm(decodeResponse(hex(bytes)))).toEqual(norm(frame));
      expect(norm(decodeResponse(encodeResponse(frame)))).toEqual(norm(frame));
    });
  }

  it('§6.1: coil status bytes unpack LSB first (CD = coils 27..20 as 1100 1101)', () => {
    expect(unpackBits(hex('CD'), 8)).toEqual(bits('10110011'));
  });

  it('refuses to encode quantities the specification does not allow', () => {
    expect(() => encodeRequest({ fc: 3, address: 0, quantity: 126 })).toThrow(/1\.\.125/);
    expect(() => encodeRequest({ fc: 1, address: 0, quantity: 2001 })).toThrow(/1\.\.2000/);
    expect(() => encodeRequest({ fc: 3, address: 65535, quantity: 2 })).toThrow(/past address 65535/);
    expect(() => encodeRequest({ fc: 16, address: 0, data: new Uint8Array(124 * 2) })).toThrow(/1\.\.123/);
    expect(() => encodeRequest({ fc: 6, address: 0, value: 65536 })).toThrow(BifrostError);
  });

  it('tells the server which exception to answer for a bad request', () => {
    const unknown = (() => {
      try {
        decodeRequest(hex('41 0000'));
      } catch (e) {
        return e as BifrostError;
      }
    })();
    expect(unknown?.status).toBe(1);
    const badCount = (() => {
      try {
        decodeRequest(hex('10 0001 0002 03 000A01'));
      } catch (e) {
        return e as BifrostError;
      }
    })();
    expect(badCount?.code).toBe('BIFROST_MALFORMED_FRAME');
    expect(badCount?.status).toBe(3);
    expect(() => decodeRequest(hex('05 00AC 1234'))).toThrow(/neither 0xFF00 nor 0x0000/);
  });
});

describe('MBAP and RTU framing fixtures', () => {
  it('MBAP (TCP Implementation Guide §3.1.3): header, length counts unit id and PDU', () => {
    const frame = encodeTcpFrame(1, 0x11, hex('03 006B 0003'));
    expect(Buffer.from(frame).toString('hex')).toBe('0001000000061103006b0003');
    const back = decodeTcpFrame(frame);
    expect(back.transactionId).toBe(1);
    expect(back.unitId).toBe(0x11);
    expect(Buffer.from(back.pdu).toString('hex')).toBe('03006b0003');
  });

  it('RTU (Serial Line V1.02 §6.2.2): CRC-16 sent low byte first', () => {
    // Read holding registers 108..110 of slave 0x11, CRC 0x8776 → 76 87.
    expect(crc16(hex('11 03 006B 0003'))).toBe(0x8776);
    const frame = encodeRtuFrame(0x11, hex('03 006B 0003'));
    expect(Buffer.from(frame).toString('hex')).toBe('1103006b00037687');
    const back = decodeRtuFrame(frame);
    expect(back.unitId).toBe(0x11);
    expect(Buffer.from(back.pdu).toString('hex')).toBe('03006b0003');
  });

  it('a wrong CRC is BIFROST_MODBUS_CRC', () => {
    const err = (() => {
      try {
        decodeRtuFrame(hex('11 03 006B 0003 7688'));
      } catch (e) {
        return e as BifrostError;
      }
    })();
    expect(err?.code).toBe('BIFROST_MODBUS_CRC');
  });

  it('MBAP limits: a length above the maximum frame size, or a foreign protocol id, is an error', () => {
    expect(() => decodeTcpFrame(hex('0001 0000 00FF 01 03'))).toThrow(expect.objectContaining({ code: 'BIFROST_FRAME_TOO_LARGE' }));
    expect(() => decodeTcpFrame(hex('0001 0001 0006 11 03006B0003'))).toThrow(expect.objectContaining({ code: 'BIFROST_MALFORMED_FRAME' }));
    expect(() => decodeTcpFrame(hex('0001 0000 0006 11 03006B0003'), 12)).not.toThrow();
    expect(() => decodeTcpFrame(hex('0001 0000 0006 11 03006B0003'), 11)).toThrow(expect.objectContaining({ code: 'BIFROST_FRAME_TOO_LARGE' }));
  });

  it('t3.5 is 3.5 characters of 11 bits, and 1.75 ms above 19200 baud (§2.5.1.1)', () => {
    expect(rtuSilentIntervalMs(9600)).toBeCloseTo(4.0104, 3);
    expect(rtuSilentIntervalMs(115200)).toBe(1.75);
  });
});

// ── property tests ──

const u16 = fc.integer({ min: 0, max: 0xffff });
const regBytes = (min: number, max: number) => fc.integer({ min, max }).chain((n) => fc.uint8Array({ minLength: n * 2, maxLength: n * 2 }));

const requestArb: fc.Arbitrary<ModbusRequest> = fc.oneof(
  fc
    .record({ fc: fc.constantFrom(1 as const, 2 as const), quantity: fc.integer({ min: 1, max: 2000 }) })
    .chain(({ fc: f, quantity }) => fc.integer({ min: 0, max: 65536 - quantity }).map((address) => ({ fc: f, address, quantity }))),
  fc
    .record({ fc: fc.constantFrom(3 as const, 4 as const), quantity: fc.integer({ min: 1, max: 125 }) })
    .chain(({ fc: f, quantity }) => fc.integer({ min: 0, max: 65536 - quantity }).map((address) => ({ fc: f, address, quantity }))),
  fc.record({ fc: fc.constant(5 as const), address: u16, value: fc.boolean() }),
  fc.record({ fc: fc.constant(6 as const), address: u16, value: u16 }),
  fc.array(fc.boolean(), { minLength: 1, maxLength: 1968 }).chain((values) => fc.integer({ min: 0, max: 65536 - values.length }).map((address) => ({ fc: 15 as const, address, values }))),
  regBytes(1, 123).chain((data) => fc.integer({ min: 0, max: 65536 - data.length / 2 }).map((address) => ({ fc: 16 as const, address, data }))),
  fc.record({ fc: fc.constant(22 as const), address: u16, andMask: u16, orMask: u16 }),
  fc
    .record({ readQuantity: fc.integer({ min: 1, max: 125 }), data: regBytes(1, 121) })
    .chain(({ readQuantity, data }) =>
      fc
        .record({ readAddress: fc.integer({ min: 0, max: 65536 - readQuantity }), writeAddress: fc.integer({ min: 0, max: 65536 - data.length / 2 }) })
        .map((a) => ({ fc: 23 as const, readQuantity, data, ...a })),
    ),
  fc.record({ fc: fc.constant(43 as const), meiType: fc.constant(14 as const), readDeviceIdCode: fc.integer({ min: 1, max: 4 }), objectId: fc.integer({ min: 0, max: 255 }) }),
);

const responseArb: fc.Arbitrary<ModbusResponse> = fc.oneof(
  fc.record({ fc: fc.constantFrom(1 as const, 2 as const), data: fc.uint8Array({ minLength: 0, maxLength: 250 }) }),
  fc.record({ fc: fc.constantFrom(3 as const, 4 as const, 23 as const), data: regBytes(0, 125) }),
  fc.record({ fc: fc.constant(5 as const), address: u16, value: fc.boolean() }),
  fc.record({ fc: fc.constant(6 as const), address: u16, value: u16 }),
  fc.record({ fc: fc.constantFrom(15 as const, 16 as const), address: u16, quantity: u16 }),
  fc.record({ fc: fc.constant(22 as const), address: u16, andMask: u16, orMask: u16 }),
  fc.record({ fc: fc.integer({ min: 1, max: 0x7f }), exception: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    fc: fc.constant(43 as const),
    meiType: fc.constant(14 as const),
    readDeviceIdCode: fc.integer({ min: 1, max: 4 }),
    conformityLevel: fc.integer({ min: 0, max: 255 }),
    moreFollows: fc.boolean(),
    nextObjectId: fc.integer({ min: 0, max: 255 }),
    objects: fc.array(fc.record({ id: fc.integer({ min: 0, max: 255 }), value: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }) }), {
      maxLength: 5,
    }),
  }),
);

const onlyBifrostErrors = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BifrostError)) throw e;
  }
};

describe('codec properties (fast-check)', () => {
  it('every valid request round-trips through bytes, MBAP and RTU', () => {
    fc.assert(
      fc.property(requestArb, u16, fc.integer({ min: 0, max: 255 }), (req, tid, unit) => {
        const pdu = encodeRequest(req);
        expect(norm(decodeRequest(pdu))).toEqual(norm(req));
        const tcp = decodeTcpFrame(encodeTcpFrame(tid, unit, pdu));
        expect([tcp.transactionId, tcp.unitId, Buffer.from(tcp.pdu).equals(pdu)]).toEqual([tid, unit, true]);
        const rtu = decodeRtuFrame(encodeRtuFrame(unit, pdu));
        expect([rtu.unitId, Buffer.from(rtu.pdu).equals(pdu)]).toEqual([unit, true]);
      }),
      { numRuns: 500 },
    );
  });

  it('every valid response round-trips', () => {
    fc.assert(
      fc.property(responseArb, (res) => {
        expect(norm(decodeResponse(encodeResponse(res)))).toEqual(norm(res));
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes never throw anything but a BifrostError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyBifrostErrors(() => decodeRequest(bytes));
        onlyBifrostErrors(() => decodeResponse(bytes));
        onlyBifrostErrors(() => decodeTcpFrame(bytes));
        onlyBifrostErrors(() => decodeRtuFrame(bytes));
        const sink = {
          frame() {},
          error(e: BifrostError) {
            expect(e).toBeInstanceOf(BifrostError);
          },
        };
        new MbapFrameAssembler(sink).push(bytes);
        new RtuFrameAssembler(sink, 'response').push(bytes);
        new RtuFrameAssembler(sink, 'request').push(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('truncated frames never decode and never throw anything but a BifrostError', () => {
    fc.assert(
      fc.property(requestArb, fc.nat(), (req, cut) => {
        const pdu = encodeRequest(req);
        const short = pdu.subarray(0, cut % pdu.length);
        expect(() => decodeRequest(short)).toThrow(BifrostError);
        const rtu = encodeRtuFrame(1, pdu);
        onlyBifrostErrors(() => decodeRtuFrame(rtu.subarray(0, cut % rtu.length)));
      }),
      { numRuns: 300 },
    );
  });

  it('frames split at random points come out of the assemblers whole and in order', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 50 }), (reqs, cuts) => {
        const pdus = reqs.map((r) => encodeRequest(r));
        const tcpStream = Buffer.concat(pdus.map((p, i) => encodeTcpFrame(i, 1, p)));
        const rtuStream = Buffer.concat(pdus.map((p) => encodeRtuFrame(7, p)));
        const gotTcp: string[] = [];
        const gotRtu: string[] = [];
        const fail = (e: BifrostError) => {
          throw e;
        };
        const tcp = new MbapFrameAssembler({ frame: (_t, _u, pdu) => gotTcp.push(Buffer.from(pdu).toString('hex')), error: fail });
        const rtu = new RtuFrameAssembler({ frame: (_u, pdu) => gotRtu.push(Buffer.from(pdu).toString('hex')), error: fail }, 'request');
        for (const [stream, a] of [
          [tcpStream, tcp],
          [rtuStream, rtu],
        ] as const) {
          let o = 0;
          let k = 0;
          while (o < stream.length) {
            const n = cuts[k++ % cuts.length] as number;
            a.push(stream.subarray(o, o + n));
            o += n;
          }
        }
        const want = pdus.map((p) => p.toString('hex'));
        expect(gotTcp).toEqual(want);
        expect(gotRtu).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('response frames split at random points are reassembled by the RTU response assembler', () => {
    fc.assert(
      fc.property(fc.array(responseArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 7 }), (ress, step) => {
        const pdus = ress.map((r) => encodeResponse(r));
        const stream = Buffer.concat(pdus.map((p) => encodeRtuFrame(3, p)));
        const got: string[] = [];
        const a = new RtuFrameAssembler(
          {
            frame: (_u, pdu) => got.push(Buffer.from(pdu).toString('hex')),
            error: (e) => {
              throw e;
            },
          },
          'response',
        );
        for (let o = 0; o < stream.length; o += step) a.push(stream.subarray(o, o + step));
        expect(got).toEqual(pdus.map((p) => p.toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
});
