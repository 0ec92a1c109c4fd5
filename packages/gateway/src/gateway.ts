/**
 * @module
 * The gateway runtime: a validated config becomes devices, scan groups, the time-series store,
 * pipelines and sinks. Each device runs and fails alone; every write goes through one audited
 * path; `reload()` applies a new config without dropping queued data (queues live on disk and
 * are reopened, not recreated).
 */
import { EventEmitter } from 'node:events';
import { isAbsolute, resolve } from 'node:path';
import {
  AuditLog,
  applyScale,
  BifrostError,
  type ConfigSource,
  coerceValue,
  connect,
  containsNonFinite,
  type DataType,
  type Device,
  type DeviceConfig,
  exceedsDeadband,
  type GatewayConfig,
  type HealthEvent,
  type HealthState,
  jsonValue,
  parseDeviceUrl,
  type RandomSource,
  removeScale,
  resolveDriver,
  ScanScheduler,
  type TagConfig,
  type TagValue,
  toBifrostError,
  type Value,
} from '@bifrost/core';
import type { AlarmState, GatewayComponents, PipelineRuntime, SinkRecord, SinkRuntime, StoreRuntime } from './components.js';
import { type MetricFamily, renderPrometheus } from './metrics.js';

/** A value as the gateway publishes it: the tag's identity plus the TagValue fields. */
export interface GatewayValue extends TagValue {
  device: string;
  tag: string;
  unit?: string;
}

/** Per-device statistics. */
export interface DeviceStats {
  device: string;
  url: string;
  health: HealthState;
  polls: number;
  errors: number;
  badValues: number;
  overruns: number;
  lastLatencyMs: number;
  maxLatencyMs: number;
  avgLatencyMs: number;
  lastPollAt: number;
  lastError?: { code: string; message: string };
}

/** A write request through the gateway's one audited path. */
export interface WriteRequest {
  device: string;
  tag: string;
  value: unknown;
  /** Who asks: user or token name. */
  user: string;
  /** Where from: `cli`, `web`, `opcua`, `api`. */
  source: string;
}

/** The outcome of a write. */
export interface WriteResult {
  device: string;
  tag: string;
  oldValue: Value | null;
  newValue: Value;
  at: number;
}

/** Options of the gateway. */
export interface GatewayOptions {
  /** Relative paths in the config (queue dirs, audit file) resolve against this (default cwd). */
  baseDir?: string;
  /** The parsed config file, for errors with lines in pipeline steps and sinks. */
  source?: ConfigSource;
  /** Builds the store, pipelines and sinks (default: the analytics and cloud packages). */
  components?: GatewayComponents;
  /** Random source for reconnect jitter (tests). */
  random?: RandomSource;
}

/** Events of the gateway. */
export interface GatewayEvents {
  value: [GatewayValue];
  health: [{ device: string } & HealthEvent];
  write: [{ request: WriteRequest; result?: WriteResult; error?: BifrostError }];
  /** Anything a pipeline emits (aggregates, anomalies, alarm events). */
  pipeline: [{ pipeline: string; event: unknown }];
  /** A non-fatal problem (a scan that threw, a sink failure). Not named `error`: an unheard EventEmitter `error` throws. */
  warning: [{ where: string; error: BifrostError }];
}

interface TagRuntime {
  device: string;
  config: TagConfig;
  latest?: GatewayValue;
  lastForwarded?: TagValue;
}

interface DeviceRuntime {
  config: DeviceConfig;
  device: Device;
  tags: Map<string, TagRuntime>;
  groups: string[];
  stats: DeviceStats;
  latencySum: number;
  onHealth: (e: HealthEvent) => void;
  /** When the current run of polls with every tag bad began, while the device is connected (see `#afterPoll`). */
  deadSince?: number | undefined;
}

/** `deadAfter` when the config does not say: a few seconds without a good value. */
const DEAD_AFTER_MS = 5000;

const NUMERIC: ReadonlySet<string> = new Set(['number', 'bigint']);

/**
 * The gateway runtime.
 * @example
 * const { config, source } = loadGatewayConfig('gateway.yaml');
 * const gw = new Gateway(config, { source, baseDir: dirname('gateway.yaml') });
 * await gw.start();
 * gw.on('value', (v) => console.log(v.device, v.tag, v.value));
 */
export class Gateway extends EventEmitter<GatewayEvents> {
  #config: GatewayConfig;
  #source: ConfigSource | undefined;
  readonly #baseDir: string;
  readonly #components: GatewayComponents | undefined;
  readonly #random: RandomSource | undefined;
  #scheduler = new ScanScheduler();
  readonly #devices = new Map<string, DeviceRuntime>();
  #pipelines: PipelineRuntime[] = [];
  #sinks = new Map<string, { key: string; sink: SinkRuntime }>();
  #store: StoreRuntime | undefined;
  #audit: AuditLog;
  #started = false;
  #stopped = false;
  readonly startedAt = Date.now();
  #valuesForwarded = 0;

  constructor(config: GatewayConfig, options: GatewayOptions = {}) {
    super();
    this.#config = config;
    this.#source = options.source;
    this.#baseDir = options.baseDir ?? process.cwd();
    this.#components = options.components;
    this.#random = options.random;
    this.#audit = new AuditLog(this.path(config.audit.file));
  }

  /** The config in force. */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** The time-series store (after start). */
  get store(): StoreRuntime | undefined {
    return this.#store;
  }

  /** The write audit log. */
  get audit(): AuditLog {
    return this.#audit;
  }

  /** Resolves a config path against the config file's folder. */
  path(p: string): string {
    return isAbsolute(p) ? p : resolve(this.#baseDir, p);
  }

  async #components_(): Promise<GatewayComponents> {
    if (this.#components) return this.#components;
    const { defaultComponents } = await import('./components.js');
    return defaultComponents();
  }

  /**
   * Checks everything a config names before anything starts: each device URL has a driver,
   * each address parses, each pipeline and sink is well-formed. Errors carry file and line.
   */
  async validate(config: GatewayConfig = this.#config, source: ConfigSource | undefined = this.#source): Promise<void> {
    const at = (path: (string | number)[], expected: string, got?: unknown) =>
      source ? source.errorAt(path, expected, got) : new BifrostError('BIFROST_CONFIG_INVALID', `${path.join('.')}: expected ${expected}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`);
    for (const [i, d] of config.devices.entries()) {
      let url: URL;
      try {
        url = parseDeviceUrl(d.url);
      } catch {
        throw at(['devices', i, 'url'], 'a device URL such as modbus://host:502?unit=1', d.url);
      }
      let driver: Awaited<ReturnType<typeof resolveDriver>>;
      try {
        driver = await resolveDriver(url);
      } catch (e) {
        throw at(['devices', i, 'url'], `a URL with a known scheme (${toBifrostError(e).message})`, d.url);
      }
      for (const [j, t] of d.tags.entries()) {
        try {
          driver.validateAddress?.(t.address);
        } catch (e) {
          throw at(['devices', i, 'tags', j, 'address'], `a valid ${driver.name} address (${toBifrostError(e).message})`, t.address);
        }
      }
    }
    const c = await this.#components_();
    c.validate(config, at);
  }

  /** Validates, then starts the store, sinks, pipelines and devices. */
  async start(): Promise<void> {
    if (this.#started) return;
    await this.validate();
    this.#started = true;
    const c = await this.#components_();
    this.#store = c.createStore(this.#config);
    await this.#startSinks(this.#config);
    this.#startPipelines(this.#config, c);
    for (const d of this.#config.devices) if (d.enabled) await this.#startDevice(d);
    this.#scheduler.on('scanError', ({ device, error }) => {
      const rt = this.#devices.get(device);
      if (rt) rt.stats.errors++;
      this.emit('warning', { where: `scan of ${device}`, error: toBifrostError(error) });
    });
    this.#scheduler.on('overrun', ({ device }) => {
      const rt = this.#devices.get(device);
      if (rt) rt.stats.overruns++;
    });
    this.#scheduler.start();
  }

  /** Starts every sink of `config` that is not running yet (all of them at start; new or changed ones on reload). */
  async #startSinks(config: GatewayConfig): Promise<void> {
    const c = await this.#components_();
    for (const [i, s] of config.sinks.entries()) {
      const name = sinkName(s, i);
      if (this.#sinks.has(name)) continue;
      const key = JSON.stringify(s);
      const sink = await c.createSink(s, { name, baseDir: this.#baseDir, gateway: config.gateway });
      sink.on?.('error', (error: unknown) => this.emit('warning', { where: `sink ${name}`, error: toBifrostError(error) }));
      await sink.start();
      this.#sinks.set(name, { key, sink });
    }
  }

  #startPipelines(config: GatewayConfig, c: GatewayComponents): void {
    for (const [i, p] of config.pipelines.entries()) {
      const rt = c.createPipeline(p, i, {
        emit: (event) => this.#onPipelineEvent(p.name, p.forward, event),
        errorAt: this.#source ? (path, expected, got) => (this.#source as ConfigSource).errorAt(['pipelines', i, ...path], expected, got) : undefined,
      });
      this.#pipelines.push(rt);
    }
  }

  async #startDevice(config: DeviceConfig): Promise<void> {
    const connectOptions: Parameters<typeof connect>[1] = { lazy: true, name: config.name, ...(config.options ?? {}) };
    if (config.timeoutMs !== undefined) connectOptions.requestTimeoutMs = config.timeoutMs;
    if (this.#random) connectOptions.backoff = { random: this.#random };
    const device = await connect(config.url, connectOptions);
    const stats: DeviceStats = {
      device: config.name,
      url: device.name === config.name ? redact(config.url) : device.name,
      health: device.health,
      polls: 0,
      errors: 0,
      badValues: 0,
      overruns: 0,
      lastLatencyMs: 0,
      maxLatencyMs: 0,
      avgLatencyMs: 0,
      lastPollAt: 0,
    };
    const rt: DeviceRuntime = {
      config,
      device,
      tags: new Map(config.tags.map((t) => [t.name, { device: config.name, config: t }])),
      groups: [],
      stats,
      latencySum: 0,
      onHealth: (e) => {
        stats.health = e.state;
        if (e.error) stats.lastError = { code: e.error.code, message: e.error.message };
        this.emit('health', { device: config.name, ...e });
      },
    };
    device.on('health', rt.onHealth);
    this.#devices.set(config.name, rt);
    const byPeriod = new Map<number, TagRuntime[]>();
    for (const t of rt.tags.values()) {
      const period = t.config.pollMs ?? config.pollMs;
      byPeriod.set(period, [...(byPeriod.get(period) ?? []), t]);
    }
    // Spread the first scans of the devices over their period, so they do not all fire together.
    const phase = Math.floor((((this.#devices.size * 37) % 100) / 100) * config.pollMs);
    for (const [period, tags] of byPeriod) {
      const name = `${config.name}@${period}`;
      const addresses = tags.map((t) => t.config.address);
      this.#scheduler.add({ name, device: config.name, periodMs: period, phaseMs: phase, scan: (signal) => this.#poll(rt, tags, addresses, signal) });
      rt.groups.push(name);
    }
  }

  async #poll(rt: DeviceRuntime, tags: TagRuntime[], addresses: string[], signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const values = await rt.device.readMany(addresses, { signal });
    if (signal.aborted) return;
    const ms = performance.now() - started;
    const s = rt.stats;
    s.polls++;
    s.lastPollAt = Date.now();
    s.lastLatencyMs = ms;
    if (ms > s.maxLatencyMs) s.maxLatencyMs = ms;
    rt.latencySum += ms;
    s.avgLatencyMs = rt.latencySum / s.polls;
    let bad = 0;
    for (let i = 0; i < tags.length; i++) {
      const tv = values[i] as TagValue;
      if (tv.quality === 'bad') {
        bad++;
        if (tv.error) s.lastError = { code: tv.error.code, message: tv.error.message };
      }
      this.#onValue(tags[i] as TagRuntime, tv);
    }
    s.badValues += bad;
    if (bad === tags.length) s.errors++;
    this.#afterPoll(rt, bad === tags.length);
  }

  /**
   * Declares a device dead when its link carries nothing: a pulled cable leaves the TCP
   * connection open (the transport notices only when its retransmissions give up, minutes
   * later), so every request times out and the device would read as `degraded` forever. After
   * `deadAfter` of polls in which every tag was bad — counted from the first such poll, so at
   * least two polls — while the device counts as connected, its connection is reset: it goes
   * `disconnected` and is redialled with the reconnect backoff. A device that is not connected
   * is already being redialled, so its polls do not count.
   */
  #afterPoll(rt: DeviceRuntime, allBad: boolean): void {
    const health = rt.device.health;
    if (!allBad || (health !== 'connected' && health !== 'degraded')) {
      rt.deadSince = undefined;
      return;
    }
    const after = rt.config.deadAfter ?? DEAD_AFTER_MS;
    if (after <= 0 || !rt.device.reset) return;
    const now = Date.now();
    rt.deadSince ??= now;
    const bad = now - rt.deadSince;
    if (bad < after) return;
    rt.deadSince = undefined;
    const error = new BifrostError('BIFROST_CONNECTION_LOST', `${rt.config.name}: every tag bad in every poll for ${bad} ms (deadAfter ${after} ms); resetting the connection`, {
      device: rt.config.name,
    });
    void rt.device.reset(error).catch((e: unknown) => this.emit('warning', { where: `reset of ${rt.config.name}`, error: toBifrostError(e) }));
  }

  #onValue(t: TagRuntime, tv: TagValue): void {
    const cfg = t.config;
    let value = tv.value;
    if (cfg.scale && typeof value === 'number') value = applyScale(value, cfg.scale);
    const gv: GatewayValue = { ...tv, value, device: t.device, tag: cfg.name };
    if (cfg.unit !== undefined) gv.unit = cfg.unit;
    t.latest = gv;
    const key = `${t.device}.${cfg.name}`;
    if (this.#store && gv.quality !== 'bad' && gv.value !== null) {
      const v = typeof gv.value === 'boolean' ? (gv.value ? 1 : 0) : NUMERIC.has(typeof gv.value) ? Number(gv.value) : undefined;
      if (v !== undefined) this.#store.append(key, gv.timestamp, v);
    }
    for (const p of this.#pipelines) if (p.inputs.has(key)) p.push(key, gv);
    if (exceedsDeadband(t.lastForwarded, gv, cfg.deadband ?? 0)) {
      t.lastForwarded = gv;
      this.#forward({ device: t.device, tag: cfg.name, ...recordFields(gv) });
    }
    this.emit('value', gv);
  }

  #onPipelineEvent(pipeline: string, forward: boolean, event: unknown): void {
    this.emit('pipeline', { pipeline, event });
    const e = event as { kind?: string; type?: string; series?: string; timestamp?: number; value?: unknown; field?: string } & Record<string, unknown>;
    const ts = typeof e.timestamp === 'number' ? e.timestamp : Date.now();
    if (this.#store && typeof e.value === 'number') this.#store.append(`${pipeline}.${e.field ?? e.kind ?? 'value'}`, ts, e.value);
    if (forward) this.#forward({ device: 'pipeline', tag: pipeline, value: JSON.parse(JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))), quality: 'good', timestamp: ts });
  }

  #forward(record: SinkRecord): void {
    this.#valuesForwarded++;
    for (const { sink } of this.#sinks.values()) {
      try {
        const r = sink.publish(record);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch((error) => this.emit('warning', { where: `sink ${sink.name}`, error: toBifrostError(error) }));
      } catch (error) {
        this.emit('warning', { where: `sink ${sink.name}`, error: toBifrostError(error) });
      }
    }
  }

  /** The latest value of every tag, by device. */
  latest(): GatewayValue[] {
    const out: GatewayValue[] = [];
    for (const d of this.#devices.values()) for (const t of d.tags.values()) if (t.latest) out.push(t.latest);
    return out;
  }

  /** The latest value of one tag. */
  latestOf(device: string, tag: string): GatewayValue | undefined {
    return this.#devices.get(device)?.tags.get(tag)?.latest;
  }

  /** The live device handle (for health and identity); reads should go through the gateway's scans. */
  device(name: string): Device | undefined {
    return this.#devices.get(name)?.device;
  }

  /** Device configs with their runtime statistics. */
  devices(): Array<{ config: DeviceConfig; stats: DeviceStats }> {
    return [...this.#devices.values()].map((d) => ({ config: d.config, stats: { ...d.stats, health: d.device.health } }));
  }

  /** Sinks with their metrics. */
  sinks(): Array<{ name: string; metrics: Record<string, number> }> {
    return [...this.#sinks.entries()].map(([name, { sink }]) => ({ name, metrics: sink.metrics() }));
  }

  /** The pipelines (their runtimes: alarms live there). */
  pipelines(): readonly PipelineRuntime[] {
    return this.#pipelines;
  }

  /** Every pipeline's alarms. */
  alarms(): AlarmState[] {
    return this.#pipelines.flatMap((p) => p.alarms?.() ?? []);
  }

  /** Acknowledges an alarm by id; false when no pipeline knows it. */
  acknowledgeAlarm(id: string, user: string): boolean {
    return this.#pipelines.some((p) => p.acknowledge?.(id, user) === true);
  }

  /**
   * Writes a tag through the one audited path: the tag must be writable, the value is checked
   * against the tag's type (taken from its current value) and limits, the old value is read
   * first, and the attempt is audit-logged whatever its outcome.
   * @example await gw.write({ device: 'press1', tag: 'setpoint', value: 72.5, user: 'alice', source: 'web' })
   */
  async write(req: WriteRequest): Promise<WriteResult> {
    const rt = this.#devices.get(req.device);
    const t = rt?.tags.get(req.tag);
    const address = t?.config.address ?? '';
    const base = { user: req.user, source: req.source, device: req.device, tag: req.tag, address };
    const fail = async (error: BifrostError, result: 'error' | 'denied', oldValue?: Value | null): Promise<never> => {
      await this.#audit.append({ ...base, oldValue, newValue: jsonSafe(req.value), result, error: { code: error.code, message: error.message } });
      this.emit('write', { request: req, error });
      throw error;
    };
    if (!rt || !t) return fail(new BifrostError('BIFROST_GATEWAY_UNKNOWN_TAG', `no tag ${req.device}.${req.tag} in this gateway`, { device: req.device }), 'denied');
    if (!t.config.writable)
      return fail(new BifrostError('BIFROST_WRITE_NOT_ALLOWED', `${req.device}.${req.tag} is not writable (mark it writable: true in the config)`, { device: req.device, address }), 'denied');
    let old: TagValue;
    try {
      old = await rt.device.read(address);
    } catch (e) {
      return fail(toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: req.device, address }), 'error');
    }
    const oldValue = t.config.scale && typeof old.value === 'number' ? applyScale(old.value, t.config.scale) : old.value;
    let value: Value;
    try {
      value = coerceLike(oldValue, req.value);
      // NaN compares false with min and max alike, so limits alone let it through to the PLC.
      if (!t.config.allowNonFinite && containsNonFinite(value, { text: false }))
        throw new BifrostError(
          'BIFROST_VALUE_OUT_OF_RANGE',
          `${typeof req.value === 'string' ? JSON.stringify(req.value) : String(req.value)} is not a finite number: ${req.device}.${req.tag} refuses NaN and ±Infinity`,
          {
            address,
            hint: 'set allowNonFinite: true on the tag to allow NaN and ±Infinity',
          },
        );
      if (typeof value === 'number') {
        if (t.config.min !== undefined && value < t.config.min) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${value} is below the tag's minimum ${t.config.min}`, { address });
        if (t.config.max !== undefined && value > t.config.max) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${value} is above the tag's maximum ${t.config.max}`, { address });
      }
    } catch (e) {
      return fail(toBifrostError(e, 'BIFROST_TYPE_MISMATCH', { device: req.device, address }), 'denied', oldValue);
    }
    const raw = t.config.scale && typeof value === 'number' ? removeScale(value, t.config.scale) : value;
    try {
      await rt.device.write(address, raw);
    } catch (e) {
      return fail(toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: req.device, address }), 'error', oldValue);
    }
    const result: WriteResult = { device: req.device, tag: req.tag, oldValue, newValue: value, at: Date.now() };
    await this.#audit.append({ ...base, oldValue, newValue: value, result: 'ok' });
    this.emit('write', { request: req, result });
    return result;
  }

  /** A health summary: ok when every enabled device is connected and every sink is up. */
  health(): { status: 'ok' | 'degraded' | 'down'; uptimeS: number; devices: Record<string, HealthState>; sinks: Record<string, Record<string, number>> } {
    const devices: Record<string, HealthState> = {};
    for (const [n, d] of this.#devices) devices[n] = d.device.health;
    const states = Object.values(devices);
    const status = states.length > 0 && states.every((s) => s === 'disconnected') ? 'down' : states.every((s) => s === 'connected') ? 'ok' : 'degraded';
    const sinks: Record<string, Record<string, number>> = {};
    for (const s of this.sinks()) sinks[s.name] = s.metrics;
    return { status, uptimeS: Math.round((Date.now() - this.startedAt) / 1000), devices, sinks };
  }

  /** Prometheus metrics of devices, scans, store and sinks. */
  metrics(): string {
    const fam = (name: string, help: string, type: 'counter' | 'gauge', pick: (s: DeviceStats) => number): MetricFamily => ({
      name,
      help,
      type,
      samples: [...this.#devices.values()].map((d) => ({ labels: { device: d.config.name }, value: pick(d.stats) })),
    });
    const HEALTH: Record<HealthState, number> = { connected: 1, degraded: 0.5, connecting: 0, disconnected: 0 };
    const families: MetricFamily[] = [
      fam('bifrost_device_polls_total', 'Completed polls per device.', 'counter', (s) => s.polls),
      fam('bifrost_device_poll_errors_total', 'Polls in which every tag was bad.', 'counter', (s) => s.errors),
      fam('bifrost_device_bad_values_total', 'Bad values read per device.', 'counter', (s) => s.badValues),
      fam('bifrost_device_overruns_total', 'Scans skipped because the previous one was still running.', 'counter', (s) => s.overruns),
      fam('bifrost_device_poll_latency_ms', 'Latency of the last poll in milliseconds.', 'gauge', (s) => s.lastLatencyMs),
      {
        name: 'bifrost_device_up',
        help: 'Device health: 1 connected, 0.5 degraded, 0 otherwise.',
        type: 'gauge',
        samples: [...this.#devices.values()].map((d) => ({ labels: { device: d.config.name }, value: HEALTH[d.device.health] })),
      },
      { name: 'bifrost_values_forwarded_total', help: 'Values handed to the sinks.', type: 'counter', samples: [{ value: this.#valuesForwarded }] },
      { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: [{ value: process.memoryUsage.rss() }] },
    ];
    if (this.#store) {
      const st = this.#store.stats();
      families.push({ name: 'bifrost_store_bytes', help: 'Bytes held by the time-series store.', type: 'gauge', samples: [{ value: st.bytes }] });
      families.push({ name: 'bifrost_store_points', help: 'Points held by the time-series store.', type: 'gauge', samples: [{ value: st.points }] });
    }
    for (const s of this.sinks()) {
      for (const [k, v] of Object.entries(s.metrics)) {
        families.push({
          name: `bifrost_sink_${k
            .replace(/[^a-zA-Z0-9_]/g, '_')
            .replace(/([a-z])([A-Z])/g, '$1_$2')
            .toLowerCase()}`,
          help: `Sink metric ${k}.`,
          type: 'gauge',
          samples: [{ labels: { sink: s.name }, value: v }],
        });
      }
    }
    return renderPrometheus(families);
  }

  /**
   * Applies a new config: devices whose config changed are restarted, new ones started, removed
   * ones closed; pipelines are rebuilt; sinks whose config changed are stopped and started again
   * on the same on-disk queue, so nothing queued is dropped. The new config is validated first: a
   * bad one is refused and the running config stays.
   */
  async reload(config: GatewayConfig, source?: ConfigSource): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    await this.validate(config, source);
    const c = await this.#components_();
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    const next = new Map(config.devices.filter((d) => d.enabled).map((d) => [d.name, d]));
    for (const [name, rt] of this.#devices) {
      const n = next.get(name);
      if (!n || JSON.stringify(n) !== JSON.stringify(rt.config)) {
        await this.#stopDevice(name);
        (n ? changed : removed).push(name);
      }
    }
    for (const [name, d] of next) {
      if (!this.#devices.has(name)) {
        await this.#startDevice(d);
        if (!changed.includes(name)) added.push(name);
      }
    }
    for (const p of this.#pipelines) await p.stop();
    this.#pipelines = [];
    this.#config = config;
    this.#source = source;
    this.#startPipelines(config, c);
    const wanted = new Map(config.sinks.map((s, i) => [sinkName(s, i), JSON.stringify(s)]));
    for (const [name, { key, sink }] of this.#sinks) {
      if (wanted.get(name) !== key) {
        await sink.stop();
        this.#sinks.delete(name);
      }
    }
    await this.#startSinks(config);
    this.#audit = new AuditLog(this.path(config.audit.file));
    return { added, removed, changed };
  }

  async #stopDevice(name: string): Promise<void> {
    const rt = this.#devices.get(name);
    if (!rt) return;
    for (const g of rt.groups) this.#scheduler.remove(g);
    rt.device.off('health', rt.onHealth);
    this.#devices.delete(name);
    await rt.device.close();
  }

  /** Graceful stop: polling stops, pipelines flush, sinks persist their cursor, devices close. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#scheduler.stop();
    for (const p of this.#pipelines) await p.stop().catch(() => {});
    for (const { sink } of this.#sinks.values()) await sink.stop().catch(() => {});
    await Promise.allSettled([...this.#devices.values()].map((d) => d.device.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A sink's name: its own, else `<type>-<index>` (as metrics and health report it). */
function sinkName(s: GatewayConfig['sinks'][number], i: number): string {
  return s.name ?? `${s.type}-${i}`;
}

function recordFields(tv: TagValue & { unit?: string }): Omit<SinkRecord, 'device' | 'tag'> {
  const r: Omit<SinkRecord, 'device' | 'tag'> = { value: jsonValue(tv.value), quality: tv.quality, timestamp: tv.timestamp };
  if (tv.sourceTimestamp !== undefined) r.sourceTimestamp = tv.sourceTimestamp;
  if (tv.unit !== undefined) r.unit = tv.unit;
  if (tv.error) r.error = tv.error.toJSON();
  return r;
}

function jsonSafe(v: unknown): Value {
  return (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date) && !Array.isArray(v) ? JSON.stringify(v) : v) as Value;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** Converts a requested value to the kind of the tag's current value (its type as the device reports it); the driver then checks the exact fit. */
function coerceLike(current: Value | null, requested: unknown): Value {
  if (Array.isArray(current)) {
    if (!Array.isArray(requested)) throw new BifrostError('BIFROST_TYPE_MISMATCH', 'this tag is an array: write an array');
    return requested.map((x, i) => coerceLike((current[i] ?? current[0] ?? null) as Value | null, x)) as Value;
  }
  const type: DataType =
    typeof current === 'boolean'
      ? 'BOOL'
      : typeof current === 'bigint'
        ? 'LINT'
        : typeof current === 'string'
          ? 'STRING'
          : current instanceof Date
            ? 'DATETIME'
            : current instanceof Uint8Array
              ? 'BYTES'
              : 'LREAL';
  return coerceValue(type, requested);
}
