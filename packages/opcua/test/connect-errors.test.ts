/**
 * @module
 * Connection errors of the `opc.tcp` driver against a Bifrost simulator that offers only the None
 * endpoint, and against a port where nothing listens: typed errors, no hang, no crash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect, type RunningSimulator } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-connect-errors-'));
let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({ port: await freePort(), config: { pkiDir: join(dir, 'sim'), server: { securityPolicies: ['None'], securityModes: ['None'] } } });
}, 60_000);
afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<BifrostError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BifrostError);
  return e as BifrostError;
}

describe('opc.tcp connection errors', () => {
  it('names a security policy the server does not offer: BIFROST_OPCUA_SECURITY', async () => {
    const err = await failure(connect(`${sim.url}?securityPolicy=Basic256Sha256&securityMode=Sign`, { pkiDir: join(dir, 'client'), acceptUnknownCertificate: true }));
    expect(err.code).toBe('BIFROST_OPCUA_SECURITY');
    expect(err.statusName).toBe('BadSecurityPolicyRejected');
    expect(err.message).toContain('securityPolicy=Basic256Sha256 and securityMode=Sign; it offers None/None');
  });

  it('refuses a port where no server listens, with or without security: BIFROST_CONNECTION_REFUSED', async () => {
    const port = await freePort();
    for (const q of ['', '?securityPolicy=Aes256_Sha256_RsaPss']) {
      const err = await failure(connect(`opc.tcp://127.0.0.1:${port}${q}`, { pkiDir: join(dir, 'client') }));
      expect(err.code, q).toBe('BIFROST_CONNECTION_REFUSED');
    }
  });

  it('rejects a URL with a bad option before connecting: BIFROST_INVALID_URL', async () => {
    for (const u of [
      `${sim.url}?securityPolicy=Basic128`,
      `${sim.url}?securityPolicy=None&securityMode=Sign`,
      `${sim.url}?securityPolicy=Basic256Sha256&securityMode=None`,
      `${sim.url}?userCertificate=/x.pem`,
    ]) {
      expect((await failure(connect(u, { pkiDir: join(dir, 'client') }))).code, u).toBe('BIFROST_INVALID_URL');
    }
  });

  it('connects lazily and reports the down server as bad values, not as a crash', async () => {
    const port = await freePort();
    await using plc = await connect(`opc.tcp://127.0.0.1:${port}`, { pkiDir: join(dir, 'client'), lazy: true });
    const [v] = await plc.readMany(['ns=1;s=Line1.Temperature']);
    expect(v?.quality).toBe('bad');
    expect(v?.error?.code).toBe('BIFROST_CONNECTION_REFUSED');
    expect(plc.health).toBe('disconnected');
  });
});
