/**
 * @module
 * The gateway as an OPC UA server (issue 17): `opcuaServer` in the config serves every device's
 * tags, the devices' health and the pipelines' outputs over `@bifrost/opcua`'s server. Values come
 * from the gateway's live path (no polling by the server); writes go through `Gateway.write` (one
 * audited path, source `opcua`); HistoryRead is answered from the gateway's store. Loaded only
 * when `opcuaServer` is configured: node-opcua is heavy.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  addressInUseError,
  BifrostError,
  type DataType,
  type GatewayConfig,
  isAddressInUse,
  type OpcuaServerConfig,
  parseDataType,
  type TagConfig,
  type TagValue,
  toBifrostError,
  type Value,
} from '@bifrost/core';
import type { AlarmHandle, OpcUaServer, ServedDevice, ServedTag, TagHandle } from '@bifrost/opcua';
import type { Gateway, ValueBatch } from './gateway.js';

/** A running gateway OPC UA server. */
export interface GatewayOpcUaServer {
  /** The endpoint URL clients connect to. */
  readonly url: string;
  /** The underlying server (session count, PKI folder, `write` events). */
  readonly server: OpcUaServer;
  /** Applies a reloaded config: the server restarts when its settings or the served tags changed, and stops when `opcuaServer` is gone. */
  apply(config: GatewayConfig): Promise<void>;
  /** Stops listening and closes every session; idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startGatewayOpcUaServer}. */
export interface GatewayOpcUaServerOptions {
  /** Called when a restart on reload fails (the old server is closed then). */
  onError?: (error: BifrostError) => void;
}

/**
 * The Bifrost type a tag is served as: the type named on its address (`HR0:FLOAT32`,
 * `DB1.DBD4:REAL`, `ns=1;s=T8:INT32`), LREAL for a scaled tag, else the kind of its first value
 * (boolean, bigint, string, date, bytes, number → LREAL), else LREAL.
 * @example servedType({ name: 't', address: 'HR0:FLOAT32:CDAB', writable: false }) // 'REAL'
 */
export function servedType(tag: TagConfig, first?: TagValue): DataType | undefined {
  if (tag.scale) return 'LREAL';
  const parts = tag.address.split(':').slice(1).reverse();
  for (const p of parts) {
    const m = /^([A-Za-z0-9_]+)(\[(\d*)\])?$/.exec(p);
    if (!m) continue;
    try {
      const t = parseDataType(m[1] as string);
      // An array tag (`HR0:FLOAT32[10]`) is served as an array of numbers or booleans of its length.
      if (m[2] !== undefined && t !== 'STRING' && t !== 'BYTES') return servedArrayLength(tag) !== undefined && ARRAY_ELEMENTS.has(t) ? t : undefined;
      return t;
    } catch {
      // a word order (CDAB) or an option, not a type
    }
  }
  const v = first?.value;
  if (Array.isArray(v)) return undefined;
  if (typeof v === 'boolean') return 'BOOL';
  if (typeof v === 'bigint') return 'LINT';
  if (typeof v === 'string') return 'STRING';
  if (v instanceof Date) return 'DATETIME';
  if (v instanceof Uint8Array) return 'BYTES';
  return 'LREAL';
}

/** Element types of an array tag the server serves: numbers and booleans (not 64-bit, text, bytes or dates). */
const ARRAY_ELEMENTS = new Set<DataType>(['BOOL', 'SINT', 'INT', 'DINT', 'USINT', 'UINT', 'UDINT', 'REAL', 'LREAL']);

/**
 * The length of an array tag, from its address (`HR0:FLOAT32[10]` → 10); undefined for a scalar.
 * @example servedArrayLength({ name: 't', address: 'HR0:INT[4]', writable: false }) // 4 (and undefined for 'DB1.DBB0:STRING[20]')
 */
export function servedArrayLength(tag: TagConfig): number | undefined {
  for (const p of tag.address.split(':').slice(1)) {
    const m = /^([A-Za-z0-9_]+)\[(\d+)\]$/.exec(p);
    if (!m) continue;
    try {
      // STRING[20] and BYTES[8] are one value of that many bytes, not an array.
      const t = parseDataType(m[1] as string);
      return t === 'STRING' || t === 'BYTES' ? undefined : Number(m[2]);
    } catch {
      // not a type
    }
  }
  return undefined;
}

function servedDevices(gateway: Gateway, config: GatewayConfig): ServedDevice[] {
  return config.devices
    .filter((d) => d.enabled)
    .map((d) => ({
      name: d.name,
      description: d.url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@'),
      tags: d.tags.flatMap((t): ServedTag[] => {
        const type = servedType(t, gateway.latestOf(d.name, t.name));
        if (!type) return [];
        const tag: ServedTag = { name: t.name, type, writable: t.writable };
        const n = servedArrayLength(t);
        if (n !== undefined) tag.arrayLength = n;
        if (t.unit !== undefined) tag.unit = t.unit;
        if (t.min !== undefined) tag.min = t.min;
        if (t.max !== undefined) tag.max = t.max;
        tag.description = t.description ?? `${d.name}.${t.name} (${t.address})`;
        return [tag];
      }),
    }));
}

/** What makes a restart necessary on reload: the server's settings and the served tags. */
function fingerprint(config: GatewayConfig): string {
  return JSON.stringify([config.opcuaServer, config.devices.filter((d) => d.enabled).map((d) => [d.name, d.url, d.tags]), config.pipelines.map((p) => p.name)]);
}

/**
 * Waits until every tag of the running devices has a value or `ms` passed: a tag whose address
 * names no type is served with the type of its first value (a coil as Boolean, not Double).
 */
async function firstValues(gateway: Gateway, ms: number): Promise<void> {
  // A poll of an unreachable device completes too (with bad values): wait for one poll of each, not for good values.
  const pending = () => gateway.devices().some(({ config: d, stats }) => stats.polls === 0 && d.tags.some((t) => !gateway.latestOf(d.name, t.name)));
  const until = Date.now() + ms;
  while (pending() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

async function build(gateway: Gateway, cfg: OpcuaServerConfig) {
  const config = gateway.config;
  const [{ OpcUaServer }] = await Promise.all([import('@bifrost/opcua'), firstValues(gateway, Math.min(5000, 1000 + Math.max(0, ...config.devices.map((d) => d.pollMs))))]);
  const users = new Map(cfg.users.map((u) => [u.name, u.password]));
  const server = new OpcUaServer({
    provider: {
      devices: () => servedDevices(gateway, config),
      latest: (device, tag) => gateway.latestOf(device, tag),
      write: async (device, tag, value, user) => {
        await gateway.write({ device, tag, value, user, source: 'opcua' });
      },
      // Values are pushed by handle below, from the gateway's live path.
      on: () => undefined,
      history: (device, tag, range) => gateway.store?.query(`${device}.${tag}`, range),
    },
    host: cfg.host,
    port: cfg.port,
    ...(cfg.path ? { resourcePath: cfg.path } : {}),
    hostname: cfg.hostname ?? (cfg.host === '0.0.0.0' || cfg.host === '::' ? hostname() : cfg.host),
    pkiDir: gateway.path(cfg.pkiDir ?? join(config.dataDir, 'pki-opcua-server')),
    ...(cfg.applicationUri ? { applicationUri: cfg.applicationUri } : {}),
    applicationName: cfg.applicationName,
    securityPolicies: cfg.securityPolicies,
    securityModes: cfg.securityModes,
    allowAnonymous: cfg.allowAnonymous,
    allowX509Users: cfg.x509Users,
    ...(users.size > 0 ? { users: (u: string, p: string) => safeEqual(users.get(u), p) } : {}),
    writeUsers: cfg.writeUsers,
    acceptUnknownCertificates: cfg.acceptUnknownCertificates,
    // Gateway.write audits every attempt it receives; the server audits the ones it refuses itself.
    audit: { append: (record) => gateway.audit.append(record) },
    providerAudits: true,
    maxSessions: cfg.maxSessions,
    maxConnections: cfg.maxConnections,
    maxMonitoredItems: cfg.maxMonitoredItems,
    maxMessageSize: cfg.maxMessageSize,
    productName: 'Bifrost gateway',
  });
  server.on('warning', (error) => gateway.emit('warning', { where: 'OPC UA server', error }));
  // A tag the server cannot serve (an array of 64-bit integers, text or dates, or an untyped array)
  // says so rather than go missing.
  const arrays = config.devices.filter((d) => d.enabled).flatMap((d) => d.tags.filter((t) => !servedType(t, gateway.latestOf(d.name, t.name))).map((t) => `${d.name}.${t.name} (${t.address})`));
  if (arrays.length > 0)
    gateway.emit('warning', {
      where: 'OPC UA server',
      error: new BifrostError(
        'BIFROST_NOT_SUPPORTED',
        `${arrays.length} array tag(s) not served over OPC UA (arrays of numbers and booleans with a length in the address are): ${arrays.slice(0, 5).join(', ')}${arrays.length > 5 ? ', …' : ''}`,
      ),
    });
  try {
    await server.start();
  } catch (e) {
    if (isAddressInUse(e)) throw addressInUseError(e, { server: 'OPC UA server', field: 'opcuaServer.port', host: cfg.host, port: cfg.port });
    const err = toBifrostError(e, 'BIFROST_INVALID_ARGUMENT');
    throw new BifrostError(err.code, `opcuaServer (${cfg.host}:${cfg.port}): ${err.message}`, { cause: e });
  }

  // Resolve every tag's variable once per start and reload, as an array in the gateway's tag-table
  // order: a batch then costs one Map hit per device poll and an array index per value.
  const handles = new Map<string, TagHandle[]>();
  const resolveHandles = () => {
    handles.clear();
    for (const d of config.devices) {
      const table = gateway.tagTable(d.name);
      handles.set(
        d.name,
        table.map((t) => server.handle(d.name, t.name) as TagHandle),
      );
    }
  };
  resolveHandles();
  const handleOf = (device: string, tag: string) => {
    const table = gateway.tagTable(device);
    const t = table.find((x) => x.name === tag);
    return t ? handles.get(device)?.[t.index] : undefined;
  };
  const QUALITY = ['good', 'uncertain', 'bad'] as const;
  const onBatch = (b: ValueBatch) => {
    const byIndex = handles.get(b.device);
    if (!byIndex) return;
    const src = b.sourceTimestamp;
    const errors = b.errors;
    for (let k = 0; k < b.count; k++) {
      const h = byIndex[b.index[k] as number];
      if (!h) continue;
      const s = src ? (src[k] as number) : Number.NaN;
      server.set(h, b.values[k] as Value | null, QUALITY[b.quality[k] as number] ?? 'bad', b.timestamp, Number.isNaN(s) ? undefined : s, errors?.[k]);
    }
  };

  // Device health (OPC 10000-8 has no standard variable for it): `<device>/$Health`, a String.
  const health = new Map<string, TagHandle | undefined>();
  const now = () => Date.now();
  for (const { config: d, stats } of gateway.devices()) {
    const h = server.addVariable([d.name], { name: '$Health', type: 'STRING', description: `health of ${d.name}: connecting, connected, degraded or disconnected` }, `${d.name}.$Health`);
    health.set(d.name, h);
    server.update(h, { address: '$Health', value: stats.health, quality: 'good', timestamp: now() });
  }
  const onHealth = (e: { device: string; state: string }) => server.update(health.get(e.device), { address: '$Health', value: e.state, quality: 'good', timestamp: now() });

  // Pipeline outputs as they appear: Objects/Pipelines/<pipeline>/<output>. A window step gives a
  // variable per aggregate (mean, max, …), an anomaly step its score; the store holds the series
  // `<pipeline>.<kind>` (a window's first aggregate), served as that variable's history.
  const outputs = new Map<string, TagHandle | undefined>();
  const output = (pipeline: string, name: string, series: string | undefined, value: number, ts: number) => {
    const key = `${pipeline}.${name}`;
    let h = outputs.get(key);
    if (!outputs.has(key)) {
      const tag: ServedTag = { name, type: 'LREAL', description: `${name} of pipeline ${pipeline}` };
      if (series) tag.history = (range) => gateway.store?.query(series, range);
      h = server.addVariable(['Pipelines', pipeline], tag);
      outputs.set(key, h);
    }
    server.update(h, { address: key, value, quality: 'good', timestamp: ts, sourceTimestamp: ts });
  };
  // Alarms as AlarmConditionType instances under their pipeline (OPC 10000-9); Acknowledge goes to the gateway's own.
  const alarms = new Map<string, AlarmHandle | undefined>();
  const alarm = (pipeline: string, a: AlarmLike) => {
    let h = alarms.get(a.id);
    if (!alarms.has(a.id)) {
      const [device, tag] = (a.series ?? a.source ?? '').split('.');
      const source = device && tag ? handleOf(device, tag) : undefined;
      h = server.addAlarm(['Pipelines', pipeline], { id: a.id, message: a.message, severity: severityOf(a.severity), ...(source ? { source } : {}) }, (user) => {
        gateway.acknowledgeAlarm(a.id, user);
      });
      alarms.set(a.id, h);
    }
    server.setAlarm(h, { active: a.active ?? a.state === 'active', acknowledged: a.acknowledged, message: a.message, severity: severityOf(a.severity) });
  };
  for (const a of gateway.alarms()) alarm(a.pipeline, a as AlarmLike);

  const onPipeline = ({ pipeline, event }: { pipeline: string; event: unknown }) => {
    const e = event as { kind?: string; field?: string; value?: unknown; timestamp?: number; aggregates?: Record<string, number>; score?: number; alarm?: AlarmLike };
    if (e.kind === 'alarm' && e.alarm) {
      alarm(pipeline, e.alarm);
      return;
    }
    if (typeof e.value !== 'number' || e.kind === 'late' || e.kind === 'rejected') return;
    const ts = typeof e.timestamp === 'number' ? e.timestamp : now();
    const stored = `${pipeline}.${e.field ?? e.kind ?? 'value'}`;
    if (e.kind === 'aggregate' && e.aggregates) {
      const names = Object.keys(e.aggregates);
      for (const n of names) {
        const v = e.aggregates[n];
        if (typeof v === 'number') output(pipeline, n, n === names[0] ? stored : undefined, v, ts);
      }
    } else if (e.kind === 'anomaly' && typeof e.score === 'number') output(pipeline, 'score', undefined, e.score, ts);
    else output(pipeline, e.field ?? e.kind ?? 'value', stored, e.value, ts);
  };

  // The listeners run inside the gateway's poll and pipelines: a failure here is reported, never thrown into them.
  const guarded =
    <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
    (...args: A) => {
      try {
        fn(...args);
      } catch (e) {
        gateway.emit('warning', { where: `OPC UA server (${what})`, error: toBifrostError(e, 'BIFROST_OPCUA_BAD_STATUS') });
      }
    };
  const listeners = {
    batch: guarded('values', onBatch),
    reload: guarded('reload', resolveHandles),
    health: guarded('health', onHealth),
    pipeline: guarded('pipelines', onPipeline),
  };
  gateway.on('batch', listeners.batch);
  gateway.on('reload', listeners.reload);
  gateway.on('health', listeners.health);
  gateway.on('pipeline', listeners.pipeline);
  const detach = () => {
    gateway.off('batch', listeners.batch);
    gateway.off('reload', listeners.reload);
    gateway.off('health', listeners.health);
    gateway.off('pipeline', listeners.pipeline);
  };
  return { server, detach };
}

/** Compares a password in constant time (hashes of equal length), so timing does not reveal it. */
/** An alarm as the pipeline events (analytics AlarmState) and `Gateway.alarms()` (gateway AlarmState) carry it. */
interface AlarmLike {
  id: string;
  message: string;
  severity?: number | string;
  series?: string;
  source?: string;
  active?: boolean;
  state?: 'active' | 'cleared';
  acknowledged: boolean;
}

/** OPC UA Severity is 1..1000 (OPC 10000-5 §6.4.2 BaseEventType); named levels map to the middle of their band. */
function severityOf(s: number | string | undefined): number {
  const n = typeof s === 'number' ? s : Number(s);
  if (Number.isFinite(n)) return Math.min(1000, Math.max(1, Math.round(n)));
  const named: Record<string, number> = { low: 200, medium: 500, high: 700, critical: 900 };
  return named[String(s).toLowerCase()] ?? 500;
}

function safeEqual(expected: string | undefined, given: string): boolean {
  if (expected === undefined) return false;
  const h = (x: string) => createHash('sha256').update(x).digest();
  return timingSafeEqual(h(expected), h(given));
}

/**
 * Starts the gateway's OPC UA server from `gateway.config.opcuaServer` (the gateway must be started).
 * @example const ua = await startGatewayOpcUaServer(gateway); console.log(ua.url); … await ua.close();
 */
export async function startGatewayOpcUaServer(gateway: Gateway, options: GatewayOpcUaServerOptions = {}): Promise<GatewayOpcUaServer> {
  const initial = gateway.config.opcuaServer;
  if (!initial) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'the config has no opcuaServer section');
  let current = await build(gateway, initial);
  let print = fingerprint(gateway.config);
  let closed = false;
  const handle: GatewayOpcUaServer = {
    get url() {
      return current.server.endpointUrl;
    },
    get server() {
      return current.server;
    },
    async apply(config) {
      if (closed) return;
      const next = fingerprint(config);
      if (next === print) return;
      current.detach();
      await current.server.close();
      print = next;
      if (!config.opcuaServer) {
        closed = true;
        return;
      }
      try {
        current = await build(gateway, config.opcuaServer);
      } catch (e) {
        closed = true;
        const err = toBifrostError(e, 'BIFROST_INVALID_ARGUMENT');
        options.onError?.(err);
        throw err;
      }
    },
    async close() {
      closed = true;
      current.detach();
      await current.server.close();
    },
  };
  return handle;
}
