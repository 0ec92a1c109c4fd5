import { createConnection } from 'node:net';
import { BifrostError, connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { decodeEncap, EipClient, type EipSimulator, EncapCommand, encodeEncap, listIdentity, startEipSimulator } from '@bifrost/ethernetip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let sim: EipSimulator;

beforeAll(async () => {
  sim = await startEipSimulator({ port: 0 });
});
afterAll(async () => {
  await sim?.close();
});

for (const connected of [true, false]) {
  describe(`Bifrost client → simulator, ${connected ? 'connected (Large Forward Open + SendUnitData)' : 'unconnected (SendRRData + Unconnected Send)'}`, () => {
    let c: EipClient;
    let own: EipSimulator;
    beforeAll(async () => {
      own = await startEipSimulator({ port: 0 });
      c = new EipClient({ host: '127.0.0.1', port: own.port, route: '1,0', connected });
      await c.connect();
    });
    afterAll(async () => {
      await c?.close();
      await own?.close();
    });

    it('negotiates the messaging mode and connection size', () => {
      expect(c.isConnectedMessaging).toBe(connected);
      expect(c.connectionSize).toBe(connected ? 4002 : 504);
    });

    it('reads every atomic type, strings, arrays, members, bits and program tags', async () => {
      const r = await c.readTags([
        'TestBOOL',
        'TestSINT',
        'TestINT',
        'TestDINT',
        'TestLINT',
        'TestUSINT',
        'TestUINT',
        'TestUDINT',
        'TestULINT',
        'TestREAL',
        'TestLREAL',
        'TestSTRING',
        'Message',
        'Temperatures{10}',
        'Temperatures[9]',
        'Motor1.Running',
        'Motor1.Faults',
        'Program:Main.Step',
        'TestDINT.6',
        'TestDINT.0',
      ]);
      expect(r.map((x) => x.error)).toEqual(r.map(() => undefined));
      expect(r.map((x) => x.value)).toEqual([
        false,
        -8,
        -1600,
        123456,
        9007199254740993n,
        200,
        60000,
        4000000000,
        18000000000000000000n,
        3.5,
        2.5,
        'abc',
        'Hello from Bifrost',
        expect.any(Array),
        expect.any(Number),
        true,
        0,
        1,
        true, // 123456 = 0x1E240: bit 6 set
        false,
      ]);
      expect(r[13]?.value).toHaveLength(10);
    });

    it('reads a 1000-element array larger than the connection with fragmented reads', async () => {
      const values = Array.from({ length: 1000 }, (_, i) => (connected ? i * 3 : -i - 1));
      await c.writeTag('Data', values);
      expect(await c.readTag('Data{1000}')).toEqual(values);
      expect(await c.readTag('Data[998]{2}')).toEqual(values.slice(998));
    });

    it('packs many reads into Multiple Service Packets and still returns every value in order', async () => {
      const addresses = Array.from({ length: 300 }, (_, i) => `Data[${i}]`);
      addresses.push('Data{400}', 'Message');
      const r = await c.readTags(addresses);
      for (let i = 0; i < 300; i++) expect(r[i]?.value).toBe(connected ? i * 3 : -i - 1);
      expect(r[300]?.value).toHaveLength(400);
      expect(r[301]?.value).toBe('Hello from Bifrost');
    });

    it('writes each type and reads it back', async () => {
      const writes: [string, unknown][] = [
        ['TestBOOL', true],
        ['TestSINT', -100],
        ['TestINT', 31000],
        ['TestDINT', -5],
        ['TestLINT', -(2n ** 62n)],
        ['TestUSINT', 255],
        ['TestUINT', 65535],
        ['TestUDINT', 4294967295],
        ['TestULINT', 2n ** 64n - 1n],
        ['TestREAL', 1.25],
        ['TestLREAL', Math.PI],
        ['TestSTRING', connected ? 'connected' : 'unconnected'],
        ['Motor1.Faults', 7],
        ['Motor1.Running', false],
        ['Program:Main.Step', 9],
        ['Data[5]', -77],
      ];
      for (const [a, v] of writes) await c.writeTag(a, v as never);
      const r = await c.readTags(writes.map(([a]) => a));
      expect(r.map((x) => x.value)).toEqual(writes.map(([, v]) => v));
      await c.writeTag('TestDINT.4', true);
      expect(await c.readTag('TestDINT')).toBe(-5 | 16);
      await c.writeTag('TestDINT.0', false);
      expect(await c.readTag('TestDINT')).toBe((-5 | 16) & ~1);
      await c.writeTag('TestBOOL', false);
    });

    it('gives typed errors naming the tag: unknown tag, index out of range, type mismatch, bad values', async () => {
      const [missing, index, count, hint, good] = await c.readTags(['NoSuchTag', 'Temperatures[10]', 'Temperatures[5]{6}', 'Counter:REAL', 'Counter']);
      expect(missing?.error).toMatchObject({ code: 'BIFROST_EIP_TAG_NOT_FOUND', status: 0x04, address: 'NoSuchTag' });
      expect(missing?.error?.message).toContain('NoSuchTag');
      expect(index?.error).toMatchObject({ code: 'BIFROST_EIP_INDEX_OUT_OF_RANGE', status: 0xff, details: { extendedStatus: [0x2104] } });
      expect(count?.error).toMatchObject({ code: 'BIFROST_EIP_INDEX_OUT_OF_RANGE', details: { extendedStatus: [0x2105] } });
      expect(hint?.error?.code).toBe('BIFROST_EIP_TYPE_MISMATCH');
      expect(good?.error).toBeUndefined();
      // A write with the wrong type on the wire: the controller answers 0xFF / 0x2107.
      const mismatch = await c.writeTag('Setpoint:DINT', 5).catch((e: unknown) => e);
      expect(mismatch).toMatchObject({ code: 'BIFROST_EIP_TYPE_MISMATCH', status: 0xff, address: 'Setpoint:DINT' });
      const notNumber = await c.writeTag('Setpoint', 'abc').catch((e: unknown) => e);
      expect(notNumber).toMatchObject({ code: 'BIFROST_TYPE_MISMATCH', address: 'Setpoint' });
      const tooBig = await c.writeTag('TestSINT', 300).catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ code: 'BIFROST_VALUE_OUT_OF_RANGE' });
      const bad = await c.writeTag('NoSuchTag:DINT', 1).catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: 'BIFROST_EIP_TAG_NOT_FOUND', address: 'NoSuchTag:DINT' });
      const parse = await c.readTags(['Bad..Name']);
      expect(parse[0]?.error?.code).toBe('BIFROST_INVALID_ADDRESS');
      // The session still works after all of that.
      expect(typeof (await c.readTag('Counter'))).toBe('number');
    });

    it('reads object attributes with Get_Attribute_Single and Get_Attributes_All', async () => {
      const name = await c.getAttributeSingle(0x01, 1, 7);
      expect(name.toString('latin1', 1, 1 + (name[0] as number))).toBe('1756-L83E/B');
      expect((await c.getAttributeSingle(0x01, 1, 1)).readUInt16LE(0)).toBe(1);
      expect((await c.getAttributesAll(0x01, 1)).length).toBeGreaterThan(15);
      const missing = await c.getAttributeSingle(0x01, 1, 99).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: 'BIFROST_EIP_CIP_ERROR', status: 0x14, statusName: 'ATTRIBUTE_NOT_SUPPORTED' });
      const noObject = await c.getAttributesAll(0x99, 1).catch((e: unknown) => e);
      expect(noObject).toMatchObject({ code: 'BIFROST_EIP_CIP_ERROR', status: 0x05, statusName: 'PATH_DESTINATION_UNKNOWN' });
    });

    it('identifies the controller', async () => {
      const id = await c.identify();
      expect(id).toMatchObject({
        vendorId: 1,
        vendorName: 'Rockwell Automation/Allen-Bradley',
        productName: '1756-L83E/B',
        revision: { major: 32, minor: 11 },
        deviceTypeName: 'Programmable Logic Controller',
      });
    });

    it('browses names, types, dimensions, structure members and programs', async () => {
      const nodes = await c.browse();
      const by = (n: string) => nodes.find((x) => x.name === n);
      expect(by('Counter')).toMatchObject({ type: 'DINT', kind: 'tag', address: 'Counter' });
      expect(by('Temperatures')).toMatchObject({ type: 'REAL', dimensions: [10] });
      expect(by('Message')).toMatchObject({ type: 'STRING' });
      expect(by('Data')).toMatchObject({ type: 'DINT', dimensions: [1000] });
      expect(by('Motor1')).toMatchObject({ kind: 'struct', type: 'Motor' });
      expect(by('Motor1')?.children?.map((m) => [m.name, m.type, m.address])).toEqual([
        ['Speed', 'REAL', 'Motor1.Speed'],
        ['Running', 'BOOL', 'Motor1.Running'],
        ['Faults', 'DINT', 'Motor1.Faults'],
      ]);
      const main = by('Program:Main');
      expect(main?.kind).toBe('folder');
      expect(main?.children?.map((x) => [x.address, x.type])).toEqual([
        ['Program:Main.X', 'DINT'],
        ['Program:Main.Step', 'INT'],
      ]);
      // Every address browse returns reads back.
      const leaves = nodes.flatMap((n) => (n.children ?? [n]).filter((x) => x.address));
      const r = await c.readTags(leaves.map((n) => n.address as string));
      expect(r.filter((x) => x.error)).toEqual([]);
    });
  });
}

describe('connections, routing and recovery', () => {
  it('pages the symbol list through partial transfers on an unconnected session', async () => {
    const port = await freePort();
    const tags = Array.from({ length: 120 }, (_, i) => ({ name: `LongishTagName_${i}`, type: 'DINT', value: i }));
    await using big = await startEipSimulator({ port, config: { tags } });
    const c = new EipClient({ host: '127.0.0.1', port, connected: false });
    await c.connect();
    const symbols = await c.listSymbols();
    expect(symbols.map((s) => s.name)).toEqual(tags.map((t) => t.name));
    await c.close();
    expect(big.sessions).toBeLessThanOrEqual(1);
  });

  it('falls back to a 504-byte Forward Open when the target refuses Large Forward Open', async () => {
    const port = await freePort();
    await using old = await startEipSimulator({ port, config: { largeForwardOpen: false, tags: [{ name: 'A', type: 'DINT', dims: [300] }] } });
    const c = new EipClient({ host: '127.0.0.1', port });
    await c.connect();
    expect(c.isConnectedMessaging).toBe(true);
    expect(c.connectionSize).toBe(504);
    const values = Array.from({ length: 300 }, (_, i) => i);
    await c.writeTag('A', values);
    expect(await c.readTag('A{300}')).toEqual(values);
    await c.close();
    expect(old.port).toBe(port);
  });

  it('a path to an empty slot fails with BIFROST_EIP_ROUTE_FAILED in both modes', async () => {
    const fo = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,3' });
    const err = await fo.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BIFROST_EIP_ROUTE_FAILED', status: 0x01, details: { extendedStatus: [0x0312] } });
    const uc = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,3', connected: false });
    await uc.connect();
    const [r] = await uc.readTags(['Counter']);
    expect(r?.error).toMatchObject({ code: 'BIFROST_EIP_ROUTE_FAILED', address: 'Counter' });
    await uc.close();
  });

  it('a refused connection is BIFROST_CONNECTION_REFUSED', async () => {
    const port = await freePort();
    const err = await new EipClient({ host: '127.0.0.1', port }).connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BifrostError);
    expect((err as BifrostError).code).toBe('BIFROST_CONNECTION_REFUSED');
  });

  it('the device recovers after the simulator drops and comes back', async () => {
    const port = await freePort();
    let s = await startEipSimulator({ port });
    const plc = await connect(`eip://127.0.0.1:${port}?path=1,0`, { requestTimeoutMs: 500, backoff: { baseMs: 20, maxMs: 100 } });
    expect((await plc.read('TestDINT')).value).toBe(123456);
    await s.close();
    const down = await plc.readMany(['TestDINT']);
    expect(down[0]?.quality).toBe('bad');
    expect(down[0]?.error).toBeInstanceOf(BifrostError);
    s = await startEipSimulator({ port });
    let value: unknown;
    for (let i = 0; i < 100 && value === undefined; i++) {
      const [v] = await plc.readMany(['TestDINT']);
      if (v?.quality === 'good') value = v.value;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(value).toBe(123456);
    await plc.close();
    await s.close();
  });

  it('the simulator answers garbage with an encapsulation error or drops it, and keeps serving', async () => {
    const sock = createConnection({ host: '127.0.0.1', port: sim.port });
    await new Promise((r) => sock.once('connect', r));
    const replies: Buffer[] = [];
    sock.on('data', (b: Buffer) => replies.push(b));
    // SendRRData without a session: status 0x64 invalid session handle (CIP Vol 2 Table 2-3.3).
    sock.write(encodeEncap({ command: EncapCommand.SendRRData, session: 99, status: 0, context: 5n, options: 0, data: Buffer.alloc(6) }));
    // Unknown command: status 0x01.
    sock.write(encodeEncap({ command: 0x0123, session: 0, status: 0, context: 6n, options: 0, data: Buffer.alloc(0) }));
    await new Promise((r) => setTimeout(r, 100));
    const packets = Buffer.concat(replies);
    expect(decodeEncap(packets.subarray(0, 24)).status).toBe(0x64);
    expect(decodeEncap(packets.subarray(24, 48)).status).toBe(0x01);
    sock.destroy();
    const c = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0' });
    await c.connect();
    expect(await c.readTag('TestSINT')).toBeTypeOf('number');
    await c.close();
  });
});

describe('ListIdentity', () => {
  it('answers over UDP and TCP with vendor name, product, serial, revision, device type', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const [id] = await listIdentity('127.0.0.1', { port: sim.port, transport, timeoutMs: 2000 });
      expect(id).toMatchObject({
        vendorName: 'Rockwell Automation/Allen-Bradley',
        productName: '1756-L83E/B',
        serial: '00c0ffee',
        revision: '32.11',
        deviceTypeName: 'Programmable Logic Controller',
        port: sim.port,
      });
    }
  });

  it('fails fast on a closed TCP port and times out on a silent UDP one', async () => {
    const port = await freePort();
    const tcp = await listIdentity('127.0.0.1', { port, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect((tcp as BifrostError).code).toBe('BIFROST_CONNECTION_REFUSED');
    const udp = await listIdentity('127.0.0.1', { port, timeoutMs: 200, transport: 'udp' }).catch((e: unknown) => e);
    expect((udp as BifrostError).code).toMatch(/BIFROST_TIMEOUT|BIFROST_CONNECTION_REFUSED/);
  });
});
