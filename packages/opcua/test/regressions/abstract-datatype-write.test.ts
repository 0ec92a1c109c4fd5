/**
 * @module
 * Regression (issue 18.1): writing a variable whose DataType is abstract — BaseDataType (i=24,
 * open62541's default), Number, Integer, UInteger — failed with `BIFROST_OPCUA_TYPE_MISMATCH … is
 * Variant: writing OPC UA Variant is not supported`, and `browse` showed such DataTypes as raw
 * NodeIds (`ns=0;i=24`). Now a write takes the built-in type of the value the variable holds (as
 * UaExpert does), an address may carry a `:<TYPE>` hint, and browse names the DataType. Against a
 * plain node-opcua server built here, with abstract-typed variables as open62541 declares them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { parseAddress, pkiInit } from '@bifrost/opcua';
import type { OPCUAServer, UAVariable } from 'node-opcua';
import { afterAll, beforeAll, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-abstract-'));
let server: OPCUAServer;
let url: string;
const vars: Record<string, UAVariable> = {};

beforeAll(async () => {
  ua = await import('node-opcua');
  const port = await freePort();
  const own = await pkiInit({ dir: join(dir, 'server'), applicationUri: 'urn:test:abstract', commonName: 'abstract' });
  server = new ua.OPCUAServer({
    port,
    host: '127.0.0.1',
    serverCertificateManager: new ua.OPCUACertificateManager({ rootFolder: join(dir, 'server'), automaticallyAcceptUnknownCertificate: true }),
    certificateFile: own.certificateFile,
    privateKeyFile: own.privateKeyFile,
    nodeset_filename: [ua.nodesets.standard],
    disableDiscovery: true,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace as NonNullable<typeof server.engine.addressSpace>;
  const ns = addressSpace.getOwnNamespace();
  const folder = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Abstract', nodeId: 's=Abstract' });
  const add = (id: string, dataType: string, value: { dataType: number; value: unknown } | undefined) => {
    vars[id] = ns.addVariable({
      componentOf: folder,
      browseName: id,
      nodeId: `s=${id}`,
      dataType,
      accessLevel: 'CurrentRead | CurrentWrite',
      userAccessLevel: 'CurrentRead | CurrentWrite',
      ...(value ? { value: new ua.Variant(value as never) } : {}),
    });
  };
  add('T8', 'BaseDataType', { dataType: ua.DataType.Int32, value: 8 });
  add('Num', 'Number', { dataType: ua.DataType.Double, value: 1.25 });
  add('Int', 'Integer', { dataType: ua.DataType.Int16, value: -3 });
  add('UInt', 'UInteger', { dataType: ua.DataType.UInt32, value: 3 });
  add('Empty', 'BaseDataType', undefined);
  add('Motor:Speed', 'Double', { dataType: ua.DataType.Double, value: 50 });
  await server.start();
  url = `opc.tcp://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await server?.shutdown(0);
  rmSync(dir, { recursive: true, force: true });
});

const held = (id: string) => (vars[id] as UAVariable).readValue().value;

it('writes the built-in type of the current value when the DataType is BaseDataType, Number, Integer or UInteger', async () => {
  await using plc = await connect(url, { pkiDir: join(dir, 'client') });
  await plc.write('ns=1;s=T8', '777'); // as the CLI passes it
  expect(held('T8').dataType).toBe(ua.DataType.Int32);
  expect(held('T8').value).toBe(777);
  await plc.write('ns=1;s=Num', 2.5);
  expect([held('Num').dataType, held('Num').value]).toEqual([ua.DataType.Double, 2.5]);
  await plc.write('ns=1;s=Int', -300);
  expect([held('Int').dataType, held('Int').value]).toEqual([ua.DataType.Int16, -300]);
  await plc.write('ns=1;s=UInt', 70000);
  expect([held('UInt').dataType, held('UInt').value]).toEqual([ua.DataType.UInt32, 70000]);
  // The current value's type bounds the value: 70000 does not fit the Int16 held.
  await expect(plc.write('ns=1;s=Int', 70000)).rejects.toMatchObject({ code: 'BIFROST_VALUE_OUT_OF_RANGE' });
  expect((await plc.read('ns=1;s=T8')).value).toBe(777);
}, 30_000);

it('takes an explicit :TYPE hint, and asks for one when an abstract variable holds no value', async () => {
  await using plc = await connect(url, { pkiDir: join(dir, 'client') });
  await expect(plc.write('ns=1;s=Empty', 5)).rejects.toMatchObject({ code: 'BIFROST_OPCUA_TYPE_MISMATCH', message: expect.stringContaining('ns=1;s=Empty:DINT') });
  await plc.write('ns=1;s=Empty:INT32', '5');
  expect([held('Empty').dataType, held('Empty').value]).toEqual([ua.DataType.Int32, 5]);
  await plc.write('ns=1;s=T8:DOUBLE', 7.5);
  expect([held('T8').dataType, held('T8').value]).toEqual([ua.DataType.Double, 7.5]);
  await plc.write('/Objects/1:Abstract/T8:UINT16', 9);
  expect([held('T8').dataType, held('T8').value]).toEqual([ua.DataType.UInt16, 9]);
  // A `:` inside a string NodeId is not a hint unless an upper-case type name follows the last one.
  expect((await plc.read('ns=1;s=Motor:Speed')).value).toBe(50);
  await plc.write('ns=1;s=Motor:Speed', 51);
  expect(held('Motor:Speed').value).toBe(51);
  expect(parseAddress('ns=1;s=Motor:REAL:AUTO')).toEqual({ kind: 'nodeId', namespace: 1, identifierType: 's', identifier: 'Motor:REAL' });
  expect(parseAddress('ns=1;s=T8:INT32')).toMatchObject({ identifier: 'T8', type: 'DINT' });
}, 30_000);

it('browse names abstract DataTypes instead of printing their NodeIds', async () => {
  await using plc = await connect(url, { pkiDir: join(dir, 'client') });
  const nodes = (await plc.browse?.('ns=1;s=Abstract', { depth: 1 })) ?? [];
  const types = Object.fromEntries(nodes.map((n) => [n.name, n.type]));
  expect(types).toMatchObject({ T8: 'BaseDataType', Num: 'Number', Int: 'Integer', UInt: 'UInteger', Empty: 'BaseDataType', 'Motor:Speed': 'LREAL' });
}, 30_000);
