/**
 * Cross-tests with snap7 (node-snap7, the snap7 C++ library built from source): the Bifrost
 * client against snap7's S7Server, and snap7's S7Client against the Bifrost simulator. Expected
 * bytes are built with Node's Buffer methods, never with the Bifrost codec.
 */
import { createRequire } from 'node:module';
import { connect } from '@bifrost/core';
import { driverSuite, freePort } from '@bifrost/core/test-fixtures';
import { peek, S7Client, type S7Simulator, startSimulator } from '@bifrost/s7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Cb<T> = (err: unknown, result: T) => void;
interface Snap7Server {
  SetParam(p: number, v: number): boolean;
  StartTo(ip: string): boolean;
  Stop(): boolean;
  RegisterArea(area: number, indexOrBuf: number | Buffer, buf?: Buffer): boolean;
  SetArea(area: number, indexOrBuf: number | Buffer, buf?: Buffer): void;
  GetArea(area: number, index?: number): Buffer;
  LocalPort: number;
  srvAreaPE: number;
  srvAreaPA: number;
  srvAreaMK: number;
  srvAreaDB: number;
}
interface MultiVar {
  Area: number;
  WordLen: number;
  DBNumber?: number;
  Start: number;
  Amount: number;
  Data?: Buffer;
}
interface Snap7Client {
  SetParam(p: number, v: number): boolean;
  ConnectTo(ip: string, rack: number, slot: number, cb: (err: unknown) => void): void;
  Disconnect(): boolean;
  ReadArea(area: number, db: number, start: number, amount: number, wordLen: number, cb: Cb<Buffer>): void;
  WriteArea(area: number, db: number, start: number, amount: number, wordLen: number, buf: Buffer, cb: Cb<unknown>): void;
  ReadMultiVars(vars: MultiVar[], cb: Cb<{ Result: number; Data: Buffer | null }[]>): void;
  WriteMultiVars(vars: MultiVar[], cb: Cb<{ Result: number }[]>): void;
  ReadSZL(id: number, index: number, cb: Cb<Buffer>): void;
  GetOrderCode(cb: Cb<{ Code: string; V1: number; V2: number; V3: number }>): void;
  GetCpuInfo(cb: Cb<{ ModuleTypeName: string; SerialNumber: string; ASName: string; ModuleName: string }>): void;
  PlcStatus(cb: Cb<number>): void;
  PDULength(): number;
  RemotePort: number;
  S7AreaPE: number;
  S7AreaPA: number;
  S7AreaMK: number;
  S7AreaDB: number;
  S7WLBit: number;
  S7WLByte: number;
  S7WLWord: number;
  S7WLDWord: number;
  S7WLReal: number;
}
const require = createRequire(import.meta.url);
const snap7 = require('node-snap7') as { S7Server: new () => Snap7Server; S7Client: new () => Snap7Client };

const call = <T>(fn: (cb: Cb<T>) => void) => new Promise<T>((resolve, reject) => fn((err, r) => (err ? reject(err) : resolve(r))));

/** DB1 laid out with Buffer methods: one variable of every type. */
function knownDb1(): Buffer {
  const b = Buffer.alloc(128);
  b.writeFloatBE(12.5, 0);
  b.writeInt32BE(-100_000, 4);
  b.writeInt16BE(-1234, 8);
  b.writeUInt16BE(0xbeef, 10);
  b.writeUInt32BE(0xdeadbeef, 12);
  b[16] = 0b0000_0100; // DBX16.2
  b[17] = 200;
  b.writeDoubleBE(12345.678, 18);
  b.set([10, 5, ...Buffer.from('Hello')], 26); // STRING[10]
  b.write('Z', 38, 'latin1');
  b.set([0x24, 0x03, 0x15, 0x10, 0x30, 0x00, 0x12, 0x06], 40); // DT 2024-03-15 10:30:00.120, Friday
  b.writeBigInt64BE(-123_456_789_012n, 48);
  b.writeInt8(-5, 56);
  b.writeUInt32BE(4_000_000_000, 58);
  return b;
}

const EXPECTED: [string, unknown][] = [
  ['DB1.DBD0:REAL', 12.5],
  ['DB1.DBD4:DINT', -100_000],
  ['DB1.DBW8:INT', -1234],
  ['DB1.DBW10', 0xbeef],
  ['DB1.DBD12', 0xdeadbeef],
  ['DB1.DBX16.2', true],
  ['DB1.DBX16.1', false],
  ['DB1.DBB17', 200],
  ['DB1.DBB18:LREAL', 12345.678],
  ['DB1.DBB26:STRING[10]', 'Hello'],
  ['DB1.DBB38:CHAR', 'Z'],
  ['DB1.DBB40:DATE_AND_TIME', new Date('2024-03-15T10:30:00.120Z')],
  ['DB1.DBB48:LINT', -123_456_789_012n],
  ['DB1.DBB56:SINT', -5],
  ['DB1.DBD58:UDINT', 4_000_000_000],
  ['MW10', 777],
  ['M1.3', true],
  ['I0.7', true],
  ['IB0', 0x81],
  ['QW2:INT', 4242],
];

// The conformance suite against an independent server: snap7's, restarted on the same port.
driverSuite({
  name: 's7 (snap7 server)',
  async start() {
    const port = await freePort();
    const server = new snap7.S7Server();
    server.SetParam(server.LocalPort, port);
    server.RegisterArea(server.srvAreaDB, 1, knownDb1());
    server.RegisterArea(server.srvAreaDB, 2, Buffer.alloc(64));
    server.RegisterArea(server.srvAreaMK, Buffer.alloc(32));
    if (!server.StartTo('127.0.0.1')) throw new Error('snap7 server did not start');
    return {
      url: `s7://127.0.0.1:${port}?plc=s7-300`,
      stop: async () => {
        server.Stop();
      },
      restart: async () => {
        if (!server.StartTo('127.0.0.1')) throw new Error('snap7 server did not restart');
      },
    };
  },
  tags: [
    { address: 'DB1.DBD0:REAL', type: 'REAL' },
    { address: 'DB2.DBX0.1', type: 'BOOL', write: true },
    { address: 'DB2.DBW2:INT', type: 'INT', write: -300 },
    { address: 'DB2.DBD4:DINT', type: 'DINT', write: 123456 },
    { address: 'DB2.DBD8:REAL', type: 'REAL', write: 2.25 },
    { address: 'DB2.DBB12:LREAL', type: 'LREAL', write: -1.5e-300 },
    { address: 'DB2.DBB20:STRING[16]', type: 'STRING', write: 'snap7' },
    { address: 'DB2.DBB40:DT', type: 'DATETIME', write: new Date('2031-07-04T12:00:00.250Z') },
    { address: 'MW4', type: 'UINT', write: 4321 },
  ],
  badAddress: 'DB9.DBW0',
  badAddressCode: 'BIFROST_S7_OBJECT_NOT_FOUND',
  invalidAddress: 'DB2.DBX0',
  deadbandAddress: 'DB2.DBW50:INT',
});

describe('Bifrost S7Client against the snap7 server', () => {
  let server: Snap7Server;
  let port: number;
  let client: S7Client;

  beforeAll(async () => {
    port = await freePort();
    server = new snap7.S7Server();
    expect(server.SetParam(server.LocalPort, port)).toBe(true);
    const mk = Buffer.alloc(32);
    mk.writeUInt16BE(777, 10);
    mk[1] = 0b1000; // M1.3
    const pe = Buffer.alloc(16);
    pe[0] = 0x81;
    const pa = Buffer.alloc(16);
    pa.writeInt16BE(4242, 2);
    server.RegisterArea(server.srvAreaDB, 1, knownDb1());
    server.RegisterArea(server.srvAreaDB, 2, Buffer.alloc(2000));
    server.RegisterArea(server.srvAreaMK, mk);
    server.RegisterArea(server.srvAreaPE, pe);
    server.RegisterArea(server.srvAreaPA, pa);
    expect(server.StartTo('127.0.0.1')).toBeTruthy();
    client = new S7Client({ host: '127.0.0.1', port, rack: 0, slot: 2 });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    server?.Stop();
  });

  it('negotiates the PDU it asks for (960), which snap7 grants', () => {
    expect(client.pduLength).toBe(960);
  });

  it('reads every type, in one batch, as snap7 holds it', async () => {
    const res = await client.readMany(EXPECTED.map(([a]) => a));
    for (const [i, [addr, value]] of EXPECTED.entries()) {
      expect(res[i]?.error, addr).toBeUndefined();
      expect(res[i]?.value, addr).toEqual(value);
    }
  });

  it('reads more scattered variables than one job may carry, split into several jobs', async () => {
    const db2 = Buffer.alloc(2000);
    for (let i = 0; i < 1000; i++) db2.writeInt16BE(i - 500, i * 2);
    server.SetArea(server.srvAreaDB, 2, db2);
    await using c = new S7Client({ host: '127.0.0.1', port, maxGap: -1 });
    await c.connect();
    const addrs = Array.from({ length: 250 }, (_, i) => `DB2.DBW${((i * 37) % 1000) * 2}:INT`);
    const res = await c.readMany(addrs);
    expect(res.map((r) => r.value)).toEqual(addrs.map((_, i) => ((i * 37) % 1000) - 500));
  });

  it('writes every type; snap7 holds the bytes Node’s Buffer gives', async () => {
    await client.write('DB1.DBD60:REAL', -7.25);
    await client.write('DB1.DBD64:DINT', 2_000_000_000);
    await client.write('DB1.DBW68:INT', -32768);
    await client.write('DB1.DBW70', 0x1234);
    await client.write('DB1.DBD72', 0xcafebabe);
    await client.write('DB1.DBX76.5', true);
    await client.write('DB1.DBB77', 0x7f);
    await client.write('DB1.DBB78:LREAL', Math.PI);
    await client.write('DB1.DBB86:STRING[12]', 'Bifröst');
    await client.write('DB1.DBB100:CHAR', 'q');
    await client.write('DB1.DBB102:DT', new Date('1999-12-31T23:59:59.999Z'));
    await client.write('DB1.DBB110:LINT', 9_007_199_254_740_993n);
    await client.write('MW20', 0xabcd);
    await client.write('Q1.0', true);
    await client.write('IB5', 66);
    const db = server.GetArea(server.srvAreaDB, 1);
    expect(db.readFloatBE(60)).toBe(-7.25);
    expect(db.readInt32BE(64)).toBe(2_000_000_000);
    expect(db.readInt16BE(68)).toBe(-32768);
    expect(db.readUInt16BE(70)).toBe(0x1234);
    expect(db.readUInt32BE(72)).toBe(0xcafebabe);
    expect(db[76]).toBe(0b0010_0000);
    expect(db[77]).toBe(0x7f);
    expect(db.readDoubleBE(78)).toBe(Math.PI);
    expect([db[86], db[87]]).toEqual([12, 7]);
    expect(db.subarray(88, 95).toString('latin1')).toBe('Bifröst');
    expect(db.toString('latin1', 100, 101)).toBe('q');
    expect(db.subarray(102, 110).toString('hex')).toBe('9912312359599996'); // ms 999 → 99|9, Friday = 6
    expect(db.readBigInt64BE(110)).toBe(9_007_199_254_740_993n);
    expect(server.GetArea(server.srvAreaMK).readUInt16BE(20)).toBe(0xabcd);
    expect(server.GetArea(server.srvAreaPA)[1]).toBe(1);
    expect(server.GetArea(server.srvAreaPE)[5]).toBe(66);
    // A bit write leaves its neighbours alone.
    await client.write('DB1.DBX16.0', true);
    expect(server.GetArea(server.srvAreaDB, 1)[16]).toBe(0b0000_0101);
  });

  it('reports snap7’s missing DB and out-of-range address with their return codes', async () => {
    const res = await client.readMany(['DB9.DBW0', 'DB1.DBW500', 'DB1.DBD0:REAL']);
    expect(res[0]?.error).toMatchObject({ code: 'BIFROST_S7_OBJECT_NOT_FOUND', status: 0x0a, address: 'DB9.DBW0' });
    expect(res[1]?.error).toMatchObject({ code: 'BIFROST_S7_ADDRESS_OUT_OF_RANGE', status: 0x05, address: 'DB1.DBW500' });
    expect(res[2]?.value).toBe(12.5);
    await expect(client.write('DB9.DBW0', 1)).rejects.toMatchObject({ code: 'BIFROST_S7_OBJECT_NOT_FOUND' });
  });

  it('identifies snap7’s CPU from its SZL answers', async () => {
    const id = await client.identify();
    expect(id.orderCode).toBe('6ES7 315-2EH14-0AB0');
    expect(id.firmware).toBe('V3.2.6');
    expect(id.serial).toBe('S C-C2UR28922012');
    expect(id.product).toBe('CPU 315-2 PN/DP');
  });

  it('works through connect() and the s7:// driver', async () => {
    await using plc = await connect(`s7://127.0.0.1:${port}?rack=0&slot=2`);
    expect((await plc.read('DB1.DBD0:REAL')).value).toBe(12.5);
    expect((await plc.identify()).orderCode).toBe('6ES7 315-2EH14-0AB0');
  });
});

describe('snap7 S7Client against the Bifrost simulator', () => {
  let sim: S7Simulator;
  let c: Snap7Client;

  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      config: {
        areas: { M: 32, I: 16, Q: 16 },
        dbs: { 1: 128 },
        tags: [
          { address: 'DB1.DBD0:REAL', value: 12.5 },
          { address: 'DB1.DBD4:DINT', value: -100_000 },
          { address: 'DB1.DBW8:INT', value: -1234 },
          { address: 'DB1.DBW10', value: 0xbeef },
          { address: 'DB1.DBD12', value: 0xdeadbeef },
          { address: 'DB1.DBX16.2', value: true },
          { address: 'DB1.DBB17', value: 200 },
          { address: 'DB1.DBB18:LREAL', value: 12345.678 },
          { address: 'DB1.DBB26:STRING[10]', value: 'Hello' },
          { address: 'DB1.DBB38:CHAR', value: 'Z' },
          { address: 'DB1.DBB40:DT', value: '2024-03-15T10:30:00.120Z' },
          { address: 'DB1.DBB48:LINT', value: '-123456789012' },
          { address: 'DB1.DBB56:SINT', value: -5 },
          { address: 'DB1.DBD58:UDINT', value: 4_000_000_000 },
          { address: 'MW10', value: 777 },
          { address: 'M1.3', value: true },
          { address: 'IB0', value: 0x81 },
          { address: 'QW2:INT', value: 4242 },
        ],
      },
    });
    c = new snap7.S7Client();
    c.SetParam(c.RemotePort, sim.port);
    await new Promise<void>((resolve, reject) => c.ConnectTo('127.0.0.1', 0, 1, (err) => (err ? reject(err) : resolve())));
  });

  afterAll(async () => {
    c?.Disconnect();
    await sim?.close();
  });

  it('connects with snap7’s PDU request (480)', () => {
    expect(c.PDULength()).toBe(480);
  });

  it('reads every type: snap7 sees the bytes Node’s Buffer expects', async () => {
    const db = await call<Buffer>((cb) => c.ReadArea(c.S7AreaDB, 1, 0, 64, c.S7WLByte, cb));
    expect(Buffer.from(db).equals(knownDb1().subarray(0, 64))).toBe(true);
    const mk = await call<Buffer>((cb) => c.ReadArea(c.S7AreaMK, 0, 0, 16, c.S7WLByte, cb));
    expect(mk.readUInt16BE(10)).toBe(777);
    expect(mk[1]).toBe(0b1000);
    expect((await call<Buffer>((cb) => c.ReadArea(c.S7AreaPE, 0, 0, 1, c.S7WLByte, cb)))[0]).toBe(0x81);
    expect((await call<Buffer>((cb) => c.ReadArea(c.S7AreaPA, 0, 2, 2, c.S7WLByte, cb))).readInt16BE(0)).toBe(4242);
  });

  it('answers ReadMultiVars with BIT, WORD, DWORD and REAL transport sizes, and a per-item error', async () => {
    const res = await call<{ Result: number; Data: Buffer | null }[]>((cb) =>
      c.ReadMultiVars(
        [
          { Area: c.S7AreaDB, WordLen: c.S7WLBit, DBNumber: 1, Start: 16 * 8 + 2, Amount: 1 },
          { Area: c.S7AreaDB, WordLen: c.S7WLWord, DBNumber: 1, Start: 10, Amount: 1 },
          { Area: c.S7AreaDB, WordLen: c.S7WLDWord, DBNumber: 1, Start: 12, Amount: 1 },
          { Area: c.S7AreaDB, WordLen: c.S7WLReal, DBNumber: 1, Start: 0, Amount: 1 },
          { Area: c.S7AreaDB, WordLen: c.S7WLByte, DBNumber: 7, Start: 0, Amount: 2 },
          { Area: c.S7AreaMK, WordLen: c.S7WLByte, Start: 10, Amount: 2 },
        ],
        cb,
      ),
    );
    expect(res[0]?.Result).toBe(0);
    expect(res[0]?.Data?.[0]).toBe(1);
    expect(res[1]?.Data?.readUInt16BE(0)).toBe(0xbeef);
    expect(res[2]?.Data?.readUInt32BE(0)).toBe(0xdeadbeef);
    expect(res[3]?.Data?.readFloatBE(0)).toBe(12.5);
    expect(res[4]?.Result).not.toBe(0);
    expect(res[5]?.Data?.readUInt16BE(0)).toBe(777);
  });

  it('takes snap7 writes of every type; Bifrost decodes them', async () => {
    const f = Buffer.alloc(4);
    f.writeFloatBE(55.5);
    await call((cb) => c.WriteArea(c.S7AreaDB, 1, 64, 1, c.S7WLReal, f, cb));
    await call((cb) => c.WriteArea(c.S7AreaDB, 1, 68 * 8 + 5, 1, c.S7WLBit, Buffer.of(1), cb));
    const w = Buffer.alloc(2);
    w.writeInt16BE(-42);
    await call((cb) => c.WriteArea(c.S7AreaDB, 1, 70, 1, c.S7WLWord, w, cb));
    const tail = Buffer.alloc(40);
    tail.writeInt32BE(-7, 0); // 72 DINT
    tail.writeUInt32BE(0x01020304, 4); // 76 DWORD
    tail.writeDoubleBE(-0.5, 8); // 80 LREAL
    tail.set([8, 3, ...Buffer.from('abc')], 16); // 88 STRING[8]
    tail.write('#', 26, 'latin1'); // 98 CHAR
    tail.set([0x05, 0x12, 0x24, 0x23, 0x59, 0x58, 0x00, 0x01], 28); // 100 DT 2005-12-24 23:59:58.000
    await call((cb) => c.WriteArea(c.S7AreaDB, 1, 72, tail.length, c.S7WLByte, tail, cb));
    const multi = await call<{ Result: number }[]>((cb) =>
      c.WriteMultiVars(
        [
          { Area: c.S7AreaMK, WordLen: c.S7WLByte, Start: 4, Amount: 2, Data: Buffer.of(0x12, 0x34) },
          { Area: c.S7AreaPA, WordLen: c.S7WLBit, Start: 3 * 8 + 1, Amount: 1, Data: Buffer.of(1) },
          { Area: c.S7AreaPE, WordLen: c.S7WLByte, Start: 6, Amount: 1, Data: Buffer.of(0x5a) },
          { Area: c.S7AreaDB, WordLen: c.S7WLByte, DBNumber: 8, Start: 0, Amount: 1, Data: Buffer.of(1) },
        ],
        cb,
      ),
    );
    expect(multi.map((r) => r.Result === 0)).toEqual([true, true, true, false]);
    const s = sim.server;
    expect(peek(s, 'DB1.DBD64:REAL')).toBe(55.5);
    expect(peek(s, 'DB1.DBX68.5')).toBe(true);
    expect(peek(s, 'DB1.DBX68.4')).toBe(false);
    expect(peek(s, 'DB1.DBW70:INT')).toBe(-42);
    expect(peek(s, 'DB1.DBD72:DINT')).toBe(-7);
    expect(peek(s, 'DB1.DBD76')).toBe(0x01020304);
    expect(peek(s, 'DB1.DBB80:LREAL')).toBe(-0.5);
    expect(peek(s, 'DB1.DBB88:STRING[8]')).toBe('abc');
    expect(peek(s, 'DB1.DBB98:CHAR')).toBe('#');
    expect(peek(s, 'DB1.DBB100:DT')).toEqual(new Date('2005-12-24T23:59:58.000Z'));
    expect(peek(s, 'MW4')).toBe(0x1234);
    expect(peek(s, 'Q3.1')).toBe(true);
    expect(peek(s, 'IB6')).toBe(0x5a);
  });

  it('answers snap7’s SZL-based identification', async () => {
    const order = await call<{ Code: string; V1: number; V2: number; V3: number }>((cb) => c.GetOrderCode(cb));
    expect(order.Code.trim()).toBe('6ES7 516-3AN02-0AB0');
    expect([order.V1, order.V2, order.V3]).toEqual([2, 9, 4]);
    const info = await call<{ ModuleTypeName: string; SerialNumber: string; ASName: string; ModuleName: string }>((cb) => c.GetCpuInfo(cb));
    expect(info.ModuleTypeName).toBe('CPU 1516-3 PN/DP');
    expect(info.SerialNumber).toBe('S V-BIFROST0001');
    expect(info.ASName).toBe('BIFROST-SIM');
    expect(info.ModuleName).toBe('PLC_1');
  });

  it('answers snap7’s PlcStatus (SZL 0x0424) with RUN, then STOP when the CPU is stopped', async () => {
    // snap7's S7CpuStatusRun = 0x08, S7CpuStatusStop = 0x04 (s7_types.h).
    expect(await call<number>((cb) => c.PlcStatus(cb))).toBe(0x08);
    sim.server.cpuStatus = 'stop';
    try {
      expect(await call<number>((cb) => c.PlcStatus(cb))).toBe(0x04);
      const szl = await call<Buffer>((cb) => c.ReadSZL(0x0424, 0, cb));
      // snap7 hands over the list from LENTHDR, its header words in host order: record length 20, one record; bzu-id (record byte 3) is STOP.
      expect([szl.readUInt16LE(0), szl.readUInt16LE(2), szl.length]).toEqual([20, 1, 24]);
      expect(szl[4 + 3]).toBe(0x04);
    } finally {
      sim.server.cpuStatus = 'run';
    }
    expect(await call<number>((cb) => c.PlcStatus(cb))).toBe(0x08);
  });

  it('the Bifrost client reports RUN/STOP in identify() from SZL 0x0424', async () => {
    const plc = new S7Client({ host: '127.0.0.1', port: sim.port, rack: 0, slot: 1 });
    await plc.connect();
    try {
      expect(await plc.identify()).toMatchObject({ cpuStatus: 'RUN', orderCode: '6ES7 516-3AN02-0AB0' });
      sim.server.cpuStatus = 'stop';
      expect((await plc.identify()).cpuStatus).toBe('STOP');
    } finally {
      sim.server.cpuStatus = 'run';
      await plc.close();
    }
  });
});

describe('a simulator configured in STOP', () => {
  it('reports STOP to snap7 and to identify(), and refuses a cpuStatus that is neither run nor stop', async () => {
    await using sim = await startSimulator({ port: 0, config: { dbs: { 1: 16 }, cpuStatus: 'stop' } });
    const c = new snap7.S7Client();
    c.SetParam(c.RemotePort, sim.port);
    await new Promise<void>((resolve, reject) => c.ConnectTo('127.0.0.1', 0, 1, (err) => (err ? reject(err) : resolve())));
    try {
      expect(await call<number>((cb) => c.PlcStatus(cb))).toBe(0x04);
    } finally {
      c.Disconnect();
    }
    await using plc = await connect(sim.url);
    expect((await plc.identify()).cpuStatus).toBe('STOP');
    await expect(startSimulator({ port: 0, config: { cpuStatus: 'halt' as 'stop' } })).rejects.toMatchObject({ code: 'BIFROST_CONFIG_INVALID' });
  });
});
