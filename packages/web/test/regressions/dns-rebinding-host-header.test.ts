/**
 * Regression (issue 22, item 5): the Host header was not checked, so a page of evil.example that
 * rebinds its name to the gateway read `/api/tags` (200) and streamed values over a WebSocket
 * (Origin and Host both evil.example pass a same-origin check). Now only the Host names the
 * gateway serves are answered (bind address, localhost names, `web.hosts`), 421 otherwise, on
 * HTTP and on the WebSocket upgrade. And a web section bound to a non-loopback address without
 * tokens is refused at start unless `anonymous` is set explicitly.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCli } from '../../../cli/test/helpers.js';
import { type BifrostProcess, startBifrost, waitHttp } from './bifrost-process.js';

let gw: BifrostProcess | undefined;

afterAll(async () => {
  await gw?.stop();
});

/** GET with a chosen Host header (fetch does not let one set it). */
function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, origin: `http://${host}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function upgrade(port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/stream`, { headers: { host, origin: `http://${host}` } });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', () => {});
  });
}

it('answers only the Host names it serves, 421 otherwise, on HTTP and WebSocket', async () => {
  const port = await freePort();
  gw = startBifrost({ 'gateway.yaml': `web: { port: ${port} }\naudit: { file: audit.jsonl }\n` });
  await waitHttp(`http://127.0.0.1:${port}/health`);

  const evil = await get(port, '/api/tags', `evil.example:${port}`);
  expect(evil.status).toBe(421);
  expect(JSON.parse(evil.body)).toMatchObject({ code: 'BIFROST_WEB_MISDIRECTED' });
  expect((await get(port, '/health', 'evil.example')).status).toBe(421);
  expect(await upgrade(port, `evil.example:${port}`)).toBe(421);

  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost']) expect((await get(port, '/api/tags', host)).status, host).toBe(200);
  expect(await upgrade(port, `localhost:${port}`)).toBe(101);
  await gw.stop();
  const { stdout } = gw.output();
  expect(stdout).toContain('refused a Host this gateway does not serve');
}, 30_000);

it('answers the names listed in web.hosts', async () => {
  const port = await freePort();
  gw = startBifrost({ 'gateway.yaml': `web: { port: ${port}, hosts: [gateway.plant.example] }\naudit: { file: audit.jsonl }\n` });
  await waitHttp(`http://127.0.0.1:${port}/health`);
  for (const host of [`gateway.plant.example:${port}`, 'GATEWAY.plant.example', `127.0.0.1:${port}`]) expect((await get(port, '/api/tags', host)).status, host).toBe(200);
  expect((await get(port, '/api/tags', 'other.plant.example')).status).toBe(421);
  await gw.stop();
}, 30_000);

it('refuses to serve anonymous viewers on a non-loopback address unless anonymous is set', async () => {
  const port = await freePort();
  // A device (on a closed port) so that --check judges the web section, not an empty device list.
  const device = `devices:\n  - { name: d1, url: "modbus://127.0.0.1:${await freePort()}?unit=1", tags: [{ name: x, address: HR0 }] }\n`;
  gw = startBifrost({ 'gateway.yaml': `${device}web: { port: ${port}, host: 0.0.0.0 }\naudit: { file: audit.jsonl }\n` });
  const code = await new Promise<number | null>((resolve) => gw?.child.once('exit', (c) => resolve(c)));
  expect(code).not.toBe(0);
  expect(gw.output().stderr + gw.output().stdout).toMatch(/BIFROST_CONFIG_INVALID[\s\S]*web\.host: 0\.0\.0\.0 is not a loopback address/);
  // --check says so too, before anything starts.
  const check = await runCli(['run', join(gw.dir, 'gateway.yaml'), '--check'], { cwd: gw.dir });
  expect(check.code).not.toBe(0);
  expect(check.stderr + check.stdout).toMatch(/web\.host: 0\.0\.0\.0 is not a loopback address/);

  // Said explicitly, it starts (with a warning), and still checks Host.
  const port2 = await freePort();
  gw = startBifrost({ 'gateway.yaml': `web: { port: ${port2}, host: 0.0.0.0, anonymous: viewer }\naudit: { file: audit.jsonl }\n` });
  await waitHttp(`http://127.0.0.1:${port2}/health`);
  expect((await get(port2, '/api/tags', `127.0.0.1:${port2}`)).status).toBe(200);
  expect((await get(port2, '/api/tags', 'evil.example')).status).toBe(421);
  await gw.stop();
  expect(gw.output().stdout).toMatch(/act as viewer on 0\.0\.0\.0, a non-loopback address/);
}, 30_000);
