/**
 * @module
 * The gateway's own small HTTP endpoint: `/health` (JSON, 200 when ok or degraded, 503 when
 * down) and `/metrics` (Prometheus). The web package serves the same two routes beside its API;
 * this one is for a gateway run without the web dashboard.
 */
import { createServer, type Server } from 'node:http';
import { listenAt } from '@bifrost/core';
import type { Gateway } from './gateway.js';

/**
 * Serves /health and /metrics for a gateway.
 * @example const http = await serveHealth(gw, { port: 9464 }); … await http.close();
 */
export async function serveHealth(gateway: Gateway, options: { port: number; host?: string; field?: string }): Promise<{ port: number; close(): Promise<void>; server: Server }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/health') {
      const h = gateway.health();
      res.writeHead(h.status === 'down' ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(gateway.metrics());
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'BIFROST_NOT_FOUND', message: `no route ${path}` }));
    }
  });
  const host = options.host ?? '127.0.0.1';
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => resolve());
    });
  await listenAt(listen, { server: 'metrics endpoint', field: options.field ?? 'metrics.port', host, port: options.port });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
