/**
 * Issue 18.4: a port already in use was reported as `BIFROST_INTERNAL … This is a bug in bifrost`.
 * It is the user's environment: `BIFROST_ADDRESS_IN_USE`, naming the config field (or flag), the
 * address and what to do — for `bifrost run`'s metrics endpoint and web server, and a simulator.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';

let held: Server;
let port: number;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bifrost-port-in-use-'));
  held = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', () => r()));
  port = (held.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => held.close(() => r())));

function config(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

describe('a port already in use', () => {
  it.each([
    ['metrics.port', `metrics: { port: PORT }\n`, []],
    ['--metrics-port', '', ['--metrics-port', 'PORT']],
    ['web.port', `web: { port: PORT }\n`, []],
  ])('bifrost run names %s, the address and what to do', async (field, yaml, flags) => {
    const file = config(`${field.replace(/\W/g, '')}.yaml`, yaml.replace('PORT', String(port)));
    const r = await runCli(['run', file, ...flags.map((f) => f.replace('PORT', String(port)))], { env: { BIFROST_LOG_LEVEL: 'warn' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('BIFROST_ADDRESS_IN_USE');
    expect(r.stderr).toContain(`127.0.0.1:${port} (${field})`);
    expect(r.stderr).toMatch(/hint: Stop the other process .* or set .* to a free port/);
    expect(r.stderr).not.toMatch(/BIFROST_INTERNAL|This is a bug/);
  });

  it('bifrost simulate names --port', async () => {
    const r = await runCli(['simulate', 'modbus', '--port', String(port)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`BIFROST_ADDRESS_IN_USE the modbus simulator cannot listen on 127.0.0.1:${port} (--port)`);
    const json = await runCli(['--json', 'simulate', 's7', '--port', String(port)]);
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'BIFROST_ADDRESS_IN_USE' });
  });
});
