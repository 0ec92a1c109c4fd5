/**
 * @module
 * The driver conformance suite against the Bifrost OPC UA simulator (a real node-opcua server on
 * loopback), over an anonymous, unsecured session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverSuite, freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-suite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

driverSuite({
  name: 'opcua (Bifrost simulator)',
  async start() {
    const port = await freePort();
    const boot = () => startSimulator({ port, config: { pkiDir: join(dir, 'server'), updateMs: 1000 } });
    let sim = await boot();
    return {
      url: sim.url,
      stop: () => sim.close(),
      async restart() {
        sim = await boot();
      },
    };
  },
  tags: [
    { address: 'ns=1;s=Types.Bool', type: 'BOOL', write: false },
    { address: 'ns=1;s=Types.SInt', type: 'SINT', write: -100 },
    { address: 'ns=1;s=Types.USInt', type: 'USINT', write: 250 },
    { address: 'ns=1;s=Types.Int', type: 'INT', write: -32000 },
    { address: 'ns=1;s=Types.UInt', type: 'UINT', write: 65000 },
    { address: 'ns=1;s=Types.DInt', type: 'DINT', write: -2000000000 },
    { address: 'ns=1;s=Types.UDInt', type: 'UDINT', write: 4000000001 },
    { address: 'ns=1;s=Types.LInt', type: 'LINT', write: -(2n ** 62n) },
    { address: 'ns=1;s=Types.ULInt', type: 'ULINT', write: 2n ** 63n + 5n },
    { address: 'ns=1;s=Types.Real', type: 'REAL', write: -1.25 },
    { address: 'ns=1;s=Types.LReal', type: 'LREAL', write: 1e300 },
    { address: 'ns=1;s=Types.String', type: 'STRING', write: 'héllo wörld' },
    { address: 'ns=1;s=Types.Bytes', type: 'BYTES', write: Uint8Array.of(1, 2, 3, 0, 255) },
    { address: 'ns=1;s=Types.DateTime', type: 'DATETIME', write: new Date('2030-05-06T07:08:09.010Z') },
    { address: '/Objects/Line1/Temperature', type: 'LREAL' },
    { address: 'i=2258', type: 'DATETIME' },
  ],
  badAddress: 'ns=1;s=Line1.NoSuchTag',
  badAddressCode: 'BIFROST_OPCUA_NODE_ID_UNKNOWN',
  invalidAddress: 'ns=x;s=Temp',
  deadbandAddress: 'ns=1;s=Line1.Level',
  connectOptions: { pkiDir: join(dir, 'client') },
});
