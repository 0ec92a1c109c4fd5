/**
 * @module
 * The real CLI against the real Modbus simulator, started by the CLI itself
 * (`bifrost simulate modbus --config …`): read, write with audit, identify, monitor.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type SimProcess, startSimulatorProcess, Tmux } from './helpers.js';

const CONFIG = join(import.meta.dirname, 'fixtures-sim.yaml');
let sim: SimProcess;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-e2e-'));

beforeAll(async () => {
  sim = await startSimulatorProcess('modbus', await freePort(), ['--config', CONFIG]);
  url = sim.url;
});

afterAll(async () => {
  // Ctrl-C is the normal way to stop a simulator: exit 0.
  expect(await sim.stop()).toBe(0);
});

describe('bifrost simulate modbus', () => {
  it('prints the URL and what it serves', () => {
    expect(url).toMatch(/^modbus:\/\/127\.0\.0\.1:\d+/);
    expect(sim.output()).toContain('HR0-HR49');
  });
});

describe('bifrost read', () => {
  it('prints a table of the values the simulator serves', async () => {
    const r = await runCli(['read', url, 'HR0:FLOAT32', 'HR2:UINT16', 'HR3:INT16', 'C0']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TAG\s+VALUE\s+UNIT\s+QUALITY\s+TIMESTAMP$/);
    expect(lines[1]).toMatch(/^HR0:FLOAT32\s+21\.5\s+good\s+\d{4}-\d\d-\d\dT/);
    expect(lines[2]).toMatch(/^HR2:UINT16\s+1234\s+good/);
    expect(lines[3]).toMatch(/^HR3:INT16\s+-42\s+good/);
    expect(lines[4]).toMatch(/^C0\s+true\s+good/);
  });

  it('--json prints an array of { address, value, quality, timestamp }', async () => {
    const r = await runCli(['--json', 'read', url, 'HR0:FLOAT32', 'C0']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { address: string; value: unknown; quality: string; timestamp: string }[];
    expect(rows.map((x) => [x.address, x.value, x.quality])).toEqual([
      ['HR0:FLOAT32', 21.5, 'good'],
      ['C0', true, 'good'],
    ]);
    for (const x of rows) expect(new Date(x.timestamp).toISOString()).toBe(x.timestamp);
  });

  it('a refused address is a bad value with the Modbus exception, exit 4 when others are good', async () => {
    const r = await runCli(['read', url, 'HR2:UINT16', 'HR900']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/HR900\s+—\s+bad/);
    expect(r.stderr).toMatch(/^✖ BIFROST_MODBUS_ILLEGAL_ADDRESS .*HR900.*\[ILLEGAL_DATA_ADDRESS 2\] — hint: /m);
  });

  it('a malformed address is a usage error, exit 2', async () => {
    const r = await runCli(['read', url, 'XX12']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BIFROST_INVALID_ADDRESS');
  });

  it('a closed port is a connection error, exit 3', async () => {
    const port = await freePort();
    const r = await runCli(['read', `modbus://127.0.0.1:${port}?timeout=500`, 'HR0']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^✖ BIFROST_CONNECTION_REFUSED .*— hint: /);
  });
});

describe('bifrost identify', () => {
  it('prints the identity the simulator reports', async () => {
    const r = await runCli(['--json', 'identify', url]);
    expect(r.code).toBe(0);
    const who = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(who.protocol).toBe('modbus');
    expect(who.vendor).toBe('Bifrost');
    expect(who.product).toBe('CLI test plant');
    expect(who.firmware).toBe('1.2.3');
  });
});

describe('bifrost write', () => {
  it('--yes writes, reads the old value first and appends one audit line', async () => {
    const audit = join(dir, 'audit-yes.jsonl');
    const r = await runCli(['write', url, 'HR21', '777', '--yes', '--audit-log', audit]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('HR21: 0 → 777');
    const back = await runCli(['--json', 'read', url, 'HR21']);
    expect((JSON.parse(back.stdout) as { value: number }[])[0]?.value).toBe(777);
    const lines = readFileSync(audit, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(rec).toMatchObject({ source: 'cli', address: 'HR21', oldValue: 0, newValue: 777, result: 'ok' });
    expect(rec.user).toMatch(/^cli:/);
    expect(Number.isNaN(Date.parse(rec.time as string))).toBe(false);
  });

  it('a failed write is audited with its error and exits 3', async () => {
    const audit = join(dir, 'audit-fail.jsonl');
    const r = await runCli(['write', url, 'HR900', '1', '--yes', '--audit-log', audit]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    const rec = JSON.parse(readFileSync(audit, 'utf8').trim()) as Record<string, unknown>;
    expect(rec).toMatchObject({ address: 'HR900', newValue: 1, result: 'error', error: { code: 'BIFROST_MODBUS_ILLEGAL_ADDRESS' } });
  });

  it('an audit log that cannot be written stops the write before it happens (exit 2)', async () => {
    const r = await runCli(['write', url, 'HR24', '9', '--yes', '--audit-log', '/dev/null/audit.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^✖ BIFROST_CLI_USAGE cannot write the audit log \/dev\/null\/audit\.jsonl: E[A-Z]+; nothing was written to the device — hint: /);
    const back = await runCli(['--json', 'read', url, 'HR24']);
    expect((JSON.parse(back.stdout) as { value: number }[])[0]?.value).toBe(0);
  });

  it('without --yes and without a terminal it refuses (exit 1) and writes nothing', async () => {
    const r = await runCli(['write', url, 'HR22', '5', '--audit-log', join(dir, 'audit-no.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^✖ BIFROST_WRITE_NOT_ALLOWED .*— hint: pass --yes/);
    const back = await runCli(['--json', 'read', url, 'HR22']);
    expect((JSON.parse(back.stdout) as { value: number }[])[0]?.value).toBe(0);
  });

  it('asks on a terminal: "n" is audited as denied, "y" writes', async () => {
    const audit = join(dir, 'audit-tty.jsonl');
    const t = new Tmux('bifrost-write');
    try {
      t.start(Tmux.bifrost(`write '${url}' HR23 55 --audit-log ${audit}`));
      await t.waitFor(/write 55 to HR23 .*\(now 0\)\? \[y\/N\]/);
      t.send('n', true);
      t.send('Enter');
      await t.waitFor(/not written[\s\S]*\[exit 1\]/);
      t.start(Tmux.bifrost(`write '${url}' HR23 55 --audit-log ${audit}`));
      await t.waitFor(/\[y\/N\]/);
      t.send('y', true);
      t.send('Enter');
      await t.waitFor(/HR23: 0 → 55[\s\S]*\[exit 0\]/);
    } finally {
      t.kill();
    }
    const recs = readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { result: string; newValue: number });
    expect(recs.map((x) => x.result)).toEqual(['denied', 'ok']);
  });
});

describe('bifrost monitor (plain)', () => {
  it('prints one line per changed value when not on a terminal, and stops after --count', async () => {
    const r = await runCli(['monitor', url, 'HR2:UINT16', 'IR0', '--interval', '100ms', '--count', '4']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // HR2 is fixed: it appears once; IR0 counts up every 50 ms: it appears in every poll.
    expect(lines.filter((l) => /\sHR2:UINT16\s+1234\s+good$/.test(l))).toHaveLength(1);
    const counts = lines.filter((l) => /\sIR0\s/.test(l)).map((l) => Number(/\sIR0\s+(\d+)/.exec(l)?.[1]));
    expect(counts.length).toBeGreaterThanOrEqual(2);
    expect(counts.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1] as number);
  });

  it('--json prints JSON lines with tag, value, quality and timestamp', async () => {
    const r = await runCli(['--json', 'monitor', url, 'HR0:FLOAT32', '--interval', '50ms', '--count', '2']);
    expect(r.code).toBe(0);
    const recs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ tag: 'HR0:FLOAT32', address: 'HR0:FLOAT32', value: 21.5, quality: 'good' });
  });

  it('redraws a live table on a terminal', async () => {
    const t = new Tmux('bifrost-monitor');
    try {
      t.start(Tmux.bifrost(`monitor '${url}' HR0:FLOAT32 IR0 HR900 --interval 100ms`), 100, 20);
      const first = await t.waitFor(/IR0\s+(\d+)/);
      const before = Number(/IR0\s+(\d+)/.exec(first)?.[1]);
      const later = await t.waitFor((s) => Number(/IR0\s+(\d+)/.exec(s)?.[1]) > before);
      expect(later).toMatch(/TAG\s+VALUE\s+UNIT\s+QUALITY\s+AGE/);
      expect(later).toMatch(/HR0:FLOAT32\s+21\.5\s+good/);
      expect(later).toMatch(/HR900\s+—\s+bad/);
      // Redrawn in place: one header on screen, not one per poll.
      expect(later.match(/TAG\s+VALUE/g)).toHaveLength(1);
      t.send('C-c');
      await t.waitFor(/\[exit 0\]/);
    } finally {
      t.kill();
    }
  });
});
