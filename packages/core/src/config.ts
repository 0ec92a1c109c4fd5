/**
 * @module
 * The gateway config: YAML parsed with positions and validated with zod. An error names the file,
 * the line and column, the field path, and what was expected. Pipeline steps and sinks are checked
 * here for shape only; their packages check the details and report through {@link ConfigSource.errorAt}
 * so their errors carry lines too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { BifrostError } from './errors/index.js';
import { redact } from './redact.js';
import { type ExecSecretCommand, isSecretField, resolveSecrets, resolveSecretsSync, type SecretResolveOptions } from './secrets.js';
import { parseBytes, parseDuration } from './timing.js';

const duration = z.union([z.number().nonnegative(), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|min|h|d)?\s*$/i, 'a duration such as 500ms, 10s, 5m')]).transform((v) => parseDuration(v));
const bytes = z.union([z.number().nonnegative(), z.string().regex(/^\s*\d+(\.\d+)?\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i, 'a size such as 64MB, 1GB')]).transform((v) => parseBytes(v));
const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a name of letters, digits, _ and - starting with a letter or _');

const scale = z.union([
  z.object({ rawMin: z.number(), rawMax: z.number(), engMin: z.number(), engMax: z.number(), clamp: z.boolean().optional() }).strict(),
  z.object({ gain: z.number(), offset: z.number().optional() }).strict(),
]);

/** One tag of a device. */
export const tagSchema = z
  .object({
    name,
    address: z.string().min(1, 'a tag address'),
    unit: z.string().optional(),
    description: z.string().optional(),
    deadband: z.number().nonnegative().optional(),
    writable: z.boolean().default(false),
    scale: scale.optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /** Writes of NaN and ±Infinity to a numeric tag are refused unless this is true. */
    allowNonFinite: z.boolean().default(false),
    pollMs: duration.optional(),
  })
  .strict();

/** One device. */
export const deviceSchema = z
  .object({
    name,
    url: z.string().min(1, 'a device URL such as modbus://host:502?unit=1'),
    pollMs: duration.default(1000),
    timeoutMs: duration.optional(),
    /** No good value for this long (every tag bad in every poll, at least two polls): reset the connection. Default 5 s; 0 = never. */
    deadAfter: duration.optional(),
    /**
     * How the tags are acquired: `poll` reads them every `pollMs` (the default); `subscribe` has
     * the server publish their changes every `pollMs` (OPC UA subscriptions; refused for drivers
     * that cannot subscribe).
     */
    acquisition: z.enum(['poll', 'subscribe']).optional(),
    enabled: z.boolean().default(true),
    options: z.record(z.string(), z.unknown()).optional(),
    tags: z.array(tagSchema).min(1, 'at least one tag'),
  })
  .strict();

/** One pipeline: inputs `device.tag` and a list of steps, each an object with one step key. */
export const pipelineSchema = z
  .object({
    name,
    from: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*$/, 'an input of the form device.tag')).min(1, 'at least one input'),
    steps: z.array(z.record(z.string(), z.unknown())).default([]),
    /** Forward the pipeline's output to the sinks (default true). */
    forward: z.boolean().default(true),
  })
  .strict();

/** One sink; each sink type checks its own fields. */
export const sinkSchema = z.object({ type: z.string().min(1), name: name.optional() }).passthrough();

/** `secrets:` — the commands `${exec:NAME}` references run (see secrets.ts and docs/configuration.md#secrets). */
export const secretsSchema = z
  .object({
    exec: z
      .record(
        name,
        z
          .object({ command: z.array(z.string().min(1)).min(1, 'a command such as [vault, kv, get, -format=json, secret/gw]'), timeout: duration.default(5000), jsonKey: z.string().min(1).optional() })
          .strict(),
      )
      .default({}),
  })
  .strict();

/** The gateway's OPC UA server (`@bifrost/opcua`, started by `bifrost run`); every field is built, anything else is refused. */
export const opcuaServerSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(4840),
    /** Path of the endpoint URL, e.g. `/bifrost`. */
    path: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'an endpoint path such as /bifrost')
      .default(''),
    /** Host name written into the endpoint URLs (default: host, or the machine's name for 0.0.0.0). */
    hostname: z.string().min(1).optional(),
    applicationName: z.string().min(1).default('Bifrost'),
    applicationUri: z.string().min(1).optional(),
    securityPolicies: z
      .array(z.enum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']))
      .min(1)
      .default(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']),
    securityModes: z
      .array(z.enum(['None', 'Sign', 'SignAndEncrypt']))
      .min(1)
      .default(['None', 'Sign', 'SignAndEncrypt']),
    allowAnonymous: z.boolean().default(true),
    users: z.array(z.object({ name: z.string().min(1), password: z.string().min(1) }).strict()).default([]),
    /** X.509 user certificates trusted in `<pkiDir>/users/trusted/certs`; the user is the certificate's CN. */
    x509Users: z.boolean().default(false),
    /** Users (names, or X.509 CNs, or `anonymous`) whose writes are passed to the gateway; nobody by default. */
    writeUsers: z.array(z.string().min(1)).default([]),
    /** The server's PKI folder (default `<dataDir>/pki-opcua-server`). */
    pkiDir: z.string().min(1).optional(),
    acceptUnknownCertificates: z.boolean().default(false),
    maxSessions: z.number().int().min(1).max(10_000).default(50),
    maxConnections: z.number().int().min(1).max(10_000).default(100),
    maxMonitoredItems: z.number().int().min(1).max(10_000_000).default(100_000),
    maxMessageSize: bytes.default(16 * 1024 * 1024),
  })
  .strict();

/** The whole gateway config. */
export const gatewayConfigSchema = z
  .object({
    gateway: z
      .object({ name: name.default('bifrost'), site: z.string().optional(), area: z.string().optional() })
      .strict()
      .default({ name: 'bifrost' }),
    devices: z.array(deviceSchema).default([]),
    pipelines: z.array(pipelineSchema).default([]),
    sinks: z.array(sinkSchema).default([]),
    store: z
      .object({ memory: bytes.default(64 * 1024 * 1024), retention: duration.optional(), chunkPoints: z.number().int().positive().optional() })
      .strict()
      .default({ memory: 64 * 1024 * 1024 }),
    web: z
      .object({ port: z.number().int().min(0).max(65535).default(8080), host: z.string().default('127.0.0.1') })
      .passthrough()
      .optional(),
    /**
     * The folder for everything the gateway writes: sink queues (`queue/<sink>`), the audit log
     * (`audit.jsonl`) and the OPC UA client PKI (`pki/`). Relative to the config file's folder;
     * default `$BIFROST_DATA_DIR`, else `./data`. Created mode 0700 (docs/deploy.md).
     */
    dataDir: z
      .string()
      .min(1)
      .default(() => process.env.BIFROST_DATA_DIR || './data'),
    audit: z
      .object({ file: z.string().min(1).optional() })
      .strict()
      .default({}),
    opcuaServer: opcuaServerSchema.optional(),
    metrics: z
      .object({
        port: z.number().int().min(0).max(65535).optional(),
        host: z.string().default('127.0.0.1'),
        hosts: z.array(z.string()).default([]),
        tokens: z.union([z.string().min(1), z.array(z.object({ name: z.string(), role: z.string(), hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>') }).strict())]).optional(),
      })
      .strict()
      .optional(),
    secrets: secretsSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.devices.forEach((d, i) => {
      if (seen.has(d.name)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'name'], message: `a unique device name ("${d.name}" is used by devices[${seen.get(d.name)}])` });
      seen.set(d.name, i);
      const tags = new Set<string>();
      d.tags.forEach((t, j) => {
        if (tags.has(t.name)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'tags', j, 'name'], message: `a unique tag name within device ${d.name} ("${t.name}" repeats)` });
        tags.add(t.name);
      });
    });
    const known = new Set(cfg.devices.flatMap((d) => d.tags.map((t) => `${d.name}.${t.name}`)));
    cfg.pipelines.forEach((p, i) => {
      p.from.forEach((f, j) => {
        if (!known.has(f)) ctx.addIssue({ code: 'custom', path: ['pipelines', i, 'from', j], message: `a known device.tag ("${f}" is not defined)` });
      });
    });
  })
  .transform((cfg) => withDataDir(cfg));

/** What lives under dataDir unless the config names another place: the audit log and each sink's queue. */
function withDataDir<C extends { dataDir: string; audit: { file?: string | undefined }; sinks: Array<{ type: string; name?: string | undefined }> }>(cfg: C): C & { audit: { file: string } } {
  const under = (...parts: string[]) => `${cfg.dataDir.replace(/\/+$/, '')}/${parts.join('/')}`;
  const sinks = cfg.sinks.map((s, i) => {
    const buffer = (s as { buffer?: unknown }).buffer;
    const dir = under('queue', s.name ?? `${s.type}-${i}`);
    if (buffer === undefined) return { ...s, buffer: { dir } };
    if (buffer !== null && typeof buffer === 'object' && !Array.isArray(buffer) && (buffer as { dir?: unknown }).dir === undefined) return { ...s, buffer: { ...buffer, dir } };
    return s;
  });
  return { ...cfg, sinks, audit: { ...cfg.audit, file: cfg.audit.file ?? under('audit.jsonl') } };
}

/** The validated gateway config. */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;
export type TagConfig = z.output<typeof tagSchema>;
export type PipelineConfig = z.output<typeof pipelineSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
export type OpcuaServerConfig = z.output<typeof opcuaServerSchema>;

/** A position in a config file (1-based). */
export interface SourcePosition {
  line: number;
  column: number;
}

/**
 * A parsed config file that can say where any field path stands in it. The YAML document with the
 * positions of its nodes is large (about 1 KB per tag: over 100 MB for 100,000 tags), and only an
 * error needs it: it is dropped once the data is taken out ({@link toJS}) and parsed again from
 * the text on the first error after that.
 */
export class ConfigSource {
  readonly file: string;
  readonly text: string;
  #doc: ReturnType<typeof parseDocument> | undefined;
  #lines: LineCounter;

  /** With `data`, the YAML was parsed elsewhere (a worker, for a large file): the document is made only for an error. */
  constructor(file: string, text: string, data?: unknown) {
    this.file = file;
    this.text = text;
    this.#lines = new LineCounter();
    if (data !== undefined) {
      this.#data = data;
      return;
    }
    this.#doc = this.#parse();
    const first = this.#doc.errors[0];
    if (first) throw yamlError(file, first.message, this.#lines.linePos(first.pos[0]));
  }

  #data: unknown;

  #parse(): ReturnType<typeof parseDocument> {
    this.#lines = new LineCounter();
    return parseDocument(this.text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The document as plain data (the document itself is let go: see the class). */
  toJS(): unknown {
    if (this.#data !== undefined) {
      const data = this.#data;
      this.#data = undefined;
      return data;
    }
    const doc = this.#doc ?? this.#parse();
    this.#doc = undefined;
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
  }

  /** Where the value at `path` stands; the nearest existing parent when the field is missing. */
  locate(path: readonly PropertyKey[], atKey = false): SourcePosition {
    this.#doc ??= this.#parse();
    let node: unknown = this.#doc.contents;
    let best: Node | undefined = node as Node | undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
        if (!pair) break;
        best = (pair.key as Node) ?? best;
        node = pair.value;
        if (atKey && key === path[path.length - 1]) break;
        if (node && (node as Node).range && !isMap(node) && !isSeq(node)) best = node as Node;
        else if (node && (node as Node).range) best = (pair.key as Node) ?? (node as Node);
      } else if (isSeq(node) && typeof key === 'number') {
        const item = node.items[key] as Node | undefined;
        if (!item) break;
        node = item;
        best = item;
      } else break;
    }
    const offset = best?.range?.[0] ?? 0;
    const p = this.#lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * A BIFROST_CONFIG_INVALID error at `path`: `file:line:col: field: expected …`.
   * @example throw source.errorAt(['pipelines', 0, 'steps', 1, 'window', 'size'], 'a positive duration such as 10s')
   */
  errorAt(path: readonly PropertyKey[], expected: string, got?: unknown, atKey = false): BifrostError {
    const pos = this.locate(path, atKey);
    const field = formatPath(path);
    const gotText = got === undefined ? '' : isSecretField(String(path[path.length - 1] ?? '')) ? `, got a ${typeof got} (not shown: a secret)` : `, got ${JSON.stringify(redact(got))}`;
    return new BifrostError('BIFROST_CONFIG_INVALID', `${this.file}:${pos.line}:${pos.column}: ${field}: expected ${expected}${gotText}`, {
      details: { file: this.file, line: pos.line, column: pos.column, field, expected },
    });
  }
}

function yamlError(file: string, message: string, pos: { line: number; col: number }): BifrostError {
  return new BifrostError('BIFROST_CONFIG_YAML', `${file}:${pos.line}:${pos.col}: invalid YAML: ${message.split('\n')[0]}`, { details: { file, line: pos.line, column: pos.col } });
}

/** Files from this size on are parsed in a worker thread (see yaml-worker.ts). */
const WORKER_PARSE_BYTES = 256 * 1024;

/**
 * A config file as a {@link ConfigSource}: a large one parsed in a worker thread, whose heap goes
 * back to the system when it ends, so the gateway's heap never holds the YAML document's peak.
 */
async function readSource(file: string, text: string): Promise<ConfigSource> {
  const worker = new URL('./yaml-worker.js', import.meta.url);
  // Running from the TypeScript sources (tests) there is no compiled worker: parse here.
  if (text.length < WORKER_PARSE_BYTES || !existsSync(fileURLToPath(worker))) return new ConfigSource(file, text);
  const answer = await new Promise<{ data?: unknown; error?: { message: string; line: number; column: number } }>((resolve, reject) => {
    // The parent's own flags (e.g. --input-type of `node -e`) are not all valid for a worker.
    const w = new Worker(worker, { workerData: { text }, execArgv: [] });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new BifrostError('BIFROST_CONFIG_YAML', `${file}: the YAML parser stopped (exit ${code}) before it answered`)));
  });
  if (answer.error) throw yamlError(file, answer.error.message, { line: answer.error.line, col: answer.error.column });
  return new ConfigSource(file, text, answer.data ?? {});
}

/** `devices[0].tags[2].address` from a path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s || '(root)';
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}`;
    case 'unrecognized_keys':
      return `no field named ${issue.keys.map((k) => `"${k}"`).join(', ')} here`;
    case 'too_small':
      return issue.message.startsWith('Too small') || issue.message.startsWith('Array must') ? `at least ${String(issue.minimum)}${issue.origin === 'array' ? ' item(s)' : ''}` : issue.message;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'one of the accepted forms (see docs/configuration.md)';
    default:
      return issue.message;
  }
}

/**
 * Parses and validates gateway config text. Throws BIFROST_CONFIG_YAML or BIFROST_CONFIG_INVALID
 * naming file, line, field and expectation.
 * @example const { config, source } = parseGatewayConfig(text, 'gateway.yaml')
 */
export function parseGatewayConfig(text: string, file = 'gateway.yaml'): { config: GatewayConfig; source: ConfigSource } {
  const source = new ConfigSource(file, text);
  return validateGatewayConfig(resolveSecretsSync(source.toJS(), secretOptions(source, {})).data, source);
}

function validateGatewayConfig(data: unknown, source: ConfigSource): { config: GatewayConfig; source: ConfigSource } {
  const result = gatewayConfigSchema.safeParse(data);
  if (!result.success) throw issueError(result.error, data, source);
  const config = result.data;
  // An OPC UA client keeps its certificate under dataDir too (unless the device names a PKI).
  const pki = resolve(dirname(resolve(source.file)), config.dataDir, 'pki');
  for (const d of config.devices) {
    if (/^opc\.tcp:/i.test(d.url) && !/[?&]pki=/.test(d.url) && d.options?.pkiDir === undefined) d.options = { ...d.options, pkiDir: pki };
  }
  return { config, source };
}

function issueError(error: z.ZodError, data: unknown, source: ConfigSource): BifrostError {
  const issue = error.issues[0] as z.core.$ZodIssue;
  let path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys' && issue.keys[0]) path = [...path, issue.keys[0]];
  const unknownKey = issue.code === 'unrecognized_keys';
  // A field that held a secret reference is never quoted back (its value is the secret).
  const got = unknownKey || issue.code === 'custom' ? undefined : valueAt(data, path);
  const err = source.errorAt(path, describeIssue(issue), got === undefined || typeof got === 'object' || hasRef(source, path) ? undefined : got, unknownKey);
  const more = error.issues.length - 1;
  if (more > 0) (err as { message: string }).message += ` (and ${more} more problem${more > 1 ? 's' : ''})`;
  return err;
}

function hasRef(source: ConfigSource, path: readonly PropertyKey[]): boolean {
  const raw = valueAt(source.toJS(), path);
  return typeof raw === 'string' && raw.includes('${');
}

function secretOptions(source: ConfigSource, env: { env?: NodeJS.ProcessEnv }): SecretResolveOptions {
  const locate = (path: readonly PropertyKey[]) => {
    const p = source.locate(path);
    return `${source.file}:${p.line}:${p.column}: `;
  };
  return { ...env, baseDir: dirname(resolve(source.file)), locate };
}

function readConfig(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Reads, parses and validates a gateway config file; `${env:}`, `${file:}` and `${credential:}`
 * references are resolved (an `${exec:}` one needs {@link loadGatewayConfigAsync}).
 * @example const { config } = loadGatewayConfig('gateway.yaml')
 */
export function loadGatewayConfig(file: string): { config: GatewayConfig; source: ConfigSource } {
  return parseGatewayConfig(readConfig(file), file);
}

/**
 * Reads a gateway config file and resolves every secret reference, `${exec:}` commands included
 * (what `bifrost run` does at start and on SIGHUP). A failed reference names the field and the
 * reference, never the value.
 * @example const { config, source } = await loadGatewayConfigAsync('/etc/bifrost/gateway.yaml')
 */
export async function loadGatewayConfigAsync(file: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ config: GatewayConfig; source: ConfigSource }> {
  const source = await readSource(file, readConfig(file));
  const data = source.toJS() as { secrets?: unknown };
  const parsed = secretsSchema.optional().safeParse(data.secrets);
  if (!parsed.success) throw issueError(new z.ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['secrets', ...i.path] }))), data, source);
  const exec: Record<string, ExecSecretCommand> = {};
  for (const [n, c] of Object.entries(parsed.data?.exec ?? {})) exec[n] = { command: c.command, timeoutMs: c.timeout, ...(c.jsonKey ? { jsonKey: c.jsonKey } : {}) };
  const { data: resolved } = await resolveSecrets(data, { ...secretOptions(source, options), exec });
  return validateGatewayConfig(resolved, source);
}
