/**
 * @module
 * The `web:` section of gateway.yaml, beyond core's `port` and `host`: TLS, tokens, anonymous
 * access, CORS, rate limits and size limits. Validated here, with errors that name the field.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { BifrostError } from '@bifrost/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ROLES, type TokenEntry } from './auth.js';

const role = z.enum(ROLES);
const tokenEntry = z.object({ name: z.string().regex(/^[\w.@-]{1,64}$/), role, hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits> (from createToken)') }).strict();
const limit = z.object({ max: z.number().int().positive(), windowMs: z.number().int().positive() }).strict();

/**
 * The schema of the web options.
 * @example webOptionsSchema.parse({ port: 8080, cors: ['https://scada.example'] })
 */
export const webOptionsSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(8080),
    host: z.string().default('127.0.0.1'),
    /** PEM file paths; when given, the server speaks HTTPS and WSS only. */
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    /** A YAML/JSON file with a list of `{ name, role, hash }`, or the list inline. */
    tokens: z.union([z.string().min(1), z.array(tokenEntry)]).optional(),
    /** The role of a request without a token: `none` (default when tokens exist) or a role (default `viewer` when there are no tokens at all). */
    anonymous: z.union([role, z.literal('none')]).optional(),
    /** Origins allowed to call the API from another site. Off (no CORS headers) by default. */
    cors: z.array(z.string().url()).default([]),
    /**
     * Host names (the Host header, port ignored) the server answers besides its bind address and
     * the localhost names; any other Host gets 421 (DNS rebinding guard). Add the names clients
     * and a reverse proxy use, e.g. `gateway.plant.example`.
     */
    hosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$/, 'a host name or IP address, without port')).default([]),
    rateLimit: z
      .object({
        login: limit.default({ max: 10, windowMs: 60_000 }),
        writes: limit.default({ max: 60, windowMs: 60_000 }),
        /** Failed authentications (unknown or malformed token) per client address, on every route; then 429 until the window ends. */
        authFailures: limit.default({ max: 20, windowMs: 60_000 }),
      })
      .strict()
      .default({ login: { max: 10, windowMs: 60_000 }, writes: { max: 60, windowMs: 60_000 }, authFailures: { max: 20, windowMs: 60_000 } }),
    /** Limits of the live WebSocket stream. */
    stream: z
      .object({
        /** Open stream connections in total; more are refused with 503. */
        maxConnections: z.number().int().positive().default(200),
        /** Open stream connections per client address; more are refused with 429. */
        maxConnectionsPerClient: z.number().int().positive().default(20),
        /** Messages a client may send per second on one connection; the next one closes it with 1008. */
        maxMessagesPerSecond: z.number().int().positive().default(10),
        /** After a connection is closed for too many messages, its address may not open a stream for this long, ms. */
        blockMs: z.number().int().min(0).default(10_000),
        /** Tags one connection may subscribe to (`"all": true` counts as every tag). */
        maxTags: z.number().int().positive().default(10_000),
      })
      .strict()
      .default({ maxConnections: 200, maxConnectionsPerClient: 20, maxMessagesPerSecond: 10, blockMs: 10_000, maxTags: 10_000 }),
    /** Deepest nesting of arrays and objects accepted in a JSON body or stream message; deeper gets 400. */
    maxJsonDepth: z.number().int().min(2).max(1000).default(32),
    /** Largest request body accepted, bytes. */
    maxBodyBytes: z
      .number()
      .int()
      .min(256)
      .default(64 * 1024),
    /** How often the live stream flushes the latest values to each client, ms. */
    streamIntervalMs: z.number().int().min(10).max(10_000).default(100),
    /** A client whose socket holds more than this many unsent bytes is skipped until it drains (its values still coalesce: latest wins). */
    streamMaxBufferedBytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** Largest history answer, points. */
    maxHistoryPoints: z.number().int().positive().default(10_000),
    /** The dashboard files (default: the package's built ui-dist). */
    uiDir: z.string().optional(),
  })
  .strict();

/**
 * Web options as written in the config.
 * @example const input: WebOptionsInput = { port: 8080, tokens: './tokens.yaml' };
 */
export type WebOptionsInput = z.input<typeof webOptionsSchema>;

/**
 * Validated web options, with files read.
 * @example const { tokens, anonymous }: WebOptions = resolveWebOptions(config.web, baseDir);
 */
export type WebOptions = Omit<z.output<typeof webOptionsSchema>, 'tokens' | 'tls' | 'anonymous'> & {
  tokens: TokenEntry[];
  tls?: { cert: Buffer; key: Buffer };
  anonymous: (typeof ROLES)[number] | 'none';
};

/**
 * Validates the web options and reads the files they name (relative to `baseDir`).
 * @example const opts = resolveWebOptions({ port: 8080, tokens: './tokens.yaml' }, '/etc/bifrost')
 */
export function resolveWebOptions(input: unknown, baseDir: string = process.cwd()): WebOptions {
  const parsed = webOptionsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const { path, message } = deepest(parsed.error.issues[0] as Issue | undefined);
    throw new BifrostError('BIFROST_CONFIG_INVALID', `${['web', ...path].join('.')}: ${message}`);
  }
  const o = parsed.data;
  const file = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const read = (field: string, p: string): Buffer => {
    try {
      return readFileSync(file(p));
    } catch (cause) {
      throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `${field}: cannot read ${file(p)}`, { cause });
    }
  };
  let tokens: TokenEntry[] = [];
  if (typeof o.tokens === 'string') {
    let doc: unknown;
    try {
      doc = parseYaml(read('web.tokens', o.tokens).toString('utf8')) ?? [];
    } catch (cause) {
      if (cause instanceof BifrostError) throw cause;
      throw new BifrostError('BIFROST_CONFIG_YAML', `web.tokens: ${file(o.tokens)} is not valid YAML/JSON`, { cause });
    }
    const list = z.array(tokenEntry).safeParse(doc);
    if (!list.success) {
      const issue = list.error.issues[0];
      throw new BifrostError('BIFROST_CONFIG_INVALID', `web.tokens (${file(o.tokens)}) [${issue?.path.join('.')}]: ${issue?.message}`);
    }
    tokens = list.data;
  } else if (o.tokens) tokens = o.tokens;
  const { tls, anonymous, tokens: _t, ...rest } = o;
  const out: WebOptions = { ...rest, tokens, anonymous: anonymous ?? (tokens.length === 0 ? 'viewer' : 'none') };
  if (tls) out.tls = { cert: read('web.tls.cert', tls.cert), key: read('web.tls.key', tls.key) };
  return out;
}

interface Issue {
  code?: string;
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
}

/** For a union (tokens: a file path or a list), the issue of the branch that got furthest, so the message names the real field. */
function deepest(issue: Issue | undefined): { path: PropertyKey[]; message: string } {
  if (!issue) return { path: [], message: 'invalid' };
  if (issue.code === 'invalid_union' && issue.errors && issue.errors.length > 0) {
    let best: { path: PropertyKey[]; message: string } | undefined;
    for (const branch of issue.errors) {
      const d = deepest(branch[0]);
      if (!best || d.path.length > best.path.length) best = d;
    }
    if (best && best.path.length > 0) return { path: [...issue.path, ...best.path], message: best.message };
  }
  return { path: issue.path, message: issue.message };
}
