/**
 * @module
 * The web server: the REST API, the live WebSocket stream and the dashboard, on fastify. Every
 * route sits in one table (`ROUTES`) that drives both the role checks and the OpenAPI document,
 * so the two cannot disagree. Every write goes through `gateway.write` (the audited path).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type AuditRecord, BifrostError, containsSecret, type ErrorCode, isBifrostError, jsonValue, listenAt, redact, redactText, redactUrl, type Value } from '@bifrost/core';
import { type Gateway, type GatewayValue, isLoopback, isServedHost } from '@bifrost/gateway';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type Principal, type Role, roleAllows, TokenStore } from './auth.js';
import { StreamHub } from './live.js';
import { buildOpenApi, ROUTES, type RouteSpec } from './openapi.js';
import { resolveWebOptions, type WebOptions } from './options.js';
import { RateLimiter } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    role?: Role | 'public';
    /** The route changes the plant (a write, an alarm acknowledgement): every attempt is audited. */
    audited?: 'write' | 'ack';
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
  BIFROST_WEB_MISDIRECTED: 421,
  BIFROST_WEB_BUSY: 503,
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

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

const DEFAULT_UI = fileURLToPath(new URL('../ui-dist/', import.meta.url));

/**
 * Validates a `web:` section as the server would at start (fields, tokens and TLS files, and
 * the bind policy), without starting anything: `bifrost run --check` calls it. Anonymous access
 * is for loopback: bound to another address, a gateway without tokens would show the plant to the
 * whole network, so that is refused unless `anonymous` says so explicitly.
 * @example checkWebOptions(config.web, dirname(configFile))
 */
export function checkWebOptions(input: Record<string, unknown>, baseDir?: string): WebOptions {
  const opts = resolveWebOptions(input, baseDir);
  if (!isLoopback(opts.host) && opts.tokens.length === 0 && input.anonymous === undefined)
    throw new BifrostError(
      'BIFROST_CONFIG_INVALID',
      `web.host: ${opts.host} is not a loopback address and web.tokens is empty, so anyone on that network could read the plant; add web.tokens (bifrost token create), or set web.anonymous: viewer to allow it knowingly`,
    );
  return opts;
}

/**
 * Builds the fastify app (not listening): for tests with `app.inject()` and for embedding.
 * @example
 * const app = await createWebApp(gateway, { tokens: [entry] });
 * const res = await app.inject({ url: '/api/tags', headers: { authorization: `Bearer ${token}` } });
 */
export async function createWebApp(gateway: Gateway, options: StartWebOptions = {}): Promise<FastifyInstance> {
  const { logger, baseDir, ...webInput } = options;
  const opts = checkWebOptions(webInput, baseDir);
  const tokens = new TokenStore(opts.tokens);
  const exposed = !isLoopback(opts.host);
  if (opts.anonymous !== 'none' && logger)
    logger.warn(
      { role: opts.anonymous, host: opts.host },
      `web: requests without a token act as ${opts.anonymous}${exposed ? ` on ${opts.host}, a non-loopback address` : ''}${opts.tokens.length === 0 ? ' (no tokens configured: create one with createToken to allow writes)' : ''}`,
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
  const authFailures = new RateLimiter(opts.rateLimit.authFailures);
  const hub = new StreamHub(gateway, { intervalMs: opts.streamIntervalMs, maxBufferedBytes: opts.streamMaxBufferedBytes, maxTags: opts.stream.maxTags, maxJsonDepth: opts.maxJsonDepth });
  const auditedByGateway = new WeakSet<object>();
  const streams = { total: 0, byClient: new Map<string, number>(), blockedUntil: new Map<string, number>() };

  /**
   * Who a request is. A credential that fails (unknown token, or a header without the Bearer
   * scheme) counts against the client address on every route; past `rateLimit.authFailures`
   * the address gets 429 without its tokens being checked. Logged with the address, never the token.
   */
  const authenticate = (req: FastifyRequest): { who: Principal } | { error: BifrostError } => {
    const cred = credentialOf(req);
    if (cred === undefined) {
      if (opts.anonymous !== 'none') return { who: { name: 'anonymous', role: opts.anonymous } };
      return { error: new BifrostError('BIFROST_WEB_UNAUTHORIZED', 'an API token is required (Authorization: Bearer <token>)') };
    }
    const b = authFailures.blocked(req.ip);
    if (b.blocked) return { error: rateLimited(`too many failed authentications from ${req.ip}: retry in ${b.retryAfterS} s`, b.retryAfterS) };
    const who = 'token' in cred ? tokens.verify(cred.token) : undefined;
    if (who) return { who };
    const r = authFailures.hit(req.ip);
    req.log.warn({ ip: req.ip, route: req.routeOptions.url ?? req.url.split('?')[0], reason: 'token' in cred ? 'unknown token' : 'not a Bearer credential' }, 'web: failed authentication');
    if (!r.ok) return { error: rateLimited(`too many failed authentications from ${req.ip}: retry in ${r.retryAfterS} s`, r.retryAfterS) };
    return { error: new BifrostError('BIFROST_WEB_UNAUTHORIZED', 'token' in cred ? 'the API token is not valid' : 'send the token as Authorization: Bearer <token>') };
  };

  /** One audit line per attempt to change the plant, whatever its outcome (the gateway's write path audits the writes it runs). */
  const audit = (req: FastifyRequest, user: string, result: AuditRecord['result'], error?: BifrostError, newValue?: unknown): void => {
    const p = req.params as { device?: string; tag?: string; id?: string };
    const base = { user, source: 'web', client: req.ip, result, ...(error ? { error: { code: error.code, message: error.message } } : {}) } as const;
    let record: AuditRecord;
    if (req.routeOptions.config?.audited === 'ack') {
      const alarm = gateway.alarms().find((a) => a.id === p.id);
      const dot = alarm ? alarm.source.indexOf('.') : -1;
      record = {
        action: 'ack',
        ...base,
        device: alarm ? (dot > 0 ? alarm.source.slice(0, dot) : alarm.pipeline) : '',
        ...(alarm && dot > 0 ? { tag: alarm.source.slice(dot + 1) } : {}),
        address: `alarm:${p.id ?? ''}`,
        newValue: 'acknowledged',
      };
    } else {
      const t = gateway.config.devices.find((d) => d.name === p.device)?.tags.find((x) => x.name === p.tag);
      record = { action: 'write', ...base, device: p.device ?? '', tag: p.tag ?? '', address: t?.address ?? '' };
      if (newValue !== undefined) record.newValue = plain(newValue);
    }
    gateway.audit.append(record).catch((e: unknown) => req.log.error({ err: { message: (e as Error).message } }, 'web: audit log append failed'));
  };
  app.decorate('bifrostStream', hub);
  app.addHook('onClose', async () => hub.close());

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (isBifrostError(err)) {
      if (req.routeOptions.config?.audited && !auditedByGateway.has(err)) audit(req, req.principal?.name ?? 'anonymous', 'denied', err);
      return send(reply, err);
    }
    const status = err.statusCode ?? 500;
    const refuse = (e: BifrostError, s?: number) => {
      if (req.routeOptions.config?.audited) audit(req, req.principal?.name ?? 'anonymous', 'denied', e);
      return send(reply, e, s);
    };
    if (status === 413) return refuse(new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `request body exceeds ${opts.maxBodyBytes} bytes`));
    if (status >= 400 && status < 500)
      return refuse(
        new BifrostError('BIFROST_WEB_BAD_REQUEST', err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'send the body as application/json' : `malformed request: ${err.message}`),
        status === 415 ? 415 : 400,
      );
    // The details go to the log only: an internal message can name files, addresses or a library's state.
    req.log.error({ err: { message: err.message, code: err.code } }, `web: ${req.method} ${req.url.split('?')[0]} failed`);
    return send(reply, new BifrostError('BIFROST_WEB_INTERNAL', `internal error in ${req.method} ${req.url.split('?')[0]} (the gateway log has the details)`), 500);
  });

  // JSON bodies: the nesting depth is checked on the text before parsing, so a body nested
  // 20,000 levels deep is a 400, not a stack overflow in the parser.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const depth = jsonDepth(body as string, opts.maxJsonDepth);
    if (depth > opts.maxJsonDepth) return done(new BifrostError('BIFROST_WEB_BAD_REQUEST', `the JSON body is nested deeper than ${opts.maxJsonDepth} levels`), undefined);
    return defaultJson(req, body as string, done);
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
    // connect-src 'self' covers the page's own ws:/wss: origin (CSP Level 3 §6.7.2.8); no other host.
    reply.header('content-security-policy', "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
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

  // DNS rebinding: a page of evil.example whose name now resolves to the gateway sends
  // `Host: evil.example`; only the names this gateway serves are answered (RFC 9110 §15.5.20, 421).
  app.addHook('onRequest', async (req, reply) => {
    if (isServedHost(req.headers.host, opts.host, opts.hosts)) return;
    req.log.warn({ ip: req.ip, host: String(req.headers.host ?? '').slice(0, 100) }, 'web: refused a Host this gateway does not serve');
    return send(reply, new BifrostError('BIFROST_WEB_MISDIRECTED', 'this gateway does not answer that Host name (add it to web.hosts)'));
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
    const auth = authenticate(req);
    const audited = req.routeOptions.config?.audited;
    if ('error' in auth) {
      if (audited) audit(req, credentialOf(req) === undefined ? 'anonymous' : '(invalid token)', 'denied', auth.error);
      return send(reply, auth.error);
    }
    const who = auth.who;
    if (!roleAllows(who.role, need)) {
      req.log.warn({ user: who.name, role: who.role, ip: req.ip, route: req.routeOptions.url }, 'web: refused, role too low');
      const e = new BifrostError('BIFROST_WEB_FORBIDDEN', `${who.name} is a ${who.role}: ${req.method} ${req.routeOptions.url} needs ${need}`);
      if (audited) audit(req, who.name, 'denied', e);
      return send(reply, e);
    }
    if (req.ws) {
      // Stream connections are counted from the upgrade to the socket's close: in total and per address.
      const mine = streams.byClient.get(req.ip) ?? 0;
      const until = streams.blockedUntil.get(req.ip);
      if (until !== undefined && until > Date.now())
        return send(reply, rateLimited(`${req.ip} flooded the live stream: no new stream for ${Math.ceil((until - Date.now()) / 1000)} s`, Math.ceil((until - Date.now()) / 1000)));
      if (until !== undefined) streams.blockedUntil.delete(req.ip);
      if (streams.total >= opts.stream.maxConnections)
        return send(reply, Object.assign(new BifrostError('BIFROST_WEB_BUSY', `the live stream has ${streams.total} connections, the most web.stream.maxConnections allows`), { retryAfterS: 5 }));
      if (mine >= opts.stream.maxConnectionsPerClient) {
        req.log.warn({ ip: req.ip, connections: mine }, 'web: refused a stream connection, per-client limit');
        return send(reply, rateLimited(`${req.ip} has ${mine} stream connections, the most web.stream.maxConnectionsPerClient allows`, 5));
      }
      streams.total++;
      streams.byClient.set(req.ip, mine + 1);
      const ip = req.ip;
      req.raw.socket.once('close', () => {
        streams.total--;
        const n = (streams.byClient.get(ip) ?? 1) - 1;
        if (n <= 0) streams.byClient.delete(ip);
        else streams.byClient.set(ip, n);
      });
    }
    req.principal = who;
  });

  const handlers: Record<string, (req: FastifyRequest, reply: FastifyReply) => unknown> = {
    openapi: () => buildOpenApi(),
    health: (req, reply) => {
      const h = gateway.health();
      // Device and sink names are for signed-in users; the public (a load balancer) gets the status.
      const full = opts.anonymous !== 'none' || (credentialOf(req) !== undefined && 'who' in authenticate(req));
      return reply.code(h.status === 'down' ? 503 : 200).send(full ? h : { status: h.status });
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
      const b = authFailures.blocked(req.ip);
      if (b.blocked) return tooMany(reply, b.retryAfterS, 'failed authentication');
      const body = req.body as { token?: unknown } | undefined;
      if (!body || typeof body.token !== 'string') throw new BifrostError('BIFROST_WEB_BAD_REQUEST', 'body must be {"token": "<token>"}');
      const who = tokens.verify(body.token);
      if (!who) {
        authFailures.hit(req.ip);
        req.log.warn({ ip: req.ip, route: '/api/login', reason: 'unknown token' }, 'web: failed authentication');
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
    write: async (req, reply) => {
      const { device, tag } = req.params as { device: string; tag: string };
      const who = req.principal as Principal;
      const body = req.body as { value?: unknown } | undefined;
      const rl = writeLimit.hit(who.name === 'anonymous' ? `ip:${req.ip}` : `user:${who.name}`);
      if (!rl.ok) {
        const e = rateLimited(`more than ${opts.rateLimit.writes.max} writes in ${opts.rateLimit.writes.windowMs / 1000} s by ${who.name}`, rl.retryAfterS);
        // Audited here with the requested value; the error handler would not know it.
        audit(req, who.name, 'denied', e, body && typeof body === 'object' ? body.value : undefined);
        return send(reply, e);
      }
      if (!body || typeof body !== 'object' || !('value' in body)) throw new BifrostError('BIFROST_WEB_BAD_REQUEST', 'body must be {"value": <number | boolean | string | array>}');
      const v = body.value;
      // Whatever the value, the gateway's write path checks it against the tag and audits the attempt (denied ones too).
      if (Array.isArray(v) && v.length > 4096) throw new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `${device}.${tag}: at most 4096 array elements per write`, { device });
      const r = await gateway.write({ device, tag, value: v, user: who.name, source: 'web', client: req.ip }).catch((e: unknown) => {
        // The gateway's write path audited this failure itself: the error handler must not add a second line.
        if (typeof e === 'object' && e !== null) auditedByGateway.add(e);
        throw e;
      });
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
      // Not found is audited as denied by the error handler.
      if (!gateway.acknowledgeAlarm(id, who.name)) throw new BifrostError('BIFROST_WEB_NOT_FOUND', `no alarm ${id}`);
      audit(req, who.name, 'ok');
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
    const config: { role: Role | 'public'; audited?: 'write' | 'ack' } = { role: r.role };
    if (r.handler === 'write' || r.handler === 'ack') config.audited = r.handler;
    if (r.websocket) {
      app.get(r.url, { websocket: true, config }, (socket, req) => {
        hub.add(socket);
        // Messages per second per connection: past the limit the connection is closed with 1008
        // (policy violation, RFC 6455 §7.4.1) before the message is parsed.
        let windowStart = Date.now();
        let count = 0;
        let closed = false;
        socket.on('message', (data: Buffer, isBinary: boolean) => {
          if (closed) return;
          const now = Date.now();
          if (now - windowStart >= 1000) {
            windowStart = now;
            count = 0;
          }
          if (++count > opts.stream.maxMessagesPerSecond) {
            closed = true;
            hub.remove(socket);
            // The address may not open a stream for blockMs: a flooder that reconnects at once gets a cheap 429.
            streams.blockedUntil.set(req.ip, now + opts.stream.blockMs);
            if (streams.blockedUntil.size > 10_000) streams.blockedUntil.clear();
            req.log.warn({ ip: req.ip, user: req.principal?.name }, `web: stream closed, more than ${opts.stream.maxMessagesPerSecond} messages in a second`);
            socket.close(1008, 'too many messages');
            // Stop reading what the client still sends; the socket goes when the close frame is out.
            (socket as unknown as { _socket?: { pause(): void } })._socket?.pause();
            setTimeout(() => socket.terminate(), 1000).unref();
            return;
          }
          hub.message(socket, isBinary ? '' : data.toString('utf8'));
        });
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
    const body = JSON.stringify(redact(e.toJSON()));
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
  return reply.code(status).type('application/json').send(redact(e.toJSON()));
}

function rateLimited(message: string, retryAfterS: number): BifrostError {
  return Object.assign(new BifrostError('BIFROST_WEB_RATE_LIMITED', message), { retryAfterS });
}

function tooMany(reply: FastifyReply, retryAfterS: number, what: string): FastifyReply {
  return send(reply, rateLimited(`too many ${what} attempts: retry in ${retryAfterS} s`, retryAfterS));
}

/** A requested value as the audit log can hold it (a JSON primitive or array; anything else as text). */
function plain(v: unknown): Value {
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v as Value;
  if (Array.isArray(v)) return v.slice(0, 4096).map((x) => plain(x)) as Value;
  return JSON.stringify(v)?.slice(0, 1024) ?? String(v);
}

/**
 * The deepest nesting of arrays and objects in a JSON text, counted without parsing (strings
 * skipped); stops counting past `limit`.
 * @example jsonDepth('{"a":[1,[2]]}', 32) // 3
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The credential a request carries: a Bearer token, something else in Authorization (refused: RFC 6750 §2.1 names the scheme), or nothing. */
function credentialOf(req: FastifyRequest): { token: string } | { malformed: true } | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
    return m ? { token: m[1] as string } : { malformed: true };
  }
  const t = subprotocolToken(req);
  return t === undefined ? undefined : { token: t };
}

/** The token of a browser WebSocket, passed as the `bearer.<token>` subprotocol. */
function subprotocolToken(req: FastifyRequest): string | undefined {
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
  return { name: d.config.name, url: redactUrl(d.config.url), pollMs: d.config.pollMs, tags: d.config.tags.length, health: d.stats.health, stats: redact(d.stats) };
}

function tagJson(device: string, t: TagCfg, v: GatewayValue | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { device, tag: t.name, key: `${device}.${t.name}`, address: t.address, writable: t.writable };
  for (const k of ['unit', 'description', 'min', 'max', 'deadband'] as const) if (t[k] !== undefined) out[k] = t[k];
  if (v) {
    out.value = jsonValue(v.value);
    out.quality = v.quality;
    out.timestamp = v.timestamp;
    if (v.error) out.error = { code: v.error.code, message: redactText(v.error.message) };
  } else {
    out.value = null;
    out.quality = 'uncertain';
  }
  return out;
}

/** The config as JSON through core's one redaction (URL passwords, secret fields); token lists as a count. */
function redactConfig(cfg: unknown): unknown {
  return redact(
    JSON.parse(
      JSON.stringify(cfg, (k, v) => {
        // Whatever a secret reference resolved to goes whole (core's maskSecrets registry); the rest through core's redact.
        if (typeof v === 'string' && containsSecret(v)) return '***';
        if (k === 'tokens' && Array.isArray(v)) return `${v.length} tokens`;
        return v;
      }),
    ),
  );
}

export type { RouteSpec };
