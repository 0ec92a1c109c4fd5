/**
 * Regression (issue 22, item 6): writes refused by role (401/403) or by the rate limit (429) were
 * not in the audit log, alarm acknowledgements were not recorded, no entry had the client
 * address, and a body nested 20,000 levels deep answered 500 `Maximum call stack size exceeded`.
 * Now every attempt to change the plant through the web API is one audit line with user, source
 * and client address, whatever its outcome; JSON bodies deeper than `web.maxJsonDepth` get 400.
 * Against the real `bifrost run` polling the Modbus simulator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningSimulator } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, expect, it } from 'vitest';
import { createToken } from '../../src/index.js';
import { type BifrostProcess, startBifrost, waitHttp } from './bifrost-process.js';

let sim: RunningSimulator | undefined;
let gw: BifrostProcess | undefined;

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
});

interface Line {
  action?: string;
  user: string;
  source: string;
  client?: string;
  device: string;
  tag?: string;
  address: string;
  newValue?: unknown;
  result: string;
  error?: { code: string };
}

it('audits every write and acknowledgement attempt with user, source and client address', async () => {
  sim = await startSimulator({ port: 0 });
  const port = await freePort();
  const viewer = createToken({ name: 'vera', role: 'viewer' });
  const operator = createToken({ name: 'otto', role: 'operator' });
  gw = startBifrost({
    'gateway.yaml': `devices:
  - name: press1
    url: ${sim.url}
    pollMs: 50
    tags:
      - { name: setpoint, address: "HR10:FLOAT32", writable: true, min: 0, max: 200 }
pipelines:
  - name: setpoint-high
    from: [press1.setpoint]
    steps:
      - alarm: { above: 100, hysteresis: 1, message: setpoint high }
web: { port: ${port}, tokens: tokens.yaml, rateLimit: { writes: { max: 2, windowMs: 60000 } } }
audit: { file: audit.jsonl }
`,
    'tokens.yaml': [viewer, operator].map((t) => `- ${JSON.stringify(t.entry)}`).join('\n'),
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const post = async (path: string, body: string, token?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    return (await fetch(`${base}${path}`, { method: 'POST', headers, body })).status;
  };
  const write = '/api/tags/press1/setpoint/write';
  await waitFor(async () => (await (await fetch(`${base}/api/tags/press1/setpoint`, { headers: { authorization: `Bearer ${viewer.token}` } })).json()).quality === 'good', 10_000, 100);

  expect(await post(write, '{"value":50}')).toBe(401);
  expect(await post(write, '{"value":51}', 'bft_not-a-real-token')).toBe(401);
  expect(await post(write, '{"value":52}', viewer.token)).toBe(403);
  expect(await post(write, '{"value":110}', operator.token)).toBe(200);
  // Refused by the gateway's own checks (above max): audited there, once.
  expect(await post(write, '{"value":500}', operator.token)).toBe(400);
  expect(await post(write, '{"value":112}', operator.token)).toBe(429);
  // 20,000 levels of nesting: a 400 naming the limit, not a stack overflow.
  const deep = `{"value":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
  const deepRes = await fetch(`${base}${write}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${operator.token}` }, body: deep });
  expect(deepRes.status).toBe(400);
  expect(await deepRes.json()).toMatchObject({ code: 'BIFROST_WEB_BAD_REQUEST', message: expect.stringContaining('nested deeper than 32 levels') });

  // The write of 110 raises the pipeline alarm: a viewer may not acknowledge it, an operator may.
  const alarms = async () => (await (await fetch(`${base}/api/alarms`, { headers: { authorization: `Bearer ${viewer.token}` } })).json()) as { id: string }[];
  const [alarm] = await waitFor(async () => {
    const a = await alarms();
    return a.length > 0 ? a : undefined;
  }, 10_000);
  const id = encodeURIComponent((alarm as { id: string }).id);
  expect(await post(`/api/alarms/${id}/ack`, '{}', viewer.token)).toBe(403);
  expect(await post(`/api/alarms/${id}/ack`, '{}', operator.token)).toBe(200);
  expect(await post('/api/alarms/no-such-alarm/ack', '{}', operator.token)).toBe(404);

  const file = join(gw.dir, 'audit.jsonl');
  const lines = await waitFor(() => {
    const l = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((x) => JSON.parse(x) as Line);
    return l.length >= 10 ? l : undefined;
  }, 5000);
  expect(lines).toHaveLength(10);
  for (const l of lines) expect(l).toMatchObject({ source: 'web', client: '127.0.0.1' });
  const writes = lines.filter((l) => (l.action ?? 'write') === 'write');
  expect(writes.map((l) => [l.user, l.result, l.error?.code ?? null])).toEqual([
    ['anonymous', 'denied', 'BIFROST_WEB_UNAUTHORIZED'],
    ['(invalid token)', 'denied', 'BIFROST_WEB_UNAUTHORIZED'],
    ['vera', 'denied', 'BIFROST_WEB_FORBIDDEN'],
    ['otto', 'ok', null],
    ['otto', 'denied', 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['otto', 'denied', 'BIFROST_WEB_RATE_LIMITED'],
    ['otto', 'denied', 'BIFROST_WEB_BAD_REQUEST'],
  ]);
  for (const l of writes) expect(l).toMatchObject({ tag: 'setpoint', address: 'HR10:FLOAT32' });
  expect(writes[4]?.newValue).toBe(500);
  expect(writes[5]?.newValue).toBe(112);
  const acks = lines.filter((l) => l.action === 'ack');
  expect(acks.map((l) => [l.user, l.result, l.device, l.address])).toEqual([
    ['vera', 'denied', 'press1', `alarm:${(alarm as { id: string }).id}`],
    ['otto', 'ok', 'press1', `alarm:${(alarm as { id: string }).id}`],
    // An unknown alarm has no device to name; the attempt is recorded all the same.
    ['otto', 'denied', '', 'alarm:no-such-alarm'],
  ]);
}, 60_000);
