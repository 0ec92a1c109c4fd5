/**
 * @module
 * The PKI functions behind `bifrost pki init|list|trust|reject`, on a temporary directory; the
 * certificate is checked with Debian's openssl as an independent reader.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError } from '@bifrost/core';
import { pkiInit, pkiList, pkiReject, pkiTrust } from '@bifrost/opcua';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-pki-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<BifrostError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BifrostError);
  return e as BifrostError;
}

describe('pki', () => {
  const own = join(dir, 'own-app');
  const peer = join(dir, 'peer-app');

  it('init creates the folders, a key and an application certificate openssl can read', async () => {
    const r = await pkiInit({ dir: own, applicationUri: 'urn:test:bifrost-pki', commonName: 'pki-test', dns: ['gateway.local'] });
    expect(r.created).toBe(true);
    for (const f of ['trusted/certs', 'rejected', 'issuers/certs', 'own/private/private_key.pem', 'own/certs/certificate.pem']) expect(existsSync(join(own, f)), f).toBe(true);
    const text = execFileSync('openssl', ['x509', '-in', r.certificateFile, '-noout', '-fingerprint', '-sha1', '-subject', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    const sha1 = /Fingerprint=([0-9A-F:]+)/.exec(text)?.[1]?.replaceAll(':', '').toLowerCase();
    expect(r.certificate.thumbprint).toBe(sha1);
    expect(text).toContain('URI:urn:test:bifrost-pki');
    expect(text).toContain('DNS:gateway.local');
    expect(text).toMatch(/CN\s*=\s*pki-test/);
    expect(r.certificate.applicationUri).toBe('urn:test:bifrost-pki');
    expect(r.certificate.expired).toBe(false);
  });

  it('init keeps an existing certificate, and renews it on request', async () => {
    const before = (await pkiList({ dir: own })).own?.thumbprint;
    expect((await pkiInit({ dir: own })).created).toBe(false);
    expect((await pkiList({ dir: own })).own?.thumbprint).toBe(before);
    const renewed = await pkiInit({ dir: own, renew: true, applicationUri: 'urn:test:bifrost-pki' });
    expect(renewed.created).toBe(true);
    expect(renewed.certificate.thumbprint).not.toBe(before);
  });

  it('trusts a certificate file, rejects it by thumbprint prefix, and trusts it back from rejected/', async () => {
    const other = await pkiInit({ dir: peer, commonName: 'peer' });
    const thumb = other.certificate.thumbprint;
    const t1 = await pkiTrust({ dir: own, thumbprintOrFile: other.certificateFile });
    expect(t1.file).toBe(join(own, 'trusted/certs', `peer[${thumb}].pem`));
    expect((await pkiList({ dir: own })).trusted.map((c) => c.thumbprint)).toEqual([thumb]);

    const r = await pkiReject({ dir: own, thumbprintOrFile: thumb.slice(0, 10).toUpperCase() });
    expect(r.file).toBe(join(own, 'rejected', `peer[${thumb}].pem`));
    let list = await pkiList({ dir: own });
    expect(list.trusted).toEqual([]);
    expect(list.rejected.map((c) => c.thumbprint)).toEqual([thumb]);

    const t2 = await pkiTrust({ dir: own, thumbprintOrFile: thumb.match(/../g)?.join(':') as string });
    expect(t2.from).toBe(r.file);
    list = await pkiList({ dir: own });
    expect(list.trusted.map((c) => c.subject)).toEqual([expect.stringContaining('CN=peer')]);
    expect(list.rejected).toEqual([]);
  });

  it('takes DER as well as PEM', async () => {
    const der = join(dir, 'peer.der');
    execFileSync('openssl', ['x509', '-in', join(peer, 'own/certs/certificate.pem'), '-outform', 'DER', '-out', der]);
    const r = await pkiTrust({ dir: join(dir, 'der-target'), thumbprintOrFile: der });
    expect(readFileSync(r.file, 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it('fails with BIFROST_OPCUA_PKI on an unknown thumbprint, a non-certificate file or garbage', async () => {
    expect((await failure(pkiTrust({ dir: own, thumbprintOrFile: 'deadbeefdeadbeef' }))).code).toBe('BIFROST_OPCUA_PKI');
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    expect((await failure(pkiTrust({ dir: own, thumbprintOrFile: junk }))).message).toContain(junk);
    expect((await failure(pkiReject({ dir: own, thumbprintOrFile: 'zz' }))).message).toContain('neither a certificate file nor a thumbprint');
  });

  it('lists an empty or missing PKI without failing', async () => {
    expect(await pkiList({ dir: join(dir, 'nothing-here') })).toMatchObject({ own: null, trusted: [], rejected: [], issuers: [] });
  });
});
