/**
 * @module
 * `bifrost export` against the Modbus simulator: row counts, timestamps and values match what
 * the simulator serves; Parquet is read back by an independent reader (DuckDB).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvField } from '../src/export/writers.js';
import { BIN, ensureBuilt, runCli, type SimProcess, startSimulatorProcess, Tmux } from './helpers.js';

const CONFIG = join(import.meta.dirname, 'fixtures-sim.yaml');
const dir = mkdtempSync(join(tmpdir(), 'bifrost-export-'));
let sim: SimProcess;
let started: number;

beforeAll(async () => {
  started = Date.now();
  sim = await startSimulatorProcess('modbus', await freePort(), ['--config', CONFIG]);
});

afterAll(async () => {
  await sim.stop();
});

const TAGS = 'HR0:FLOAT32,HR2:UINT16,HR3:INT16,C0,IR0';

/** A minimal RFC 4180 reader, to check the file as a spreadsheet would read it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

async function duck<T>(sql: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The simulator's IR0 counts up by 1 every 50 ms: never down, and up over the export. */
function expectCounting(counter: number[]): void {
  for (let i = 1; i < counter.length; i++) expect(counter[i]).toBeGreaterThanOrEqual(counter[i - 1] as number);
  expect(counter.at(-1)).toBeGreaterThan(counter[0] as number);
}

function checkTimestamps(stamps: string[]): void {
  let prev = started;
  for (const ts of stamps) {
    expect(new Date(ts).toISOString()).toBe(ts);
    const t = Date.parse(ts);
    expect(t).toBeGreaterThanOrEqual(prev);
    expect(t).toBeLessThanOrEqual(Date.now());
    prev = t;
  }
}

describe('bifrost export', () => {
  it('CSV (wide): a header, one row per sample, ISO timestamps, the served values', async () => {
    const out = join(dir, 'wide.csv');
    const r = await runCli(['export', sim.url, '--tags', TAGS, '--samples', '12', '--interval', '60ms', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`wrote 12 rows (12 samples of 5 tags) to ${out}`);
    const rows = parseCsv(readFileSync(out, 'utf8'));
    expect(rows[0]).toEqual(['timestamp', 'HR0:FLOAT32', 'HR2:UINT16', 'HR3:INT16', 'C0', 'IR0']);
    const data = rows.slice(1);
    expect(data).toHaveLength(12);
    checkTimestamps(data.map((d) => d[0] as string));
    for (const d of data) expect(d.slice(1, 5)).toEqual(['21.5', '1234', '-42', 'true']);
    expectCounting(data.map((d) => Number(d[5])));
  });

  it('CSV (--long): one row per tag and sample', async () => {
    const out = join(dir, 'long.csv');
    const r = await runCli(['export', sim.url, 'HR2:UINT16', 'HR900', '--samples', '3', '--interval', '50ms', '--long', '--out', out]);
    // HR900 is refused by the simulator: its values are bad, so exit 4.
    expect(r.code).toBe(4);
    const rows = parseCsv(readFileSync(out, 'utf8'));
    expect(rows[0]).toEqual(['timestamp', 'device', 'tag', 'address', 'value', 'quality']);
    expect(rows.slice(1)).toHaveLength(6);
    expect(rows.filter((x) => x[2] === 'HR2:UINT16').map((x) => [x[4], x[5]])).toEqual(Array(3).fill(['1234', 'good']));
    expect(rows.filter((x) => x[2] === 'HR900').map((x) => [x[4], x[5]])).toEqual(Array(3).fill(['', 'bad']));
  });

  it('JSON lines from a gateway.yaml by tag name', async () => {
    const gw = join(dir, 'gateway.yaml');
    writeFileSync(gw, `devices:\n  - name: press1\n    url: ${sim.url}\n    tags:\n      - { name: temperature, address: 'HR0:FLOAT32', unit: degC }\n      - { name: count, address: IR0 }\n`);
    const out = join(dir, 'out.jsonl');
    const r = await runCli(['export', gw, 'temperature', '--samples', '4', '--interval', '50ms', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const recs = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs).toHaveLength(4);
    for (const x of recs) expect(Object.keys(x)).toEqual(['timestamp', 'temperature']);
    expect(recs.map((x) => x.temperature)).toEqual([21.5, 21.5, 21.5, 21.5]);
    checkTimestamps(recs.map((x) => x.timestamp as string));
  });

  it('Parquet read back by DuckDB matches: rows, types, timestamps and values', async () => {
    const out = join(dir, 'wide.parquet');
    const r = await runCli(['--json', 'export', sim.url, '--tags', TAGS, '--samples', '15', '--interval', '50ms', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file: out, format: 'parquet', samples: 15, rows: 15, badValues: 0 });
    const schema = await duck<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM read_parquet('${out}')`);
    expect(schema.map((c) => [c.column_name, c.column_type])).toEqual([
      ['timestamp', 'TIMESTAMP'],
      ['HR0:FLOAT32', 'DOUBLE'],
      ['HR2:UINT16', 'DOUBLE'],
      ['HR3:INT16', 'DOUBLE'],
      ['C0', 'BOOLEAN'],
      ['IR0', 'DOUBLE'],
    ]);
    const rows = await duck<Record<string, unknown>>(`SELECT epoch_ms("timestamp") AS ms, "HR0:FLOAT32" AS t, "HR2:UINT16" AS u, "HR3:INT16" AS i, "C0" AS c, "IR0" AS n FROM read_parquet('${out}')`);
    expect(rows).toHaveLength(15);
    checkTimestamps(rows.map((x) => new Date(Number(x.ms)).toISOString()));
    for (const x of rows) expect([x.t, x.u, x.i, x.c]).toEqual([21.5, 1234, -42, true]);
    expectCounting(rows.map((x) => x.n as number));
  });

  it('Parquet --long with a bad tag: nulls and quality read back by DuckDB', async () => {
    const out = join(dir, 'long.parquet');
    const r = await runCli(['export', sim.url, 'HR2:UINT16', 'HR900', '--samples', '3', '--interval', '50ms', '--long', '--out', out]);
    expect(r.code).toBe(4);
    const rows = await duck<{ tag: string; value: number | null; quality: string }>(`SELECT tag, value, quality FROM read_parquet('${out}') ORDER BY tag`);
    expect(rows).toEqual([...Array(3).fill({ tag: 'HR2:UINT16', value: 1234, quality: 'good' }), ...Array(3).fill({ tag: 'HR900', value: null, quality: 'bad' })]);
  });

  it('shows a progress bar with rate and ETA on a terminal', async () => {
    const t = new Tmux('bifrost-export');
    try {
      t.start(Tmux.bifrost(`export '${sim.url}' HR0:FLOAT32 --samples 20 --interval 100ms --out ${join(dir, 'tty.csv')}`), 100, 10);
      const mid = await t.waitFor(/\[[█░]+\]\s+\d+% \d+\/20 samples · [\d.]+\/s · ETA \S+/);
      expect(mid).toMatch(/ETA/);
      const end = await t.waitFor(/\[exit 0\]/);
      expect(end).toMatch(/100% 20\/20 samples/);
      expect(end).toContain('wrote 20 rows');
    } finally {
      t.kill();
    }
  });

  it('Ctrl-C closes a valid Parquet file with the samples taken so far and exits 130', async () => {
    const out = join(dir, 'interrupted.parquet');
    ensureBuilt();
    const child = spawn(process.execPath, [BIN, 'export', sim.url, 'HR2:UINT16', '--samples', '100000', '--interval', '20ms', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).not.toContain('✖');
    const m = /wrote (\d+) rows/.exec(stderr);
    const rows = Number(m?.[1]);
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(100000);
    const back = await duck<{ n: bigint; v: number }>(`SELECT count(*) AS n, min("HR2:UINT16") AS v FROM read_parquet('${out}')`);
    expect(Number(back[0]?.n)).toBe(rows);
    expect(back[0]?.v).toBe(1234);
  });

  it('an --out file that cannot be created is a usage error naming it', async () => {
    const r = await runCli(['export', sim.url, 'HR0', '--samples', '1', '--out', '/dev/null/x.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^✖ BIFROST_CLI_USAGE cannot write \/dev\/null\/x\.csv: E[A-Z]+ — hint: /);
  });

  it('needs exactly one of --duration and --samples (usage, exit 2)', async () => {
    const r = await runCli(['export', sim.url, 'HR0', '--out', join(dir, 'x.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give either --duration or --samples');
  });
});

describe('csvField (RFC 4180 §2)', () => {
  it.each([
    ['plain', 'abc', 'abc'],
    ['comma', 'a,b', '"a,b"'],
    ['quote', 'say "hi"', '"say ""hi"""'],
    ['newline', 'a\nb', '"a\nb"'],
    ['number', -1.5, '-1.5'],
    ['null', null, ''],
  ])('%s', (_name, input, expected) => {
    expect(csvField(input)).toBe(expected);
  });

  it('any string survives a write and a read', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), (fields) => {
        const line = `${fields.map(csvField).join(',')}\r\n`;
        expect(parseCsv(line)).toEqual([fields]);
      }),
    );
  });
});
