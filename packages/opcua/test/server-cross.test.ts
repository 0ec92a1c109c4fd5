/**
 * @module
 * Cross-test: a plain node-opcua OPCUAClient against the Bifrost OPC UA server (one server with
 * every endpoint): each security policy and mode, the address space (folders, AnalogItems with
 * EngineeringUnits and EURange), subscriptions fed by the TagProvider, audited writes (allowed,
 * denied, not writable, wrong type, device error), wrong credentials, and an untrusted client
 * certificate that lands in the server's rejected folder until `pkiTrust` trusts it.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditRecord, BifrostError, good, type TagValue, type Value } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { createOpcUaServer, type OpcUaServer, pkiInit, pkiTrust, SECURITY_POLICIES, type ServedDevice, type TagProvider } from '@bifrost/opcua';
import type { ClientSession, OPCUAClient } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-cross-server-'));
const serverPki = join(dir, 'server-pki');
const clientPki = join(dir, 'client-pki');
const auditFile = join(dir, 'audit.jsonl');
let server: OpcUaServer;
let url: string;

class Plant extends EventEmitter implements TagProvider {
  readonly values = new Map<string, TagValue>();
  readonly writes: [string, string, Value, string][] = [];
  devices(): ServedDevice[] {
    return [
      {
        name: 'press1',
        description: 'Hydraulic press',
        tags: [
          { name: 'temperature', type: 'REAL', unit: 'degC', min: 0, max: 200, description: 'Oil temperature' },
          { name: 'setpoint', type: 'LREAL', unit: 'degC', min: 0, max: 200, writable: true },
          { name: 'count', type: 'UDINT' },
          { name: 'recipe', type: 'STRING', writable: true },
          { name: 'jammed', type: 'LINT', writable: true },
        ],
      },
    ];
  }
  latest(device: string, tag: string): TagValue | undefined {
    return this.values.get(`${device}.${tag}`);
  }
  set(tag: string, value: Value): void {
    const tv = good(`press1.${tag}`, value);
    this.values.set(`press1.${tag}`, tv);
    this.emit('value', 'press1', tag, tv);
  }
  async write(device: string, tag: string, value: Value, user: string): Promise<void> {
    this.writes.push([device, tag, value, user]);
    if (tag === 'jammed') throw new BifrostError('BIFROST_TIMEOUT', 'press1 did not answer');
    this.set(tag, value);
  }
}
const plant = new Plant();
plant.set('temperature', 21.5);
plant.set('setpoint', 60);
plant.set('count', 7);

const clients: OPCUAClient[] = [];
async function session(policy: string, mode: string, options: { pki?: string; user?: [string, string] } = {}): Promise<ClientSession> {
  const pki = options.pki ?? clientPki;
  const client = ua.OPCUAClient.create({
    applicationUri: 'urn:bifrost:test-plain-client',
    clientCertificateManager: new ua.OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: false }),
    certificateFile: join(pki, 'own/certs/certificate.pem'),
    privateKeyFile: join(pki, 'own/private/private_key.pem'),
    securityPolicy: (ua.SecurityPolicy as Record<string, string>)[policy] as never,
    securityMode: (ua.MessageSecurityMode as unknown as Record<string, number>)[mode] as never,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  clients.push(client);
  await client.connect(url);
  return client.createSession(options.user ? { type: ua.UserTokenType.UserName, userName: options.user[0], password: options.user[1] } : undefined);
}

beforeAll(async () => {
  ua = (await import('node-opcua')) as Ua;
  const port = await freePort();
  const client = await pkiInit({ dir: clientPki, applicationUri: 'urn:bifrost:test-plain-client' });
  await pkiTrust({ dir: serverPki, thumbprintOrFile: client.certificateFile });
  server = await createOpcUaServer({
    provider: plant,
    host: '127.0.0.1',
    port,
    pkiDir: serverPki,
    users: { operator: 'secret', viewer: 'look' },
    writeUsers: ['operator'],
    audit: new AuditLog(auditFile),
  });
  url = `opc.tcp://127.0.0.1:${port}`;
  await pkiTrust({ dir: clientPki, thumbprintOrFile: join(serverPki, 'own/certs/certificate.pem') });
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.disconnect().catch(() => {});
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const audit = (): (AuditRecord & { time: string })[] =>
  readFileSync(auditFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('plain node-opcua client → Bifrost server: security', () => {
  const combos = [['None', 'None'], ...SECURITY_POLICIES.filter((p) => p !== 'None').flatMap((p) => [[p, 'Sign'] as const, [p, 'SignAndEncrypt'] as const])] as const;
  for (const [policy, mode] of combos) {
    it(`reads a tag over ${policy} / ${mode}`, async () => {
      const s = await session(policy, mode);
      const dv = await s.read({ nodeId: 'ns=1;s=press1.temperature', attributeId: ua.AttributeIds.Value });
      expect(dv.statusCode.name).toBe('Good');
      expect(dv.value.dataType).toBe(ua.DataType.Float);
      expect(dv.value.value).toBe(21.5);
      await s.close();
    });
  }

  it('offers exactly the configured endpoints', async () => {
    const s = await session('None', 'None');
    const endpoints = await (clients.at(-1) as OPCUAClient).getEndpoints();
    const offered = endpoints.map((e) => `${e.securityPolicyUri?.split('#')[1]}/${ua.MessageSecurityMode[e.securityMode]}`).sort();
    expect(offered).toEqual([
      'Aes128_Sha256_RsaOaep/Sign',
      'Aes128_Sha256_RsaOaep/SignAndEncrypt',
      'Aes256_Sha256_RsaPss/Sign',
      'Aes256_Sha256_RsaPss/SignAndEncrypt',
      'Basic256Sha256/Sign',
      'Basic256Sha256/SignAndEncrypt',
      'None/None',
    ]);
    await s.close();
  });

  it('refuses a wrong password', async () => {
    const err = await session('Basic256Sha256', 'SignAndEncrypt', { user: ['operator', 'wrong'] }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected/);
  });

  it('puts an untrusted client certificate in <pki>/rejected until pkiTrust trusts it', async () => {
    const strangerPki = join(dir, 'stranger');
    const stranger = await pkiInit({ dir: strangerPki, applicationUri: 'urn:bifrost:test-plain-client', commonName: 'stranger' });
    await pkiTrust({ dir: strangerPki, thumbprintOrFile: join(serverPki, 'own/certs/certificate.pem') });
    const err = await session('Basic256Sha256', 'Sign', { pki: strangerPki }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const thumb = stranger.certificate.thumbprint;
    expect(readdirSync(join(serverPki, 'rejected')).some((f) => f.includes(thumb))).toBe(true);
    const trusted = await pkiTrust({ dir: serverPki, thumbprintOrFile: thumb });
    expect(trusted.from).toContain(join(serverPki, 'rejected'));
    // The running server rescans its trust list (node-opcua-pki polls the folders every 5 s).
    const s = await waitFor(() => session('Basic256Sha256', 'Sign', { pki: strangerPki }).catch(() => undefined), 20_000, 500);
    expect((await s.read({ nodeId: 'ns=1;s=press1.count', attributeId: 13 })).value.value).toBe(7);
    await s.close();
  }, 30_000);
});

describe('plain node-opcua client → Bifrost server: address space and writes', () => {
  let s: ClientSession;
  let operator: ClientSession;
  beforeAll(async () => {
    s = await session('None', 'None');
    operator = await session('Basic256Sha256', 'SignAndEncrypt', { user: ['operator', 'secret'] });
  });

  it('exposes a folder per device with AnalogItems carrying EngineeringUnits and EURange', async () => {
    const objects = await s.browse('i=85');
    expect(objects.references?.map((r) => r.browseName.toString())).toContain('1:press1');
    const tags = await s.browse('ns=1;s=press1');
    expect(tags.references?.map((r) => r.browseName.name).sort()).toEqual(['count', 'jammed', 'recipe', 'setpoint', 'temperature']);
    const props = await s.browse('ns=1;s=press1.temperature');
    const eu = props.references?.find((r) => r.browseName.name === 'EngineeringUnits');
    const range = props.references?.find((r) => r.browseName.name === 'EURange');
    const [euValue, rangeValue, description, typeDef] = await s.read([
      { nodeId: eu?.nodeId, attributeId: 13 },
      { nodeId: range?.nodeId, attributeId: 13 },
      { nodeId: 'ns=1;s=press1.temperature', attributeId: ua.AttributeIds.Description },
      { nodeId: 'ns=1;s=press1.setpoint', attributeId: ua.AttributeIds.AccessLevel },
    ]);
    expect(euValue?.value.value.displayName.text).toBe('°C');
    expect(rangeValue?.value.value).toMatchObject({ low: 0, high: 200 });
    expect(description?.value.value.text).toBe('Oil temperature');
    expect(typeDef?.value.value & 0x02).toBe(0x02);
  });

  it('pushes provider values to a subscription', async () => {
    const sub = await s.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
    const item = await sub.monitor({ nodeId: 'ns=1;s=press1.count', attributeId: 13 }, { samplingInterval: 20, queueSize: 10, discardOldest: true }, ua.TimestampsToReturn.Both);
    const seen: number[] = [];
    item.on('changed', (dv) => seen.push(dv.value.value as number));
    await waitFor(() => seen.includes(7), 5000);
    plant.set('count', 8);
    plant.set('count', 9);
    await waitFor(() => seen.includes(9), 5000);
    await sub.terminate();
  });

  it('passes a writable tag write to the device with the user name, and audit-logs it', async () => {
    const status = await operator.write({ nodeId: 'ns=1;s=press1.setpoint', attributeId: 13, value: { value: new ua.Variant({ dataType: ua.DataType.Double, value: 75.5 }) } });
    expect(status.name).toBe('Good');
    expect(plant.writes.at(-1)).toEqual(['press1', 'setpoint', 75.5, 'operator']);
    expect((await s.read({ nodeId: 'ns=1;s=press1.setpoint', attributeId: 13 })).value.value).toBe(75.5);
    expect(audit().at(-1)).toMatchObject({ user: 'operator', source: 'opcua', device: 'press1', tag: 'setpoint', oldValue: 60, newValue: 75.5, result: 'ok' });
  });

  it('denies a write by a user not in writeUsers with BadUserAccessDenied, audited, device untouched', async () => {
    const before = plant.writes.length;
    const status = await s.write({ nodeId: 'ns=1;s=press1.recipe', attributeId: 13, value: { value: new ua.Variant({ dataType: ua.DataType.String, value: 'X' }) } });
    expect(status.name).toBe('BadUserAccessDenied');
    expect(plant.writes.length).toBe(before);
    expect(audit().at(-1)).toMatchObject({ user: 'anonymous', tag: 'recipe', result: 'denied' });
  });

  it('refuses a read-only tag with BadNotWritable and a wrong type with BadTypeMismatch, without reaching the device', async () => {
    const before = plant.writes.length;
    const ro = await operator.write({ nodeId: 'ns=1;s=press1.temperature', attributeId: 13, value: { value: new ua.Variant({ dataType: ua.DataType.Float, value: 1 }) } });
    expect(ro.name).toBe('BadNotWritable');
    const wrong = await operator.write({ nodeId: 'ns=1;s=press1.setpoint', attributeId: 13, value: { value: new ua.Variant({ dataType: ua.DataType.String, value: 'hot' }) } });
    expect(wrong.name).toBe('BadTypeMismatch');
    expect(plant.writes.length).toBe(before);
    await waitFor(() => audit().some((r) => r.tag === 'temperature' && r.result === 'denied' && r.user === 'operator' && r.newValue === 1), 5000);
  });

  it('answers a device failure with a bad StatusCode and audits the error', async () => {
    const status = await operator.write({
      nodeId: 'ns=1;s=press1.jammed',
      attributeId: 13,
      value: { value: new ua.Variant({ dataType: ua.DataType.Int64, arrayType: ua.VariantArrayType.Scalar, value: [0, 5] }) },
    });
    expect(status.isGood()).toBe(false);
    expect(plant.writes.at(-1)).toEqual(['press1', 'jammed', 5n, 'operator']);
    expect(audit().at(-1)).toMatchObject({ tag: 'jammed', newValue: '5', result: 'error', error: { code: 'BIFROST_TIMEOUT' } });
  });

  it('reports a tag without a value yet as BadWaitingForInitialData', async () => {
    const dv = await s.read({ nodeId: 'ns=1;s=press1.recipe', attributeId: 13 });
    expect(dv.statusCode.name).toBe('BadWaitingForInitialData');
  });
});
