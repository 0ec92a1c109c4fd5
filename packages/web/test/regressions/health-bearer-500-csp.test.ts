/**
 * Regression (issue 22, item 9, web side): with tokens configured `/health` listed device and
 * sink names to anyone; `Authorization: <token>` without the Bearer scheme was accepted; a 500
 * answer echoed the internal error message; the CSP's `connect-src` allowed ws:/wss: to any host.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, expect, it } from 'vitest';
import { createToken, createWebApp } from '../../src/index.js';
import { type BifrostProcess, startBifrost, waitHttp } from './bifrost-process.js';

let sim: RunningSimulator | undefined;
let gw: BifrostProcess | undefined;

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
});

it('tells the public only the health status, refuses a token without Bearer, sends CSP connect-src self', async () => {
  sim = await startSimulator({ port: 0 });
  const port = await freePort();
  const viewer = createToken({ name: 'vera', role: 'viewer' });
  gw = startBifrost({
    'gateway.yaml': `devices:\n  - name: secret-press\n    url: ${sim.url}\n    tags: [{ name: t, address: HR0 }]\nweb: { port: ${port}, tokens: tokens.yaml }\naudit: { file: audit.jsonl }\n`,
    'tokens.yaml': `- ${JSON.stringify(viewer.entry)}\n`,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const pub = await fetch(`${base}/health`);
  const body = (await pub.json()) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['status']);
  expect(JSON.stringify(body)).not.toContain('secret-press');
  const full = await (await fetch(`${base}/health`, { headers: { authorization: `Bearer ${viewer.token}` } })).json();
  expect(full).toMatchObject({ devices: { 'secret-press': expect.any(String) } });

  const bare = await fetch(`${base}/api/tags`, { headers: { authorization: viewer.token } });
  expect(bare.status).toBe(401);
  expect(await bare.json()).toMatchObject({ code: 'BIFROST_WEB_UNAUTHORIZED', message: expect.stringContaining('Bearer') });
  expect((await fetch(`${base}/api/tags`, { headers: { authorization: `Bearer ${viewer.token}` } })).status).toBe(200);

  const csp = pub.headers.get('content-security-policy') ?? '';
  expect(csp).toMatch(/connect-src 'self';/);
  expect(csp).not.toMatch(/ws:|wss:/);
}, 30_000);

it('answers a 500 without the internal message, which goes to the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-500-'));
  const { config } = parseGatewayConfig(`audit: { file: ${join(dir, 'audit.jsonl')} }`, 'gw.yaml');
  const gateway = new Gateway(config, { baseDir: dir });
  await gateway.start();
  const lines: string[] = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
  const app = await createWebApp(gateway, { logger });
  // A route that fails the way a bug would: a plain Error with internal details.
  app.get('/api/boom', { config: { role: 'viewer' } }, () => {
    throw new Error('ENOENT: /srv/bifrost/internal/state.db at Store.open');
  });
  const res = await app.inject({ url: '/api/boom' });
  expect(res.statusCode).toBe(500);
  expect(res.json()).toMatchObject({ code: 'BIFROST_WEB_INTERNAL' });
  expect(res.body).not.toContain('/srv/bifrost');
  expect(lines.join('')).toContain('/srv/bifrost/internal/state.db');
  await app.close();
  await gateway.stop();
});
