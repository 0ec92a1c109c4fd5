/**
 * Regression (issue 22, item 7): `/api/login` was rate-limited but a Bearer header on any other
 * route was not: 20,000 wrong guesses took 1.2 s and none was logged. Now failed authentications
 * count against the client address on every route (`web.rateLimit.authFailures`, 20 a minute by
 * default), then 429 — even for a right token, so guessing stops — and each is logged with the
 * address, never the token. Against the real `bifrost run`.
 */
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createToken } from '../../src/index.js';
import { type BifrostProcess, startBifrost, waitHttp } from './bifrost-process.js';

let gw: BifrostProcess | undefined;

afterAll(async () => {
  await gw?.stop();
});

it('answers 429 after 20 failed authentications from one address, on any route, and logs them without the token', async () => {
  const port = await freePort();
  const viewer = createToken({ name: 'vera', role: 'viewer' });
  gw = startBifrost({ 'gateway.yaml': `web: { port: ${port}, tokens: tokens.yaml }\naudit: { file: audit.jsonl }\n`, 'tokens.yaml': `- ${JSON.stringify(viewer.entry)}\n` });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const routes = ['/api/tags', '/api/devices', '/metrics', '/api/me'];
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) {
    const guess = `bft_guess${String(i).padStart(4, '0')}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`;
    statuses.push((await fetch(`${base}${routes[i % routes.length]}`, { headers: { authorization: `Bearer ${guess}` } })).status);
  }
  expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
  expect(statuses.slice(20)).toEqual(Array(10).fill(429));
  // The right token from the blocked address waits too; so does the WebSocket's subprotocol token.
  const right = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${viewer.token}` } });
  expect(right.status).toBe(429);
  expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
  const ws = await new Promise<number>((resolve) => {
    const s = new WebSocket(`ws://127.0.0.1:${port}/api/stream`, ['bifrost', 'bearer.bft_another-guess']);
    s.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    s.once('open', () => resolve(101));
    s.once('error', () => {});
  });
  expect(ws).toBe(429);
  // Another address is not affected.
  const other = await new Promise<number>((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/me', localAddress: '127.0.0.2', headers: { authorization: `Bearer ${viewer.token}`, host: `127.0.0.1:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
  expect(other).toBe(200);

  await gw.stop();
  const { stdout, stderr } = gw.output();
  const failures = stdout.split('\n').filter((l) => l.includes('failed authentication'));
  expect(failures.length).toBeGreaterThanOrEqual(20);
  expect(failures[0]).toContain('"ip":"127.0.0.1"');
  expect(stdout + stderr).not.toContain('bft_guess');
  expect(stdout + stderr).not.toContain(viewer.token);
}, 30_000);
