/**
 * @module
 * Cross-test: the Bifrost client against a plain node-opcua OPCUAServer built here (not the
 * Bifrost server), over every security policy and mode of the issue, with anonymous, user name
 * and X.509 identities, wrong credentials, untrusted certificates both ways, operation-limit
 * chunking, browse, method calls, data types, deadbands, and a server that goes away and comes back.
 */
import diagnostics from 'node:diagnostics_channel';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect, type Device, type TagValue } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { type OpcUaDevice, pkiInit, pkiTrust, SECURITY_POLICIES } from '@bifrost/opcua';
import type { OPCUAServer, UAVariable } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-cross-client-'));
const serverPki = join(dir, 'server-pki');
const clientPki = join(dir, 'client-pki');
let port: number;
let url: string;
let server: OPCUAServer;
let temp: UAVariable;
let counter: UAVariable;

async function startPlainServer(): Promise<OPCUAServer> {
  const own = await pkiInit({ dir: serverPki, applicationUri: 'urn:test:plain-node-opcua-server', commonName: 'plain-server' });
  const s = new ua.OPCUAServer({
    port,
    host: '127.0.0.1',
    serverCertificateManager: new ua.OPCUACertificateManager({ rootFolder: serverPki, automaticallyAcceptUnknownCertificate: false }),
    userCertificateManager: new ua.OPCUACertificateManager({ rootFolder: join(serverPki, 'users'), automaticallyAcceptUnknownCertificate: false }),
    certificateFile: own.certificateFile,
    privateKeyFile: own.privateKeyFile,
    serverInfo: { applicationUri: 'urn:test:plain-node-opcua-server' },
    buildInfo: { productName: 'plain node-opcua', manufacturerName: 'test-suite', softwareVersion: '9.9.9' },
    securityPolicies: [ua.SecurityPolicy.None, ua.SecurityPolicy.Basic256Sha256, ua.SecurityPolicy.Aes128_Sha256_RsaOaep, ua.SecurityPolicy.Aes256_Sha256_RsaPss],
    securityModes: [ua.MessageSecurityMode.None, ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
    userManager: { isValidUser: (u: string, p: string) => u === 'alice' && p === 'wonderland' },
    serverCapabilities: { operationLimits: { maxNodesPerRead: 5, maxMonitoredItemsPerCall: 3 } },
    nodeset_filename: [ua.nodesets.standard],
    disableDiscovery: true,
  });
  await s.initialize();
  const addressSpace = s.engine.addressSpace as NonNullable<typeof s.engine.addressSpace>;
  const ns = addressSpace.getOwnNamespace();
  const plant = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Plant', nodeId: 's=Plant' });
  temp = ns.addAnalogDataItem({
    componentOf: plant,
    browseName: 'Temp',
    nodeId: 's=Plant.Temp',
    dataType: 'Double',
    engineeringUnitsRange: { low: 0, high: 100 },
    engineeringUnits: ua.standardUnits.degree_celsius,
    accessLevel: 'CurrentRead',
    userAccessLevel: 'CurrentRead',
    value: new ua.Variant({ dataType: ua.DataType.Double, value: 20 }),
  }) as unknown as UAVariable;
  counter = ns.addVariable({
    componentOf: plant,
    browseName: 'Counter',
    nodeId: 's=Plant.Counter',
    dataType: 'Int32',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    value: new ua.Variant({ dataType: ua.DataType.Int32, value: 0 }),
  });
  const v = (browseName: string, dataType: string, value: unknown, extra: Record<string, unknown> = {}) =>
    ns.addVariable({
      componentOf: plant,
      browseName,
      nodeId: `s=Plant.${browseName}`,
      dataType,
      value: new ua.Variant({ dataType: ua.DataType[dataType as 'Double'], value, ...extra } as never),
      ...extra,
    });
  v('Big', 'Int64', [0xffffffff, 0xfffffffe], { arrayType: ua.VariantArrayType.Scalar });
  v('Vector', 'Double', [1.5, 2.5, 3.5], { arrayType: ua.VariantArrayType.Array, valueRank: 1 });
  v('Label', 'LocalizedText', new ua.LocalizedText({ text: 'Ofen', locale: 'de' }));
  v('Stamp', 'DateTime', new Date('2025-01-01T00:00:00Z'));
  v('Blob', 'ByteString', Buffer.from([1, 2, 3]));
  ns.addVariable({
    componentOf: plant,
    browseName: 'Locked',
    nodeId: 's=Plant.Locked',
    dataType: 'Double',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead',
    value: new ua.Variant({ dataType: ua.DataType.Double, value: 1 }),
  });
  const sub = ns.addFolder(plant, { browseName: 'Sub', nodeId: 's=Plant.Sub' });
  ns.addVariable({ componentOf: sub, browseName: 'Deep', nodeId: 's=Plant.Sub.Deep', dataType: 'Boolean', value: new ua.Variant({ dataType: ua.DataType.Boolean, value: true }) });
  const add = ns.addMethod(plant, {
    browseName: 'Add',
    nodeId: 's=Plant.Add',
    inputArguments: [
      { name: 'a', dataType: ua.DataType.Double },
      { name: 'b', dataType: ua.DataType.Double },
    ],
    outputArguments: [{ name: 'sum', dataType: ua.DataType.Double }],
  });
  add.bindMethod(async (args, _context) => ({
    statusCode: ua.StatusCodes.Good,
    outputArguments: [new ua.Variant({ dataType: ua.DataType.Double, value: Number(args[0]?.value) + Number(args[1]?.value) })],
  }));
  await s.start();
  return s;
}

beforeAll(async () => {
  ua = (await import('node-opcua')) as Ua;
  port = await freePort();
  url = `opc.tcp://127.0.0.1:${port}`;
  server = await startPlainServer();
  // Mutual trust for the secured channels: each side's certificate in the other's trusted list.
  const client = await pkiInit({ dir: clientPki });
  await pkiTrust({ dir: serverPki, thumbprintOrFile: client.certificateFile });
  await pkiTrust({ dir: clientPki, thumbprintOrFile: join(serverPki, 'own/certs/certificate.pem') });
}, 60_000);

afterAll(async () => {
  await server?.shutdown(0).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const open = (query = '', options: Record<string, unknown> = {}) =>
  connect(`${url}${query}`, { pkiDir: clientPki, requestTimeoutMs: 2000, backoff: { baseMs: 50, maxMs: 300 }, ...options }) as Promise<OpcUaDevice>;

async function failure(p: Promise<unknown>): Promise<BifrostError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BifrostError);
  return e as BifrostError;
}

describe('Bifrost client → plain node-opcua server: security', () => {
  const combos = [['None', 'None'], ...SECURITY_POLICIES.filter((p) => p !== 'None').flatMap((p) => [[p, 'Sign'] as const, [p, 'SignAndEncrypt'] as const])] as const;
  for (const [policy, mode] of combos) {
    it(`reads and writes over ${policy} / ${mode}`, async () => {
      await using plc = await open(`?securityPolicy=${policy}&securityMode=${mode}`);
      expect(plc.security).toEqual({ securityPolicy: policy, securityMode: mode });
      const id = await plc.identify();
      expect(id).toMatchObject({ protocol: 'opcua', vendor: 'test-suite', product: 'plain node-opcua', firmware: '9.9.9', securityPolicy: policy, securityMode: mode });
      const n = Math.floor(Math.random() * 1000);
      await plc.write('ns=1;s=Plant.Counter', n);
      expect((await plc.read('ns=1;s=Plant.Counter')).value).toBe(n);
    });
  }

  it('selects the most secure endpoint from GetEndpoints with securityPolicy=auto', async () => {
    await using plc = await open('?securityPolicy=auto');
    expect(plc.security?.securityMode).toBe('SignAndEncrypt');
    expect(plc.security?.securityPolicy).not.toBe('None');
    expect((await plc.read('ns=1;s=Plant.Temp')).quality).toBe('good');
  });

  it('logs in with a user name and password from the URL', async () => {
    await using plc = await connect(`opc.tcp://alice:wonderland@127.0.0.1:${port}?securityPolicy=Basic256Sha256&securityMode=SignAndEncrypt`, { pkiDir: clientPki });
    expect((await plc.read('ns=1;s=Plant.Temp')).quality).toBe('good');
    expect(plc.name).not.toContain('wonderland');
  });

  it('refuses a wrong password with BIFROST_OPCUA_BAD_CREDENTIALS and the StatusCode name', async () => {
    const err = await failure(connect(`opc.tcp://alice:wrong@127.0.0.1:${port}`, { pkiDir: clientPki }));
    expect(err.code).toBe('BIFROST_OPCUA_BAD_CREDENTIALS');
    expect(err.statusName).toMatch(/^Bad/);
    expect(err.message).toContain('username');
  });

  it('logs in with an X.509 user certificate the server trusts', async () => {
    const user = await pkiInit({ dir: join(dir, 'user-x509'), commonName: 'operator-x509', applicationUri: 'urn:test:operator' });
    await pkiTrust({ dir: join(serverPki, 'users'), thumbprintOrFile: user.certificateFile });
    await using plc = await open('?securityPolicy=Basic256Sha256&securityMode=Sign', { userCertificateFile: user.certificateFile, userPrivateKeyFile: user.privateKeyFile });
    expect((await plc.read('ns=1;s=Plant.Temp')).quality).toBe('good');
  });

  it('reports an untrusted client certificate: where it landed and the command that trusts it', async () => {
    const strangerPki = join(dir, 'stranger');
    const stranger = await pkiInit({ dir: strangerPki, commonName: 'stranger' });
    await pkiTrust({ dir: strangerPki, thumbprintOrFile: join(serverPki, 'own/certs/certificate.pem') });
    const err = await failure(connect(`${url}?securityPolicy=Basic256Sha256&securityMode=Sign`, { pkiDir: strangerPki }));
    expect(err.code).toBe('BIFROST_OPCUA_CERTIFICATE_UNTRUSTED');
    expect(err.statusName).toBe('BadSecurityChecksFailed');
    const thumb = stranger.certificate.thumbprint;
    expect(err.message).toContain(`bifrost pki trust ${thumb}`);
    // The server really put it in its rejected folder, under that thumbprint.
    expect(readdirSync(join(serverPki, 'rejected')).some((f) => f.includes(thumb))).toBe(true);
  });

  it('reports an untrusted server certificate with the file it was saved to; trusting that file lets the client in', async () => {
    const wary = join(dir, 'wary');
    await pkiInit({ dir: wary });
    // The server must trust this client, so that only the client's own check fails.
    await pkiTrust({ dir: serverPki, thumbprintOrFile: join(wary, 'own/certs/certificate.pem') });
    const err = await failure(connect(`${url}?securityPolicy=Aes128_Sha256_RsaOaep&securityMode=SignAndEncrypt`, { pkiDir: wary }));
    expect(err.code).toBe('BIFROST_OPCUA_CERTIFICATE_UNTRUSTED');
    const file = (err.details as { file: string }).file;
    expect(file.startsWith(join(wary, 'rejected'))).toBe(true);
    expect(existsSync(file)).toBe(true);
    expect(err.message).toContain(`bifrost pki trust ${file}`);
    await pkiTrust({ dir: wary, thumbprintOrFile: file });
    await using plc = await connect(`${url}?securityPolicy=Aes128_Sha256_RsaOaep&securityMode=SignAndEncrypt`, { pkiDir: wary });
    expect((await plc.read('ns=1;s=Plant.Temp')).quality).toBe('good');
  });
});

describe('Bifrost client → plain node-opcua server: services', () => {
  let plc: OpcUaDevice;
  beforeAll(async () => {
    plc = await open();
  });
  afterAll(() => plc?.close());

  it('maps OPC UA types: Int64 → bigint, arrays, LocalizedText → text, DateTime, ByteString', async () => {
    const [big, vector, label, stamp, blob] = await plc.readMany(['ns=1;s=Plant.Big', 'ns=1;s=Plant.Vector', 'ns=1;s=Plant.Label', 'ns=1;s=Plant.Stamp', 'ns=1;s=Plant.Blob']);
    expect(big?.value).toBe(-2n);
    expect(vector?.value).toEqual([1.5, 2.5, 3.5]);
    expect(label?.value).toBe('Ofen');
    expect(stamp?.value).toEqual(new Date('2025-01-01T00:00:00Z'));
    expect(blob?.value).toEqual(Uint8Array.of(1, 2, 3));
    await plc.write('ns=1;s=Plant.Vector', [9, 8, 7]);
    expect((await plc.read('ns=1;s=Plant.Vector')).value).toEqual([9, 8, 7]);
    await plc.write('ns=1;s=Plant.Big', -(2n ** 60n));
    expect((await plc.read('ns=1;s=Plant.Big')).value).toBe(-(2n ** 60n));
  });

  it('splits a bulk read by the server MaxNodesPerRead (5) and keeps the order', async () => {
    expect(plc.operationLimits.maxNodesPerRead).toBe(5);
    const addresses = Array.from({ length: 23 }, (_, i) => (i % 2 ? 'ns=1;s=Plant.Temp' : 'ns=1;s=Plant.Counter'));
    addresses[11] = 'ns=1;s=Plant.Missing';
    const sizes: number[] = [];
    const onRequest = (m: unknown) => sizes.push((m as { nodes: number }).nodes);
    diagnostics.subscribe('bifrost:opcua:request', onRequest);
    const values = await plc.readMany(addresses);
    diagnostics.unsubscribe('bifrost:opcua:request', onRequest);
    expect(sizes).toEqual([5, 5, 5, 5, 3]);
    expect(values.map((v) => v.address)).toEqual(addresses);
    expect(values.filter((v) => v.quality === 'good')).toHaveLength(22);
    expect(values[11]?.error?.statusName).toBe('BadNodeIdUnknown');
  });

  it('gives typed errors carrying the StatusCode name: unknown node, wrong type, access denied', async () => {
    const unknown = await failure(plc.read('ns=1;s=Plant.Nope'));
    expect([unknown.code, unknown.statusName, unknown.address]).toEqual(['BIFROST_OPCUA_NODE_ID_UNKNOWN', 'BadNodeIdUnknown', 'ns=1;s=Plant.Nope']);
    const path = await failure(plc.read('/Objects/Plant/Nope'));
    expect([path.code, path.statusName]).toEqual(['BIFROST_OPCUA_NODE_ID_UNKNOWN', 'BadNoMatch']);
    const wrongType = await failure(plc.write('ns=1;s=Plant.Counter', 'twelve'));
    expect([wrongType.code, wrongType.statusName]).toEqual(['BIFROST_OPCUA_TYPE_MISMATCH', 'BadTypeMismatch']);
    expect(wrongType.message).toContain('Int32');
    const range = await failure(plc.write('ns=1;s=Plant.Counter', 2 ** 40));
    expect(range.code).toBe('BIFROST_VALUE_OUT_OF_RANGE');
    const denied = await failure(plc.write('ns=1;s=Plant.Locked', 2));
    expect([denied.code, denied.statusName]).toEqual(['BIFROST_OPCUA_ACCESS_DENIED', 'BadUserAccessDenied']);
    const readOnly = await failure(plc.write('ns=1;s=Plant.Deep', false).catch((e) => Promise.reject(e)));
    expect(readOnly.code).toBe('BIFROST_OPCUA_NODE_ID_UNKNOWN');
    expect(plc.health).not.toBe('disconnected');
  });

  it('resolves browse paths, with and without namespace indexes', async () => {
    expect(await plc.resolveNodeId('/Objects/Plant/Sub/Deep')).toBe('ns=1;s=Plant.Sub.Deep');
    expect(await plc.resolveNodeId('/Objects/1:Plant/1:Temp')).toBe('ns=1;s=Plant.Temp');
    expect(await plc.resolveNodeId('/Objects/Server')).toBe('i=2253');
    expect(await plc.resolveNodeId('/')).toBe('i=84');
    expect((await plc.browse('/')).map((n) => n.name)).toEqual(expect.arrayContaining(['Objects', 'Types', 'Views']));
  });

  it('browses recursively to the depth limit, reporting progress', async () => {
    const progress: [number, string][] = [];
    const one = await plc.browse('/Objects/Plant', { depth: 1 });
    const sub = one.find((n) => n.name === 'Sub');
    expect(sub?.kind).toBe('folder');
    expect(sub?.children).toEqual([]);
    const two = await plc.browse('/Objects/Plant', { depth: 2, onProgress: (n, p) => progress.push([n, p]) });
    expect(two.find((n) => n.name === 'Sub')?.children?.map((c) => c.name)).toEqual(['Deep']);
    expect(two.find((n) => n.name === 'Temp')).toMatchObject({ kind: 'tag', type: 'LREAL', address: 'ns=1;s=Plant.Temp', writable: false });
    expect(two.find((n) => n.name === 'Counter')).toMatchObject({ type: 'DINT', writable: true });
    expect(two.find((n) => n.name === 'Vector')).toMatchObject({ type: 'LREAL', dimensions: [0] });
    expect(two.find((n) => n.name === 'Add')?.kind).toBe('method');
    expect(progress.map(([n]) => n)).toEqual(progress.map((_, i) => i + 1));
    expect(progress.at(-1)?.[1]).toBe('/Objects/Plant/1:Sub/1:Deep');
  });

  it('calls a method with typed arguments', async () => {
    expect(await plc.call('ns=1;s=Plant', 'ns=1;s=Plant.Add', [2, 3.5])).toEqual([5.5]);
    expect(await plc.call('/Objects/Plant', '/Objects/Plant/Add', ['1', '2'])).toEqual([3]);
    const err = await failure(plc.call('ns=1;s=Plant', 'ns=1;s=Plant.Add', [1]));
    expect(err.statusName).toBe('BadArgumentsMissing');
  });

  it('subscribes with an absolute deadband (server-side DataChangeFilter)', async () => {
    const set = (v: number) => counter.setValueFromSource(new ua.Variant({ dataType: ua.DataType.Int32, value: v }));
    set(100);
    const ac = new AbortController();
    const it = plc.subscribe(['ns=1;s=Plant.Counter', 'ns=1;s=Plant.Label'], { intervalMs: 50, deadband: 10, signal: ac.signal });
    const first = (await it.next()).value as TagValue[];
    const seen = new Map(first.map((v) => [v.address, v.value]));
    expect(seen.get('ns=1;s=Plant.Counter')).toBe(100);
    const values: unknown[] = [];
    set(105);
    await new Promise((r) => setTimeout(r, 200));
    set(120);
    await waitFor(async () => {
      const r = await it.next();
      for (const v of r.value as TagValue[]) if (v.address === 'ns=1;s=Plant.Counter') values.push(v.value);
      return values.includes(120);
    }, 5000);
    ac.abort();
    await it.return?.(undefined);
    expect(values).toEqual([120]);
  });

  it('subscribes with a percent deadband against the EURange of an AnalogItem', async () => {
    const set = (v: number) => temp.setValueFromSource(new ua.Variant({ dataType: ua.DataType.Double, value: v }));
    set(50);
    const ac = new AbortController();
    const it = plc.subscribe(['ns=1;s=Plant.Temp'], { intervalMs: 50, deadband: 10, deadbandType: 'percent', queueSize: 5, signal: ac.signal });
    expect(((await it.next()).value as TagValue[])[0]?.value).toBe(50);
    const values: unknown[] = [];
    set(55); // 5 % of 0..100: filtered
    await new Promise((r) => setTimeout(r, 200));
    set(75); // 25 %: reported
    await waitFor(async () => {
      const r = await it.next();
      for (const v of r.value as TagValue[]) values.push(v.value);
      return values.includes(75);
    }, 5000);
    ac.abort();
    await it.return?.(undefined);
    expect(values).toEqual([75]);
  });

  it('chunks monitored items by MaxMonitoredItemsPerCall and reports bad addresses in the first batch', async () => {
    const addresses = ['ns=1;s=Plant.Temp', 'ns=1;s=Plant.Counter', 'ns=1;s=Plant.Label', 'ns=1;s=Plant.Stamp', 'ns=1;s=Plant.Gone', 'bad address'];
    const ac = new AbortController();
    const got = new Map<string, TagValue>();
    for await (const batch of plc.subscribe(addresses, { intervalMs: 50, signal: ac.signal })) {
      for (const v of batch) got.set(v.address, v);
      if (got.size === addresses.length) break;
    }
    expect(got.get('ns=1;s=Plant.Gone')?.error?.statusName).toBe('BadNodeIdUnknown');
    expect(got.get('bad address')?.error?.code).toBe('BIFROST_INVALID_ADDRESS');
    expect([...got.values()].filter((v) => v.quality === 'good')).toHaveLength(4);
  });
});

describe('Bifrost client → plain node-opcua server: server gone', () => {
  it('turns a dead server into bad values, reconnects, and restores the subscription', async () => {
    const plc: Device = await open('?securityPolicy=Basic256Sha256&securityMode=SignAndEncrypt');
    const ac = new AbortController();
    const it = plc.subscribe(['ns=1;s=Plant.Counter'], { intervalMs: 50, signal: ac.signal });
    expect(((await it.next()).value as TagValue[])[0]?.quality).toBe('good');
    await server.shutdown(0);
    const down = (await it.next()).value as TagValue[];
    expect(down[0]?.quality).toBe('bad');
    expect(down[0]?.error?.code).toMatch(/BIFROST_(CONNECTION_LOST|NOT_CONNECTED|CONNECTION_REFUSED)/);
    const readDown = await plc.readMany(['ns=1;s=Plant.Counter']);
    expect(readDown[0]?.quality).toBe('bad');
    server = await startPlainServer();
    counter.setValueFromSource(new ua.Variant({ dataType: ua.DataType.Int32, value: 4242 }));
    await waitFor(async () => {
      const r = await it.next();
      return (r.value as TagValue[]).some((v) => v.quality === 'good' && v.value === 4242);
    }, 20_000);
    counter.setValueFromSource(new ua.Variant({ dataType: ua.DataType.Int32, value: 4343 }));
    await waitFor(async () => ((await it.next()).value as TagValue[]).some((v) => v.value === 4343), 5000);
    expect(plc.health).toBe('connected');
    ac.abort();
    await it.return?.(undefined);
    await plc.close();
  }, 45_000);
});
