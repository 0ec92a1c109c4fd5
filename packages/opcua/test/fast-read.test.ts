/**
 * @module
 * The fast Read path (fast-read.ts) answers exactly what node-opcua's own path answers. Two real
 * servers over the same tags, one with `fastRead` (the default) and one without, get the same
 * Read requests from node-opcua's client — every TimestampsToReturn, MaxAge 0, 60 s and "cached",
 * known and unknown NodeIds, other attributes, IndexRanges, a DataEncoding, Good, Uncertain, Bad
 * and not-yet-read values — and must answer value for value, status for status, timestamp for
 * timestamp. A Read above MaxNodesPerRead is refused with BadTooManyOperations (OPC 10000-4
 * §5.10.2, §7.38) by both.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, type TagValue } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { createOpcUaServer, type OpcUaServer, type ServedTag, type TagProvider } from '@bifrost/opcua';
import type { ClientSession, DataValue, OPCUAClient, ReadValueIdOptions } from 'node-opcua';
import { afterAll, beforeAll, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-fast-read-'));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 250);
/** Timestamps from here on are the servers' own clocks (a Read's time), never T0-based. */
const START = Date.now();
const TAGS: ServedTag[] = [
  { name: 'temp', type: 'LREAL', unit: 'degC', min: -50, max: 150 },
  { name: 'count', type: 'DINT' },
  { name: 'run', type: 'BOOL' },
  { name: 'label', type: 'STRING' },
  { name: 'total', type: 'LINT' },
  { name: 'shaky', type: 'REAL' },
  { name: 'broken', type: 'INT' },
  { name: 'never', type: 'UINT' },
  { name: 'setpoint', type: 'LREAL', writable: true },
];
const LATEST: Record<string, TagValue | undefined> = {
  temp: { address: 'HR0', value: 21.5, quality: 'good', timestamp: T0, sourceTimestamp: T0 - 1500 },
  count: { address: 'HR2', value: 42, quality: 'good', timestamp: T0 },
  run: { address: 'C0', value: true, quality: 'good', timestamp: T0, sourceTimestamp: T0 - 20 },
  label: { address: 'HR10', value: 'line 1', quality: 'good', timestamp: T0 },
  total: { address: 'HR20', value: 9_007_199_254_740_993n, quality: 'good', timestamp: T0 },
  shaky: { address: 'HR30', value: 3.5, quality: 'uncertain', timestamp: T0 },
  broken: { address: 'HR40', value: null, quality: 'bad', timestamp: T0, error: new BifrostError('BIFROST_TIMEOUT', 'no answer') },
  never: undefined,
  setpoint: { address: 'HR50', value: 7, quality: 'good', timestamp: T0 },
};

interface Served {
  server: OpcUaServer;
  events: EventEmitter;
  client: OPCUAClient;
  session: ClientSession;
  /** The last Read's diagnostics (operation-level DiagnosticInfos and the service-level one), as JSON. */
  diagnostics?: string;
}
const fast = {} as Served;
const normal = {} as Served;

async function serve(into: Served, fastRead: boolean): Promise<void> {
  into.events = new EventEmitter();
  const provider: TagProvider = {
    devices: () => [{ name: 'plc', tags: TAGS }],
    latest: (_d, tag) => LATEST[tag],
    write: async () => {},
    on: (event, listener) => into.events.on(event, listener),
  };
  into.server = await createOpcUaServer({
    provider,
    port: await freePort(),
    host: '127.0.0.1',
    pkiDir: join(dir, fastRead ? 'fast' : 'normal'),
    securityPolicies: ['None'],
    securityModes: ['None'],
    operationLimits: { maxNodesPerRead: 50 },
    fastRead,
  });
  into.server.addVariable(['plc'], { name: '$Health', type: 'STRING' }, 'plc.$Health');
  into.server.update(into.server.handle('plc', '$Health'), { address: '$Health', value: 'connected', quality: 'good', timestamp: T0 });
  into.client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await into.client.connect(into.server.endpointUrl);
  into.session = await into.client.createSession();
}

beforeAll(async () => {
  ua = await import('node-opcua');
  await Promise.all([serve(fast, true), serve(normal, false)]);
}, 90_000);

afterAll(async () => {
  for (const s of [fast, normal]) {
    await s.session?.close().catch(() => {});
    await s.client?.disconnect().catch(() => {});
    await s.server?.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A DataValue as comparable data; a timestamp taken during the test (a Read's own clock) reads `now`. */
function plain(dv: DataValue, since: number) {
  const t = (d: Date | null) => (d ? (d.getTime() >= since ? 'now' : d.getTime()) : null);
  // A clock reading's picoseconds are the clock's too.
  const ps = (d: Date | null, p: number) => (t(d) === 'now' ? 'now' : p);
  const v = dv.value;
  return {
    status: dv.statusCode.name,
    dataType: v ? ua.DataType[v.dataType] : null,
    arrayType: v?.arrayType,
    value: v && (ArrayBuffer.isView(v.value) || Array.isArray(v.value)) ? [...(v.value as number[])] : (v?.value ?? null),
    source: t(dv.sourceTimestamp),
    sourcePicoseconds: ps(dv.sourceTimestamp, dv.sourcePicoseconds),
    server: t(dv.serverTimestamp),
    serverPicoseconds: ps(dv.serverTimestamp, dv.serverPicoseconds),
  };
}

async function read(s: Served, nodesToRead: ReadValueIdOptions[], maxAge: number, timestampsToReturn: number): Promise<DataValue[]> {
  // node-opcua's client refuses to build a ReadValueId with an attribute that does not exist: set it after.
  const request = new ua.ReadRequest({ nodesToRead: nodesToRead.map((n) => ({ ...n, attributeId: n.attributeId === NO_SUCH_ATTRIBUTE ? VALUE : n.attributeId })), maxAge, timestampsToReturn });
  nodesToRead.forEach((n, i) => {
    const rv = request.nodesToRead?.[i];
    if (rv && n.attributeId === NO_SUCH_ATTRIBUTE) rv.attributeId = NO_SUCH_ATTRIBUTE;
  });
  // Every diagnostic a client can ask for (OPC 10000-4 §7.32 RequestHeader returnDiagnostics).
  request.requestHeader.returnDiagnostics = 0x3ff;
  const response = await new Promise<InstanceType<Ua['ReadResponse']>>((resolve, reject) =>
    (s.session as unknown as { performMessageTransaction(r: unknown, cb: (e: Error | null, r?: unknown) => void): void }).performMessageTransaction(request, (e, r) =>
      e ? reject(e) : resolve(r as InstanceType<Ua['ReadResponse']>),
    ),
  );
  s.diagnostics = JSON.stringify([response.diagnosticInfos, response.responseHeader.serviceDiagnostics]);
  return response.results ?? [];
}

const id = (tag: string) => `ns=1;s=plc.${tag}`;
const VALUE = 13;
const NO_SUCH_ATTRIBUTE = 99;
const NODES: ReadValueIdOptions[] = [
  ...TAGS.map((t) => ({ nodeId: id(t.name), attributeId: VALUE })),
  { nodeId: 'ns=1;s=plc.$Health', attributeId: VALUE },
  { nodeId: 'ns=1;s=plc.nope', attributeId: VALUE },
  { nodeId: 'ns=7;s=plc.temp', attributeId: VALUE },
  { nodeId: 'ns=1;i=123456', attributeId: VALUE },
  { nodeId: id('temp'), attributeId: 3 /* BrowseName */ },
  { nodeId: id('temp'), attributeId: 14 /* DataType */ },
  { nodeId: id('setpoint'), attributeId: 17 /* AccessLevel */ },
  { nodeId: id('setpoint'), attributeId: 18 /* UserAccessLevel */ },
  { nodeId: id('count'), attributeId: 12 /* EventNotifier: not a Variable's */ },
  { nodeId: id('count'), attributeId: NO_SUCH_ATTRIBUTE },
  { nodeId: 'i=85', attributeId: 3 },
  { nodeId: id('temp'), attributeId: VALUE, indexRange: '0' },
  { nodeId: id('label'), attributeId: VALUE, indexRange: '1:3' },
  { nodeId: id('label'), attributeId: VALUE, indexRange: '9:12' },
  { nodeId: id('label'), attributeId: VALUE, indexRange: '3:1' },
  { nodeId: id('temp'), attributeId: VALUE, dataEncoding: { namespaceIndex: 0, name: 'DefaultXml' } },
  { nodeId: id('temp'), attributeId: VALUE, dataEncoding: { namespaceIndex: 0, name: 'Nonsense' } },
  { nodeId: id('temp'), attributeId: VALUE },
];

it('answers every Read exactly as node-opcua does: values, status codes, timestamps per TimestampsToReturn and MaxAge', async () => {
  const since = START;
  const fast0 = fast.server.fastReadStats?.fast ?? 0;
  // MaxAge 0 first: the Good values' ServerTimestamp becomes the time of the Read (and stays in the
  // cache), which the later Reads with a long MaxAge must then return on both servers.
  for (const maxAge of [2 ** 31, 60_000, 0, 2 ** 31, 60_000]) {
    for (const ttr of [ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Server, ua.TimestampsToReturn.Both, ua.TimestampsToReturn.Neither]) {
      const [a, b] = await Promise.all([read(fast, NODES, maxAge, ttr), read(normal, NODES, maxAge, ttr)]);
      expect(
        a.map((d) => plain(d, since)),
        `maxAge ${maxAge}, TimestampsToReturn ${ua.TimestampsToReturn[ttr]}`,
      ).toEqual(b.map((d) => plain(d, since)));
    }
  }
  // The comparison covers the fast path, the fallbacks and the error answers.
  const sample = (await read(fast, NODES, 0, ua.TimestampsToReturn.Both)).map((d) => d.statusCode.name);
  expect(sample.slice(0, 6)).toEqual(['Good', 'Good', 'Good', 'Good', 'Good', 'Uncertain']);
  expect(sample).toEqual(
    expect.arrayContaining(['BadTimeout', 'BadWaitingForInitialData', 'BadNodeIdUnknown', 'BadAttributeIdInvalid', 'BadIndexRangeNoData', 'BadIndexRangeInvalid', 'BadDataEncodingInvalid']),
  );
  const stats = fast.server.fastReadStats;
  expect(stats && stats.fast - fast0).toBeGreaterThan(0);
  expect(stats?.normal).toBeGreaterThan(0);
  expect(normal.server.fastReadStats).toBeUndefined();
});

it('serves a new value, quality and timestamps as soon as the provider pushes them', async () => {
  const since = START;
  const later = T0 + 60_000;
  for (const s of [fast, normal]) {
    s.events.emit('value', 'plc', 'temp', { address: 'HR0', value: 22.25, quality: 'good', timestamp: later, sourceTimestamp: later - 5 });
    s.events.emit('value', 'plc', 'broken', { address: 'HR40', value: 5, quality: 'good', timestamp: later });
    s.events.emit('value', 'plc', 'count', { address: 'HR2', value: null, quality: 'bad', timestamp: later, error: new BifrostError('BIFROST_NOT_CONNECTED', 'gone') });
  }
  for (const ttr of [ua.TimestampsToReturn.Both, ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Neither]) {
    const [a, b] = await Promise.all([read(fast, NODES, 2 ** 31, ttr), read(normal, NODES, 2 ** 31, ttr)]);
    expect(a.map((d) => plain(d, since))).toEqual(b.map((d) => plain(d, since)));
  }
  const [temp, broken, count] = await read(
    fast,
    [id('temp'), id('broken'), id('count')].map((nodeId) => ({ nodeId, attributeId: VALUE })),
    2 ** 31,
    ua.TimestampsToReturn.Both,
  );
  expect(temp?.value.value).toBe(22.25);
  expect(temp?.sourceTimestamp?.getTime()).toBe(later - 5);
  expect(temp?.serverTimestamp?.getTime()).toBe(later);
  expect(broken?.statusCode.name).toBe('Good');
  expect(count?.statusCode.name).toBe('BadNotConnected');
});

it('Reads in flight together read the same 1,000 values from both', async () => {
  const nodes = Array.from({ length: 50 }, (_, i) => ({ nodeId: id(TAGS[i % TAGS.length]?.name as string), attributeId: VALUE }));
  // 20 Reads of 50 (the servers' MaxNodesPerRead), all in flight at once.
  const reads = (s: Served) => Promise.all(Array.from({ length: 20 }, () => s.session.read(nodes, 2 ** 31)));
  const [a, b] = await Promise.all([reads(fast), reads(normal)]);
  expect(a.flat()).toHaveLength(1000);
  expect(a.flat().map((d) => plain(d, START))).toEqual(b.flat().map((d) => plain(d, START)));
});

it('monitored items sample the same values, qualities and timestamps from both', async () => {
  const tags = ['temp', 'label', 'shaky', 'broken', 'never', '$Health'];
  const watch = async (s: Served) => {
    const sub = await s.session.createSubscription2({ requestedPublishingInterval: 50, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100, publishingEnabled: true });
    const seen = new Map<string, DataValue[]>(tags.map((t) => [t, []]));
    for (const t of tags) {
      const item = await sub.monitor({ nodeId: id(t), attributeId: VALUE }, { samplingInterval: 50, queueSize: 10, discardOldest: true }, ua.TimestampsToReturn.Both);
      item.on('changed', (dv: DataValue) => seen.get(t)?.push(dv));
    }
    return { sub, seen };
  };
  const [a, b] = await Promise.all([watch(fast), watch(normal)]);
  const settled = async (w: typeof a, n: number) => {
    for (let i = 0; i < 100 && [...w.seen.values()].some((v) => v.length < n); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await Promise.all([settled(a, 1), settled(b, 1)]);
  const later = T0 + 120_000;
  for (const s of [fast, normal]) {
    s.events.emit('value', 'plc', 'temp', { address: 'HR0', value: 23.75, quality: 'good', timestamp: later, sourceTimestamp: later - 7 });
    s.events.emit('value', 'plc', 'never', { address: 'HR70', value: 3, quality: 'uncertain', timestamp: later });
  }
  const last = (w: typeof a) => Object.fromEntries(tags.map((t) => [t, w.seen.get(t)?.map((d) => plain(d, START))]));
  const updated = (w: typeof a) => w.seen.get('temp')?.at(-1)?.value.value === 23.75 && w.seen.get('never')?.at(-1)?.statusCode.name === 'Uncertain';
  for (let i = 0; i < 100 && !(updated(a) && updated(b)); i++) await new Promise((r) => setTimeout(r, 50));
  expect(last(a)).toEqual(last(b));
  expect(a.seen.get('temp')?.at(-1)?.value.value).toBe(23.75);
  expect(a.seen.get('never')?.at(-1)?.statusCode.name).toBe('Uncertain');
  await Promise.all([a.sub.terminate(), b.sub.terminate()]);
});

it('reads registered NodeIds (RegisterNodes, OPC 10000-4 §5.8.5) as the nodes they stand for', async () => {
  const nodes = [id('temp'), id('label'), id('broken')];
  const [a, b] = await Promise.all(
    [fast, normal].map(async (s) => {
      const registered = await s.session.registerNodes(nodes);
      return read(
        s,
        registered.map((nodeId) => ({ nodeId, attributeId: VALUE })),
        2 ** 31,
        ua.TimestampsToReturn.Both,
      );
    }),
  );
  expect(a?.map((d) => plain(d, START))).toEqual(b?.map((d) => plain(d, START)));
  expect(a?.map((d) => d.statusCode.name)).toEqual(['Good', 'Good', 'Good']);
});

it('refuses a Read of more nodes than MaxNodesPerRead with BadTooManyOperations, and keeps serving', async () => {
  const nodes = Array.from({ length: 51 }, () => ({ nodeId: id('temp'), attributeId: VALUE }));
  for (const s of [fast, normal]) {
    await expect(read(s, nodes, 0, ua.TimestampsToReturn.Both)).rejects.toThrow(/BadTooManyOperations/);
    const ok = await read(s, nodes.slice(0, 50), 0, ua.TimestampsToReturn.Both);
    expect(ok).toHaveLength(50);
    expect(ok.every((d) => d.statusCode.name === 'Good')).toBe(true);
  }
});
