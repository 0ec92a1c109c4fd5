/**
 * Regression: a WebSocket upgrade refused for a missing token left its socket open on the server
 * (the auth hook ran before the WebSocket plugin marked the request as an upgrade, so the 401
 * went to a detached response), and `close()` then waited forever: the gateway could not stop.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig } from '@bifrost/core';
import { Gateway } from '@bifrost/gateway';
import { createToken, startWebServer } from '@bifrost/web';
import { expect, it } from 'vitest';
import WebSocket from 'ws';

it('closes with no connection left after a refused upgrade whose client keeps its socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-reg-'));
  const { config } = parseGatewayConfig(`audit: { file: ${join(dir, 'audit.jsonl')} }`, 'gw.yaml');
  const gw = new Gateway(config, { baseDir: dir });
  await gw.start();
  const web = await startWebServer(gw, { port: 0, tokens: [createToken({ name: 'a', role: 'viewer' }).entry] });
  const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/stream`);
  // Listening to 'unexpected-response' tells ws to leave the response (and its socket) to us: we keep it.
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => {});
  });
  expect(status).toBe(401);
  await new Promise((r) => setTimeout(r, 100));
  const open = await new Promise<number>((resolve) => web.app.server.getConnections((_e, n) => resolve(n)));
  expect(open).toBe(0);
  await web.close();
  await gw.stop();
}, 10_000);
