/**
 * @module
 * Cross-test: node-opcua's OPCUAClient against `bifrost simulate opcua`'s simulator, started in
 * process with `startSimulator` as the CLI starts it: browse the plant, read values, the
 * EngineeringUnits and EURange of an AnalogItem, a subscription that follows the moving signals,
 * a write to a writable setpoint, and a write to a read-only variable refused with BadNotWritable.
 * (asyncua, the Python client, was run against the same simulator by hand: issue 24.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningSimulator } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { pkiInit, pkiTrust, startSimulator } from '@bifrost/opcua';
import type { ClientSession, OPCUAClient } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-client-vs-sim-'));
const serverPki = join(dir, 'server-pki');
const clientPki = join(dir, 'client-pki');
let sim: RunningSimulator;
let client: OPCUAClient;
let s: ClientSession;

beforeAll(async () => {
  ua = (await import('node-opcua')) as Ua;
  sim = await startSimulator({ port: 0, config: { pkiDir: serverPki, updateMs: 50 } });
  await pkiInit({ dir: clientPki, applicationUri: 'urn:bifrost:test-node-opcua-client' });
  await pkiTrust({ dir: clientPki, thumbprintOrFile: join(serverPki, 'own/certs/certificate.pem') });
  client = ua.OPCUAClient.create({
    applicationUri: 'urn:bifrost:test-node-opcua-client',
    clientCertificateManager: new ua.OPCUACertificateManager({ rootFolder: clientPki, automaticallyAcceptUnknownCertificate: false }),
    certificateFile: join(clientPki, 'own/certs/certificate.pem'),
    privateKeyFile: join(clientPki, 'own/private/private_key.pem'),
    securityPolicy: ua.SecurityPolicy.None,
    securityMode: ua.MessageSecurityMode.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  await client.connect(sim.url);
  s = await client.createSession();
}, 60_000);

afterAll(async () => {
  await s?.close().catch(() => {});
  await client?.disconnect().catch(() => {});
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('node-opcua OPCUAClient → Bifrost OPC UA simulator', () => {
  it('browses Objects → Line1 and Types, with every tag of the plant', async () => {
    const objects = await s.browse('i=85');
    const names = objects.references?.map((r) => r.browseName.toString());
    expect(names).toEqual(expect.arrayContaining(['1:Line1', '1:Types']));
    const line = await s.browse('ns=1;s=Line1');
    expect(line.references?.map((r) => r.browseName.name).sort()).toEqual(['Count', 'Level', 'Mode', 'Pressure', 'Running', 'Setpoint', 'Speed', 'Temperature']);
    const types = await s.browse('ns=1;s=Types');
    expect(types.references?.length).toBe(14);
  });

  it('reads values with their data types', async () => {
    const [temp, mode, running, lint] = await s.read([
      { nodeId: 'ns=1;s=Line1.Temperature', attributeId: ua.AttributeIds.Value },
      { nodeId: 'ns=1;s=Line1.Mode', attributeId: ua.AttributeIds.Value },
      { nodeId: 'ns=1;s=Line1.Running', attributeId: ua.AttributeIds.Value },
      { nodeId: 'ns=1;s=Types.LInt', attributeId: ua.AttributeIds.Value },
    ]);
    expect(temp?.statusCode.name).toBe('Good');
    expect(temp?.value.dataType).toBe(ua.DataType.Double);
    expect(temp?.value.value).toBeGreaterThan(60);
    expect(mode?.value).toMatchObject({ dataType: ua.DataType.String, value: 'auto' });
    expect(running?.value.dataType).toBe(ua.DataType.Boolean);
    expect(lint?.value.dataType).toBe(ua.DataType.Int64);
  });

  it('exposes EngineeringUnits and EURange on an AnalogItem', async () => {
    const props = await s.browse('ns=1;s=Line1.Temperature');
    const eu = props.references?.find((r) => r.browseName.name === 'EngineeringUnits');
    const range = props.references?.find((r) => r.browseName.name === 'EURange');
    expect(eu && range).toBeTruthy();
    const [euValue, rangeValue, description] = await s.read([
      { nodeId: eu?.nodeId, attributeId: ua.AttributeIds.Value },
      { nodeId: range?.nodeId, attributeId: ua.AttributeIds.Value },
      { nodeId: 'ns=1;s=Line1.Temperature', attributeId: ua.AttributeIds.Description },
    ]);
    expect(euValue?.value.value.displayName.text).toBe('°C');
    expect(rangeValue?.value.value).toMatchObject({ low: 0, high: 150 });
    expect(description?.value.value.text).toBe('Oven temperature');
  });

  it('delivers the moving Count through a subscription', async () => {
    const sub = await s.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
    try {
      const item = await sub.monitor({ nodeId: 'ns=1;s=Line1.Count', attributeId: ua.AttributeIds.Value }, { samplingInterval: 20, queueSize: 10, discardOldest: true }, ua.TimestampsToReturn.Both);
      const seen: number[] = [];
      item.on('changed', (dv) => seen.push(dv.value.value as number));
      await waitFor(() => seen.length >= 3, 5000);
      expect(seen.at(-1)).toBeGreaterThan(seen[0] as number);
    } finally {
      await sub.terminate();
    }
  });

  it('writes a writable setpoint and reads it back', async () => {
    const status = await s.write({ nodeId: 'ns=1;s=Line1.Setpoint', attributeId: ua.AttributeIds.Value, value: { value: new ua.Variant({ dataType: ua.DataType.Double, value: 95.5 }) } });
    expect(status.name).toBe('Good');
    expect((await s.read({ nodeId: 'ns=1;s=Line1.Setpoint', attributeId: ua.AttributeIds.Value })).value.value).toBe(95.5);
    const mode = await s.write({ nodeId: 'ns=1;s=Line1.Mode', attributeId: ua.AttributeIds.Value, value: { value: new ua.Variant({ dataType: ua.DataType.String, value: 'manual' }) } });
    expect(mode.name).toBe('Good');
    expect((await s.read({ nodeId: 'ns=1;s=Line1.Mode', attributeId: ua.AttributeIds.Value })).value.value).toBe('manual');
  });

  it('refuses a write to a read-only variable with BadNotWritable and leaves it alone', async () => {
    const access = await s.read({ nodeId: 'ns=1;s=Line1.Pressure', attributeId: ua.AttributeIds.UserAccessLevel });
    expect(access.value.value & 0x02).toBe(0);
    const status = await s.write({ nodeId: 'ns=1;s=Line1.Pressure', attributeId: ua.AttributeIds.Value, value: { value: new ua.Variant({ dataType: ua.DataType.Float, value: 99 }) } });
    expect(status.name).toBe('BadNotWritable');
    expect((await s.read({ nodeId: 'ns=1;s=Line1.Pressure', attributeId: ua.AttributeIds.Value })).value.value).toBeLessThan(10);
  });
});
