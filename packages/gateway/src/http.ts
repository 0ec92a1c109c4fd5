/**
 * @module
 * The gateway's own small HTTP endpoint: `/health` (JSON, 200 when ok or degraded, 503 when
 * down) and `/metrics` (Prometheus). The web package serves the same two routes beside its API;
 * this one is for a gateway run without the web dashboard (`metrics: { port, host, tokens }`).
 * With tokens, `/metrics` needs `Authorization: Bearer <token>` (any role) and `/health` tells
 * the public only the status. Like the web server it answers only the Host names it serves
 * (421 otherwise: DNS rebinding) and counts failed authentications per client address (429).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { BifrostError, listenAt } from '@bifrost/core';
import { parse as parseYaml } from 'yaml';
import type { Gateway } from './gateway.js';

/** Options of {@link serveHealth}. */
export interface ServeHealthOptions {
  port: number;
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** Host names answered besides the bind address and the localhost names. */
  hosts?: readonly string[];
  /** Tokens allowed to read /metrics: a tokens file (as `web.tokens`) or the list of `{ name, role, hash }`. */
  tokens?: string | ReadonlyArray<{ name: string; hash: string }>;
  /** Folder a relative tokens file resolves against. */
  baseDir?: string;
  /** Failed authentications per client address and minute before 429 (default 20). */
  maxAuthFailures?: number;
  /** The config field or flag that named the port, for a port-in-use error (default `metrics.port`). */
  field?: string;
}

/**
 * Serves /health and /metrics for a gateway.
 * @example const http = await serveHealth(gw, { port: 9464, tokens: './tokens.yaml' }); … await http.close();
 */
export async function serveHealth(gateway: Gateway, options: ServeHealthOptions): Promise<{ port: number; close(): Promise<void>; server: Server }> {
  const host = options.host ?? '127.0.0.1';
  const digests = loadTokenDigests(options.tokens, options.baseDir);
  const failures = new Map<string, { start: number; count: number }>();
  const maxFailures = options.maxAuthFailures ?? 20;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    if (!isServedHost(req.headers.host, host, options.hosts ?? [])) return json(421, { code: 'BIFROST_WEB_MISDIRECTED', message: 'this server does not answer that Host name' });
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    // Authentication: without tokens everything is open (loopback by default); with tokens, a wrong one counts against the address.
    const ip = req.socket.remoteAddress ?? '';
    const now = Date.now();
    let f = failures.get(ip);
    if (f && now - f.start >= 60_000) {
      failures.delete(ip);
      f = undefined;
    }
    let authed = digests.length === 0;
    const header = req.headers.authorization;
    if (digests.length > 0 && header !== undefined) {
      if (f && f.count >= maxFailures)
        return json(429, { code: 'BIFROST_WEB_RATE_LIMITED', message: 'too many failed authentications from this address' }, { 'retry-after': String(Math.ceil((f.start + 60_000 - now) / 1000)) });
      const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
      authed = m !== null && verify(digests, m[1] as string);
      if (!authed) {
        if (!f) failures.set(ip, (f = { start: now, count: 0 }));
        f.count++;
        if (failures.size > 10_000) failures.clear();
        gateway.emit('warning', { where: 'metrics', error: new BifrostError('BIFROST_WEB_UNAUTHORIZED', `metrics: failed authentication from ${ip}`) });
        return json(401, { code: 'BIFROST_WEB_UNAUTHORIZED', message: 'the API token is not valid (Authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer realm="bifrost"' });
      }
    }
    if (path === '/health') {
      const h = gateway.health();
      res.writeHead(h.status === 'down' ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(authed ? h : { status: h.status }));
    } else if (path === '/metrics') {
      if (!authed) return json(401, { code: 'BIFROST_WEB_UNAUTHORIZED', message: 'an API token is required (Authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer realm="bifrost"' });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(gateway.metrics());
    } else {
      json(404, { code: 'BIFROST_NOT_FOUND', message: `no route ${path}` });
    }
  });
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

/**
 * True for a loopback bind address or name (127.0.0.0/8, ::1, localhost).
 * @example isLoopback('127.0.0.1') // true; isLoopback('0.0.0.0') // false
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * The DNS-rebinding guard (the Host check of RFC 9110 §7.4 answered with 421): true when the
 * Host header names this server: a localhost name, the bind address (any of this machine's
 * addresses when bound to all of them), or a name in `hosts`. A page that rebinds
 * `evil.example` to the gateway sends `Host: evil.example` and is refused. The port is ignored
 * (a reverse proxy may forward its own).
 * @example isServedHost('127.0.0.1:8080', '127.0.0.1', []) // true; isServedHost('evil.example', '127.0.0.1', []) // false
 */
export function isServedHost(header: string | undefined, bind: string, hosts: readonly string[]): boolean {
  if (!header) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d*)?$/.exec(header.trim());
  if (!m) return false;
  const name = (m[1] as string)
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  if (isLoopback(name)) return true;
  const b = bind.replace(/^\[|\]$/g, '').toLowerCase();
  if (name === b) return true;
  if (hosts.some((h) => h.replace(/^\[|\]$/g, '').toLowerCase() === name)) return true;
  if (b === '0.0.0.0' || b === '::' || b === '') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.address.toLowerCase() === name) return true;
  }
  return false;
}

function loadTokenDigests(tokens: ServeHealthOptions['tokens'], baseDir = process.cwd()): Buffer[] {
  if (tokens === undefined) return [];
  let list: unknown = tokens;
  if (typeof tokens === 'string') {
    const file = isAbsolute(tokens) ? tokens : resolve(baseDir, tokens);
    try {
      list = parseYaml(readFileSync(file, 'utf8')) ?? [];
    } catch (cause) {
      throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `metrics.tokens: cannot read ${file}`, { cause });
    }
  }
  if (!Array.isArray(list)) throw new BifrostError('BIFROST_CONFIG_INVALID', 'metrics.tokens: expected a list of { name, role, hash } (as web.tokens)');
  return list.map((e: { hash?: unknown }, i) => {
    if (typeof e?.hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(e.hash))
      throw new BifrostError('BIFROST_CONFIG_INVALID', `metrics.tokens[${i}].hash: expected sha256:<64 hex digits> (from bifrost token create)`);
    return Buffer.from(e.hash.slice(7), 'hex');
  });
}

/** Constant time over every entry (the same check as the web server's TokenStore). */
function verify(digests: readonly Buffer[], token: string): boolean {
  if (token.length > 128) return false;
  const d = createHash('sha256').update(token, 'utf8').digest();
  let ok = false;
  for (const x of digests) if (timingSafeEqual(x, d)) ok = true;
  return ok;
}
