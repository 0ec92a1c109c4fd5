/**
 * Regression (issue 22, item 9, gateway side): the metrics-only server (`metrics: { port }`, for a
 * gateway run without the web section) had no authentication and no `host` option, and told
 * anyone the device and sink names on /health. Now `metrics: { port, host, hosts, tokens }`:
 * with tokens, /metrics needs a Bearer token and /health gives the public only the status;
 * failed authentications count per address (429) and are reported; Host names it does not
 * serve get 421. Through `runGateway`, the runtime of `bifrost run`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { type RunningGateway, runGateway } from '@bifrost/gateway';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';

let run: RunningGateway | undefined;

afterAll(async () => {
  await run?.stop();
});

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

it('serves /metrics only with a token, /health as status only, on the configured host', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-metrics-auth-'));
  const token = `bft_${randomBytes(32).toString('base64url')}`;
  const hash = `sha256:${createHash('sha256').update(token).digest('hex')}`;
  writeFileSync(join(dir, 'tokens.yaml'), `- { name: prometheus, role: viewer, hash: "${hash}" }\n`);
  const port = await freePort();
  const dead = await freePort();
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `devices:\n  - name: secret-press\n    url: modbus://127.0.0.1:${dead}\n    tags: [{ name: t, address: HR0 }]\nmetrics: { port: ${port}, host: 127.0.0.1, tokens: tokens.yaml }\naudit: { file: audit.jsonl }\n`,
  );
  const logs: string[] = [];
  run = await runGateway(join(dir, 'gateway.yaml'), { signals: false, logger: pino({ level: 'info' }, { write: (l: string) => logs.push(l) }) });
  expect(run.httpPort).toBe(port);

  const health = await get(port, '/health');
  expect(JSON.parse(health.body)).toEqual({ status: expect.any(String) });
  expect(health.body).not.toContain('secret-press');
  expect((await get(port, '/metrics')).status).toBe(401);
  expect((await get(port, '/metrics', { authorization: token })).status).toBe(401);
  const ok = await get(port, '/metrics', { authorization: `Bearer ${token}` });
  expect(ok.status).toBe(200);
  expect(ok.body).toContain('bifrost_device_polls_total{device="secret-press"}');
  expect(JSON.parse((await get(port, '/health', { authorization: `Bearer ${token}` })).body)).toMatchObject({ devices: { 'secret-press': expect.any(String) } });
  expect((await get(port, '/metrics', { authorization: `Bearer ${token}`, host: 'evil.example' })).status).toBe(421);

  // Guessing: 20 failures from one address, then 429 even for the right token.
  const statuses: number[] = [];
  for (let i = 0; i < 22; i++) statuses.push((await get(port, '/metrics', { authorization: `Bearer bft_guess${i}` })).status);
  expect(statuses.filter((s) => s === 401).length).toBe(19); // the bare token above was the first failure
  expect(statuses.slice(-3)).toEqual([429, 429, 429]);
  expect((await get(port, '/metrics', { authorization: `Bearer ${token}` })).status).toBe(429);
  await run.stop();
  run = undefined;
  expect(logs.join('')).toContain('metrics: failed authentication from 127.0.0.1');
  expect(logs.join('')).not.toContain('bft_guess');
}, 30_000);

it('refuses an unknown metrics field as before, and accepts host without tokens on loopback', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-metrics-host-'));
  const port = await freePort();
  writeFileSync(join(dir, 'gateway.yaml'), `metrics: { port: ${port}, host: 127.0.0.1 }\naudit: { file: audit.jsonl }\n`);
  run = await runGateway(join(dir, 'gateway.yaml'), { signals: false, logger: pino({ level: 'silent' }) });
  expect((await get(port, '/metrics')).status).toBe(200);
  await run.stop();
  run = undefined;
  writeFileSync(join(dir, 'bad.yaml'), `metrics: { port: ${port}, auth: yes }\n`);
  await expect(runGateway(join(dir, 'bad.yaml'), { signals: false, logger: pino({ level: 'silent' }) })).rejects.toMatchObject({ code: 'BIFROST_CONFIG_INVALID' });
});
