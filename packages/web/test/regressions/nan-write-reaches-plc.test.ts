/**
 * @module
 * Regression (issue 22, item 2): NaN reached the PLC past a tag's limits. `POST
 * /api/tags/press1/setpoint/write {"value":"NaN"}` on a FLOAT32 tag with `min: 0, max: 120`
 * answered 200, the simulator then held NaN and the audit log said `result: ok` ("nan" and " NaN "
 * too): `value < min` and `value > max` are both false for NaN. Every write path now refuses a
 * value that is not a finite number for a numeric tag, with or without limits, unless the tag
 * sets `allowNonFinite: true`, and the refusal is audited. Against the real Modbus simulator.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { createToken, createWebApp } from '@bifrost/web';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let sim: RunningSimulator;
let gw: Gateway;
let app: FastifyInstance;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-nan-'));
const operator = createToken({ name: 'otto', role: 'operator' });

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  const { config, source } = parseGatewayConfig(
    `
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 100
    tags:
      - { name: setpoint, address: "HR10:FLOAT32", writable: true, min: 0, max: 120 }
      - { name: trim, address: "HR12:FLOAT32", writable: true }
      - { name: raw, address: "HR14:FLOAT32", writable: true, allowNonFinite: true }
      - { name: label, address: "HR20:STRING[8]", writable: true }
audit: { file: ${join(dir, 'audit.jsonl')} }
`,
    'gw.yaml',
  );
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  writeFileSync(join(dir, 'tokens.yaml'), `- ${JSON.stringify(operator.entry)}\n`);
  app = await createWebApp(gw, { tokens: './tokens.yaml', baseDir: dir });
  await waitFor(() => (gw.devices()[0]?.stats.polls ?? 0) > 2, 10_000);
}, 60_000);

afterAll(async () => {
  await app?.close();
  await gw?.stop();
  await sim?.close();
});

const audit = () =>
  readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function held(address: string): Promise<unknown> {
  const plc = await connect(sim.url);
  try {
    return (await plc.read(address)).value;
  } finally {
    await plc.close();
  }
}

describe('NaN and ±Infinity never reach the PLC unless the tag allows them', () => {
  it('web: "NaN", "nan", " NaN ", "Infinity" and "-Infinity" are refused with a typed error and audited as denied', async () => {
    await gw.write({ device: 'press1', tag: 'setpoint', value: 50, user: 'setup', source: 'test' });
    for (const value of ['NaN', 'nan', ' NaN ', 'Infinity', '-Infinity']) {
      const res = await app.inject({ method: 'POST', url: '/api/tags/press1/setpoint/write', headers: { authorization: `Bearer ${operator.token}` }, payload: { value } });
      expect(res.statusCode, `${value}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.json().code).toBe('BIFROST_VALUE_OUT_OF_RANGE');
      expect(audit().at(-1)).toMatchObject({ user: 'otto', source: 'web', tag: 'setpoint', newValue: value, result: 'denied', error: { code: 'BIFROST_VALUE_OUT_OF_RANGE' } });
    }
    expect(await held('HR10:FLOAT32')).toBe(50);
  });

  it('library Gateway.write: a tag without limits refuses NaN and Infinity as numbers and as text', async () => {
    await gw.write({ device: 'press1', tag: 'trim', value: 1.5, user: 'setup', source: 'test' });
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 'NaN']) {
      const err = await gw.write({ device: 'press1', tag: 'trim', value, user: 'lib', source: 'api' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'BIFROST_VALUE_OUT_OF_RANGE' });
      expect(audit().at(-1)).toMatchObject({ user: 'lib', tag: 'trim', result: 'denied' });
    }
    expect(await held('HR12:FLOAT32')).toBe(1.5);
  });

  it('a tag with allowNonFinite: true takes NaN on purpose; a string tag takes the text "NaN"', async () => {
    const r = await gw.write({ device: 'press1', tag: 'raw', value: 'NaN', user: 'lib', source: 'api' });
    expect(Number.isNaN(r.newValue as number)).toBe(true);
    expect(Number.isNaN(await held('HR14:FLOAT32'))).toBe(true);
    await gw.write({ device: 'press1', tag: 'label', value: 'NaN', user: 'lib', source: 'api' });
    expect(await held('HR20:STRING[8]')).toBe('NaN');
  });
});
