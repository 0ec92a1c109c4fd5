/**
 * @module
 * The gateway config's `sinks:` entries: validation that names the failing field (through core's
 * `ConfigSource.errorAt` when the gateway passes it, so errors carry file and line), and
 * `createSink`, which reads secrets and TLS files and builds the sink for `mqtt`, `aws-iot` or
 * `azure-iot`. Secrets come from the config, a file or an environment variable and are never
 * logged or put in an error message.
 */
import { readFileSync } from 'node:fs';
import { BifrostError, formatPath, isSecretField, parseBytes, parseDuration, redact } from '@bifrost/core';
import { z } from 'zod';
import type { DurableQueue, DurableQueueOptions } from './durable-queue.js';
import { MqttSink, type MqttSinkOptions, type SinkTlsOptions } from './mqtt-sink.js';
import { azureMqttIdentity, azureSasToken } from './profiles.js';
import type { SinkRecord } from './record.js';

const bytes = z.union([z.number().nonnegative(), z.string().regex(/^\s*\d+(\.\d+)?\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i, 'a size such as 64MB, 1GB')]);
const duration = z.union([z.number().positive(), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|min|h|d)?\s*$/i, 'a duration such as 200ms, 1s')]);

const tlsSchema = z
  .object({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional(), rejectUnauthorized: z.boolean().optional(), servername: z.string().optional() })
  .strict();

const bufferSchema = z
  .object({
    dir: z.string().min(1),
    maxBytes: bytes.optional(),
    policy: z.enum(['drop-oldest', 'reject-new']).optional(),
    fsync: z.union([z.literal('batch'), z.object({ everyMs: z.number().positive() }).strict(), duration]).optional(),
    segmentBytes: bytes.optional(),
    compression: z.enum(['none', 'deflate', 'brotli']).optional(),
    maxAge: duration.optional(),
  })
  .strict();

const common = {
  name: z.string().optional(),
  clientId: z.string().min(1).optional(),
  qos: z.union([z.literal(0), z.literal(1)]).optional(),
  protocolVersion: z.union([z.literal(4), z.literal(5), z.literal('3.1.1'), z.literal('5')]).optional(),
  topic: z.string().min(1).optional(),
  payload: z.enum(['json', 'sparkplug']).optional(),
  format: z.enum(['per-tag', 'per-device']).optional(),
  ackTimeout: duration.optional(),
  connectTimeout: duration.optional(),
  reconnectMaxDelay: duration.optional(),
  sparkplug: z
    .object({ groupId: z.string().regex(/^[^/+#]+$/, 'a group id without / + #'), edgeNodeId: z.string().regex(/^[^/+#]+$/, 'an edge node id without / + #') })
    .strict()
    .optional(),
  buffer: bufferSchema.optional(),
  tls: tlsSchema.optional(),
  site: z.string().optional(),
  area: z.string().optional(),
  maxInflight: z.number().int().positive().optional(),
  keepaliveSec: z.number().int().nonnegative().optional(),
  will: z
    .object({ topic: z.string().min(1), payload: z.string(), qos: z.union([z.literal(0), z.literal(1)]).optional(), retain: z.boolean().optional() })
    .strict()
    .optional(),
};

const mqttSchema = z
  .object({
    type: z.literal('mqtt'),
    url: z.string().regex(/^(mqtts?|wss?):\/\/[^/]+/, 'a broker URL such as mqtt://host:1883 or mqtts://host:8883'),
    username: z.string().optional(),
    password: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    ...common,
  })
  .strict();

const awsSchema = z
  .object({
    type: z.literal('aws-iot'),
    endpoint: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, 'the AWS IoT data endpoint host, such as abc123-ats.iot.eu-west-1.amazonaws.com')
      .optional(),
    url: z
      .string()
      .regex(/^mqtts:\/\/[^/]+/, 'an mqtts:// URL')
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    thingName: z.string().min(1),
    ...common,
  })
  .strict();

const azureSchema = z
  .object({
    type: z.literal('azure-iot'),
    hub: z.string().regex(/^[A-Za-z0-9.-]+$/, 'the IoT Hub name or host, such as myhub or myhub.azure-devices.net'),
    deviceId: z.string().min(1),
    deviceKey: z.string().optional(),
    deviceKeyFile: z.string().min(1).optional(),
    deviceKeyEnv: z.string().min(1).optional(),
    sasTtl: duration.optional(),
    /** A different endpoint (a private link, a test broker); the hub name still forms the username. */
    url: z
      .string()
      .regex(/^mqtts:\/\/[^/]+/, 'an mqtts:// URL')
      .optional(),
    ...common,
  })
  .strict();

/** A validated `sinks:` entry. */
export type SinkConfig = z.output<typeof mqttSchema> | z.output<typeof awsSchema> | z.output<typeof azureSchema>;

/** Reports a config problem at a path relative to the sink entry (the gateway adds `sinks[i]`). */
export type ErrorAt = (path: readonly PropertyKey[], expected: string, got?: unknown) => BifrostError;

const SCHEMAS = { mqtt: mqttSchema, 'aws-iot': awsSchema, 'azure-iot': azureSchema } as const;

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
    case 'unrecognized_keys':
      return `no field named ${issue.keys.map((k) => `"${k}"`).join(', ')} here`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'one of the accepted forms';
    case 'too_small':
      return 'a non-empty value';
    default:
      return issue.message;
  }
}

function at(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/**
 * Checks a `sinks:` entry and returns it typed. A problem throws BIFROST_CONFIG_INVALID naming the
 * field and what was expected; with `errorAt` (core's `ConfigSource.errorAt` bound to the entry)
 * the error also names file and line.
 * @example const cfg = validateSinkConfig(config.sinks[0], (p, e, g) => source.errorAt(['sinks', 0, ...p], e, g))
 */
export function validateSinkConfig(config: unknown, errorAt?: ErrorAt): SinkConfig {
  const fail = (path: readonly PropertyKey[], expected: string, got?: unknown): never => {
    if (errorAt) throw errorAt(path, expected, got);
    const gotText = got === undefined ? '' : isSecretField(String(path[path.length - 1] ?? '')) ? `, got a ${typeof got} (not shown: a secret)` : `, got ${JSON.stringify(redact(got))}`;
    throw new BifrostError('BIFROST_CONFIG_INVALID', `sink ${formatPath(path)}: expected ${expected}${gotText}`, { details: { field: formatPath(path), expected } });
  };
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return fail([], 'a mapping with a type field');
  const type = (config as { type?: unknown }).type;
  const schema = SCHEMAS[type as keyof typeof SCHEMAS];
  if (typeof type !== 'string' || !schema) return fail(['type'], 'one of "mqtt", "aws-iot", "azure-iot"', type);
  const r = schema.safeParse(config);
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue;
    let path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys' && issue.keys[0]) path = [...path, issue.keys[0]];
    const got = issue.code === 'unrecognized_keys' ? undefined : at(config, path);
    return fail(path, describe(issue), typeof got === 'object' ? undefined : got);
  }
  const c = r.data;
  const secrets = (keys: string[]) => keys.filter((k) => (c as Record<string, unknown>)[k] !== undefined);
  if (c.type === 'mqtt') {
    const s = secrets(['password', 'passwordFile', 'passwordEnv']);
    if (s.length > 1) fail([s[1] as string], `only one of password, passwordFile, passwordEnv (${s[0]} is set)`);
  }
  if (c.type === 'azure-iot') {
    const s = secrets(['deviceKey', 'deviceKeyFile', 'deviceKeyEnv']);
    if (s.length > 1) fail([s[1] as string], `only one of deviceKey, deviceKeyFile, deviceKeyEnv (${s[0]} is set)`);
    if (s.length === 0 && !(c.tls?.cert && c.tls.key)) fail(['deviceKey'], 'a device key (deviceKey, deviceKeyFile or deviceKeyEnv) or an X.509 certificate (tls.cert and tls.key)');
    if (c.payload === 'sparkplug') fail(['payload'], '"json" (IoT Hub telemetry goes to devices/{deviceId}/messages/events/)', c.payload);
  }
  if (c.type === 'aws-iot') {
    if (!c.endpoint && !c.url) fail(['endpoint'], 'the AWS IoT data endpoint host (or url)');
    if (!c.tls?.cert) fail(['tls', 'cert'], 'the device certificate file (AWS IoT Core uses mutual TLS)');
    if (!c.tls?.key) fail(['tls', 'key'], 'the device private key file (AWS IoT Core uses mutual TLS)');
  }
  if (c.payload === 'sparkplug' && !c.sparkplug) fail(['sparkplug'], 'sparkplug: { groupId, edgeNodeId } when payload is sparkplug');
  if (c.payload === 'sparkplug' && c.format !== undefined) fail(['format'], 'no format with payload sparkplug (a Sparkplug DDATA always carries all metrics of a device poll)', c.format);
  if (c.buffer?.maxBytes !== undefined && parseBytes(c.buffer.maxBytes) < 16 * 1024) fail(['buffer', 'maxBytes'], 'at least 16KB', c.buffer.maxBytes);
  return c;
}

/** The logger interface createSink uses (pino's). */
export interface SinkLogger {
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/** Options of {@link createSink}. */
export interface CreateSinkOptions {
  /** A queue to drain instead of the one `buffer:` describes. */
  queue?: DurableQueue<SinkRecord>;
  logger?: SinkLogger;
  /** The gateway's site and area for the topic template (the entry's own win). */
  site?: string;
  area?: string;
  errorAt?: ErrorAt;
  /** Environment for passwordEnv/deviceKeyEnv (default process.env). */
  env?: Record<string, string | undefined>;
  /** Default queue directory when the entry has no `buffer:` (default `./data/queue/<name or type>`). */
  defaultQueueDir?: string;
}

function readSecretFile(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (cause) {
    throw new BifrostError('BIFROST_CLOUD_SECRET', `cannot read ${field} file ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
  }
}

function readEnv(env: Record<string, string | undefined>, name: string, field: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new BifrostError('BIFROST_CLOUD_SECRET', `environment variable ${name} (${field}) is not set`);
  return v;
}

function readTls(tls: z.output<typeof tlsSchema> | undefined): SinkTlsOptions | undefined {
  if (!tls) return undefined;
  const out: SinkTlsOptions = {};
  const read = (p: string, what: string) => {
    try {
      return readFileSync(p);
    } catch (cause) {
      throw new BifrostError('BIFROST_CLOUD_TLS', `cannot read TLS ${what} file ${p}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
    }
  };
  if (tls.ca) out.ca = read(tls.ca, 'ca');
  if (tls.cert) out.cert = read(tls.cert, 'cert');
  if (tls.key) out.key = read(tls.key, 'key');
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  if (tls.servername !== undefined) out.servername = tls.servername;
  return out;
}

function queueOptions(c: SinkConfig, defaultDir: string): DurableQueueOptions {
  const b = c.buffer;
  if (!b) return { dir: defaultDir };
  const o: DurableQueueOptions = { dir: b.dir };
  if (b.maxBytes !== undefined) o.maxBytes = b.maxBytes;
  if (b.policy !== undefined) o.policy = b.policy;
  if (b.fsync !== undefined) o.fsync = b.fsync === 'batch' ? 'batch' : typeof b.fsync === 'object' ? b.fsync : { everyMs: parseDuration(b.fsync) };
  if (b.segmentBytes !== undefined) o.segmentBytes = b.segmentBytes;
  if (b.compression !== undefined) o.compression = b.compression;
  if (b.maxAge !== undefined) o.maxAgeMs = parseDuration(b.maxAge);
  return o;
}

/**
 * Builds a sink from a `sinks:` entry: validates it, reads secrets and TLS files, applies the
 * cloud profile. Call `start()` on the result.
 * @example
 * const sink = createSink({ type: 'mqtt', url: 'mqtts://broker:8883', passwordEnv: 'MQTT_PASSWORD', username: 'gw1', buffer: { dir: './data/q' } }, { logger });
 * await sink.start();
 */
export function createSink(config: unknown, options: CreateSinkOptions = {}): MqttSink {
  const c = validateSinkConfig(config, options.errorAt);
  const env = options.env ?? process.env;
  const queue = options.queue ?? queueOptions(c, options.defaultQueueDir ?? `./data/queue/${c.name ?? c.type}`);
  const base: MqttSinkOptions = { url: '', queue, profile: c.type };
  if (c.name !== undefined) base.name = c.name;
  if (c.qos !== undefined) base.qos = c.qos;
  if (c.protocolVersion !== undefined) base.protocolVersion = c.protocolVersion === 5 || c.protocolVersion === '5' ? 5 : 4;
  if (c.topic !== undefined) base.topic = c.topic;
  if (c.payload !== undefined) base.payload = c.payload;
  if (c.format !== undefined) base.format = c.format;
  if (c.ackTimeout !== undefined) base.ackTimeoutMs = parseDuration(c.ackTimeout);
  if (c.connectTimeout !== undefined) base.connectTimeoutMs = parseDuration(c.connectTimeout);
  if (c.reconnectMaxDelay !== undefined) {
    const maxMs = parseDuration(c.reconnectMaxDelay);
    base.backoff = { baseMs: Math.min(500, maxMs), maxMs };
  }
  if (c.sparkplug !== undefined) base.sparkplug = c.sparkplug;
  if (c.maxInflight !== undefined) base.maxInflight = c.maxInflight;
  if (c.keepaliveSec !== undefined) base.keepaliveSec = c.keepaliveSec;
  if (c.will !== undefined) base.will = c.will;
  const site = c.site ?? options.site;
  const area = c.area ?? options.area;
  if (site !== undefined) base.site = site;
  if (area !== undefined) base.area = area;
  const tls = readTls(c.tls);
  if (tls) base.tls = tls;
  if (c.clientId !== undefined) base.clientId = c.clientId;

  if (c.type === 'mqtt') {
    base.url = c.url;
    if (c.username !== undefined) base.username = c.username;
    if (c.password !== undefined) base.password = c.password;
    else if (c.passwordFile !== undefined) base.password = readSecretFile(c.passwordFile, 'passwordFile');
    else if (c.passwordEnv !== undefined) base.password = readEnv(env, c.passwordEnv, 'passwordEnv');
  } else if (c.type === 'aws-iot') {
    base.url = c.url ?? `mqtts://${c.endpoint}:${c.port ?? 8883}`;
    base.clientId = c.thingName;
    base.name ??= `aws-iot:${c.thingName}`;
  } else {
    const id = azureMqttIdentity(c.hub, c.deviceId);
    base.url = c.url ?? `mqtts://${id.host}:8883`;
    base.clientId = id.clientId;
    base.username = id.username;
    base.name ??= `azure-iot:${c.deviceId}`;
    if (c.topic === undefined) base.topicFor = () => id.topic;
    const key = c.deviceKey ?? (c.deviceKeyFile ? readSecretFile(c.deviceKeyFile, 'deviceKeyFile') : c.deviceKeyEnv ? readEnv(env, c.deviceKeyEnv, 'deviceKeyEnv') : undefined);
    if (key !== undefined) {
      const ttlSec = Math.max(60, Math.round(parseDuration(c.sasTtl ?? '1h') / 1000));
      // A fresh token at every connection attempt, so a reconnect after a long outage never presents an expired one.
      base.passwordProvider = () => azureSasToken({ resourceUri: id.resourceUri, key, expiry: Math.floor(Date.now() / 1000) + ttlSec });
    }
  }
  const sink = new MqttSink(base);
  const log = options.logger;
  if (log) {
    const who = { sink: sink.name, url: sink.url };
    sink.on('connect', () => log.info?.(who, 'sink connected'));
    sink.on('disconnect', (e) => log.warn?.({ ...who, error: e.error?.toJSON() }, 'sink disconnected'));
    sink.on('error', (e) => log.error?.({ ...who, error: e.toJSON() }, e.message));
    sink.on('warning', (e) => log.warn?.({ ...who, error: e.toJSON() }, e.message));
    sink.on('rejected', (e) => log.warn?.({ ...who, count: e.count, error: e.error.toJSON() }, e.error.message));
  }
  return sink;
}
