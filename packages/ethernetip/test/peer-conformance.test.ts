/**
 * Conformance with the Python clients users point at Logix controllers: the request sequences
 * pycomm3 1.2 (`LogixDriver.open()`, `get_tag_list`, reads and writes of whole structures by symbol
 * instance) and pylogix 1.1 (`GetTagList` with its template-size arithmetic) send, replayed against
 * the simulator through this package's session, asserting what a Logix answers. The layouts are
 * protocol facts (1756-PM020, CIP Vol 1) as those clients put them on the wire; no Python runs here.
 * The clients themselves were run by hand against `bifrost simulate eip` (see the README).
 */
import { type CipResponse, ClassId, EipClient, type EipSimulator, encodeEpath, encodeRequest, listIdentity, type Segment, Service, startEipSimulator } from '@bifrost/ethernetip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PROGRAM_NAME_CLASS = 0x64;
const BASE_TAG_BIT = 1 << 26;

/** A plant with nested structures, arrays of structures and more symbols than one packet holds. */
const BIG_PLANT = {
  identity: { productName: '1756-L85E/B', revision: '33.11', controllerName: 'Line2' },
  udts: {
    Recipe: [
      { name: 'Name', type: 'STRING' },
      { name: 'Steps', type: 'DINT', length: 40 },
      { name: 'Temp', type: 'REAL' },
      { name: 'On', type: 'BOOL' },
      { name: 'Off', type: 'BOOL' },
    ],
    Batch: [
      { name: 'Id', type: 'DINT' },
      { name: 'Recipe', type: 'Recipe' },
      { name: 'Scale', type: 'LREAL' },
    ],
    A: [{ name: 'x', type: 'SINT' }],
    Ab: [
      { name: 'x', type: 'SINT' },
      { name: 'y', type: 'SINT' },
    ],
    Abc: [
      { name: 'x', type: 'SINT' },
      { name: 'yy', type: 'SINT' },
    ],
    Abcd: [
      { name: 'x', type: 'SINT' },
      { name: 'yyy', type: 'SINT' },
    ],
  },
  tags: [
    { name: 'B1', type: 'Batch', value: { Id: 7, Scale: 1.5, Recipe: { Name: 'mix', Temp: 80, On: true } } },
    { name: 'Batches', type: 'Batch', dims: [4] },
    { name: 'Grid', type: 'INT', dims: [3, 4] },
    { name: 'OneA', type: 'A' },
    { name: 'OneAb', type: 'Ab' },
    { name: 'OneAbc', type: 'Abc' },
    { name: 'OneAbcd', type: 'Abcd' },
    ...Array.from({ length: 60 }, (_, i) => ({ name: `Filler_With_A_Long_Name_${i}`, type: 'DINT', value: i })),
  ],
  programs: { Main: [{ name: 'Local', type: 'Recipe' }] },
};

/** pycomm3's symbol attributes for revision ≥ 18: name, type, address, object address, software control, dimensions, external access. */
const PYCOMM3_SYMBOL_ATTRIBUTES = [1, 2, 3, 5, 6, 8, 10];

function attributeList(ids: readonly number[]): Buffer {
  const b = Buffer.alloc(2 + ids.length * 2);
  b.writeUInt16LE(ids.length, 0);
  for (const [i, id] of ids.entries()) b.writeUInt16LE(id, 2 + i * 2);
  return b;
}

function mr(service: number, path: Segment[], data: Buffer = Buffer.alloc(0)): Buffer {
  return encodeRequest({ service, path: encodeEpath(path), data });
}

interface PySymbol {
  instance: number;
  name: string;
  type: number;
  address: number;
  objectAddress: number;
  softwareControl: number;
  dims: number[];
  access: number;
}

/** Parses a Get Instance Attribute List reply the way pycomm3's `_parse_instance_attribute_list` does. */
function parsePycomm3Symbols(data: Buffer): PySymbol[] {
  const out: PySymbol[] = [];
  let o = 0;
  while (o < data.length) {
    const instance = data.readUInt32LE(o);
    const len = data.readUInt16LE(o + 4);
    const name = data.toString('latin1', o + 6, o + 6 + len);
    o += 6 + len;
    out.push({
      instance,
      name,
      type: data.readUInt16LE(o),
      address: data.readUInt32LE(o + 2),
      objectAddress: data.readUInt32LE(o + 6),
      softwareControl: data.readUInt32LE(o + 10),
      dims: [data.readUInt32LE(o + 14), data.readUInt32LE(o + 18), data.readUInt32LE(o + 22)],
      access: data.readUInt8(o + 26),
    });
    o += 27;
  }
  return out;
}

/** pycomm3's tag list loop: from instance 0, again from the last instance + 1 while the reply is a partial transfer (0x06). */
async function pycomm3TagList(c: EipClient, program?: string): Promise<PySymbol[]> {
  const out: PySymbol[] = [];
  let start = 0;
  for (let guard = 0; guard < 100; guard++) {
    const scope: Segment[] = program ? [{ type: 'symbolic', name: `Program:${program}` }] : [];
    const res = await c.request(mr(Service.GetInstanceAttributeList, [...scope, { type: 'class', id: ClassId.Symbol }, { type: 'instance', id: start }], attributeList(PYCOMM3_SYMBOL_ATTRIBUTES)));
    expect([0, 0x06]).toContain(res.status);
    const part = parsePycomm3Symbols(res.data);
    out.push(...part);
    if (res.status === 0) return out;
    start = (part.at(-1)?.instance ?? start) + 1;
  }
  throw new Error('tag list did not end');
}

/** Template attributes as pycomm3 asks (4, 5, 2, 1): object definition size, structure size, member count, handle. */
async function templateAttributes(c: EipClient, id: number, ids = [4, 5, 2, 1]): Promise<CipResponse> {
  return c.request(
    mr(
      Service.GetAttributeList,
      [
        { type: 'class', id: ClassId.Template },
        { type: 'instance', id },
      ],
      attributeList(ids),
    ),
  );
}

function readTemplate(offset: number, bytes: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt32LE(offset, 0);
  b.writeUInt16LE(bytes, 4);
  return b;
}

/** pycomm3's `_read_template`: asks for size·4 − 21 − offset bytes until a reply with status 0. */
async function pycomm3ReadTemplate(c: EipClient, id: number, size: number): Promise<{ data: Buffer; requests: number }> {
  const parts: Buffer[] = [];
  let offset = 0;
  for (let requests = 1; requests < 100; requests++) {
    const res = await c.request(
      mr(
        Service.ReadTag,
        [
          { type: 'class', id: ClassId.Template },
          { type: 'instance', id },
        ],
        readTemplate(offset, size * 4 - 21 - offset),
      ),
    );
    expect([0, 0x06]).toContain(res.status);
    parts.push(res.data);
    if (res.status === 0) return { data: Buffer.concat(parts), requests };
    offset += res.data.length;
  }
  throw new Error('template read did not end');
}

/** pylogix's `_get_template`: size·4 − 23 rounded up to 4 bytes, read while bytes remain and the status is 0 or 0x06. */
async function pylogixReadTemplate(c: EipClient, id: number, size: number): Promise<{ data: Buffer; requests: number; lastStatus: number }> {
  const dataLen = Math.ceil((size * 4 - 23) / 4) * 4;
  const parts: Buffer[] = [];
  let got = 0;
  let status = 0;
  let requests = 0;
  while (dataLen - got > 0 && status === 0 && requests < 100) {
    requests++;
    const res = await c.request(
      mr(
        Service.ReadTag,
        [
          { type: 'class', id: ClassId.Template },
          { type: 'instance', id },
        ],
        readTemplate(got, dataLen - got),
      ),
    );
    status = res.status === 0x06 ? 0 : res.status;
    parts.push(res.data);
    got += res.data.length;
  }
  return { data: Buffer.concat(parts), requests, lastStatus: status };
}

/** The template ids every struct symbol and member of the plant refers to. */
async function templateIds(c: EipClient): Promise<number[]> {
  const ids = new Set<number>();
  const pending: number[] = [];
  for (const scope of [undefined, 'Main']) {
    for (const s of await pycomm3TagList(c, scope)) if (s.type & 0x8000 && !s.name.startsWith('Program:')) pending.push(s.type & 0x0fff);
  }
  while (pending.length > 0) {
    const id = pending.pop() as number;
    if (ids.has(id)) continue;
    ids.add(id);
    const a = (await templateAttributes(c, id)).data;
    const size = a.readUInt32LE(6);
    const members = a.readUInt16LE(22);
    const def = (await pycomm3ReadTemplate(c, id, size)).data;
    for (let i = 0; i < members; i++) {
      const type = def.readUInt16LE(i * 8 + 2);
      if (type & 0x8000) pending.push(type & 0x0fff);
    }
  }
  return [...ids];
}

for (const [label, config] of [
  ['default plant', undefined],
  ['nested structures and a long tag list', BIG_PLANT],
] as const) {
  describe(`pycomm3 and pylogix request sequences → simulator (${label})`, () => {
    let sim: EipSimulator;
    let connected: EipClient;
    let unconnected: EipClient;
    beforeAll(async () => {
      sim = await startEipSimulator({ port: 0, udp: false, ...(config ? { config } : {}) });
      // pycomm3 opens a Large Forward Open (4002 bytes); pylogix a 508-byte Forward Open. The
      // unconnected client's 504-byte room forces the partial transfers (0x06) of long lists and templates.
      connected = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0' });
      unconnected = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0', connected: false });
      await connected.connect();
      await unconnected.connect();
    });
    afterAll(async () => {
      await connected?.close();
      await unconnected?.close();
      await sim?.close();
    });

    it('open(): List Identity, then Get Attributes All on the Identity object', async () => {
      const [id] = await listIdentity('127.0.0.1', { port: sim.port });
      expect(id?.productName).toBe(config ? '1756-L85E/B' : '1756-L83E/B');
      const res = await unconnected.request(
        mr(Service.GetAttributesAll, [
          { type: 'class', id: ClassId.Identity },
          { type: 'instance', id: 1 },
        ]),
      );
      expect(res.status).toBe(0);
      expect(res.data.readUInt16LE(0)).toBe(1); // vendor: Rockwell Automation/Allen-Bradley
      expect(res.data.readUInt8(6)).toBe(config ? 33 : 32); // major revision: ≥ 21 makes pycomm3 use symbol instance addressing
    });

    it('open(): Get Attributes All on Program Name (class 0x64) instance 1 answers the controller name as a STRING', async () => {
      const res = await connected.request(
        mr(Service.GetAttributesAll, [
          { type: 'class', id: PROGRAM_NAME_CLASS },
          { type: 'instance', id: 1 },
        ]),
      );
      expect(res.status).toBe(0);
      const len = res.data.readUInt16LE(0);
      expect(res.data.length).toBe(2 + len);
      expect(res.data.toString('latin1', 2)).toBe(config ? 'Line2' : 'Bifrost');
    });

    it('get_tag_list(): the Symbol-class Get Instance Attribute List with attributes 1, 2, 3, 5, 6, 8, 10', async () => {
      for (const c of [connected, unconnected]) {
        const symbols = await pycomm3TagList(c);
        const names = symbols.map((s) => s.name);
        expect(new Set(names).size).toBe(names.length);
        expect(names).toContain('Program:Main');
        const instances = symbols.map((s) => s.instance);
        expect(instances).toEqual([...instances].sort((a, b) => a - b));
        for (const s of symbols.filter((x) => !x.name.startsWith('Program:'))) {
          // A base tag (not an alias), readable and writable from outside, at distinct addresses.
          expect(s.softwareControl & BASE_TAG_BIT).toBe(BASE_TAG_BIT);
          expect(s.access).toBe(0);
          expect(s.address).not.toBe(0);
          expect(s.objectAddress).not.toBe(0);
        }
        expect(new Set(symbols.map((s) => s.address)).size).toBe(symbols.length);
        if (!config) {
          expect(symbols.find((s) => s.name === 'Data')).toMatchObject({ type: 0x20c4, dims: [1000, 0, 0] });
          expect(symbols.find((s) => s.name === 'Motor1')?.type).toBeGreaterThanOrEqual(0x8000);
          expect(symbols.find((s) => s.name === 'Program:Main')?.type).toBe(0x1068);
        } else {
          expect(symbols.find((s) => s.name === 'Grid')).toMatchObject({ type: 0x40c3, dims: [3, 4, 0] });
          expect(symbols.length).toBeGreaterThan(60);
        }
        const program = await pycomm3TagList(c, 'Main');
        expect(program.map((s) => s.name)).toEqual(config ? ['Local'] : ['X', 'Step']);
      }
    });

    it('get_tag_list(): every template read with size·4 − 21 ends with status 0 inside the data and parses as pycomm3 parses it', async () => {
      for (const id of await templateIds(connected)) {
        const a = (await templateAttributes(unconnected, id)).data;
        expect(a.readUInt16LE(0)).toBe(4);
        const size = a.readUInt32LE(6);
        const members = a.readUInt16LE(22);
        const { data, requests } = await pycomm3ReadTemplate(unconnected, id, size);
        expect(requests).toBeLessThan(10);
        expect(data.length).toBe(size * 4 - 21);
        // Member infos, then "Name;n…" and the member names, each NUL-terminated.
        const names = data
          .subarray(members * 8)
          .toString('latin1')
          .split('\0');
        expect(names[0]).toMatch(/^[A-Za-z_][A-Za-z0-9_]*;n[A-P]*$/);
        expect(names.slice(1, 1 + members).every((n) => n.length > 0)).toBe(true);
      }
    });

    it('GetTagList (pylogix): tag list with attributes 1, 2, 8, template attributes 4, 3, 2, 1 and template reads that end', async () => {
      // Tag list: each entry is instance, name, type, dimensions (20 bytes + name); the next request starts at the last instance + 1.
      let offset = 0;
      let status = 0x06;
      const names: string[] = [];
      for (let guard = 0; status === 0x06 && guard < 50; guard++) {
        const res = await unconnected.request(
          mr(
            Service.GetInstanceAttributeList,
            [
              { type: 'class', id: ClassId.Symbol },
              { type: 'instance', id: offset },
            ],
            attributeList([1, 2, 8]),
          ),
        );
        status = res.status;
        for (let o = 0; o < res.data.length; ) {
          const len = res.data.readUInt16LE(o + 4);
          names.push(res.data.toString('latin1', o + 6, o + 6 + len));
          offset = res.data.readUInt16LE(o) + 1;
          o += 20 + len;
        }
      }
      expect(status).toBe(0);
      expect(names).toContain('Program:Main');
      for (const id of await templateIds(connected)) {
        // pylogix reads the attribute 4 value at byte 10 and the member count at byte 24 of the
        // reply counted from the Message Router header (4 bytes), asking for 4, 3, 2, 1.
        const res = await templateAttributes(connected, id, [4, 3, 2, 1]);
        expect(res.status).toBe(0);
        const block = Buffer.concat([Buffer.from([0xc3, 0, 0, 0]), res.data]);
        const size = block.readUInt32LE(10);
        const members = block.readUInt16LE(24);
        expect(members).toBe((await templateAttributes(connected, id)).data.readUInt16LE(22));
        const { data, requests, lastStatus } = await pylogixReadTemplate(unconnected, id, size);
        expect(lastStatus).toBe(0);
        expect(requests).toBeLessThan(10);
        expect(data.length).toBe(Math.ceil((size * 4 - 23) / 4) * 4);
        // pylogix splits the names at NUL and the template name at ';', then reads two access letters per member after "n".
        const [full] = data
          .subarray(members * 8)
          .toString('latin1')
          .split('\0');
        const [, tail] = (full as string).split(';');
        expect(tail?.length).toBe(1 + members * 2);
      }
    });

    it('a Read Template at or past the end of the definition is an error, never an empty success', async () => {
      for (const id of await templateIds(connected)) {
        const size = (await templateAttributes(connected, id)).data.readUInt32LE(6);
        const length = Math.ceil((size * 4 - 23) / 4) * 4;
        for (const offset of [length, length + 4, 0xffff]) {
          const res = await connected.request(
            mr(
              Service.ReadTag,
              [
                { type: 'class', id: ClassId.Template },
                { type: 'instance', id },
              ],
              readTemplate(offset, 8),
            ),
          );
          expect(res.status, `offset ${offset} of template ${id}`).not.toBe(0);
          expect(res.status).not.toBe(0x06);
        }
      }
    });
  });
}

describe('pycomm3 reads and writes by symbol instance (revision ≥ 21)', () => {
  let sim: EipSimulator;
  let c: EipClient;
  beforeAll(async () => {
    sim = await startEipSimulator({ port: 0, udp: false, config: BIG_PLANT });
    c = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0' });
    await c.connect();
  });
  afterAll(async () => {
    await c?.close();
    await sim?.close();
  });

  const instanceOf = async (name: string) => (await pycomm3TagList(c)).find((s) => s.name === name)?.instance as number;
  const sym = (instance: number): Segment[] => [
    { type: 'class', id: ClassId.Symbol },
    { type: 'instance', id: instance },
  ];
  const count = (n: number) => Buffer.from([n & 0xff, n >> 8]);

  it('reads a whole structure: type STRUCT with the structure handle, then the structure size in bytes', async () => {
    const symbol = (await pycomm3TagList(c)).find((s) => s.name === 'B1') as PySymbol;
    const b1 = symbol.instance;
    const a = (await templateAttributes(c, symbol.type & 0x0fff)).data;
    const structSize = a.readUInt32LE(14);
    const handle = a.readUInt16LE(28);
    const res = await c.request(mr(Service.ReadTag, sym(b1), count(1)));
    expect(res.status).toBe(0);
    expect(res.data.readUInt16LE(0)).toBe(0x02a0);
    expect(res.data.readUInt16LE(2)).toBe(handle);
    expect(res.data.length).toBe(4 + structSize);
    expect(res.data.readInt32LE(4)).toBe(7); // Id
    expect(res.data.toString('latin1', 4 + 4 + 4, 4 + 4 + 4 + 3)).toBe('mix'); // Recipe.Name DATA
  });

  it('reads an array of structures with Read Tag Fragmented when it does not fit, and members and elements after the instance', async () => {
    const batches = await instanceOf('Batches');
    const whole = await c.request(mr(Service.ReadTag, sym(batches), count(4)));
    expect(whole.status).toBe(0);
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const data = Buffer.alloc(6);
      data.writeUInt16LE(4, 0);
      data.writeUInt32LE(offset, 2);
      const res = await unconnectedFragment(sim.port, mr(Service.ReadTagFragmented, sym(batches), data));
      expect([0, 0x06]).toContain(res.status);
      parts.push(res.data.subarray(4));
      offset += res.data.length - 4;
      if (res.status === 0) break;
    }
    expect(Buffer.concat(parts)).toEqual(whole.data.subarray(4));
    const grid = await instanceOf('Grid');
    const el = await c.request(mr(Service.ReadTag, [...sym(grid), { type: 'element', index: 1 }, { type: 'element', index: 2 }], count(1)));
    expect(el).toMatchObject({ status: 0 });
    expect(el.data.readUInt16LE(0)).toBe(0xc3);
    const b1 = await instanceOf('B1');
    const name = await c.request(mr(Service.ReadTag, [...sym(b1), { type: 'symbolic', name: 'Recipe' }, { type: 'symbolic', name: 'Name' }], count(1)));
    expect(name.status).toBe(0);
    expect(name.data.toString('latin1', 8, 11)).toBe('mix');
  });

  it('writes a whole structure by instance, and a lone Write Tag sent twice over in one item (as pycomm3 sends it) writes once', async () => {
    const b1 = await instanceOf('B1');
    const current = await c.request(mr(Service.ReadTag, sym(b1), count(1)));
    const value = Buffer.from(current.data.subarray(4));
    value.writeInt32LE(99, 0);
    const write = mr(Service.WriteTag, sym(b1), Buffer.concat([current.data.subarray(0, 4), count(1), value]));
    // pycomm3 1.2 builds a single write's message twice into one SendUnitData item (sequence, message, sequence, message).
    const res = await c.request(Buffer.concat([write, Buffer.from([0x08, 0x00]), write]));
    expect(res.status).toBe(0);
    const again = await c.request(mr(Service.ReadTag, sym(b1), count(1)));
    expect(again.data.readInt32LE(4)).toBe(99);
    // A structure handle that is not the tag's is refused as a Logix refuses it.
    const wrong = Buffer.from(current.data.subarray(0, 4));
    wrong.writeUInt16LE(0x1234, 2);
    expect((await c.request(mr(Service.WriteTag, sym(b1), Buffer.concat([wrong, count(1), value])))).status).toBe(0xff);
  });

  it('an instance that is no symbol answers 0x05', async () => {
    expect((await c.request(mr(Service.ReadTag, sym(0x7fff), count(1)))).status).toBe(0x05);
  });
});

/** One request over a fresh unconnected (504-byte) session, to force partial transfers. */
async function unconnectedFragment(port: number, request: Buffer): Promise<CipResponse> {
  const c = new EipClient({ host: '127.0.0.1', port, route: '1,0', connected: false });
  await c.connect();
  try {
    return await c.request(request);
  } finally {
    await c.close();
  }
}
