import { BifrostError } from '@bifrost/core';
import {
  CpfType,
  connectedItems,
  decodeCpf,
  decodeEncap,
  decodeEpath,
  decodeForwardClose,
  decodeForwardOpen,
  decodeForwardOpenReply,
  decodeIdentityItem,
  decodeIdentityObject,
  decodeMultipleServiceData,
  decodeRequest,
  decodeResponse,
  decodeSendData,
  decodeSymbolList,
  decodeSymbolType,
  decodeTagValue,
  decodeTemplateAttributes,
  decodeTemplateDefinition,
  decodeUnconnectedSend,
  decodeWriteTagData,
  EncapCommand,
  EncapFramer,
  encodeCpf,
  encodeEncap,
  encodeEpath,
  encodeForwardClose,
  encodeForwardOpen,
  encodeForwardOpenReply,
  encodeIdentityItem,
  encodeIdentityObject,
  encodeMultipleServiceData,
  encodeRequest,
  encodeResponse,
  encodeSendData,
  encodeSymbolEntry,
  encodeTagValue,
  encodeTemplateAttributes,
  encodeTemplateDefinition,
  encodeUnconnectedSend,
  MESSAGE_ROUTER_PATH,
  parseLogixAddress,
  parseRoutePath,
  readModifyWriteData,
  registerSessionData,
  type Segment,
  Service,
  unconnectedItems,
  vendorName,
  writeTagData,
} from '@bifrost/ethernetip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Encapsulation packets laid out per CIP Vol 2 §2-3 / §2-4 (header: command, length, session,
// status, sender context, options — all little-endian).
const ENCAP_FIXTURES: { name: string; frame: Parameters<typeof encodeEncap>[0]; bytes: string }[] = [
  {
    name: 'RegisterSession request (Vol 2 §2-4.4: protocol version 1, options 0)',
    frame: { command: EncapCommand.RegisterSession, session: 0, status: 0, context: 0n, options: 0, data: registerSessionData() },
    bytes: '6500 0400 00000000 00000000 0000000000000000 00000000 0100 0000',
  },
  {
    name: 'RegisterSession reply with session handle 0x12345678',
    frame: { command: EncapCommand.RegisterSession, session: 0x12345678, status: 0, context: 0n, options: 0, data: registerSessionData() },
    bytes: '6500 0400 78563412 00000000 0000000000000000 00000000 0100 0000',
  },
  {
    name: 'ListIdentity request (Vol 2 §2-4.2: no data)',
    frame: { command: EncapCommand.ListIdentity, session: 0, status: 0, context: 0n, options: 0, data: Buffer.alloc(0) },
    bytes: '6300 0000 00000000 00000000 0000000000000000 00000000',
  },
  {
    name: 'reply with status 0x64 invalid session handle and sender context echoed',
    frame: { command: EncapCommand.SendRRData, session: 1, status: 0x64, context: 0x0102030405060708n, options: 0, data: Buffer.alloc(0) },
    bytes: '6f00 0000 01000000 64000000 0807060504030201 00000000',
  },
];

describe('encapsulation fixtures', () => {
  for (const f of ENCAP_FIXTURES) {
    it(f.name, () => {
      expect(encodeEncap(f.frame).toString('hex')).toBe(hex(f.bytes).toString('hex'));
      expect(decodeEncap(hex(f.bytes))).toEqual(f.frame);
    });
  }

  it('SendRRData with Null Address + Unconnected Data items (Vol 2 §2-4.7, §2-6)', () => {
    // Read Tag "Counter", 1 element, unconnected.
    const mr = encodeRequest({ service: Service.ReadTag, path: encodeEpath([{ type: 'symbolic', name: 'Counter' }]), data: Buffer.from([1, 0]) });
    const data = encodeSendData(unconnectedItems(mr));
    expect(data.toString('hex')).toBe(hex(`00000000 0000 0200 0000 0000 b200 0e00 ${mr.toString('hex')}`).toString('hex'));
    expect(mr.toString('hex')).toBe(hex('4c 05 91 07 436f756e746572 00 0100').toString('hex'));
    const back = decodeSendData(data);
    expect(back.items.map((i) => i.type)).toEqual([CpfType.NullAddress, CpfType.UnconnectedData]);
    expect(back.items[1]?.data.equals(mr)).toBe(true);
  });

  it('SendUnitData items carry the connection id and the sequence count (Vol 2 §2-6.3.1)', () => {
    const items = connectedItems(0xdeadbeef, 7, Buffer.from([0x4c, 0x00]));
    expect(encodeCpf(items).toString('hex')).toBe('0200a1000400efbeadde' + 'b10004000700' + '4c00');
  });

  it('ListIdentity identity item round trips and decodes the socket address big-endian', () => {
    const item = {
      encapsulationVersion: 1,
      socketAddress: { family: 2, port: 44818, address: '192.168.1.10' },
      vendorId: 1,
      deviceType: 14,
      productCode: 166,
      revision: { major: 32, minor: 11 },
      status: 0x3060,
      serialNumber: 0xc0ffee,
      productName: '1756-L83E/B',
      state: 3,
    };
    const b = encodeIdentityItem(item);
    expect(b.subarray(2, 10).toString('hex')).toBe('0002af12c0a8010a');
    expect(decodeIdentityItem(b)).toEqual(item);
    expect(vendorName(1)).toBe('Rockwell Automation/Allen-Bradley');
  });
});

// Request paths from 1756-PM020 ("IOI" segments) and CIP Vol 1 Appendix C.
const EPATH_FIXTURES: { name: string; segments: Segment[]; bytes: string }[] = [
  {
    name: 'Message Router class 2 instance 1',
    segments: [
      { type: 'class', id: 2 },
      { type: 'instance', id: 1 },
    ],
    bytes: '2002 2401',
  },
  {
    name: '16-bit instance',
    segments: [
      { type: 'class', id: 0x6b },
      { type: 'instance', id: 0x1234 },
    ],
    bytes: '206b 2500 3412',
  },
  { name: '32-bit element index', segments: [{ type: 'element', index: 0x12345 }], bytes: '2a00 45230100' },
  {
    name: 'attribute',
    segments: [
      { type: 'class', id: 1 },
      { type: 'instance', id: 1 },
      { type: 'attribute', id: 7 },
    ],
    bytes: '2001 2401 3007',
  },
  {
    name: 'symbolic, odd length padded',
    segments: [
      { type: 'symbolic', name: 'rate' },
      { type: 'symbolic', name: 'abc' },
    ],
    bytes: '9104 72617465 9103 616263 00',
  },
  {
    name: 'array element of a member',
    segments: [
      { type: 'symbolic', name: 'Motor' },
      { type: 'element', index: 3 },
      { type: 'symbolic', name: 'Speed' },
    ],
    bytes: '9105 4d6f746f7200 2803 9105 537065656400',
  },
  { name: 'backplane port 1, slot 0', segments: [{ type: 'port', port: 1, link: 0 }], bytes: '0100' },
  { name: 'Ethernet port 2 to an IP address (extended link)', segments: [{ type: 'port', port: 2, link: '10.0.0.5' }], bytes: '1208 31302e302e302e35' },
];

describe('EPATH fixtures', () => {
  for (const f of EPATH_FIXTURES) {
    it(f.name, () => {
      expect(encodeEpath(f.segments).toString('hex')).toBe(hex(f.bytes).toString('hex'));
      expect(decodeEpath(hex(f.bytes))).toEqual(f.segments);
    });
  }

  it('parses routing paths', () => {
    expect(parseRoutePath('1,0')).toEqual([{ type: 'port', port: 1, link: 0 }]);
    expect(parseRoutePath('1, 2, 2, 10.0.0.5')).toEqual([
      { type: 'port', port: 1, link: 2 },
      { type: 'port', port: 2, link: '10.0.0.5' },
    ]);
    expect(parseRoutePath('')).toEqual([]);
    expect(() => parseRoutePath('1')).toThrow(RangeError);
  });
});

describe('Logix addresses', () => {
  const cases: [string, Partial<ReturnType<typeof parseLogixAddress>>, string][] = [
    ['Counter', { tag: 'Counter', count: 1 }, '9107 436f756e74657200'],
    ['Temps[3]', { tag: 'Temps[3]', count: 1 }, '9105 54656d707300 2803'],
    ['Grid[1,2]', { tag: 'Grid[1,2]' }, '9104 47726964 2801 2802'],
    ['Program:Main.X', { tag: 'Program:Main.X' }, '910c 50726f6772616d3a4d61696e 9101 5800'],
    ['Motor1.Speed:REAL', { tag: 'Motor1.Speed', type: 'REAL' }, '9106 4d6f746f7231 9105 537065656400'],
    ['Counter.5', { tag: 'Counter', bit: 5 }, '9107 436f756e74657200'],
    ['Temps{10}', { tag: 'Temps', count: 10 }, '9105 54656d707300'],
    ['Data[300]{2}', { tag: 'Data[300]', count: 2 }, '9104 44617461 2900 2c01'],
  ];
  for (const [address, expected, path] of cases) {
    it(address, () => {
      const a = parseLogixAddress(address);
      expect(a).toMatchObject(expected);
      expect(a.path.toString('hex')).toBe(hex(path).toString('hex'));
    });
  }
  for (const bad of ['', '1abc', 'Tag[', 'Tag[a]', 'a..b', 'Program:Main', 'Tag:NOTATYPE', 'Tag.99', 'Tag{0}', 'x'.repeat(41), 'Tag[1,2,3,4]']) {
    it(`rejects "${bad}" with BIFROST_INVALID_ADDRESS`, () => {
      const err = (() => {
        try {
          parseLogixAddress(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(BifrostError);
      expect((err as BifrostError).code).toBe('BIFROST_INVALID_ADDRESS');
    });
  }
});

describe('CIP messages', () => {
  it('Read Tag request and reply (1756-PM020 Read Tag Service layout)', () => {
    const req = encodeRequest({ service: Service.ReadTag, path: parseLogixAddress('rate').path, data: Buffer.from([1, 0]) });
    expect(req.toString('hex')).toBe('4c03910472617465' + '0100');
    const reply = hex('cc 00 00 00 c400 2a000000');
    const res = decodeResponse(reply);
    expect(res).toMatchObject({ service: 0xcc, status: 0, extended: [] });
    expect(decodeTagValue({ code: 0xc4 }, res.data.subarray(2), 1)).toBe(42);
    expect(encodeResponse(res).equals(reply)).toBe(true);
  });

  it('error reply with extended status 0x2105', () => {
    const res = decodeResponse(hex('cc 00 ff 01 0521'));
    expect(res).toMatchObject({ status: 0xff, extended: [0x2105] });
  });

  it('Write Tag request data: type, count, data', () => {
    expect(writeTagData({ code: 0xca }, 1, encodeTagValue(0xca, 21.5)).toString('hex')).toBe('ca00' + '0100' + '0000ac41');
    expect(writeTagData({ code: 0x02a0, handle: 0x0fce }, 1, Buffer.alloc(0)).toString('hex')).toBe('a002ce0f0100');
    expect(decodeWriteTagData(hex('a002ce0f 0100 ffff'), false)).toMatchObject({ type: { code: 0x2a0, handle: 0xfce }, count: 1 });
  });

  it('Read-Modify-Write masks set and clear one bit', () => {
    expect(readModifyWriteData(4, 9, true).toString('hex')).toBe('0400' + '00020000' + 'ffffffff');
    expect(readModifyWriteData(2, 0, false).toString('hex')).toBe('0200' + '0000' + 'feff');
  });

  it('Multiple Service Packet offsets count from the service count (Vol 1 §A-4.10)', () => {
    const a = Buffer.from([0x4c, 0x00]);
    const b = Buffer.from([0x4c, 0x00, 0x01]);
    const data = encodeMultipleServiceData([a, b]);
    expect(data.toString('hex')).toBe('0200' + '0600' + '0800' + '4c00' + '4c0001');
    expect(decodeMultipleServiceData(data)).toEqual([a, b]);
    const full = encodeRequest({ service: Service.MultipleServicePacket, path: MESSAGE_ROUTER_PATH, data });
    expect(full.subarray(0, 6).toString('hex')).toBe('0a0220022401');
  });

  it('Unconnected Send wraps the message and the route (Vol 1 §3-5.5.2)', () => {
    const msg = Buffer.from([0x01, 0x02, 0x20, 0x01, 0x24, 0x01]);
    const us = encodeUnconnectedSend(msg, parseRoutePath('1,0'));
    expect(us.toString('hex')).toBe(hex('5202 20062401 0a05 0600 010220012401 01 00 0100').toString('hex'));
    const back = decodeUnconnectedSend(decodeRequest(us).data);
    expect(back.message.equals(msg)).toBe(true);
    expect(back.route).toEqual([{ type: 'port', port: 1, link: 0 }]);
  });

  it('Forward Open, Large Forward Open, reply and Forward Close round trip', () => {
    for (const large of [false, true]) {
      const f = {
        large,
        tickTime: 10,
        timeoutTicks: 14,
        otConnectionId: 0,
        toConnectionId: 0x11223344,
        connectionSerial: 0x1234,
        vendorId: 0x1337,
        originatorSerial: 0xcafebabe,
        timeoutMultiplier: 3,
        otRpi: 2_000_000,
        otParams: large ? 0x42000fa2 : 0x43f8,
        toRpi: 2_000_000,
        toParams: large ? 0x42000fa2 : 0x43f8,
        transportTrigger: 0xa3,
        path: [
          { type: 'port', port: 1, link: 0 },
          { type: 'class', id: 2 },
          { type: 'instance', id: 1 },
        ] as Segment[],
      };
      const req = decodeRequest(encodeForwardOpen(f));
      expect(req.service).toBe(large ? 0x5b : 0x54);
      expect(decodeForwardOpen(req.data, large)).toEqual(f);
    }
    const reply = { otConnectionId: 1, toConnectionId: 2, connectionSerial: 3, vendorId: 4, originatorSerial: 5, otApi: 6, toApi: 7 };
    expect(decodeForwardOpenReply(encodeForwardOpenReply(reply))).toEqual(reply);
    const fc = { tickTime: 10, timeoutTicks: 14, connectionSerial: 9, vendorId: 0x1337, originatorSerial: 77, path: [{ type: 'port', port: 1, link: 0 }] as Segment[] };
    expect(decodeForwardClose(decodeRequest(encodeForwardClose(fc)).data)).toEqual(fc);
  });

  it('Identity object Get_Attributes_All reply (Vol 1 §5A-2)', () => {
    const id = { vendorId: 1, deviceType: 14, productCode: 166, revision: { major: 32, minor: 11 }, status: 0x3060, serialNumber: 0xc0ffee, productName: '1756-L83E/B' };
    const b = encodeIdentityObject(id);
    expect(b.subarray(0, 15).toString('hex')).toBe('0100' + '0e00' + 'a600' + '200b' + '6030' + 'eeffc000' + '0b');
    expect(decodeIdentityObject(b)).toEqual(id);
  });

  it('symbol list entries and symbol type words (1756-PM020 Symbol Object)', () => {
    const s = { instance: 7, name: 'Temps', symbolType: 0x20ca, dimensions: [10, 0, 0] };
    const b = encodeSymbolEntry(s, [1, 2, 8]);
    expect(b.toString('hex')).toBe('07000000' + '0500' + '54656d7073' + 'ca20' + '0a000000' + '00000000' + '00000000');
    expect(decodeSymbolList(Buffer.concat([b, b]), [1, 2, 8])).toEqual([s, s]);
    expect(decodeSymbolType(0x20ca)).toMatchObject({ structure: false, dimensionCount: 1, code: 0xca });
    expect(decodeSymbolType(0x8fce)).toMatchObject({ structure: true, dimensionCount: 0, code: 0xfce });
    expect(decodeSymbolType(0x05c1)).toMatchObject({ code: 0xc1, bit: 5 });
  });

  it('template attributes and definition round trip', () => {
    const attrs = { objectDefinitionSize: 20, structureSize: 12, memberCount: 4, handle: 0x100 };
    expect(decodeTemplateAttributes(encodeTemplateAttributes(attrs))).toEqual(attrs);
    const t = {
      id: 0x100,
      name: 'Motor',
      handle: 0x100,
      size: 12,
      members: [
        { name: 'Speed', info: 0, type: 0xca, offset: 0 },
        { name: 'ZZZZZZZZZZMotor0', info: 0, type: 0xc2, offset: 4 },
        { name: 'Running', info: 0, type: 0xc1, offset: 4 },
        { name: 'Faults', info: 0, type: 0xc4, offset: 8 },
      ],
    };
    const def = encodeTemplateDefinition(t);
    expect(def.subarray(0, 8).toString('hex')).toBe('0000' + 'ca00' + '00000000');
    expect(decodeTemplateDefinition(def, 4, { id: 0x100, handle: 0x100, size: 12 })).toEqual(t);
  });

  it('decodes Logix STRING, arrays and 64-bit values', () => {
    const s = Buffer.alloc(88);
    s.writeInt32LE(5, 0);
    s.write('hello', 4, 'latin1');
    expect(decodeTagValue({ code: 0x2a0, handle: 0xfce }, s, 1)).toBe('hello');
    expect(decodeTagValue({ code: 0xc3 }, hex('0100 feff'), 2)).toEqual([1, -2]);
    expect(decodeTagValue({ code: 0xc5 }, hex('0100000000000080'), 1)).toBe(-(2n ** 63n) + 1n);
    expect(decodeTagValue({ code: 0xc1 }, hex('ff'), 1)).toBe(true);
  });
});

// ── properties ──

const arbSegment: fc.Arbitrary<Segment> = fc.oneof(
  fc.record({ type: fc.constant('class' as const), id: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('instance' as const), id: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('attribute' as const), id: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('element' as const), index: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('symbolic' as const), name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_:]{0,39}$/) }),
  fc.record({ type: fc.constant('port' as const), port: fc.integer({ min: 1, max: 14 }), link: fc.integer({ min: 0, max: 255 }) }),
);

function onlyBifrostErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BifrostError)) throw e;
  }
}

describe('properties', () => {
  it('EPATH round trips', () => {
    fc.assert(
      fc.property(fc.array(arbSegment, { maxLength: 8 }), (segs) => {
        expect(decodeEpath(encodeEpath(segs))).toEqual(segs);
      }),
    );
  });

  it('encapsulation + CPF round trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 300 }), (cmd, ctx, payload) => {
        const frame = { command: cmd, session: 5, status: 0, context: ctx, options: 0, data: encodeCpf(unconnectedItems(Buffer.from(payload))) };
        const back = decodeEncap(encodeEncap(frame));
        expect(back).toEqual(frame);
        expect(decodeCpf(back.data)[1]?.data.equals(Buffer.from(payload))).toBe(true);
      }),
    );
  });

  it('Multiple Service Packet round trips', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 2, maxLength: 40 }), { minLength: 1, maxLength: 20 }), (parts) => {
        const bufs = parts.map((p) => Buffer.from(p));
        expect(decodeMultipleServiceData(encodeMultipleServiceData(bufs))).toEqual(bufs);
      }),
    );
  });

  it('atomic values round trip through encodeTagValue / decodeTagValue', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2147483648, max: 2147483647 }), { minLength: 2, maxLength: 50 }), (xs) => {
        expect(decodeTagValue({ code: 0xc4 }, encodeTagValue(0xc4, xs), xs.length)).toEqual(xs);
      }),
    );
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(decodeTagValue({ code: 0xca }, encodeTagValue(0xca, x), 1)).toBe(x);
      }),
    );
  });

  it('random bytes never throw anything but a BifrostError from any decoder', () => {
    const decoders: ((b: Buffer) => unknown)[] = [
      decodeEncap,
      decodeCpf,
      decodeSendData,
      decodeEpath,
      decodeRequest,
      decodeResponse,
      decodeMultipleServiceData,
      decodeUnconnectedSend,
      (b) => decodeForwardOpen(b, false),
      (b) => decodeForwardOpen(b, true),
      decodeForwardOpenReply,
      decodeForwardClose,
      decodeIdentityItem,
      decodeIdentityObject,
      (b) => decodeSymbolList(b),
      decodeTemplateAttributes,
      (b) => decodeTemplateDefinition(b, 3, { id: 1, handle: 1, size: 4 }),
      (b) => decodeWriteTagData(b, true),
      (b) => decodeTagValue({ code: b[0] ?? 0xc4 }, b, 2),
      (b) => decodeTagValue({ code: 0x2a0, handle: 0xfce }, b, 1),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        for (const d of decoders) onlyBifrostErrors(() => d(Buffer.from(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it('truncated valid messages throw only BifrostErrors', () => {
    const fo = encodeForwardOpen({
      large: true,
      tickTime: 1,
      timeoutTicks: 1,
      otConnectionId: 0,
      toConnectionId: 1,
      connectionSerial: 1,
      vendorId: 1,
      originatorSerial: 1,
      timeoutMultiplier: 1,
      otRpi: 1,
      otParams: 1,
      toRpi: 1,
      toParams: 1,
      transportTrigger: 0xa3,
      path: [{ type: 'class', id: 2 }],
    });
    const encap = encodeEncap({ command: 0x6f, session: 1, status: 0, context: 1n, options: 0, data: encodeSendData(unconnectedItems(fo)) });
    for (let n = 0; n < encap.length; n++) {
      onlyBifrostErrors(() => decodeEncap(encap.subarray(0, n)));
      onlyBifrostErrors(() => decodeSendData(encap.subarray(24, 24 + n)));
      onlyBifrostErrors(() => decodeForwardOpen(decodeRequest(fo.subarray(0, n)).data, true));
    }
  });

  it('the framer reassembles packets split at any point and rejects oversized ones', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 10 }), (payloads, cuts) => {
        const frames = payloads.map((p, i) => encodeEncap({ command: 0x70, session: i, status: 0, context: BigInt(i), options: 0, data: Buffer.from(p) }));
        const stream = Buffer.concat(frames);
        const got: Buffer[] = [];
        const framer = new EncapFramer(
          1024,
          (f) => got.push(Buffer.from(f)),
          (e) => {
            throw e;
          },
        );
        let at = 0;
        for (const c of cuts) {
          framer.push(stream.subarray(at, Math.min(stream.length, at + c)));
          at = Math.min(stream.length, at + c);
        }
        framer.push(stream.subarray(at));
        expect(got).toEqual(frames);
      }),
    );
    const errors: BifrostError[] = [];
    const framer = new EncapFramer(
      100,
      () => {},
      (e) => errors.push(e),
    );
    framer.push(encodeEncap({ command: 0x70, session: 0, status: 0, context: 0n, options: 0, data: Buffer.alloc(200) }));
    expect(errors[0]?.code).toBe('BIFROST_FRAME_TOO_LARGE');
  });
});
