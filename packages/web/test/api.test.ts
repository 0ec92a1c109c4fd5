/**
 * The REST API with fastify `inject` against a real Gateway polling the real Modbus simulator
 * (plus a device on a port where nothing listens): reads, history, audited writes with roles,
 * and every kind of bad input answered with the right status and a JSON error code.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { createToken, createWebApp } from '@bifrost/web';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let sim: RunningSimulator;
let gw: Gateway;
let app: FastifyInstance;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-'));
const viewer = createToken({ name: 'vera', role: 'viewer' });
const operator = createToken({ name: 'otto', role: 'operator' });
const admin = createToken({ name: 'ada', role: 'admin' });
const auth = (t: { token: string }) => ({ authorization: `Bearer ${t.token}` });

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  const dead = await freePort();
  const { config, source } = parseGatewayConfig(
    `
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 50
    tags:
      - { name: temperature, address: "HR0:FLOAT32", unit: degC, description: melt temperature }
      - { name: parts, address: "HR4:UINT16" }
      - { name: setpoint, address: "HR10:FLOAT32", writable: true, min: 0, max: 120, unit: degC }
      - { name: motor, address: C0, writable: true }
  - name: dead1
    url: modbus://127.0.0.1:${dead}?unit=1&timeout=200
    pollMs: 100
    tags: [{ name: x, address: HR0 }]
pipelines:
  - name: setpoint-high
    from: [press1.setpoint]
    steps:
      - alarm: { above: 100, hysteresis: 1, message: setpoint high }
audit: { file: ${join(dir, 'audit.jsonl')} }
`,
    'gw.yaml',
  );
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  writeFileSync(join(dir, 'tokens.yaml'), [viewer, operator, admin].map((t) => `- ${JSON.stringify(t.entry)}`).join('\n'));
  app = await createWebApp(gw, { tokens: './tokens.yaml', baseDir: dir, maxBodyBytes: 1024, rateLimit: { login: { max: 3, windowMs: 60_000 }, writes: { max: 20, windowMs: 60_000 } } });
  await waitFor(() => (gw.devices().find((d) => d.config.name === 'press1')?.stats.polls ?? 0) > 5, 10_000);
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

describe('read API', () => {
  it('lists devices with health and statistics: the simulator connected, the dead port down', async () => {
    const res = await app.inject({ url: '/api/devices', headers: auth(viewer) });
    expect(res.statusCode).toBe(200);
    const by = Object.fromEntries((res.json() as Array<{ name: string; health: string; stats: { polls: number } }>).map((d) => [d.name, d]));
    expect(by.press1?.health).toBe('connected');
    expect(by.press1?.stats.polls).toBeGreaterThan(5);
    await waitFor(async () => (await app.inject({ url: '/api/devices/dead1', headers: auth(viewer) })).json().health === 'disconnected', 10_000);
  });

  it('lists tags with metadata and the latest values read from the simulator', async () => {
    const res = await app.inject({ url: '/api/tags?device=press1', headers: auth(viewer) });
    const tags = res.json() as Array<Record<string, unknown>>;
    expect(tags.map((t) => t.tag)).toEqual(['temperature', 'parts', 'setpoint', 'motor']);
    const temp = tags[0] as Record<string, unknown>;
    expect(temp).toMatchObject({ device: 'press1', address: 'HR0:FLOAT32', unit: 'degC', description: 'melt temperature', writable: false, quality: 'good' });
    // The simulator's HR0 is a sine from 60 to 80 degC.
    expect(temp.value as number).toBeGreaterThanOrEqual(60);
    expect(temp.value as number).toBeLessThanOrEqual(80);
    const one = await app.inject({ url: '/api/tags/press1/setpoint', headers: auth(viewer) });
    expect(one.json()).toMatchObject({ writable: true, min: 0, max: 120 });
    const dead = await app.inject({ url: '/api/tags/dead1/x', headers: auth(viewer) });
    expect(dead.json().quality).toBe('bad');
  });

  it('answers history from the store, downsampled to maxPoints', async () => {
    await waitFor(() => (gw.store?.query('press1.parts', { from: 0, to: Date.now() }).t.length ?? 0) > 40, 10_000);
    const res = await app.inject({ url: `/api/tags/press1/temperature/history?from=${Date.now() - 60_000}&maxPoints=20`, headers: auth(viewer) });
    expect(res.statusCode).toBe(200);
    const h = res.json() as { t: number[]; v: number[] };
    expect(h.t.length).toBe(20);
    expect(h.v.length).toBe(20);
    expect([...h.t].sort((a, b) => a - b)).toEqual(h.t);
    for (const v of h.v) expect(v).toBeGreaterThanOrEqual(60);
    const iso = await app.inject({ url: `/api/tags/press1/parts/history?from=${new Date(Date.now() - 60_000).toISOString()}`, headers: auth(viewer) });
    expect(iso.json().t.length).toBeGreaterThan(40);
    expect((await app.inject({ url: '/api/series', headers: auth(viewer) })).json()).toContain('press1.temperature');
  });

  it('serves health, Prometheus metrics and the OpenAPI document listing every route', async () => {
    const h = await app.inject({ url: '/health' });
    expect(h.statusCode).toBe(200);
    // With tokens configured the public gets the status only; a signed-in viewer gets the details.
    expect(h.json()).toEqual({ status: 'degraded' });
    expect((await app.inject({ url: '/health', headers: auth(viewer) })).json()).toMatchObject({ status: 'degraded', devices: { press1: 'connected' } });
    const m = await app.inject({ url: '/metrics', headers: auth(viewer) });
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.body).toMatch(/bifrost_device_polls_total\{device="press1"\} \d+/);
    expect(m.body).toContain('bifrost_web_stream_clients 0');
    const doc = (await app.inject({ url: '/api/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/devices', '/api/tags/{device}/{tag}/write', '/api/tags/{device}/{tag}/history', '/api/alarms/{id}/ack', '/api/stream']));
    expect(doc.paths['/api/tags/{device}/{tag}/write'].post['x-bifrost-role']).toBe('operator');
  });

  it('sends security headers and no CORS headers by default', async () => {
    const res = await app.inject({ url: '/api/tags', headers: { ...auth(viewer), origin: 'https://evil.example' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('writes and alarms', () => {
  it('an operator writes a setpoint through the audited path and the simulator holds it', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 72.5 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ device: 'press1', tag: 'setpoint', newValue: 72.5, user: 'otto' });
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(72.5);
    expect(audit().at(-1)).toMatchObject({ user: 'otto', source: 'web', tag: 'setpoint', newValue: 72.5, result: 'ok' });
  });

  it('a coil takes a boolean', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/tags/press1/motor/write', headers: auth(admin), payload: { value: false } });
    expect(res.statusCode).toBe(200);
    await using plc = await connect(sim.url);
    expect((await plc.read('C0')).value).toBe(false);
  });

  it('raises an alarm on a high setpoint; a viewer cannot acknowledge it, an operator can', async () => {
    await app.inject({ method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 110 } });
    await waitFor(async () => ((await app.inject({ url: '/api/alarms', headers: auth(viewer) })).json() as unknown[]).length > 0, 10_000);
    const [alarm] = (await app.inject({ url: '/api/alarms', headers: auth(viewer) })).json() as Array<{ id: string; state: string; acknowledged: boolean }>;
    expect(alarm?.state).toBe('active');
    const denied = await app.inject({ method: 'POST', url: `/api/alarms/${encodeURIComponent(alarm?.id ?? '')}/ack`, headers: auth(viewer) });
    expect(denied.statusCode).toBe(403);
    const ok = await app.inject({ method: 'POST', url: `/api/alarms/${encodeURIComponent(alarm?.id ?? '')}/ack`, headers: auth(operator) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ acknowledged: true, acknowledgedBy: 'otto' });
    const unknown = await app.inject({ method: 'POST', url: '/api/alarms/nope/ack', headers: auth(operator) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('BIFROST_WEB_NOT_FOUND');
    await app.inject({ method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 70 } });
  });

  it('only an admin reads the configuration, with secrets masked', async () => {
    expect((await app.inject({ url: '/api/config', headers: auth(operator) })).statusCode).toBe(403);
    const res = await app.inject({ url: '/api/config', headers: auth(admin) });
    expect(res.statusCode).toBe(200);
    expect(res.json().devices[0].name).toBe('press1');
  });
});

describe('bad input: the right status, a JSON error code, and nothing reaches the PLC', () => {
  const cases: Array<[string, Parameters<FastifyInstance['inject']>[0] & object, number, string]> = [
    ['no token', { url: '/api/tags' }, 401, 'BIFROST_WEB_UNAUTHORIZED'],
    ['a wrong token', { url: '/api/tags', headers: { authorization: 'Bearer bft_not-a-real-token' } }, 401, 'BIFROST_WEB_UNAUTHORIZED'],
    ['a malformed authorization header', { url: '/api/tags', headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, 'BIFROST_WEB_UNAUTHORIZED'],
    ['an unknown route', { url: '/api/nope', headers: auth(viewer) }, 404, 'BIFROST_WEB_NOT_FOUND'],
    ['an unknown device', { url: '/api/devices/nope', headers: auth(viewer) }, 404, 'BIFROST_GATEWAY_UNKNOWN_TAG'],
    ['an unknown tag', { url: '/api/tags/press1/nope', headers: auth(viewer) }, 404, 'BIFROST_GATEWAY_UNKNOWN_TAG'],
    ['history of an unknown tag', { url: '/api/tags/press1/nope/history', headers: auth(viewer) }, 404, 'BIFROST_GATEWAY_UNKNOWN_TAG'],
    ['a bad maxPoints', { url: '/api/tags/press1/parts/history?maxPoints=1e9', headers: auth(viewer) }, 400, 'BIFROST_WEB_BAD_REQUEST'],
    ['a bad from', { url: '/api/tags/press1/parts/history?from=yesterday', headers: auth(viewer) }, 400, 'BIFROST_WEB_BAD_REQUEST'],
    ['a viewer writing', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(viewer), payload: { value: 99 } }, 403, 'BIFROST_WEB_FORBIDDEN'],
    ['a write without a token', { method: 'POST', url: '/api/tags/press1/setpoint/write', payload: { value: 99 } }, 401, 'BIFROST_WEB_UNAUTHORIZED'],
    [
      'malformed JSON',
      { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: { ...auth(operator), 'content-type': 'application/json' }, payload: '{"value": 9' },
      400,
      'BIFROST_WEB_BAD_REQUEST',
    ],
    [
      'a body that is not JSON',
      { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: { ...auth(operator), 'content-type': 'application/xml' }, payload: '<value>99</value>' },
      415,
      'BIFROST_WEB_BAD_REQUEST',
    ],
    ['a plain-text body', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: { ...auth(operator), 'content-type': 'text/plain' }, payload: '99' }, 400, 'BIFROST_WEB_BAD_REQUEST'],
    ['a body without value', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { val: 99 } }, 400, 'BIFROST_WEB_BAD_REQUEST'],
    ['a value of the wrong type (string)', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 'hot' } }, 400, 'BIFROST_TYPE_MISMATCH'],
    ['a value of the wrong type (object)', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: { x: 1 } } }, 400, 'BIFROST_TYPE_MISMATCH'],
    ['a null value', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: null } }, 400, 'BIFROST_TYPE_MISMATCH'],
    ['a value above the tag maximum', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 500 } }, 400, 'BIFROST_VALUE_OUT_OF_RANGE'],
    ['a read-only tag', { method: 'POST', url: '/api/tags/press1/temperature/write', headers: auth(operator), payload: { value: 1 } }, 403, 'BIFROST_WRITE_NOT_ALLOWED'],
    ['a write to an unknown tag', { method: 'POST', url: '/api/tags/press1/nope/write', headers: auth(operator), payload: { value: 1 } }, 404, 'BIFROST_GATEWAY_UNKNOWN_TAG'],
    ['an oversized request', { method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: 1, pad: 'x'.repeat(4096) } }, 413, 'BIFROST_WEB_PAYLOAD_TOO_LARGE'],
  ];

  it.each(cases)('%s', async (_name, req, status, code) => {
    await using plc = await connect(sim.url);
    const before = (await plc.read('HR10:FLOAT32')).value;
    const res = await app.inject(req);
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json() as { code: string; message: string };
    expect(body.code).toBe(code);
    expect(body.message.length).toBeGreaterThan(5);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(before);
  });

  it('audits a refused write with the token name as the user', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/tags/press1/setpoint/write', headers: auth(operator), payload: { value: { x: 1 } } });
    expect(res.statusCode).toBe(400);
    expect(audit().at(-1)).toMatchObject({ user: 'otto', source: 'web', device: 'press1', tag: 'setpoint', result: 'denied', error: { code: 'BIFROST_TYPE_MISMATCH' } });
  });

  it('rate-limits logins per client and says when to retry', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'POST', url: '/api/login', payload: { token: 'bft_wrong' }, remoteAddress: '10.9.9.9' })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const limited = await app.inject({ method: 'POST', url: '/api/login', payload: { token: operator.token }, remoteAddress: '10.9.9.9' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('BIFROST_WEB_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const other = await app.inject({ method: 'POST', url: '/api/login', payload: { token: operator.token }, remoteAddress: '10.9.9.10' });
    expect(other.json()).toEqual({ name: 'otto', role: 'operator' });
  });
});
