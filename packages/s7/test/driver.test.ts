import diagnostics from 'node:diagnostics_channel';
import { createServer, type Server, Socket } from 'node:net';
import { BifrostError, connect } from '@bifrost/core';
import { driverSuite, freePort } from '@bifrost/core/test-fixtures';
import { clientOptionsFromUrl, decodeIsoPacket, decodeS7Pdu, encodeIsoPacket, encodeS7Pdu, peek, S7Client, type S7Simulator, startSimulator, TpktAssembler } from '@bifrost/s7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

driverSuite({
  name: 's7 (Bifrost simulator)',
  async start() {
    const port = await freePort();
    let sim: S7Simulator = await startSimulator({ port });
    return {
      url: sim.url,
      stop: () => sim.close(),
      restart: async () => {
        sim = await startSimulator({ port });
      },
    };
  },
  tags: [
    { address: 'DB1.DBD0:REAL', type: 'REAL' },
    { address: 'DB1.DBX16.2', type: 'BOOL', write: true },
    { address: 'DB2.DBB0', type: 'USINT', write: 200 },
    { address: 'DB2.DBB1:SINT', type: 'SINT', write: -5 },
    { address: 'DB2.DBW2', type: 'UINT', write: 65000 },
    { address: 'DB2.DBW4:INT', type: 'INT', write: -1234 },
    { address: 'DB2.DBD6', type: 'UDINT', write: 4_000_000_000 },
    { address: 'DB2.DBD10:DINT', type: 'DINT', write: -100_000 },
    { address: 'DB2.DBD14:REAL', type: 'REAL', write: 3.5 },
    { address: 'DB2.DBB18:LREAL', type: 'LREAL', write: 12345.678 },
    { address: 'DB2.DBB26:STRING[10]', type: 'STRING', write: 'abc' },
    { address: 'DB2.DBB38:CHAR', type: 'STRING', write: 'Z' },
    { address: 'DB2.DBB40:DT', type: 'DATETIME', write: new Date('2024-03-15T10:30:00.120Z') },
    { address: 'DB2.DBB48:LINT', type: 'LINT', write: -123456789012n },
    { address: 'MW20', type: 'UINT', write: 777 },
    { address: 'M1.3', type: 'BOOL', write: true },
    { address: 'IB4', type: 'USINT', write: 9 },
    { address: 'Q0.1', type: 'BOOL', write: true },
  ],
  badAddress: 'DB9.DBW0',
  badAddressCode: 'BIFROST_S7_OBJECT_NOT_FOUND',
  invalidAddress: 'DB1.XYZ',
  deadbandAddress: 'DB2.DBW56:INT',
});

describe('S7 client against the simulator', () => {
  let sim: S7Simulator;
  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      config: { pduLength: 240, dbs: { 1: 64, 3: 3000 }, tags: [{ address: 'DB1.DBD0:REAL', value: 1.5 }] },
    });
    const db3 = sim.server.memory.dbs.get(3) as Uint8Array;
    for (let i = 0; i < db3.length; i++) db3[i] = (i * 7) & 0xff;
  });
  afterAll(() => sim.close());

  it('splits a read larger than the PDU into several items and jobs', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    expect(c.pduLength).toBe(240);
    const [r] = await c.readMany(['DB3.DBB0:BYTE[3000]']);
    expect(r?.error).toBeUndefined();
    expect(r?.value).toEqual(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
  });

  it('packs many scattered variables and keeps each result at its place', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port, maxGap: 0 });
    await c.connect();
    const addrs = Array.from({ length: 300 }, (_, i) => `DB3.DBB${(i * 997) % 3000}`);
    const res = await c.readMany(addrs);
    expect(res.map((r) => r.value)).toEqual(addrs.map((a) => (Number(a.slice(7)) * 7) & 0xff));
  });

  it('reads the good neighbours of an address just past the end of a DB', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    const res = await c.readMany(['DB1.DBD0:REAL', 'DB1.DBW62', 'DB1.DBW64', 'DB1.DBX70.0']);
    expect(res[0]?.value).toBe(1.5);
    expect(res[1]?.value).toBe(0);
    expect(res[2]?.error?.code).toBe('BIFROST_S7_ADDRESS_OUT_OF_RANGE');
    expect(res[2]?.error?.status).toBe(0x05);
    expect(res[2]?.error?.message).toContain('DB1.DBW64');
    expect(res[3]?.error?.code).toBe('BIFROST_S7_ADDRESS_OUT_OF_RANGE');
  });

  it('writes across several jobs when a value exceeds the PDU', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    const values = Array.from({ length: 500 }, (_, i) => i * 1.5);
    await c.write('DB3.DBD1000:REAL[500]', values);
    expect(peek(sim.server, 'DB3.DBD1000:REAL[500]')).toEqual(values);
    await expect(c.write('DB3.DBW2999', 1)).rejects.toMatchObject({ code: 'BIFROST_S7_ADDRESS_OUT_OF_RANGE', status: 5, address: 'DB3.DBW2999' });
    await expect(c.write('DB1.DBW0:INT', 70000)).rejects.toMatchObject({ code: 'BIFROST_VALUE_OUT_OF_RANGE' });
  });

  it('publishes every job on the bifrost:s7:request diagnostics channel', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    const seen: { kind: string; size: number }[] = [];
    const onMessage = (m: unknown) => seen.push(m as { kind: string; size: number });
    diagnostics.subscribe('bifrost:s7:request', onMessage);
    try {
      await c.readMany(['DB1.DBD0:REAL']);
      await c.write('DB1.DBW4', 7);
    } finally {
      diagnostics.unsubscribe('bifrost:s7:request', onMessage);
    }
    expect(seen.map((m) => m.kind)).toEqual(['read-request', 'write-request']);
    expect(seen[0]?.size).toBe(24);
  });

  it('refuses a job larger than the negotiated PDU before sending it', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    const items = Array.from({ length: 30 }, (_, i) => ({ transportSize: 2, count: 1, dbNumber: 1, area: 0x84, byteOffset: i, bitOffset: 0 }));
    await expect(c.readVars(items)).rejects.toMatchObject({ code: 'BIFROST_S7_PDU_TOO_LARGE' });
  });

  it('identifies the CPU from its SZL, and refuses an unknown SZL with its code', async () => {
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port });
    await c.connect();
    const id = await c.identify();
    expect(id).toMatchObject({ protocol: 's7', vendor: 'Siemens', orderCode: '6ES7 516-3AN02-0AB0', firmware: 'V2.9.4', serial: 'S V-BIFROST0001', product: 'CPU 1516-3 PN/DP', cpuStatus: 'RUN' });
    // 0x001C is longer than a 240-byte PDU: the answer comes in several data units.
    const comp = await c.readSzl(0x001c);
    expect(comp.records.length).toBe(8);
    await expect(c.readSzl(0x0232)).rejects.toMatchObject({ code: 'BIFROST_S7_SZL_ERROR', status: 0xd401, statusName: 'INVALID_SZL_ID' });
  });
});

describe('S7 client against a CPU that grants one job at a time, in small TPDUs', () => {
  it('queues jobs behind the one slot and reassembles DTs without EOT', async () => {
    await using sim = await startSimulator({ port: 0, config: { maxAmq: 1, dbs: { 1: 2000 } } });
    const db = sim.server.memory.dbs.get(1) as Uint8Array;
    for (let i = 0; i < db.length; i++) db[i] = i & 0xff;
    await using c = new S7Client({ host: '127.0.0.1', port: sim.port, pduLength: 480 });
    await Promise.all([c.connect(), c.connect()]);
    expect(c.parallelJobs).toBe(1);
    const [a, b] = await Promise.all([c.readMany(['DB1.DBB0:BYTE[2000]']), c.readMany(['DB1.DBW100', 'DB1.DBB1999'])]);
    expect(a[0]?.value).toEqual(Array.from(db));
    expect(b.map((r) => r.value)).toEqual([(100 << 8) | 101, 1999 & 0xff]);
  });

  it('reassembles an answer split over several COTP DTs', async () => {
    const port = await freePort();
    const server = createServer((s) => {
      const asm = new TpktAssembler(8192);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        for (const p of asm.push(d)) {
          const t = decodeIsoPacket(p);
          if (t.type === 'CR') s.write(encodeIsoPacket({ type: 'CC', dstRef: 1, srcRef: 2, classOption: 0, tpduSize: 128 }));
          else if (t.type === 'DT') {
            const req = decodeS7Pdu(t.payload);
            if (req.kind === 'setup-request')
              s.write(
                encodeIsoPacket({
                  type: 'DT',
                  eot: true,
                  tpduNr: 0,
                  payload: encodeS7Pdu({ kind: 'setup-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 240 }),
                }),
              );
            else if (req.kind === 'read-request') {
              const data = Uint8Array.from({ length: 200 }, (_, i) => i);
              const pdu = encodeS7Pdu({ kind: 'read-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, items: [{ returnCode: 0xff, transportSize: 4, data }] });
              for (let o = 0, nr = 0; o < pdu.length; o += 100, nr++) s.write(encodeIsoPacket({ type: 'DT', eot: o + 100 >= pdu.length, tpduNr: nr, payload: pdu.subarray(o, o + 100) }));
            }
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await using c = new S7Client({ host: '127.0.0.1', port });
      await c.connect();
      const [r] = await c.readMany(['DB1.DBB0:BYTE[200]']);
      expect(r?.value).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('URL options', () => {
  it('maps rack/slot, PLC families and TSAPs', () => {
    expect(clientOptionsFromUrl(new URL('s7://10.0.0.5'))).toMatchObject({ host: '10.0.0.5', port: 102, rack: 0, slot: 1, connectionType: 'pg', pduLength: 960 });
    expect(clientOptionsFromUrl(new URL('s7://10.0.0.5:1102?plc=s7-300'))).toMatchObject({ port: 1102, slot: 2 });
    expect(clientOptionsFromUrl(new URL('s7://10.0.0.5?plc=s7-300&slot=3'))).toMatchObject({ slot: 3 });
    expect(clientOptionsFromUrl(new URL('s7://logo?plc=logo'))).toMatchObject({ localTsap: 0x0100, remoteTsap: 0x0200 });
    expect(clientOptionsFromUrl(new URL('s7://x?localTsap=0x1000&remoteTsap=03.01&type=op&maxGap=0'))).toMatchObject({ localTsap: 0x1000, remoteTsap: 0x0301, connectionType: 'op', maxGap: 0 });
    expect(new S7Client(clientOptionsFromUrl(new URL('s7://x?rack=1&slot=3&type=basic'))).remoteTsap).toBe(0x0323);
    for (const bad of ['s7://x?slot=40', 's7://x?remoteTsap=zz', 's7://x?plc=s5', 's7://x?type=hmi', 's7://x?pdu=100']) {
      expect(() => clientOptionsFromUrl(new URL(bad)), bad).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_URL' }));
    }
  });
});

describe('bad input gives typed errors', () => {
  it('PUT/GET disabled: 0x8104 with the PUT/GET hint', async () => {
    await using sim = await startSimulator({ port: 0, config: { putGet: false, dbs: { 1: 16 } } });
    await using plc = await connect(sim.url, { requestTimeoutMs: 1000 });
    const err = (await plc.read('DB1.DBW0').catch((e: unknown) => e)) as BifrostError;
    expect(err).toBeInstanceOf(BifrostError);
    expect(err.code).toBe('BIFROST_S7_FUNCTION_NOT_AVAILABLE');
    expect(err.status).toBe(0x8104);
    expect(err.hint).toContain('PUT/GET');
    await expect(plc.write('DB1.DBW0', 1)).rejects.toMatchObject({ code: 'BIFROST_S7_FUNCTION_NOT_AVAILABLE' });
  });

  it('wrong rack/slot: the connection is refused with a rack/slot hint', async () => {
    await using sim = await startSimulator({ port: 0, config: { rack: 0, slot: 2, dbs: { 1: 16 } } });
    const url = sim.url.replace('slot=2', 'slot=1');
    const err = (await connect(url, { requestTimeoutMs: 1000 }).catch((e: unknown) => e)) as BifrostError;
    expect(err.code).toBe('BIFROST_S7_CONNECTION_REJECTED');
    expect(err.hint).toContain('slot');
    expect(err.message).toContain('0x0101');
    await using ok = await connect(sim.url, { requestTimeoutMs: 1000 });
    expect((await ok.read('DB1.DBW0')).quality).toBe('good');
  });

  it('a refused TCP connection is BIFROST_CONNECTION_REFUSED', async () => {
    const port = await freePort();
    const err = (await new S7Client({ host: '127.0.0.1', port }).connect().catch((e: unknown) => e)) as BifrostError;
    expect(err.code).toBe('BIFROST_CONNECTION_REFUSED');
  });

  it('the simulator answers an oversize job with 0x8500 and drops garbage', async () => {
    await using sim = await startSimulator({ port: 0, config: { dbs: { 1: 16 } } });
    const sock = new Socket();
    await new Promise<void>((r) => sock.connect(sim.port, '127.0.0.1', r));
    const asm = new TpktAssembler(8192);
    const next = () => new Promise<Uint8Array>((resolve) => sock.once('data', (d: Buffer) => resolve(asm.push(d)[0] as Uint8Array)));
    sock.write(encodeIsoPacket({ type: 'CR', dstRef: 0, srcRef: 1, classOption: 0, srcTsap: 0x100, dstTsap: 0x101 }));
    expect(decodeIsoPacket(await next()).type).toBe('CC');
    sock.write(encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: encodeS7Pdu({ kind: 'setup-request', pduRef: 1, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 240 }) }));
    await next();
    const items = Array.from({ length: 20 }, () => ({ transportSize: 2, count: 1, dbNumber: 1, area: 0x84, byteOffset: 0, bitOffset: 0 }));
    sock.write(encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: encodeS7Pdu({ kind: 'read-request', pduRef: 2, items }) }));
    const ans = decodeIsoPacket(await next());
    expect(ans.type === 'DT' && decodeS7Pdu(ans.payload)).toMatchObject({ kind: 'ack', errorClass: 0x85, errorCode: 0x00 });
    const closed = new Promise((r) => sock.once('close', r));
    sock.write(Uint8Array.of(3, 0, 0, 9, 2, 0xf0, 0x80, 0x99, 0x99));
    await closed;
  });

  describe('a peer that sends malformed or truncated telegrams', () => {
    let server: Server;
    let port: number;
    let mode: 'garbage' | 'truncated' | 'silent' = 'garbage';
    beforeAll(async () => {
      port = await freePort();
      server = createServer((s) => {
        const asm = new TpktAssembler(8192);
        s.on('error', () => {});
        s.on('data', (d: Buffer) => {
          for (const p of asm.push(d)) {
            const t = decodeIsoPacket(p);
            if (t.type === 'CR') s.write(encodeIsoPacket({ type: 'CC', dstRef: 1, srcRef: 2, classOption: 0 }));
            else if (t.type === 'DT') {
              const req = decodeS7Pdu(t.payload);
              if (req.kind === 'setup-request')
                s.write(
                  encodeIsoPacket({
                    type: 'DT',
                    eot: true,
                    tpduNr: 0,
                    payload: encodeS7Pdu({ kind: 'setup-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, maxAmqCalling: 1, maxAmqCalled: 1, pduLength: 240 }),
                  }),
                );
              else if (mode === 'silent') continue;
              else if (mode === 'garbage') s.write(encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: Uint8Array.of(0x32, 0x03, 0, 0, 0, 2, 0, 2, 0, 9, 0, 0, 4, 1, 0xff, 4) }));
              else {
                const ok = encodeIsoPacket({
                  type: 'DT',
                  eot: true,
                  tpduNr: 0,
                  payload: encodeS7Pdu({ kind: 'read-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, items: [{ returnCode: 0xff, transportSize: 4, data: Uint8Array.of(1, 2) }] }),
                });
                s.end(ok.subarray(0, ok.length - 3));
              }
            }
          }
        });
      });
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('a malformed answer is BIFROST_MALFORMED_FRAME and drops the connection', async () => {
      mode = 'garbage';
      await using c = new S7Client({ host: '127.0.0.1', port });
      await c.connect();
      await expect(c.readMany(['DB1.DBW0'])).rejects.toMatchObject({ code: 'BIFROST_MALFORMED_FRAME' });
      expect(c.connected).toBe(false);
    });

    it('a job without an answer times out with BIFROST_TIMEOUT and frees its slot', async () => {
      mode = 'silent';
      await using c = new S7Client({ host: '127.0.0.1', port, timeoutMs: 150 });
      await c.connect();
      expect(c.parallelJobs).toBe(1);
      await expect(c.readMany(['DB1.DBW0'])).rejects.toMatchObject({ code: 'BIFROST_TIMEOUT' });
      // The one job slot is free again: the next job times out on its own, not behind the first.
      await expect(c.readMany(['DB1.DBW2'])).rejects.toMatchObject({ code: 'BIFROST_TIMEOUT', message: expect.not.stringContaining('free job slot') });
      expect(c.connected).toBe(true);
    });

    it('a truncated answer (peer closes mid-telegram) is BIFROST_CONNECTION_LOST', async () => {
      mode = 'truncated';
      await using c = new S7Client({ host: '127.0.0.1', port });
      await c.connect();
      await expect(c.readMany(['DB1.DBW0'])).rejects.toMatchObject({ code: 'BIFROST_CONNECTION_LOST' });
    });
  });
});
