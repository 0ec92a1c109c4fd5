/**
 * @module
 * Regression (issue 22, item 2), the CLI's path: `bifrost write … HR10:FLOAT32 NaN --yes` wrote NaN
 * to the PLC. A value that is not a finite number is refused (and audited as denied) unless
 * `--allow-non-finite` says it is on purpose. Against the real Modbus simulator process.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, type SimProcess, startSimulatorProcess } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-nan-'));
const auditLog = join(dir, 'audit.jsonl');
let sim: SimProcess;

beforeAll(async () => {
  sim = await startSimulatorProcess('modbus', await freePort());
}, 60_000);
afterAll(async () => {
  await sim?.stop();
});

async function held(): Promise<number> {
  const plc = await connect(sim.url);
  try {
    return (await plc.read('HR10:FLOAT32')).value as number;
  } finally {
    await plc.close();
  }
}

it('refuses NaN and ±Infinity without --allow-non-finite, audits the refusal, and writes them with it', async () => {
  expect((await runCli(['write', sim.url, 'HR10:FLOAT32', '42.5', '--yes', '--audit-log', auditLog])).code).toBe(0);
  for (const text of ['NaN', 'nan', 'Infinity', '-Infinity']) {
    // `--` ends the options, so `-Infinity` is a value (as for any negative number on the command line).
    const r = await runCli(['write', '--yes', '--audit-log', auditLog, '--', sim.url, 'HR10:FLOAT32', text]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('BIFROST_VALUE_OUT_OF_RANGE');
    expect(r.stderr).toContain('--allow-non-finite');
  }
  expect(await held()).toBe(42.5);
  const lines = readFileSync(auditLog, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.filter((l) => l.result === 'denied')).toHaveLength(4);
  const r = await runCli(['write', sim.url, 'HR10:FLOAT32', 'NaN', '--yes', '--allow-non-finite', '--audit-log', auditLog]);
  expect(r.code, r.stderr).toBe(0);
  expect(Number.isNaN(await held())).toBe(true);
}, 60_000);
