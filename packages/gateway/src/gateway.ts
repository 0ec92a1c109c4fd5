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
  BAD,
  BifrostError,
  type ColumnListener,
  type ConfigSource,
  changedBeyond,
  checkUrlOptions,
  coerceValue,
  connect,
  containsNonFinite,
  type DataType,
  type Device,
  type DeviceConfig,
  type GatewayConfig,
  type HealthEvent,
  type HealthState,
  jsonValue,
  Kind,
  parseDeviceUrl,
  QUALITIES,
  type RandomSource,
  redactUrl as redact,
  removeScale,
  resolveDriver,
  ScanScheduler,
  type TagConfig,
  type TagValue,
  toBifrostError,
  type Value,
  ValueColumns,
} from '@bifrost/core';
import type { AlarmState, GatewayComponents, PipelineRuntime, SinkBatch, SinkRecord, SinkRuntime, StoreRuntime } from './components.js';
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
  /** The client's network address, for the audit log. */
  client?: string;
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

/** A tag of the gateway, resolved once per start and reload: its place in its device's table. */
export interface GatewayTag {
  device: string;
  name: string;
  /** Its index in {@link Gateway.tagTable} of its device, as {@link ValueBatch.index} gives it. */
  index: number;
  /** `device.tag`, the name of its series in the store and of its key in the web API. */
  key: string;
  config: TagConfig;
}

/**
 * One device poll on the gateway's live path, column by column: the tags whose value or quality
 * changed since the previous poll (every tag on the first poll), after scaling, before deadband.
 * Entry `k` (0 ≤ k < count) is the tag `tags[index[k]]`. The arrays are reused by the next poll:
 * a listener copies what it keeps.
 */
export interface ValueBatch {
  device: string;
  /** The device's tag table ({@link Gateway.tagTable}). */
  tags: readonly GatewayTag[];
  count: number;
  index: Uint32Array;
  values: (Value | null)[];
  /** 0 good, 1 uncertain, 2 bad (core's GOOD, UNCERTAIN, BAD). */
  quality: Uint8Array;
  /** When the poll's values were received (ms since the Unix epoch). */
  timestamp: number;
  /** The PLC's timestamps where the protocol gives them (NaN where not); absent when none does. */
  sourceTimestamp?: Float64Array;
  /** The error of each bad entry (undefined where good); absent when every entry is good. */
  errors?: (BifrostError | undefined)[];
}

/** Events of the gateway. */
export interface GatewayEvents {
  /**
   * Every tag's value after every poll, as an object. Emitted only while someone listens: at plant
   * scale, listen to `batch` instead.
   */
  value: [GatewayValue];
  /** One per device poll: the tags that changed (see {@link ValueBatch}). */
  batch: [ValueBatch];
  /** After a reload: tag tables may have changed. */
  reload: [{ added: string[]; removed: string[]; changed: string[] }];
  health: [{ device: string } & HealthEvent];
  write: [{ request: WriteRequest; result?: WriteResult; error?: BifrostError }];
  /** Anything a pipeline emits (aggregates, anomalies, alarm events). */
  pipeline: [{ pipeline: string; event: unknown }];
  /** A non-fatal problem (a scan that threw, a sink failure). Not named `error`: an unheard EventEmitter `error` throws. */
  warning: [{ where: string; error: BifrostError }];
}

/** A tag's runtime: its table entry itself (one object per tag), with its place in its scan group. */
interface TagRuntime extends GatewayTag {
  group: ScanGroup;
  /** Index of the tag in its group's columns. */
  slot: number;
}

/**
 * The tags of one device polled at one period, and their state in columns: what the last poll
 * read, what each tag holds now (`latest`), and what was last forwarded to the sinks (deadband).
 * Everything per tag is resolved once here, so a poll makes no object, no string and no lookup
 * per value.
 */
interface ScanGroup {
  name: string;
  tags: TagRuntime[];
  addresses: string[];
  cols: ValueColumns;
  latest: ValueColumns;
  /** When the group was last read: every tag's GatewayValue timestamp (the tags of a group are read together); 0 before the first poll. */
  polledAt: number;
  forwarded: ValueColumns;
  /** Set by the first poll that had sinks to forward to: from then on only changes past deadband go. */
  forwardedOnce: boolean;
  deadband: Float64Array;
  scale: (TagConfig['scale'] | undefined)[];
  hasScale: boolean;
  series: unknown[];
  /** Pipelines fed by each tag (undefined for the many that feed none; empty when no tag feeds one). */
  pipelines: (PipelineRuntime[] | undefined)[];
  /** Scratch of the live batch, and the group slot of each of its entries. */
  batch: ValueBatch;
  changedSlots: Uint32Array;
}

interface DeviceRuntime {
  config: DeviceConfig;
  device: Device;
  tags: Map<string, TagRuntime>;
  table: TagRuntime[];
  groups: string[];
  scanGroups: ScanGroup[];
  stats: DeviceStats;
  latencySum: number;
  onHealth: (e: HealthEvent) => void;
  /** When the current run of polls with every tag bad began, while the device is connected (see `#afterPoll`). */
  deadSince?: number | undefined;
}

/** `deadAfter` when the config does not say: a few seconds without a good value. */
const DEAD_AFTER_MS = 5000;

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
      try {
        if (driver.urlOptions) checkUrlOptions(url, driver.urlOptions);
      } catch (e) {
        throw at(['devices', i, 'url'], `a URL with ${driver.name} options only (${toBifrostError(e).message})`, d.url);
      }
      if (d.acquisition === 'subscribe' && driver.subscribesInto !== true)
        throw at(
          ['devices', i, 'acquisition'],
          `poll: device ${d.name} uses the ${driver.name} driver, which cannot subscribe (acquisition: subscribe needs a driver with server-side subscriptions: opc.tcp://)`,
          d.acquisition,
        );
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
    // The config text (megabytes at plant scale) is only for errors at start; a reload brings its own.
    this.#source = undefined;
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
      // Queue losses (drops, expiry, corruption, refused appends) reach the log; the sink rate-limits them.
      sink.on?.('warning', (error: unknown) => this.emit('warning', { where: `sink ${name}`, error: toBifrostError(error) }));
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
    // One object per tag: the public table entry is the runtime too (its group is set just below).
    const table: TagRuntime[] = config.tags.map((t, index) => ({
      device: config.name,
      name: t.name,
      index,
      key: `${config.name}.${t.name}`,
      config: t,
      group: undefined as unknown as ScanGroup,
      slot: 0,
    }));
    const rt: DeviceRuntime = {
      config,
      device,
      tags: new Map(),
      table,
      groups: [],
      scanGroups: [],
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
    for (const t of table) {
      const period = t.config.pollMs ?? config.pollMs;
      let list = byPeriod.get(period);
      if (!list) byPeriod.set(period, (list = []));
      list.push(t);
    }
    // Spread the first scans of the devices over their period, so they do not all fire together.
    const phase = Math.floor((((this.#devices.size * 37) % 100) / 100) * config.pollMs);
    for (const [period, tags] of byPeriod) {
      const group = this.#scanGroup(`${config.name}@${period}`, rt, tags);
      rt.scanGroups.push(group);
      const scan = config.acquisition === 'subscribe' ? this.#subscribeGroup(rt, group, period) : (signal: AbortSignal) => this.#poll(rt, group, signal);
      this.#scheduler.add({ name: group.name, device: config.name, periodMs: period, phaseMs: phase, scan });
      rt.groups.push(group.name);
    }
  }

  #scanGroup(name: string, rt: DeviceRuntime, tags: TagRuntime[]): ScanGroup {
    const n = tags.length;
    const group: ScanGroup = {
      name,
      tags: [],
      addresses: tags.map((t) => t.config.address),
      cols: new ValueColumns(n),
      latest: new ValueColumns(n),
      polledAt: 0,
      forwarded: new ValueColumns(n),
      forwardedOnce: false,
      deadband: Float64Array.from(tags, (t) => t.config.deadband ?? 0),
      // Arrays of nothing are not kept per tag: most groups scale no tag and feed no pipeline.
      scale: tags.some((t) => t.config.scale !== undefined) ? tags.map((t) => t.config.scale) : [],
      hasScale: tags.some((t) => t.config.scale !== undefined),
      series: tags.map((t) => this.#store?.handle?.(t.key)),
      pipelines: [],
      batch: { device: rt.config.name, tags: rt.table, count: 0, index: new Uint32Array(n), values: new Array(n).fill(null), quality: new Uint8Array(n), timestamp: 0 },
      changedSlots: new Uint32Array(n),
    };
    tags.forEach((t, slot) => {
      t.group = group;
      t.slot = slot;
      group.tags.push(t);
      rt.tags.set(t.name, t);
    });
    this.#linkPipelines(group);
    return group;
  }

  /** Which pipelines each tag of a group feeds (at start, and when a reload rebuilds the pipelines). */
  #linkPipelines(group: ScanGroup): void {
    let fed: (PipelineRuntime[] | undefined)[] = [];
    group.tags.forEach((t, slot) => {
      const ps = this.#pipelines.filter((p) => p.inputs.has(t.key));
      if (ps.length > 0) {
        if (fed.length === 0) fed = new Array(group.tags.length).fill(undefined);
        fed[slot] = ps;
      }
    });
    group.pipelines = fed;
  }

  async #poll(rt: DeviceRuntime, group: ScanGroup, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const cols = group.cols;
    if (rt.device.readInto) await rt.device.readInto(group.addresses, cols, { signal });
    else cols.fill(await rt.device.readMany(group.addresses, { signal }));
    if (signal.aborted) return;
    const ms = performance.now() - started;
    const bad = this.#onColumns(rt, group);
    countScan(rt, group, ms, bad);
    // A device that answers, even if only with refusals (a Modbus exception, a CIP status), is alive.
    this.#afterPoll(rt, bad === group.tags.length && !answeredAny(cols));
  }

  /**
   * A scan group fed by a server-side subscription (`acquisition: subscribe`) instead of polls:
   * publishing and sampling interval = the group's period. The device writes each notification
   * into columns of its own (raw, unscaled, every slot holding its latest), which are copied
   * into the group's columns before {@link Gateway.#onColumns}: the store, pipelines, live batch
   * and sinks see what a poll would have read, and unchanged tags are no change. `polls` counts
   * notifications; the latency is their age, from the server's PublishTime to the end of the
   * gateway's work. Returns the group's scan, which only watches the subscription: connected and
   * silent — no notification, not even a keep-alive — for `deadAfter` (at least two periods),
   * the connection is reset, as a poll's dead link would be.
   */
  #subscribeGroup(rt: DeviceRuntime, group: ScanGroup, periodMs: number): (signal: AbortSignal) => Promise<void> {
    const device = rt.device;
    if (!device.subscribeInto) throw new BifrostError('BIFROST_CONFIG_INVALID', `device ${rt.config.name} cannot subscribe: use acquisition: poll`, { device: rt.config.name });
    const raw = new ValueColumns(group.addresses.length);
    const after = rt.config.deadAfter ?? DEAD_AFTER_MS;
    const silentFor = Math.max(after, 2 * periodMs);
    let aliveAt = Date.now();
    const listener: ColumnListener = {
      data: (_count, publishedAt) => {
        aliveAt = Date.now();
        // A notification landing while the gateway stops must not reach sinks that are stopping.
        if (this.#stopped) return;
        try {
          group.cols.copyFrom(raw);
          const bad = this.#onColumns(rt, group);
          countScan(rt, group, Math.max(0, Date.now() - publishedAt), bad);
        } catch (error) {
          this.emit('warning', { where: `subscription of ${group.name}`, error: toBifrostError(error) });
        }
      },
      alive: () => {
        aliveAt = Date.now();
      },
    };
    // The server must say something at least twice per deadAfter: keep-alives then tell a quiet plant from a dead link.
    device.subscribeInto(group.addresses, raw, { intervalMs: periodMs, keepAliveMs: after > 0 ? after / 2 : periodMs * 10 }, listener);
    return async () => {
      const health = device.health;
      const now = Date.now();
      if (after <= 0 || !device.reset || (health !== 'connected' && health !== 'degraded')) {
        aliveAt = now;
        return;
      }
      const silent = now - aliveAt;
      if (silent < silentFor) return;
      aliveAt = now;
      const error = new BifrostError(
        'BIFROST_CONNECTION_LOST',
        `${rt.config.name}: the subscription of ${group.name} delivered nothing, not even a keep-alive, for ${silent} ms (deadAfter ${after} ms); resetting the connection`,
        { device: rt.config.name },
      );
      void device.reset(error).catch((e: unknown) => this.emit('warning', { where: `reset of ${rt.config.name}`, error: toBifrostError(e) }));
    };
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

  /**
   * Everything a poll's values go through, column by column: scaling, the tags' latest values, the
   * store (through handles resolved at start), the pipelines that subscribe to a tag, the live
   * batch (changed tags) and, past each tag's deadband, one sink batch per poll. Returns the number
   * of bad values.
   */
  #onColumns(rt: DeviceRuntime, group: ScanGroup): number {
    const cols = group.cols;
    const n = cols.size;
    const ts = cols.timestamp;
    const { num, kind, quality } = cols;
    if (group.hasScale) {
      for (let i = 0; i < n; i++) {
        const sc = group.scale[i];
        if (sc !== undefined && kind[i] === Kind.Number) num[i] = applyScale(num[i] as number, sc);
      }
    }
    const store = this.#store;
    const appendTo = store?.appendTo;
    const { latest, forwarded, deadband, series, pipelines } = group;
    const feeds = pipelines.length > 0;
    const firstPoll = group.polledAt === 0;
    const firstForward = !group.forwardedOnce;
    group.polledAt = ts;
    const batch = group.batch;
    const live = this.listenerCount('batch') > 0;
    const perValue = this.listenerCount('value') > 0;
    const sinks = this.#sinks.size > 0;
    let changed = 0;
    let bad = 0;
    let fwd: number[] | undefined;
    for (let i = 0; i < n; i++) {
      const q = quality[i] as number;
      const k = kind[i] as number;
      if (q === BAD) bad++;
      else if (store && (k === Kind.Number || k === Kind.Bool || (k === Kind.Other && typeof cols.otherAt(i) === 'bigint'))) {
        if (appendTo) appendTo(series[i], ts, num[i] as number);
        else store.append((group.tags[i] as TagRuntime).key, ts, num[i] as number);
      }
      const isChange = firstPoll || changedBeyond(latest, i, cols, i, 0);
      // The latest slot always takes the poll (a new source timestamp or error with the same value
      // counts for latestOf and the pipelines); only a change goes into the live batch.
      latest.copySlot(i, cols, i);
      if (isChange) {
        if (live) {
          batch.index[changed] = (group.tags[i] as TagRuntime).index;
          group.changedSlots[changed] = i;
          batch.values[changed] = cols.value(i);
          batch.quality[changed] = q;
        }
        changed++;
      }
      const ps = feeds ? pipelines[i] : undefined;
      if (ps !== undefined) {
        const t = group.tags[i] as TagRuntime;
        const tv = this.#gatewayValue(t);
        for (const p of ps) p.push(t.key, tv);
      }
      if (sinks && (firstForward || changedBeyond(forwarded, i, cols, i, deadband[i] as number))) {
        forwarded.copySlot(i, cols, i);
        (fwd ??= []).push(i);
      }
    }
    if (sinks) group.forwardedOnce = true;
    if (fwd) this.#forwardBatch(rt, group, fwd, ts);
    if (live && changed > 0) {
      batch.count = changed;
      batch.timestamp = ts;
      this.#batchExtras(group, changed);
      this.emit('batch', batch);
    }
    if (perValue) for (const t of group.tags) this.emit('value', this.#gatewayValue(t));
    return bad;
  }

  /** Source timestamps and errors of the live batch, only when the poll has any. */
  #batchExtras(group: ScanGroup, count: number): void {
    const b = group.batch;
    const cols = group.cols;
    const slotOf = (k: number) => group.changedSlots[k] as number;
    let errors: (BifrostError | undefined)[] | undefined;
    let st: Float64Array | undefined;
    for (let k = 0; k < count; k++) {
      if (b.quality[k] === BAD || cols.errorAt(slotOf(k)) !== undefined) {
        errors ??= new Array(count).fill(undefined);
        errors[k] = cols.errorAt(slotOf(k));
      }
      if (cols.sourceTimestamp !== undefined) {
        st ??= new Float64Array(count).fill(Number.NaN);
        st[k] = cols.sourceTimestamp[slotOf(k)] as number;
      }
    }
    if (errors) b.errors = errors;
    else delete b.errors;
    if (st) b.sourceTimestamp = st;
    else delete b.sourceTimestamp;
  }

  /** One sink batch with the values of this poll that passed their deadband. */
  #forwardBatch(rt: DeviceRuntime, group: ScanGroup, slots: number[], ts: number): void {
    const cols = group.cols;
    const m = slots.length;
    const batch: SinkBatch = { device: rt.config.name, timestamp: ts, tags: new Array(m), values: new Array(m), qualities: new Array(m) };
    let units: Array<string | null> | undefined;
    let errors: Array<Record<string, unknown> | null> | undefined;
    let st: Array<number | null> | undefined;
    for (let k = 0; k < m; k++) {
      const i = slots[k] as number;
      const cfg = (group.tags[i] as TagRuntime).config;
      batch.tags[k] = cfg.name;
      batch.values[k] = jsonValue(cols.value(i));
      batch.qualities[k] = QUALITIES[cols.quality[i] as number] as SinkBatch['qualities'][number];
      if (cfg.unit !== undefined) (units ??= new Array(m).fill(null))[k] = cfg.unit;
      const e = cols.errorAt(i);
      if (e) (errors ??= new Array(m).fill(null))[k] = e.toJSON();
      const t = cols.sourceTimestamp?.[i];
      if (t !== undefined && !Number.isNaN(t)) (st ??= new Array(m).fill(null))[k] = t;
    }
    if (units) batch.units = units;
    if (errors) batch.errors = errors;
    if (st) batch.sourceTimestamps = st;
    this.#valuesForwarded += m;
    this.#toSinks((sink) => (sink.publishBatch ? sink.publishBatch(batch) : publishRecords(sink, batch)));
  }

  /** Hands something to every sink; a sink that throws or rejects is a `warning`, never a failed poll. */
  #toSinks(publish: (sink: SinkRuntime) => void | Promise<void> | undefined): void {
    for (const { sink } of this.#sinks.values()) {
      try {
        const r = publish(sink);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch((error) => this.emit('warning', { where: `sink ${sink.name}`, error: toBifrostError(error) }));
      } catch (error) {
        this.emit('warning', { where: `sink ${sink.name}`, error: toBifrostError(error) });
      }
    }
  }

  /** A tag's latest value as an object (for the API and pipelines, not per poll). */
  #gatewayValue(t: TagRuntime): GatewayValue {
    const g = t.group;
    const tv = g.latest.tagValue(t.slot, t.config.address);
    const gv: GatewayValue = { ...tv, timestamp: g.polledAt, device: t.device, tag: t.config.name };
    if (t.config.unit !== undefined) gv.unit = t.config.unit;
    return gv;
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
    this.#toSinks((sink) => sink.publish(record));
  }

  /** The latest value of every tag, by device. */
  latest(): GatewayValue[] {
    const out: GatewayValue[] = [];
    for (const d of this.#devices.values()) for (const t of d.tags.values()) if (t.group.polledAt !== 0) out.push(this.#gatewayValue(t));
    return out;
  }

  /** The latest value of one tag. */
  latestOf(device: string, tag: string): GatewayValue | undefined {
    const t = this.#devices.get(device)?.tags.get(tag);
    return t && t.group.polledAt !== 0 ? this.#gatewayValue(t) : undefined;
  }

  /**
   * The tags of a device in a fixed order, resolved once per start and reload: {@link ValueBatch}
   * entries index into it. Empty for an unknown device.
   * @example const names = gw.tagTable('press1').map((t) => t.name)
   */
  tagTable(device: string): readonly GatewayTag[] {
    return this.#devices.get(device)?.table ?? [];
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
    const base = { user: req.user, source: req.source, ...(req.client ? { client: req.client } : {}), device: req.device, tag: req.tag, address };
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
      // An array tag's limits hold for each element (an OPC UA client or the API may write a whole array).
      for (const x of Array.isArray(value) ? value : [value]) {
        if (typeof x !== 'number') continue;
        if (t.config.min !== undefined && x < t.config.min) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${x} is below the tag's minimum ${t.config.min}`, { address });
        if (t.config.max !== undefined && x > t.config.max) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${x} is above the tag's maximum ${t.config.max}`, { address });
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
      families.push({ name: 'bifrost_store_budget_bytes', help: 'The time-series store memory budget.', type: 'gauge', samples: [{ value: st.memoryBytes }] });
      families.push({
        name: 'bifrost_store_evicted_points_total',
        help: 'Points evicted, oldest first, to keep the store within its budget.',
        type: 'counter',
        samples: [{ value: st.evictedPoints }],
      });
      families.push({ name: 'bifrost_store_expired_points_total', help: 'Points dropped by the store retention.', type: 'counter', samples: [{ value: st.expiredPoints }] });
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
    for (const d of this.#devices.values()) for (const g of d.scanGroups) this.#linkPipelines(g);
    const wanted = new Map(config.sinks.map((s, i) => [sinkName(s, i), JSON.stringify(s)]));
    for (const [name, { key, sink }] of this.#sinks) {
      if (wanted.get(name) !== key) {
        await sink.stop();
        this.#sinks.delete(name);
      }
    }
    await this.#startSinks(config);
    this.#audit = new AuditLog(this.path(config.audit.file));
    this.emit('reload', { added, removed, changed });
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

  /**
   * Graceful stop, bounded: polling stops at once (in-flight reads are aborted), pipelines flush,
   * sinks persist their cursor and devices close, sinks and devices side by side. Whatever has not
   * finished within `timeoutMs` (default 5000) is left behind with a `warning`, so a hung device or
   * a broker that stopped answering never holds the process (issue 18.6); records a sink had not
   * yet had acknowledged stay queued on disk and are sent again at the next start. Idempotent.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const timeoutMs = options.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), timeoutMs);
    });
    const bounded = async (what: string, work: () => Promise<unknown>): Promise<void> => {
      const done = work().then(
        () => 'done' as const,
        () => 'done' as const,
      );
      if ((await Promise.race([done, deadline])) === 'late') {
        this.emit('warning', { where: what, error: new BifrostError('BIFROST_TIMEOUT', `${what} did not stop within ${timeoutMs} ms of the stop; left behind`) });
      }
    };
    try {
      await bounded('polling', () => this.#scheduler.stop());
      await Promise.all(this.#pipelines.map((p, i) => bounded(`pipeline ${this.#config.pipelines[i]?.name ?? i}`, () => p.stop())));
      await Promise.all([
        ...[...this.#sinks].map(([name, { sink }]) => bounded(`sink ${name}`, () => sink.stop())),
        ...[...this.#devices].map(([name, d]) => bounded(`device ${name}`, () => d.device.close())),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A scan's place in the device's stats: a poll, or a notification of a subscribed group. */
function countScan(rt: DeviceRuntime, group: ScanGroup, ms: number, bad: number): void {
  const s = rt.stats;
  s.polls++;
  s.lastPollAt = Date.now();
  s.lastLatencyMs = ms;
  if (ms > s.maxLatencyMs) s.maxLatencyMs = ms;
  rt.latencySum += ms;
  s.avgLatencyMs = rt.latencySum / s.polls;
  s.badValues += bad;
  if (bad === group.tags.length) s.errors++;
}
/** True when some value of the poll came with the device's own answer (a good value, or an error carrying the protocol's status). */
function answeredAny(cols: ValueColumns): boolean {
  for (let i = 0; i < cols.size; i++) if (cols.quality[i] !== BAD || cols.errorAt(i)?.status !== undefined) return true;
  return false;
}

/** A sink's name: its own, else `<type>-<index>` (as metrics and health report it). */
function sinkName(s: GatewayConfig['sinks'][number], i: number): string {
  return s.name ?? `${s.type}-${i}`;
}

/**
 * The records of a batch, one per value, for a sink without `publishBatch`: the same records the
 * gateway published one by one before batches.
 */
export function batchRecords(batch: SinkBatch): SinkRecord[] {
  const out: SinkRecord[] = new Array(batch.tags.length);
  for (let k = 0; k < batch.tags.length; k++) {
    const r: SinkRecord = { device: batch.device, tag: batch.tags[k] as string, value: batch.values[k], quality: batch.qualities[k] as SinkRecord['quality'], timestamp: batch.timestamp };
    const st = batch.sourceTimestamps?.[k];
    if (st !== undefined && st !== null) r.sourceTimestamp = st;
    const unit = batch.units?.[k];
    if (unit !== undefined && unit !== null) r.unit = unit;
    const e = batch.errors?.[k];
    if (e !== undefined && e !== null) r.error = e;
    out[k] = r;
  }
  return out;
}

function publishRecords(sink: SinkRuntime, batch: SinkBatch): Promise<void> | undefined {
  let pending: Promise<unknown>[] | undefined;
  for (const r of batchRecords(batch)) {
    const p = sink.publish(r);
    if (p && typeof (p as Promise<void>).then === 'function') (pending ??= []).push(p as Promise<void>);
  }
  return pending ? Promise.all(pending).then(() => undefined) : undefined;
}

function jsonSafe(v: unknown): Value {
  return (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date) && !Array.isArray(v) ? JSON.stringify(v) : v) as Value;
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
