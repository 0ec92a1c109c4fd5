/**
 * @module
 * Every further protocol works through the same commands: S7 and EtherNet/IP simulators started
 * by `bifrost simulate`, then read, write (audited), identify, browse and export against them.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type SimProcess, startSimulatorProcess } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-proto-'));
let s7: SimProcess;
let eip: SimProcess;

beforeAll(async () => {
  [s7, eip] = await Promise.all([startSimulatorProcess('s7', await freePort()), startSimulatorProcess('eip', await freePort())]);
});

afterAll(async () => {
  expect(await Promise.all([s7.stop(), eip.stop()])).toEqual([0, 0]);
});

const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

describe('S7 through the CLI', () => {
  it('identifies, reads, writes with audit, and exports', async () => {
    expect(s7.url).toMatch(/^s7:\/\/127\.0\.0\.1:\d+\?rack=0&slot=1$/);
    const who = json<Record<string, string>>((await runCli(['--json', 'identify', s7.url])).stdout);
    expect(who).toMatchObject({ protocol: 's7', vendor: 'Siemens', cpuStatus: 'RUN' });

    const r = await runCli(['--json', 'read', s7.url, 'DB1.DBD12:REAL', 'DB1.DBB20:STRING[20]', 'DB1.DBX16.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<{ value: unknown }[]>(r.stdout).map((v) => v.value)).toEqual([60, 'BATCH-0001', true]);

    const audit = join(dir, 's7-audit.jsonl');
    const w = await runCli(['write', s7.url, 'DB1.DBD12:REAL', '61.5', '--yes', '--audit-log', audit]);
    expect(w.code, w.stderr).toBe(0);
    expect(json<{ value: number }[]>((await runCli(['--json', 'read', s7.url, 'DB1.DBD12:REAL'])).stdout)[0]?.value).toBe(61.5);
    expect(JSON.parse(readFileSync(audit, 'utf8'))).toMatchObject({ address: 'DB1.DBD12:REAL', oldValue: 60, newValue: 61.5, result: 'ok' });

    const out = join(dir, 's7.csv');
    const e = await runCli(['export', s7.url, 'DB1.DBB20:STRING[20]', '--samples', '3', '--interval', '50ms', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    expect(
      readFileSync(out, 'utf8')
        .trim()
        .split('\r\n')
        .slice(1)
        .map((l) => l.split(',')[1]),
    ).toEqual(['BATCH-0001', 'BATCH-0001', 'BATCH-0001']);
  });

  it('a malformed S7 address is a usage error', async () => {
    const r = await runCli(['read', s7.url, 'DB1.XYZ']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BIFROST_INVALID_ADDRESS');
  });
});

describe('EtherNet/IP (Logix) through the CLI', () => {
  it('identifies, browses the tag list, writes and reads back', async () => {
    const who = json<Record<string, string>>((await runCli(['--json', 'identify', eip.url])).stdout);
    expect(who.protocol).toBe('eip');
    expect(who.vendor).toContain('Rockwell');

    const tree = await runCli(['browse', eip.url]);
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stdout).toMatch(/^├─ Motor1 {2}Motor {2}rw$/m);
    expect(tree.stdout).toMatch(/^│ {2}├─ Speed {2}REAL {2}rw {2}Motor1\.Speed$/m);
    expect(tree.stdout).toMatch(/^ {3}└─ Step {2}INT {2}rw {2}Program:Main\.Step$/m);

    const w = await runCli(['write', eip.url, 'TestDINT', '-123456', '--yes', '--audit-log', join(dir, 'eip-audit.jsonl')]);
    expect(w.code, w.stderr).toBe(0);
    const r = await runCli(['--json', 'read', eip.url, 'TestDINT', 'Motor1.Running']);
    const values = json<{ value: unknown; quality: string }[]>(r.stdout);
    expect(values[0]?.value).toBe(-123456);
    expect(values[1]?.quality).toBe('good');
  });

  it('an unknown tag is a bad value with the CIP status, exit 4 beside a good one', async () => {
    const r = await runCli(['read', eip.url, 'TestDINT', 'NoSuchTag']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^✖ BIFROST_\w+ .*NoSuchTag/m);
  });
});
