/**
 * @module
 * The Driver/Device contract every protocol implements, and `BaseDevice`, which gives a driver
 * connection management (one connect in flight, reconnect with backoff and full jitter, health
 * events), timeouts and abort signals on every operation, polling `subscribe` with deadband, and
 * idempotent `close()` / `Symbol.asyncDispose`. A driver implements the five `do*` methods.
 */
import { EventEmitter } from 'node:events';
import type { ValueColumns } from './columns.js';
import type { DataType, Value } from './datatypes.js';
import { channels } from './diagnostics.js';
import { connectError } from './errors/connect-error.js';
import { BifrostError, toBifrostError } from './errors/index.js';
import { type HealthEvent, HealthMonitor, type HealthState } from './health.js';
import { redactUrl } from './redact.js';
import { Backoff, type BackoffOptions, type OperationOptions, sleep, withTimeout } from './timing.js';
import { queryInt } from './url.js';
import { bad, exceedsDeadband, type TagValue } from './value.js';

/** What a device says about itself. Fields a protocol does not report are absent. */
export interface DeviceIdentity {
  protocol: string;
  vendor?: string;
  product?: string;
  model?: string;
  firmware?: string;
  serial?: string;
  /** Anything else the protocol reports (order code, module type, application URI, …). */
  [key: string]: unknown;
}

/** A node of a device's address space or tag list. */
export interface BrowseNode {
  /** Display name. */
  name: string;
  /** The address to pass to `read`; absent for pure folders. */
  address?: string;
  kind: 'folder' | 'tag' | 'struct' | 'method';
  /** Bifrost type, or the protocol's own type name where it has no Bifrost equivalent. */
  type?: DataType | string;
  /** Array dimensions. */
  dimensions?: number[];
  writable?: boolean;
  description?: string;
  children?: BrowseNode[];
}

/** Options of `browse`. */
export interface BrowseOptions extends OperationOptions {
  /** How deep to recurse (1 = only the children of the path). */
  depth?: number;
  /** Called as nodes are found. */
  onProgress?: (found: number, path: string) => void;
}

/** Options of `subscribe`. */
export interface SubscribeOptions extends OperationOptions {
  /** Sampling interval in ms (default 1000). */
  intervalMs?: number;
  /** Absolute deadband: a numeric value is reported only when it moved more than this. */
  deadband?: number;
}

/** Options of {@link Device.subscribeInto}. */
export interface SubscribeIntoOptions {
  /** How often the server samples the tags and publishes their changes, in ms. */
  intervalMs: number;
  /**
   * The server sends something (changes or a keep-alive) at least this often, in ms, so that a
   * silent subscription can be told from a quiet plant (default 10 × `intervalMs`).
   */
  keepAliveMs?: number;
  /** Ends the subscription (as its `close()` does). */
  signal?: AbortSignal;
}

/**
 * What {@link Device.subscribeInto} reports, synchronously: the columns are the caller's to read
 * until the callback returns, and are written again by the next notification.
 */
export interface ColumnListener {
  /**
   * `count` slots of the columns were written (new values, bad slots, or every slot on a lost
   * connection). The first call after each (re)subscription carries every slot. `publishedAt`
   * is when the server published them (ms since the Unix epoch; the receive time where the
   * protocol does not say).
   */
  data(count: number, publishedAt: number): void;
  /** The server answered without new values: a keep-alive, or a step of making the subscription (the link is alive). */
  alive?(): void;
}

/** A running {@link Device.subscribeInto}. */
export interface ColumnSubscription {
  /** Ends the subscription on the server and stops the callbacks; calling it again does nothing. */
  close(): Promise<void>;
}

/** Options of `connect`. */
export interface ConnectOptions extends OperationOptions {
  /** Return at once and connect in the background (the gateway's way); default false. */
  lazy?: boolean;
  /** Per-request timeout in ms; default the URL's `timeout` option, else 2000. */
  requestTimeoutMs?: number;
  /** Reconnect backoff. */
  backoff?: BackoffOptions;
  /** A name for messages and events (default: the URL without secrets). */
  name?: string;
  /** Protocol-specific options. */
  [key: string]: unknown;
}

/** Events a device emits. */
export interface DeviceEvents {
  health: [HealthEvent];
}

/**
 * A connected device. Every method honors `signal` and `timeoutMs`.
 * @example
 * await using plc = await connect('modbus://127.0.0.1:5020?unit=1');
 * const t = await plc.read('HR0:FLOAT32');
 */
export interface Device extends AsyncDisposable {
  readonly url: string;
  readonly protocol: string;
  readonly name: string;
  readonly health: HealthState;
  /** Reads one tag; rejects with the tag's error when it cannot be read. */
  read(address: string, options?: OperationOptions): Promise<TagValue>;
  /** Reads many tags in as few requests as the protocol allows; a failed tag is a `bad` value, never a rejected batch. */
  readMany(addresses: readonly string[], options?: OperationOptions): Promise<TagValue[]>;
  /**
   * Reads many tags into reused columns, slot `i` for `addresses[i]`: the gateway's way, with no
   * object per value (see {@link ValueColumns}). Pass the same array every poll: the device plans
   * the reads once for it. Failed tags are bad slots, never a rejection.
   */
  readInto?(addresses: readonly string[], out: ValueColumns, options?: OperationOptions): Promise<void>;
  /**
   * Subscribes on the server (OPC UA monitored items) and writes every notification into reused
   * columns, slot `i` for `addresses[i]`, with no object per value: the gateway's way of
   * acquiring without polling. Slots not notified keep what they held; a refused address is a
   * bad slot with its status; a lost connection makes every slot bad with its error until the
   * subscription is made again on the new connection, which the device does itself. Only
   * drivers whose {@link Driver.subscribesInto} is true have it.
   */
  subscribeInto?(addresses: readonly string[], out: ValueColumns, options: SubscribeIntoOptions, listener: ColumnListener): ColumnSubscription;
  /** Writes one tag. */
  write(address: string, value: Value, options?: OperationOptions): Promise<void>;
  /** Yields batches of changed values: the first batch has every tag, later ones only those that changed beyond the deadband. */
  subscribe(addresses: readonly string[], options?: SubscribeOptions): AsyncIterableIterator<TagValue[]>;
  identify(options?: OperationOptions): Promise<DeviceIdentity>;
  browse?(path?: string, options?: BrowseOptions): Promise<BrowseNode[]>;
  /**
   * Tears the connection down and redials it after the reconnect backoff delay; for a link that
   * stays open while nothing answers. Does nothing unless connected. Every `BaseDevice` has it.
   */
  reset?(reason?: string | BifrostError): Promise<void>;
  /** Closes the device; calling it again does nothing. */
  close(): Promise<void>;
  on<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): this;
  off<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): this;
}

/** A protocol driver: turns a URL with one of its schemes into a Device. */
export interface Driver {
  readonly name: string;
  /** URL schemes without the colon, e.g. `modbus`, `modbus+rtu`. */
  readonly schemes: readonly string[];
  connect(url: URL, options?: ConnectOptions): Promise<Device>;
  /** The URL query options the driver reads; `connect()` refuses any other with a did-you-mean error. */
  readonly urlOptions?: readonly string[];
  /** Its devices have {@link Device.subscribeInto}: the gateway accepts `acquisition: subscribe` for them. */
  readonly subscribesInto?: boolean;
  /** Parses an address for this protocol without a device, throwing BIFROST_INVALID_ADDRESS; for config validation. */
  validateAddress?(address: string): void;
}

/**
 * The base of every Bifrost device. Subclasses implement the `do*` methods; everything else —
 * connection sharing, backoff, health, timeouts, subscribe, close — lives here once.
 */
export abstract class BaseDevice extends EventEmitter<DeviceEvents> implements Device {
  readonly url: string;
  readonly name: string;
  abstract readonly protocol: string;
  protected readonly requestTimeoutMs: number;
  readonly #health = new HealthMonitor();
  readonly #backoff: Backoff;
  #connected = false;
  #connecting: Promise<void> | undefined;
  #nextAttemptAt = 0;
  /** Set by `reset()`: a connect alone does not reset the backoff until the device answers again. */
  #awaitingData = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #lifetime = new AbortController();

  protected constructor(url: URL, options: ConnectOptions = {}) {
    super();
    this.url = url.toString();
    this.name = options.name ?? redactUrl(url);
    // `?timeout=abc` is an error, not a silent 2000 ms (issue 25 §7).
    this.requestTimeoutMs = options.requestTimeoutMs ?? queryInt(url, 'timeout', 2000, { min: 1, max: 3_600_000 });
    this.#backoff = new Backoff({ baseMs: 200, maxMs: 10_000, ...options.backoff });
    this.#health.on('health', (e) => {
      this.emit('health', e);
      if (channels.health.hasSubscribers) channels.health.publish({ device: this.name, ...e });
    });
  }

  /** Opens the connection. Called with a signal that aborts on timeout or close. */
  protected abstract doConnect(signal: AbortSignal): Promise<void>;
  /** Releases the connection; must not throw. */
  protected abstract doDisconnect(): Promise<void>;
  /** Reads the addresses; a failure of one address must be a bad value, not a rejection. */
  protected abstract doReadMany(addresses: readonly string[], signal: AbortSignal): Promise<TagValue[]>;
  /**
   * Reads the addresses into columns. The default goes through {@link doReadMany}; a driver
   * overrides it to decode straight into the columns, with no TagValue per value.
   */
  protected async doReadInto(addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    out.fill(await this.doReadMany(addresses, signal));
  }
  protected abstract doWrite(address: string, value: Value, signal: AbortSignal): Promise<void>;
  protected abstract doIdentify(signal: AbortSignal): Promise<DeviceIdentity>;

  get health(): HealthState {
    return this.#health.state;
  }

  /** True while the transport is up. */
  get isConnected(): boolean {
    return this.#connected;
  }

  /** Aborts when the device closes: for the driver's own background work. */
  protected get lifetimeSignal(): AbortSignal {
    return this.#lifetime.signal;
  }

  /**
   * Connects now, or joins the connect in flight. Between failed attempts it waits the backoff
   * delay: a call during that wait fails fast with BIFROST_NOT_CONNECTED instead of hammering
   * the device.
   */
  async ensureConnected(options: OperationOptions = {}): Promise<void> {
    if (this.#closed) throw new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name });
    if (this.#connected) return;
    if (!this.#connecting) {
      const wait = this.#nextAttemptAt - Date.now();
      if (wait > 0) {
        throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected; next attempt in ${wait} ms`, { device: this.name, cause: this.#health.lastError });
      }
      this.#health.set('connecting');
      const attempt = withTimeout((signal) => this.doConnect(signal), {
        also: this.#lifetime.signal,
        timeoutMs: Math.max(this.requestTimeoutMs, 1000) * 2,
        what: `connect to ${this.name}`,
      });
      this.#connecting = attempt.then(
        () => {
          this.#connected = true;
          // After a reset the transport came up before, yet nothing answered: only data proves
          // the link, so the backoff keeps growing until then (see `reset`).
          if (!this.#awaitingData) this.#backoff.reset();
          this.#nextAttemptAt = 0;
          this.#health.set('connected');
        },
        async (e) => {
          const err = connectError(e, { device: this.name });
          this.#nextAttemptAt = Date.now() + this.#backoff.next();
          this.#health.set('disconnected', err);
          await this.doDisconnect().catch(() => {});
          throw err;
        },
      );
      this.#connecting
        .finally(() => {
          this.#connecting = undefined;
        })
        .catch(() => {});
    }
    const pending = this.#connecting as Promise<void>;
    if (options.signal) {
      await withTimeout(() => pending, { signal: options.signal });
    } else await pending;
  }

  /**
   * A driver calls this when its transport drops. The device goes `disconnected`, and the next
   * operation reconnects (after the backoff delay when the last attempt failed).
   */
  protected connectionLost(error?: unknown): void {
    if (!this.#connected) return;
    this.#connected = false;
    const err =
      error === undefined
        ? new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} lost`, { device: this.name })
        : toBifrostError(error, 'BIFROST_CONNECTION_LOST', { device: this.name });
    this.#health.set('disconnected', err);
    void this.doDisconnect().catch(() => {});
  }

  /**
   * Tears the connection down and redials it with the reconnect backoff (exponential, full
   * jitter): the device goes `disconnected` at once, and the first operation after the backoff
   * delay connects again (lazily, as after a failed connect). This is for a link that the
   * transport still believes up while nothing answers — a pulled cable leaves a TCP connection
   * open until its retransmissions give up, many minutes later (RFC 1122 §4.2.3.5). Until a read
   * returns a good value (or a write or identify succeeds), a successful connect does not reset
   * the backoff, so a device that accepts connections but never answers is redialled ever more
   * slowly. Does nothing unless connected (a connect in flight or a pending backoff already
   * redials) and after `close()`.
   * @example await device.reset('no answer for 5 s');
   */
  async reset(reason?: string | BifrostError): Promise<void> {
    if (this.#closed || !this.#connected) return;
    this.#connected = false;
    this.#awaitingData = true;
    this.#nextAttemptAt = Date.now() + this.#backoff.next();
    const err = reason instanceof BifrostError ? reason : new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} reset${reason ? `: ${reason}` : ''}`, { device: this.name });
    this.#health.set('disconnected', err);
    await this.doDisconnect().catch(() => {});
  }

  /** The device answered: after a `reset`, the next one starts from the shortest backoff again. */
  #answered(): void {
    if (!this.#awaitingData) return;
    this.#awaitingData = false;
    this.#backoff.reset();
  }

  /** Marks the device degraded (answering, but some operations fail) or recovered. */
  protected reportOutcome(ok: boolean, error?: BifrostError): void {
    if (!this.#connected) return;
    this.#health.set(ok ? 'connected' : 'degraded', error);
  }

  async #op<T>(what: string, options: OperationOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.ensureConnected(options);
    // Not AbortSignal.any: see withTimeout's `also` (a leak on Node 20 at one call per poll).
    return withTimeout(fn, {
      signal: options.signal ?? this.#lifetime.signal,
      also: options.signal ? this.#lifetime.signal : undefined,
      timeoutMs: options.timeoutMs ?? this.requestTimeoutMs * 4,
      what: `${what} on ${this.name}`,
    });
  }

  async readMany(addresses: readonly string[], options: OperationOptions = {}): Promise<TagValue[]> {
    if (addresses.length === 0) return [];
    let values: TagValue[];
    try {
      values = await this.#op('read', options, (s) => this.doReadMany(addresses, s));
    } catch (e) {
      if (isCallerAbort(e, options)) throw e;
      const err = toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: this.name });
      // A read that timed out on a live connection: the device is there but not answering.
      this.reportOutcome(false, err);
      return addresses.map((a) => bad(a, err));
    }
    const failed = values.find((v) => v.quality === 'bad');
    if (this.#awaitingData && values.some((v) => v.quality !== 'bad')) this.#answered();
    this.reportOutcome(failed === undefined, failed?.error);
    return values;
  }

  async readInto(addresses: readonly string[], out: ValueColumns, options: OperationOptions = {}): Promise<void> {
    if (addresses.length === 0) return;
    try {
      await this.#op('read', options, (s) => this.doReadInto(addresses, out, s));
    } catch (e) {
      if (isCallerAbort(e, options)) throw e;
      out.fillBad(toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: this.name }));
      return;
    }
    const q = out.quality;
    let failed = -1;
    for (let i = 0; i < addresses.length; i++) {
      if (q[i] === 2) {
        failed = i;
        break;
      }
    }
    this.reportOutcome(failed < 0, failed < 0 ? undefined : out.errorAt(failed));
  }

  async read(address: string, options: OperationOptions = {}): Promise<TagValue> {
    const [v] = await this.readMany([address], options);
    if (!v) throw new BifrostError('BIFROST_MALFORMED_FRAME', `no value returned for ${address}`, { device: this.name, address });
    if (v.quality === 'bad' && v.error) throw v.error;
    return v;
  }

  async write(address: string, value: Value, options: OperationOptions = {}): Promise<void> {
    await this.#op('write', options, (s) => this.doWrite(address, value, s));
    this.#answered();
  }

  async identify(options: OperationOptions = {}): Promise<DeviceIdentity> {
    const id = await this.#op('identify', options, (s) => this.doIdentify(s));
    this.#answered();
    return id;
  }

  /**
   * Polls at a fixed rate (a late poll is not piled up: the next starts on the next tick) and
   * yields what changed beyond the deadband. Ends when the signal aborts, `return()` is called,
   * or the device closes.
   */
  async *subscribe(addresses: readonly string[], options: SubscribeOptions = {}): AsyncIterableIterator<TagValue[]> {
    const interval = options.intervalMs ?? 1000;
    if (!(interval > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `subscribe intervalMs must be > 0, got ${interval}`);
    const deadband = options.deadband ?? 0;
    const last = new Map<string, TagValue>();
    const stop = options.signal ? AbortSignal.any([options.signal, this.#lifetime.signal]) : this.#lifetime.signal;
    let next = Date.now();
    while (!stop.aborted && !this.#closed) {
      const readOpts: OperationOptions = { signal: stop };
      if (options.timeoutMs !== undefined) readOpts.timeoutMs = options.timeoutMs;
      let batch: TagValue[];
      try {
        batch = await this.readMany(addresses, readOpts);
      } catch (e) {
        if (stop.aborted || this.#closed) return;
        throw e;
      }
      const changed = batch.filter((v) => {
        if (!exceedsDeadband(last.get(v.address), v, deadband)) return false;
        last.set(v.address, v);
        return true;
      });
      if (changed.length > 0) yield changed;
      next += interval;
      const now = Date.now();
      if (next < now) next = now + interval - ((now - next) % interval);
      try {
        await sleep(next - now, stop);
      } catch {
        return;
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#lifetime.abort(new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name }));
    this.#closing = (async () => {
      await this.#connecting?.catch(() => {});
      this.#connected = false;
      await this.doDisconnect().catch(() => {});
      this.#health.set('disconnected');
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isCallerAbort(e: unknown, options: OperationOptions): boolean {
  return options.signal?.aborted === true && e instanceof BifrostError && e.code === 'BIFROST_ABORTED';
}

/**
 * What every driver's `connect` does with a new device: connect now (closing the device if that
 * fails), or with `lazy`, start connecting in the background and return at once.
 * @example async connect(url, options = {}) { return openDevice(new MyDevice(url, options), options) }
 */
export async function openDevice<D extends BaseDevice>(device: D, options: ConnectOptions = {}): Promise<D> {
  if (options.lazy) {
    device.ensureConnected().catch(() => {});
    return device;
  }
  try {
    await device.ensureConnected(options.signal ? { signal: options.signal } : {});
  } catch (e) {
    await device.close();
    throw e;
  }
  return device;
}
