/**
 * @module
 * `bifrost browse` against the OPC UA simulator (started by `bifrost simulate opcua`), and
 * `bifrost pki` on a fresh store with a certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type SimProcess, startSimulatorProcess } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-opcua-'));
let sim: SimProcess;

beforeAll(async () => {
  sim = await startSimulatorProcess('opcua', await freePort());
}, 60_000);

afterAll(async () => {
  expect(await sim.stop()).toBe(0);
});

interface Node {
  name: string;
  address?: string;
  kind: string;
  type?: string;
  writable?: boolean;
  children?: Node[];
}

describe('bifrost browse (OPC UA)', () => {
  it('prints the address space as a tree with types and NodeIds', async () => {
    const r = await runCli(['browse', sim.url, '/Objects', '--depth', '2'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${sim.url} /Objects`);
    expect(lines).toContain('├─ Line1  ns=1;s=Line1');
    expect(r.stdout).toMatch(/^ {3}├─ Real {2}REAL {2}rw {2}ns=1;s=Types\.Real$/m);
    expect(r.stdout).toMatch(/^ {3}└─ DateTime {2}DATETIME {2}rw {2}ns=1;s=Types\.DateTime$/m);
  });

  it('--json gives the nodes, children nested to --depth', async () => {
    const r = await runCli(['--json', 'browse', sim.url, '/Objects', '--depth', '2'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const nodes = JSON.parse(r.stdout) as Node[];
    const types = nodes.find((n) => n.name === 'Types');
    expect(types?.kind).toBe('folder');
    expect(types?.children?.find((c) => c.name === 'LInt')).toMatchObject({ address: 'ns=1;s=Types.LInt', kind: 'tag', type: 'LINT', writable: true });
  });

  it('reads what it browsed', async () => {
    const r = await runCli(['--json', 'read', sim.url, 'ns=1;s=Types.Bool', 'ns=1;s=Types.Real'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const values = JSON.parse(r.stdout) as { quality: string }[];
    expect(values.map((v) => v.quality)).toEqual(['good', 'good']);
  });

  it('a Modbus device has nothing to browse: BIFROST_NOT_SUPPORTED', async () => {
    const modbus = await startSimulatorProcess('modbus', await freePort());
    try {
      const r = await runCli(['browse', modbus.url]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^✖ BIFROST_NOT_SUPPORTED modbus devices have no address space to browse — hint: /);
    } finally {
      await modbus.stop();
    }
  });
});

describe('bifrost pki', () => {
  it('init, list, trust a file, reject by thumbprint', async () => {
    const pki = join(dir, 'pki');
    const init = await runCli(['--json', 'pki', 'init', '--dir', pki, '--application-uri', 'urn:test:bifrost-cli'], { timeoutMs: 60_000 });
    expect(init.code, init.stderr).toBe(0);
    const made = JSON.parse(init.stdout) as { created: boolean; certificateFile: string; certificate: { thumbprint: string; applicationUri?: string } };
    expect(made.created).toBe(true);
    expect(existsSync(made.certificateFile)).toBe(true);

    const der = join(dir, 'peer.der');
    const pem = join(dir, 'peer.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'peer.key'), '-out', pem, '-days', '30', '-subj', '/CN=peer-server'], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-in', pem, '-outform', 'DER', '-out', der]);
    const sha1 = execFileSync('openssl', ['x509', '-in', pem, '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' }).split('=')[1]?.replace(/[:\s]/g, '').toLowerCase();

    const trust = await runCli(['pki', 'trust', der, '--dir', pki], { timeoutMs: 30_000 });
    expect(trust.code, trust.stderr).toBe(0);
    expect(trust.stdout).toContain(`trusted CN=peer-server (${sha1})`);
    const list = await runCli(['pki', 'list', '--dir', pki], { timeoutMs: 30_000 });
    expect(list.stdout).toMatch(/^own\s+/m);
    expect(list.stdout).toMatch(new RegExp(`^trusted\\s+CN=peer-server\\s+${sha1}`, 'm'));

    const reject = await runCli(['pki', 'reject', sha1 as string, '--dir', pki], { timeoutMs: 30_000 });
    expect(reject.code, reject.stderr).toBe(0);
    const after = JSON.parse((await runCli(['--json', 'pki', 'list', '--dir', pki], { timeoutMs: 30_000 })).stdout) as {
      trusted: { thumbprint: string }[];
      rejected: { thumbprint: string }[];
      own: { thumbprint: string };
    };
    expect(after.trusted).toEqual([]);
    expect(after.rejected.map((c) => c.thumbprint)).toEqual([sha1]);
    expect(after.own.thumbprint).toBe(made.certificate.thumbprint);
  }, 120_000);
});
