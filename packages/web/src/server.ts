/**
 * @module
 * The web server: the REST API, the live WebSocket stream and the dashboard, on fastify. Every
 * route sits in one table (`ROUTES`) that drives both the role checks and the OpenAPI document,
 * so the two cannot disagree. Every write goes through `gateway.write` (the audited path).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BifrostError, containsSecret, type ErrorCode, isBifrostError, jsonValue, listenAt, redactUrl } from '@bifrost/core';
import type { Gateway, GatewayValue } from '@bifrost/gateway';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type Principal, type Role, roleAllows, TokenStore } from './auth.js';
import { StreamHub } from './live.js';
import { buildOpenApi, ROUTES, type RouteSpec } from './openapi.js';
import { resolveWebOptions } from './options.js';
import { RateLimiter } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    role?: Role | 'public';
  }
}

/**
 * Options of {@link createWebApp} and {@link startWebServer}: the `web:` config section plus the runtime's logger and base folder.
 * @example const options: StartWebOptions = { ...config.web, logger, baseDir: dirname(configFile) };
 */
export type StartWebOptions = Record<string, unknown> & {
  /** pino logger (the gateway's); the server logs errors and refused requests, never tokens. */
  logger?: Logger;
  /** Folder that relative paths (tokens file, TLS files) resolve against. */
  baseDir?: string;
};

/** HTTP status for each error code the API returns. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  BIFROST_WEB_BAD_REQUEST: 400,
  BIFROST_TYPE_MISMATCH: 400,
  BIFROST_VALUE_OUT_OF_RANGE: 400,
  BIFROST_INVALID_ARGUMENT: 400,
  BIFROST_WEB_UNAUTHORIZED: 401,
  BIFROST_WEB_FORBIDDEN: 403,
  BIFROST_WRITE_NOT_ALLOWED: 403,
  BIFROST_WEB_NOT_FOUND: 404,
  BIFROST_GATEWAY_UNKNOWN_TAG: 404,
  BIFROST_WEB_PAYLOAD_TOO_LARGE: 413,
  BIFROST_WEB_RATE_LIMITED: 429,
  BIFROST_NOT_CONNECTED: 503,
  BIFROST_CONNECTION_REFUSED: 503,
  BIFROST_CONNECTION_LOST: 503,
  BIFROST_CLOSED: 503,
  BIFROST_GATEWAY_NOT_RUNNING: 503,
  BIFROST_TIMEOUT: 504,
};

/**
 * The HTTP status of a Bifrost error (device-side failures are 502: the gateway is fine, the PLC is not).
 * @example httpStatusOf(new BifrostError('BIFROST_WEB_FORBIDDEN', 'viewer')) // 403
 */
export function httpStatusOf(e: BifrostError): number {
  return STATUS[e.code] ?? (e.code.startsWith('BIFROST_WEB_') || e.code.startsWith('BIFROST_GATEWAY_') ? 500 : 502);
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' };

const DEFAULT_UI = fileURLToPath(new URL('../ui-dist/', import.meta.url));

/**
 * Builds the fastify app (not listening): for tests with `app.inject()` and for embedding.
 * @example
 * const app = await createWebApp(gateway, { tokens: [entry] });
 * const res = await app.inject({ url: '/api/tags', headers: { authorization: `Bearer ${token}` } });
 */
export async function createWebApp(gateway: Gateway, options: StartWebOptions = {}): Promise<FastifyInstance> {
  const { logger, baseDir, ...webInput } = options;
  const opts = resolveWebOptions(webInput, baseDir);
  const tokens = new TokenStore(opts.tokens);
  if (opts.anonymous !== 'none' && logger)
    logger.warn(
      { role: opts.anonymous },
      `web: requests without a token act as ${opts.anonymous}${opts.tokens.length === 0 ? ' (no tokens configured: create one with createToken to allow writes)' : ''}`,
    );
  const app = Fastify({
    bodyLimit: opts.maxBodyBytes,
    // A stop must not wait for browsers' keep-alive connections or a refused upgrade's socket.
    forceCloseConnections: true,
    logController: new LogController({ disableRequestLogging: true }),
    ...(logger ? { loggerInstance: logger.child({ component: 'web' }) } : {}),
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  const loginLimit = new RateLimiter(opts.rateLimit.login);
  const writeLimit = new RateLimiter(opts.rateLimit.writes);
  const hub = new StreamHub(gateway, { intervalMs: opts.streamIntervalMs, maxBufferedBytes: opts.streamMaxBufferedBytes, maxTags: 100_000 });
  app.decorate('bifrostStream', hub);
  app.addHook('onClose', async () => hub.close());

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (isBifrostError(err)) return send(reply, err);
    const status = err.statusCode ?? 500;
    if (status === 413) return send(reply, new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `request body exceeds ${opts.maxBodyBytes} bytes`));
    if (status >= 400 && status < 500)
      return send(
        reply,
        new BifrostError('BIFROST_WEB_BAD_REQUEST', err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'send the body as application/json' : `malformed request: ${err.message}`),
        status === 415 ? 415 : 400,
      );
    req.log.error({ err: { message: err.message, code: err.code } }, `web: ${req.method} ${req.url.split('?')[0]} failed`);
    return send(reply, new BifrostError('BIFROST_WEB_INTERNAL', `internal error in ${req.method} ${req.url.split('?')[0]}: ${err.message}`), 500);
  });

  // Registered first: its onRequest hook marks upgrade requests (request.ws) before the auth hook runs.
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: opts.maxBodyBytes,
      // Browsers cannot set headers on a WebSocket: the token travels as a subprotocol; answer with `bifrost` only, never echoing the token.
      handleProtocols: (protocols: Set<string>) => (protocols.has('bifrost') ? 'bifrost' : false),
    },
  });

  // Security headers for every answer; CORS only for listed origins (off by default).
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    const origin = req.headers.origin;
    if (origin && opts.cors.length > 0 && opts.cors.some((o) => new URL(o).origin === origin)) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        reply.header('access-control-allow-headers', 'authorization, content-type');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    }
  });

  // Authentication: a bearer token (header, or for browsers' WebSocket the `bearer.<token>` subprotocol).
  // Checked on request, before the body is read, so an anonymous client cannot make the server parse anything.
  app.addHook('onRequest', async (req, reply) => {
    const need = req.routeOptions.config?.role;
    if (need === undefined || need === 'public') return;
    // WebSockets are not covered by CORS: a page from another site could open the stream in the
    // user's browser (cross-site WebSocket hijacking, RFC 6455 §10.2). Only this origin and the listed ones may.
    const origin = req.headers.origin;
    if (req.ws && origin !== undefined && !sameOrigin(origin, req.headers.host) && !opts.cors.some((o) => new URL(o).origin === origin))
      return send(reply, new BifrostError('BIFROST_WEB_FORBIDDEN', `WebSocket from origin ${origin} refused (add it to web.cors to allow it)`));
    const token = tokenOf(req);
    let who: Principal | undefined;
    if (token !== undefined) {
      who = tokens.verify(token);
      if (!who) return send(reply, new BifrostError('BIFROST_WEB_UNAUTHORIZED', 'the API token is not valid'));
    } else if (opts.anonymous !== 'none') who = { name: 'anonymous', role: opts.anonymous };
    else return send(reply, new BifrostError('BIFROST_WEB_UNAUTHORIZED', 'an API token is required (Authorization: Bearer <token>)'));
    if (!roleAllows(who.role, need)) {
      req.log.warn({ user: who.name, role: who.role, route: req.routeOptions.url }, 'web: refused, role too low');
      return send(reply, new BifrostError('BIFROST_WEB_FORBIDDEN', `${who.name} is a ${who.role}: ${req.method} ${req.routeOptions.url} needs ${need}`));
    }
    req.principal = who;
  });

  const handlers: Record<string, (req: FastifyRequest, reply: FastifyReply) => unknown> = {
    openapi: () => buildOpenApi(),
    health: (_req, reply) => {
      const h = gateway.health();
      return reply.code(h.status === 'down' ? 503 : 200).send(h);
    },
    metrics: (_req, reply) => {
      const s = hub.stats();
      const extra = [
        '# HELP bifrost_web_stream_clients Connected WebSocket stream clients.',
        '# TYPE bifrost_web_stream_clients gauge',
        `bifrost_web_stream_clients ${s.clients}`,
        '# HELP bifrost_web_stream_values_total Values sent to stream clients.',
        '# TYPE bifrost_web_stream_values_total counter',
        `bifrost_web_stream_values_total ${s.delivered}`,
        '# HELP bifrost_web_stream_coalesced_total Values replaced by a newer one before a client received them.',
        '# TYPE bifrost_web_stream_coalesced_total counter',
        `bifrost_web_stream_coalesced_total ${s.coalesced}`,
        '',
      ].join('\n');
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(gateway.metrics() + extra);
    },
    login: (req, reply) => {
      const rl = loginLimit.hit(req.ip);
      if (!rl.ok) return tooMany(reply, rl.retryAfterS, 'login');
      const body = req.body as { token?: unknown } | undefined;
      if (!body || typeof body.token !== 'string') throw new BifrostError('BIFROST_WEB_BAD_REQUEST', 'body must be {"token": "<token>"}');
      const who = tokens.verify(body.token);
      if (!who) {
        req.log.warn({ ip: req.ip }, 'web: login with an unknown token');
        throw new BifrostError('BIFROST_WEB_UNAUTHORIZED', 'the API token is not valid');
      }
      return who;
    },
    me: (req) => ({ ...(req.principal as Principal), gateway: gateway.config.gateway }),
    devices: () => gateway.devices().map(deviceJson),
    device: (req) => {
      const { device } = req.params as { device: string };
      const d = gateway.devices().find((x) => x.config.name === device);
      if (!d) throw new BifrostError('BIFROST_GATEWAY_UNKNOWN_TAG', `no device ${device} in this gateway`, { device });
      return deviceJson(d);
    },
    tags: (req) => {
      const { device } = req.query as { device?: string };
      const out: Record<string, unknown>[] = [];
      for (const d of gateway.devices()) {
        if (device !== undefined && d.config.name !== device) continue;
        for (const t of d.config.tags) out.push(tagJson(d.config.name, t, gateway.latestOf(d.config.name, t.name)));
      }
      return out;
    },
    tag: (req) => {
      const { device, tag } = req.params as { device: string; tag: string };
      const t = findTag(gateway, device, tag);
      return tagJson(device, t, gateway.latestOf(device, tag));
    },
    write: async (req) => {
      const { device, tag } = req.params as { device: string; tag: string };
      const who = req.principal as Principal;
      const rl = writeLimit.hit(who.name === 'anonymous' ? `ip:${req.ip}` : `user:${who.name}`);
      if (!rl.ok)
        throw Object.assign(new BifrostError('BIFROST_WEB_RATE_LIMITED', `more than ${opts.rateLimit.writes.max} writes in ${opts.rateLimit.writes.windowMs / 1000} s by ${who.name}`), {
          retryAfterS: rl.retryAfterS,
        });
      const body = req.body as { value?: unknown } | undefined;
      if (!body || typeof body !== 'object' || !('value' in body)) throw new BifrostError('BIFROST_WEB_BAD_REQUEST', 'body must be {"value": <number | boolean | string | array>}');
      const v = body.value;
      // Whatever the value, the gateway's write path checks it against the tag and audits the attempt (denied ones too).
      if (Array.isArray(v) && v.length > 4096) throw new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `${device}.${tag}: at most 4096 array elements per write`, { device });
      const r = await gateway.write({ device, tag, value: v, user: who.name, source: 'web' });
      return { device: r.device, tag: r.tag, oldValue: jsonValue(r.oldValue), newValue: jsonValue(r.newValue), at: r.at, user: who.name };
    },
    history: (req) => {
      const { device, tag } = req.params as { device: string; tag: string };
      return history(`${device}.${tag}`, req.query as Record<string, string | undefined>);
    },
    series: () => gateway.store?.series() ?? [],
    seriesHistory: (req) => history((req.params as { series: string }).series, req.query as Record<string, string | undefined>),
    alarms: () => gateway.alarms(),
    ack: (req) => {
      const { id } = req.params as { id: string };
      const who = req.principal as Principal;
      if (!gateway.acknowledgeAlarm(id, who.name)) throw new BifrostError('BIFROST_WEB_NOT_FOUND', `no alarm ${id}`);
      return gateway.alarms().find((a) => a.id === id) ?? { id, acknowledged: true };
    },
    sinks: () => gateway.sinks(),
    config: () => redactConfig(gateway.config),
    stream: () => undefined,
  };

  function history(series: string, q: Record<string, string | undefined>) {
    const store = gateway.store;
    if (!store) throw new BifrostError('BIFROST_GATEWAY_NOT_RUNNING', 'the time-series store is not running (gateway not started)');
    const now = Date.now();
    const to = time(q.to, 'to', now);
    const from = time(q.from, 'from', to - 3_600_000);
    if (from > to) throw new BifrostError('BIFROST_WEB_BAD_REQUEST', `from (${from}) is after to (${to})`);
    const maxPoints = q.maxPoints === undefined ? 1000 : Number(q.maxPoints);
    if (!Number.isInteger(maxPoints) || maxPoints < 2 || maxPoints > opts.maxHistoryPoints)
      throw new BifrostError('BIFROST_WEB_BAD_REQUEST', `maxPoints must be an integer from 2 to ${opts.maxHistoryPoints}, got ${q.maxPoints}`);
    if (!store.series().includes(series)) {
      const dot = series.indexOf('.');
      const known = gateway.config.devices.some((d) => d.name === series.slice(0, dot) && d.tags.some((t) => t.name === series.slice(dot + 1)));
      if (!known) throw new BifrostError('BIFROST_GATEWAY_UNKNOWN_TAG', `no series ${series} (a device.tag or pipeline output)`);
      return { series, from, to, t: [], v: [] };
    }
    const r = store.query(series, { from, to, maxPoints });
    return { series, from, to, t: r.t, v: r.v };
  }

  for (const r of ROUTES) {
    const handler = handlers[r.handler];
    if (!handler) throw new Error(`no handler ${r.handler}`);
    const config = { role: r.role };
    if (r.websocket) {
      app.get(r.url, { websocket: true, config }, (socket) => {
        hub.add(socket);
        socket.on('message', (data: Buffer, isBinary: boolean) => hub.message(socket, isBinary ? '' : data.toString('utf8')));
        socket.on('close', () => hub.remove(socket));
        socket.on('error', () => hub.remove(socket));
      });
    } else app.route({ method: r.method, url: r.url, config, handler: handler as never });
  }

  const uiDir = opts.uiDir ?? DEFAULT_UI;
  const hasUi = existsSync(`${uiDir}/index.html`);
  if (hasUi)
    await app.register(fastifyStatic, {
      root: uiDir,
      prefix: '/',
      wildcard: false,
      // Built assets have content hashes in their names and may be cached for an hour; the page
      // itself must not be (it names the current assets), so it is served below, uncached.
      index: false,
      allowedPath: (path) => path !== '/index.html',
      maxAge: '1h',
    });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if (path.startsWith('/api/') || path.startsWith('/assets/') || req.method !== 'GET') return send(reply, new BifrostError('BIFROST_WEB_NOT_FOUND', `no route ${req.method} ${path}`));
    if (hasUi) return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
    return reply
      .type('text/html')
      .send(
        '<!doctype html><title>Bifrost</title><p>The dashboard is not built: run <code>npm run build:ui -w @bifrost/web</code>. The API is at <a href="/api/openapi.json">/api/openapi.json</a>.</p>',
      );
  });
  return app;
}

/**
 * Starts the API, live stream and dashboard for a gateway. `bifrost run` calls this when the
 * config has a `web:` section.
 * @example
 * const web = await startWebServer(gateway, { port: 8080, tokens: './tokens.yaml', baseDir: '/etc/bifrost' });
 * console.log(`http://127.0.0.1:${web.port}/`); … await web.close();
 */
export async function startWebServer(gateway: Gateway, options: StartWebOptions = {}): Promise<{ port: number; url: string; close(): Promise<void>; app: FastifyInstance }> {
  const app = await createWebApp(gateway, options);
  const opts = resolveWebOptions({ port: options.port, host: options.host }, options.baseDir);
  await listenAt(() => app.listen({ port: opts.port, host: opts.host }), { server: 'web server', field: 'web.port', host: opts.host, port: opts.port });
  const port = (app.server.address() as { port: number }).port;
  const scheme = options.tls ? 'https' : 'http';
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${scheme}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`,
    app,
    close: () => {
      closing ??= (async () => {
        // Open WebSockets would hold the server open: end them first.
        for (const c of (app as unknown as { websocketServer?: { clients: Set<{ terminate(): void }> } }).websocketServer?.clients ?? []) c.terminate();
        await app.close();
      })();
      return closing;
    },
  };
}

function send(reply: FastifyReply, e: BifrostError, status: number = httpStatusOf(e)): FastifyReply {
  if (reply.request.ws) {
    // A refused WebSocket upgrade: answer on the raw socket and close it. A reply sent the usual
    // way goes to the plugin's detached response object, which never finishes and keeps close() waiting.
    const body = JSON.stringify(e.toJSON());
    const head = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
    if (status === 401) head.push('WWW-Authenticate: Bearer realm="bifrost"');
    const socket = reply.request.raw.socket;
    // Destroyed once written: a client that keeps its end open must not hold the server's close().
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
    reply.hijack();
    return reply;
  }
  const retry = (e as BifrostError & { retryAfterS?: number }).retryAfterS;
  if (retry !== undefined) reply.header('retry-after', String(retry));
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="bifrost"');
  return reply.code(status).type('application/json').send(e.toJSON());
}

function tooMany(reply: FastifyReply, retryAfterS: number, what: string): FastifyReply {
  return send(reply, Object.assign(new BifrostError('BIFROST_WEB_RATE_LIMITED', `too many ${what} attempts: retry in ${retryAfterS} s`), { retryAfterS }));
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function tokenOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
    return m ? m[1] : h;
  }
  const p = req.headers['sec-websocket-protocol'];
  if (typeof p === 'string') {
    for (const part of p.split(',')) {
      const s = part.trim();
      if (s.startsWith('bearer.')) return s.slice(7);
    }
  }
  return undefined;
}

function time(q: string | undefined, name: string, dflt: number): number {
  if (q === undefined || q === '') return dflt;
  const n = /^-?\d+$/.test(q) ? Number(q) : Date.parse(q);
  if (!Number.isFinite(n)) throw new BifrostError('BIFROST_WEB_BAD_REQUEST', `${name} must be milliseconds since the epoch or an ISO 8601 date, got ${JSON.stringify(q)}`);
  return n;
}

type DeviceEntry = ReturnType<Gateway['devices']>[number];
type TagCfg = DeviceEntry['config']['tags'][number];

function findTag(gateway: Gateway, device: string, tag: string): TagCfg {
  const d = gateway.devices().find((x) => x.config.name === device);
  const t = d?.config.tags.find((x) => x.name === tag);
  if (!t) throw new BifrostError('BIFROST_GATEWAY_UNKNOWN_TAG', `no tag ${device}.${tag} in this gateway`, { device });
  return t;
}

function deviceJson(d: DeviceEntry): Record<string, unknown> {
  return { name: d.config.name, url: redactUrl(d.config.url), pollMs: d.config.pollMs, tags: d.config.tags.length, health: d.stats.health, stats: d.stats };
}

function tagJson(device: string, t: TagCfg, v: GatewayValue | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { device, tag: t.name, key: `${device}.${t.name}`, address: t.address, writable: t.writable };
  for (const k of ['unit', 'description', 'min', 'max', 'deadband'] as const) if (t[k] !== undefined) out[k] = t[k];
  if (v) {
    out.value = jsonValue(v.value);
    out.quality = v.quality;
    out.timestamp = v.timestamp;
    if (v.error) out.error = { code: v.error.code, message: v.error.message };
  } else {
    out.value = null;
    out.quality = 'uncertain';
  }
  return out;
}

const SECRET = /pass(word)?|secret|token|key|sas|credential/i;

/** The config as JSON, with URL passwords and secret-looking fields masked. */
function redactConfig(cfg: unknown): unknown {
  return JSON.parse(
    JSON.stringify(cfg, (k, v) => {
      // By name, and by value: whatever a secret reference resolved to (core's maskSecrets registry).
      if (typeof v === 'string' && (SECRET.test(k) || containsSecret(v))) return '***';
      if (k === 'tokens' && Array.isArray(v)) return `${v.length} tokens`;
      if (typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return redactUrl(v);
      return v;
    }),
  );
}

export type { RouteSpec };
