import { BifrostError } from '@bifrost/core';
import {
  type CotpTpdu,
  decodeCotp,
  decodeDateAndTime,
  decodeIsoPacket,
  decodeS7Pdu,
  decodeS7Value,
  decodeSzlList,
  encodeCotp,
  encodeDateAndTime,
  encodeIsoPacket,
  encodeS7Pdu,
  encodeS7Value,
  encodeSzlList,
  formatS7Address,
  headerError,
  itemError,
  parseS7Address,
  remoteTsapFor,
  type S7Pdu,
  TpktAssembler,
} from '@bifrost/s7';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Telegrams laid out as in the public descriptions of the protocol: RFC 1006 / ISO 8073 for
// TPKT and COTP, and Wireshark's s7comm dissector (and the snap7/Sharp7 templates) for S7comm.
const ISO_FIXTURES: { name: string; frame: CotpTpdu; bytes: string }[] = [
  {
    name: 'COTP CR to rack 0 slot 2, TPDU size 1024 (Sharp7 ISO_CR template)',
    frame: { type: 'CR', dstRef: 0, srcRef: 1, classOption: 0, tpduSize: 1024, srcTsap: 0x0100, dstTsap: 0x0102 },
    bytes: '03 00 00 16 11 e0 00 00 00 01 00 c0 01 0a c1 02 01 00 c2 02 01 02',
  },
  {
    name: 'COTP CC',
    frame: { type: 'CC', dstRef: 1, srcRef: 0x0044, classOption: 0, tpduSize: 1024, srcTsap: 0x0100, dstTsap: 0x0102 },
    bytes: '03 00 00 16 11 d0 00 01 00 44 00 c0 01 0a c1 02 01 00 c2 02 01 02',
  },
  { name: 'COTP DR', frame: { type: 'DR', dstRef: 1, srcRef: 0x44, reason: 0x80 }, bytes: '03 00 00 0b 06 80 00 01 00 44 80' },
  { name: 'COTP DT, last data unit, empty', frame: { type: 'DT', eot: true, tpduNr: 0, payload: new Uint8Array(0) }, bytes: '03 00 00 07 02 f0 80' },
];

const S7_FIXTURES: { name: string; pdu: S7Pdu; bytes: string }[] = [
  {
    name: 'setup communication job, PDU 480, 1/1 parallel jobs',
    pdu: { kind: 'setup-request', pduRef: 0x0400, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 480 },
    bytes: '32 01 0000 0400 0008 0000 f0 00 0001 0001 01e0',
  },
  {
    name: 'setup communication ack-data, PDU 240',
    pdu: { kind: 'setup-response', pduRef: 0x0400, errorClass: 0, errorCode: 0, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 240 },
    bytes: '32 03 0000 0400 0008 0000 00 00 f0 00 0001 0001 00f0',
  },
  {
    name: 'read var job: DB1, 4 bytes at 0',
    pdu: { kind: 'read-request', pduRef: 5, items: [{ transportSize: 0x02, count: 4, dbNumber: 1, area: 0x84, byteOffset: 0, bitOffset: 0 }] },
    bytes: '32 01 0000 0005 000e 0000 04 01 12 0a 10 02 0004 0001 84 000000',
  },
  {
    name: 'read var job: two items, DB1.DBX16.2 as BIT and MW10 as WORD',
    pdu: {
      kind: 'read-request',
      pduRef: 6,
      items: [
        { transportSize: 0x01, count: 1, dbNumber: 1, area: 0x84, byteOffset: 16, bitOffset: 2 },
        { transportSize: 0x04, count: 1, dbNumber: 0, area: 0x83, byteOffset: 10, bitOffset: 0 },
      ],
    },
    bytes: '32 01 0000 0006 001a 0000 04 02 12 0a 10 01 0001 0001 84 000082 12 0a 10 04 0001 0000 83 000050',
  },
  {
    name: 'read var ack-data: REAL 12.5 as BYTE/WORD/DWORD (length in bits)',
    pdu: { kind: 'read-response', pduRef: 5, errorClass: 0, errorCode: 0, items: [{ returnCode: 0xff, transportSize: 0x04, data: hex('41480000') }] },
    bytes: '32 03 0000 0005 0002 0008 00 00 04 01 ff 04 0020 41480000',
  },
  {
    name: 'read var ack-data: odd item padded, then BIT item, then missing object',
    pdu: {
      kind: 'read-response',
      pduRef: 7,
      errorClass: 0,
      errorCode: 0,
      items: [
        { returnCode: 0xff, transportSize: 0x04, data: hex('010203') },
        { returnCode: 0xff, transportSize: 0x03, data: hex('01') },
        { returnCode: 0x0a, transportSize: 0x00, data: new Uint8Array(0) },
      ],
    },
    bytes: '32 03 0000 0007 0002 0012 00 00 04 03 ff 04 0018 010203 00 ff 03 0001 01 00 0a 00 0000',
  },
  {
    name: 'write var job: DB1.DBD12 REAL 55.5',
    pdu: {
      kind: 'write-request',
      pduRef: 8,
      items: [{ transportSize: 0x02, count: 4, dbNumber: 1, area: 0x84, byteOffset: 12, bitOffset: 0 }],
      data: [{ returnCode: 0, transportSize: 0x04, data: hex('425e0000') }],
    },
    bytes: '32 01 0000 0008 000e 0008 05 01 12 0a 10 02 0004 0001 84 000060 00 04 0020 425e0000',
  },
  {
    name: 'write var ack-data: success',
    pdu: { kind: 'write-response', pduRef: 8, errorClass: 0, errorCode: 0, returnCodes: [0xff] },
    bytes: '32 03 0000 0008 0002 0001 00 00 05 01 ff',
  },
  { name: 'ack-data refusing the job: 0x8104 (PUT/GET disabled)', pdu: { kind: 'ack', rosctr: 3, pduRef: 9, errorClass: 0x81, errorCode: 0x04 }, bytes: '32 03 0000 0009 0000 0000 81 04' },
  {
    name: 'userdata: read SZL 0x0011 index 0',
    pdu: { kind: 'szl-request', pduRef: 0x0a, sequence: 0, szlId: 0x0011, szlIndex: 0 },
    bytes: '32 07 0000 000a 0008 0008 0001 12 04 11 44 01 00 ff 09 0004 0011 0000',
  },
  {
    name: 'userdata: read SZL answer, last data unit',
    pdu: { kind: 'szl-response', pduRef: 0x0a, sequence: 0, lastUnit: true, errorCode: 0, returnCode: 0xff, data: hex('001c 0000 0002 0001 0007') },
    bytes: '32 07 0000 000a 000c 000e 0001 12 08 12 84 01 00 00 00 0000 ff 09 000a 001c00000002 00010007',
  },
  {
    name: 'userdata: read SZL answer refusing the id (0xD401)',
    pdu: { kind: 'szl-response', pduRef: 0x0b, sequence: 0, lastUnit: true, errorCode: 0xd401, returnCode: 0x0a, data: new Uint8Array(0) },
    bytes: '32 07 0000 000b 000c 0004 0001 12 08 12 84 01 00 00 00 d401 0a 00 0000',
  },
];

describe('ISO-on-TCP fixtures', () => {
  for (const f of ISO_FIXTURES) {
    it(f.name, () => {
      expect(Buffer.from(encodeIsoPacket(f.frame)).toString('hex')).toBe(f.bytes.replace(/\s+/g, ''));
      expect(decodeIsoPacket(hex(f.bytes))).toEqual(f.frame);
    });
  }
  it('computes remote TSAPs from rack and slot', () => {
    expect(remoteTsapFor(0, 2)).toBe(0x0102);
    expect(remoteTsapFor(0, 1, 'op')).toBe(0x0201);
    expect(remoteTsapFor(1, 3, 'basic')).toBe(0x0323);
  });
});

describe('S7comm PDU fixtures', () => {
  for (const f of S7_FIXTURES) {
    it(f.name, () => {
      expect(Buffer.from(encodeS7Pdu(f.pdu)).toString('hex')).toBe(f.bytes.replace(/\s+/g, ''));
      expect(decodeS7Pdu(hex(f.bytes))).toEqual(f.pdu);
    });
  }
});

describe('S7comm decode-only telegrams', () => {
  it('a failed item in snap7’s answer announces 4 bytes but carries none', () => {
    expect(decodeS7Pdu(hex('32 03 0000 0003 0002 000a 00 00 04 02 0a 00 0004 ff 04 0010 0102'))).toEqual({
      kind: 'read-response',
      pduRef: 3,
      errorClass: 0,
      errorCode: 0,
      items: [
        { returnCode: 0x0a, transportSize: 0, data: new Uint8Array(0) },
        { returnCode: 0xff, transportSize: 4, data: hex('0102') },
      ],
    });
  });
});

describe('return codes', () => {
  it('maps item return codes to codes with the status and its name', () => {
    const e = itemError(0x0a, { address: 'DB9.DBW0', device: 'plc' });
    expect(e.code).toBe('BIFROST_S7_OBJECT_NOT_FOUND');
    expect(e.status).toBe(0x0a);
    expect(e.statusName).toBe('OBJECT_DOES_NOT_EXIST');
    expect(e.message).toContain('DB9.DBW0');
    expect(itemError(0x05).code).toBe('BIFROST_S7_ADDRESS_OUT_OF_RANGE');
    expect(itemError(0x03).hint).toContain('PUT/GET');
    expect(itemError(0x42).code).toBe('BIFROST_S7_ITEM_ERROR');
  });
  it('maps header errors, with the PUT/GET hint for 0x8104', () => {
    const e = headerError(0x81, 0x04);
    expect(e.code).toBe('BIFROST_S7_FUNCTION_NOT_AVAILABLE');
    expect(e.status).toBe(0x8104);
    expect(e.hint).toContain('PUT/GET');
    expect(headerError(0x85, 0x00).code).toBe('BIFROST_S7_PDU_TOO_LARGE');
    expect(headerError(0xd4, 0x01).code).toBe('BIFROST_S7_SZL_ERROR');
    expect(headerError(0x87, 0x02).statusName).toBe('ADDRESS_INVALID');
  });
});

describe('addresses', () => {
  const table: [string, Partial<ReturnType<typeof parseS7Address>>][] = [
    ['DB1.DBX0.0', { area: 'DB', dbNumber: 1, byteOffset: 0, bitOffset: 0, type: 'BOOL', dataType: 'BOOL', byteLength: 1 }],
    ['DB1.DBB1', { area: 'DB', byteOffset: 1, type: 'BYTE', dataType: 'USINT', byteLength: 1 }],
    ['DB1.DBW2', { byteOffset: 2, type: 'WORD', dataType: 'UINT', byteLength: 2 }],
    ['DB1.DBD4:REAL', { byteOffset: 4, type: 'REAL', dataType: 'REAL', byteLength: 4 }],
    ['DB1.DBD8:DINT', { type: 'DINT', dataType: 'DINT' }],
    ['db1.dbb8:lreal', { type: 'LREAL', byteLength: 8 }],
    ['M10.1', { area: 'M', areaCode: 0x83, byteOffset: 10, bitOffset: 1, type: 'BOOL' }],
    ['MW20', { area: 'M', byteOffset: 20, type: 'WORD' }],
    ['I0.0', { area: 'I', areaCode: 0x81, type: 'BOOL' }],
    ['E1.7', { area: 'I', byteOffset: 1, bitOffset: 7 }],
    ['Q0.1', { area: 'Q', areaCode: 0x82, bitOffset: 1 }],
    ['AB3', { area: 'Q', byteOffset: 3, type: 'BYTE' }],
    ['DB2.DBB10:STRING[20]', { dbNumber: 2, type: 'STRING', stringLength: 20, byteLength: 22, dataType: 'STRING' }],
    ['DB2.DBB0:CHAR', { type: 'CHAR', dataType: 'STRING', byteLength: 1 }],
    ['DB2.DBB0:DT', { type: 'DATE_AND_TIME', dataType: 'DATETIME', byteLength: 8 }],
    ['DB2.DBD0:REAL[10]', { type: 'REAL', count: 10, isArray: true, byteLength: 40 }],
  ];
  for (const [text, expected] of table) {
    it(`parses ${text}`, () => {
      expect(parseS7Address(text)).toMatchObject(expected);
      const round = parseS7Address(formatS7Address(parseS7Address(text)));
      expect(round).toMatchObject({ ...expected, text: round.text });
    });
  }
  for (const bad of [
    '',
    'DB1',
    'DB0.DBW0',
    'DB1.DBX0',
    'DB1.DBX0.8',
    'DB1.DBW0.1',
    'M10',
    'DB1.DBW0:FOO',
    'DB1.DBX0.0:INT',
    'DB1.DBW0:BOOL',
    'DB1.DBB0:STRING[255]',
    'DB1.DBB99999999',
    'X1.0',
    'DB70000.DBB0',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with BIFROST_INVALID_ADDRESS`, () => {
      expect(() => parseS7Address(bad)).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_ADDRESS' }));
    });
  }
});

describe('values', () => {
  it('encodes DATE_AND_TIME as BCD (STEP 7 layout)', () => {
    const buf = new Uint8Array(8);
    encodeDateAndTime(new Date('2024-03-15T10:30:00.123Z'), buf, 0);
    // 2024-03-15 is a Friday: weekday 6 (1 = Sunday).
    expect(Buffer.from(buf).toString('hex')).toBe('2403151030001236');
    expect(decodeDateAndTime(hex('9912312359595910'), 0).toISOString()).toBe('1999-12-31T23:59:59.591Z');
    expect(() => decodeDateAndTime(hex('2a03151030001236'), 0)).toThrow(BifrostError);
  });
  it('encodes an S7 STRING with maximum and actual length', () => {
    const a = parseS7Address('DB1.DBB0:STRING[6]');
    expect(Buffer.from(encodeS7Value(a, 'abc')).toString('hex')).toBe('0603616263000000');
    expect(decodeS7Value(a, hex('0603616263000000'))).toBe('abc');
    // An actual length above the maximum is capped, never read past the string.
    expect(decodeS7Value(a, hex('06ff616263646566'))).toBe('abcdef');
    expect(() => encodeS7Value(a, 'too long!')).toThrow(expect.objectContaining({ code: 'BIFROST_VALUE_OUT_OF_RANGE' }));
  });
  it('reads bits out of the byte', () => {
    expect(decodeS7Value(parseS7Address('M0.3'), Uint8Array.of(0x08))).toBe(true);
    expect(decodeS7Value(parseS7Address('M0.2'), Uint8Array.of(0x08))).toBe(false);
  });
  it('round-trips every numeric type big-endian', () => {
    const cases: [string, unknown, string][] = [
      ['DB1.DBW0:INT', -2, 'fffe'],
      ['DB1.DBD0:DINT', -100000, 'fffe7960'],
      ['DB1.DBD0:REAL', 12.5, '41480000'],
      ['DB1.DBB0:LREAL', 1, '3ff0000000000000'],
      ['DB1.DBB0:LINT', -1n, 'ffffffffffffffff'],
      ['DB1.DBW0:INT[2]', [1, -1], '0001ffff'],
    ];
    for (const [addr, v, bytes] of cases) {
      const a = parseS7Address(addr);
      expect(Buffer.from(encodeS7Value(a, v)).toString('hex')).toBe(bytes);
      expect(decodeS7Value(a, hex(bytes))).toEqual(v);
    }
  });
});

describe('SZL lists', () => {
  it('round-trips records', () => {
    const list = { szlId: 0x1c, szlIndex: 0, recordLength: 4, records: [hex('00010203'), hex('00020405')] };
    expect(decodeSzlList(encodeSzlList(list))).toEqual(list);
    expect(() => decodeSzlList(hex('001c000000040009'))).toThrow(expect.objectContaining({ code: 'BIFROST_MALFORMED_FRAME' }));
  });
});

// ── properties ──

const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const spec = fc.record({
  transportSize: fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8),
  count: u16,
  dbNumber: u16,
  area: fc.constantFrom(0x81, 0x82, 0x83, 0x84),
  byteOffset: fc.integer({ min: 0, max: 0x1fffff }),
  bitOffset: fc.integer({ min: 0, max: 7 }),
});
// Answers carry data only in items that succeeded.
const answerItem = fc.oneof(
  fc.record({ returnCode: fc.constant(0xff), transportSize: fc.constantFrom(0x03, 0x04, 0x05, 0x07, 0x09), data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ returnCode: fc.integer({ min: 0, max: 0xfe }), transportSize: fc.constant(0), data: fc.constant(new Uint8Array(0)) }),
);
const dataItem = fc.oneof(
  fc.record({ returnCode: u8, transportSize: fc.constantFrom(0x04, 0x05), data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ returnCode: u8, transportSize: fc.constantFrom(0x03, 0x07, 0x09), data: fc.uint8Array({ maxLength: 40 }) }),
);
const pduArb: fc.Arbitrary<S7Pdu> = fc.oneof(
  fc.record({ kind: fc.constant('setup-request' as const), pduRef: u16, maxAmqCalling: u16, maxAmqCalled: u16, pduLength: u16 }),
  fc.record({ kind: fc.constant('setup-response' as const), pduRef: u16, errorClass: u8, errorCode: u8, maxAmqCalling: u16, maxAmqCalled: u16, pduLength: u16 }),
  fc.record({ kind: fc.constant('read-request' as const), pduRef: u16, items: fc.array(spec, { minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('read-response' as const), pduRef: u16, errorClass: u8, errorCode: u8, items: fc.array(answerItem, { minLength: 1, maxLength: 20 }) }),
  fc
    .array(fc.tuple(spec, dataItem), { minLength: 1, maxLength: 20 })
    .chain((pairs) => fc.record({ kind: fc.constant('write-request' as const), pduRef: u16, items: fc.constant(pairs.map((p) => p[0])), data: fc.constant(pairs.map((p) => p[1])) })),
  fc.record({ kind: fc.constant('write-response' as const), pduRef: u16, errorClass: u8, errorCode: u8, returnCodes: fc.array(u8, { minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('szl-request' as const), pduRef: u16, sequence: u8, szlId: u16, szlIndex: u16 }),
  fc.record({ kind: fc.constant('szl-response' as const), pduRef: u16, sequence: u8, lastUnit: fc.boolean(), errorCode: u16, returnCode: u8, data: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ kind: fc.constant('ack' as const), rosctr: fc.constantFrom(2, 3), pduRef: u16, errorClass: u8, errorCode: u8 }),
);

function onlyBifrostErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BifrostError)) throw e;
  }
}

describe('properties', () => {
  it('every S7 PDU round-trips', () => {
    fc.assert(
      fc.property(pduArb, (pdu) => {
        // BIT items carry whole bytes; an odd BYTE item ends on a bit count the codec rounds up: both stay exact here.
        expect(decodeS7Pdu(encodeS7Pdu(pdu))).toEqual(pdu);
      }),
      { numRuns: 500 },
    );
  });
  it('random and truncated bytes never throw anything but a BifrostError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyBifrostErrors(() => decodeS7Pdu(bytes));
        onlyBifrostErrors(() => decodeIsoPacket(bytes));
        onlyBifrostErrors(() => decodeCotp(bytes));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(pduArb, fc.nat(), fc.nat(), (pdu, cut, flip) => {
        const bytes = encodeS7Pdu(pdu);
        onlyBifrostErrors(() => decodeS7Pdu(bytes.subarray(0, cut % (bytes.length + 1))));
        const mutated = bytes.slice();
        const at = flip % mutated.length;
        mutated[at] = (mutated[at] as number) ^ 0xff;
        onlyBifrostErrors(() => decodeS7Pdu(mutated));
      }),
      { numRuns: 1000 },
    );
  });
  it('the TPKT assembler gives back the same packets however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(pduArb, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (pdus, cuts) => {
        const packets = pdus.map((p) => encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: encodeS7Pdu(p) }));
        const stream = Buffer.concat(packets);
        const asm = new TpktAssembler(0xffff);
        const got: Uint8Array[] = [];
        let o = 0;
        for (let i = 0; o < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          got.push(...asm.push(stream.subarray(o, o + n)));
          o += n;
        }
        expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual(packets.map((g) => Buffer.from(g).toString('hex')));
        expect(got.map((g) => decodeS7Pdu((decodeIsoPacket(g) as { payload: Uint8Array }).payload))).toEqual(pdus);
      }),
      { numRuns: 300 },
    );
  });
  it('the TPKT assembler refuses packets above its maximum and garbage with BifrostErrors', () => {
    expect(() => new TpktAssembler(100).push(hex('03000fff'))).toThrow(expect.objectContaining({ code: 'BIFROST_FRAME_TOO_LARGE' }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        onlyBifrostErrors(() => new TpktAssembler(1024).push(bytes));
      }),
    );
  });
  it('COTP TPDUs round-trip', () => {
    const tsap = fc.option(u16, { nil: undefined });
    const cotp: fc.Arbitrary<CotpTpdu> = fc.oneof(
      fc.record({
        type: fc.constantFrom('CR' as const, 'CC' as const),
        dstRef: u16,
        srcRef: u16,
        classOption: u8,
        tpduSize: fc.option(fc.constantFrom(128, 256, 512, 1024, 2048, 4096, 8192), { nil: undefined }),
        srcTsap: tsap,
        dstTsap: tsap,
      }),
      fc.record({ type: fc.constant('DR' as const), dstRef: u16, srcRef: u16, reason: u8 }),
      fc.record({ type: fc.constant('DT' as const), eot: fc.boolean(), tpduNr: fc.integer({ min: 0, max: 127 }), payload: fc.uint8Array({ maxLength: 50 }) }),
    );
    fc.assert(
      fc.property(cotp, (t) => {
        const clean = Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined));
        expect(decodeCotp(encodeCotp(t))).toEqual(clean);
      }),
    );
  });
  it('values round-trip through the S7 layouts', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2089-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const buf = new Uint8Array(8);
        encodeDateAndTime(d, buf, 0);
        expect(decodeDateAndTime(buf, 0).getTime()).toBe(d.getTime());
      }),
    );
    const a = parseS7Address('DB1.DBB0:STRING[30]');
    fc.assert(
      fc.property(fc.string({ maxLength: 30, unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)) }), (s) => {
        expect(decodeS7Value(a, encodeS7Value(a, s))).toBe(s);
      }),
    );
  });
});
