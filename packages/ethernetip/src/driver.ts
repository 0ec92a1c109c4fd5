/**
 * @module
 * The `eip://` driver: a Bifrost Device over {@link EipClient}. URL options: `path` (routing,
 * default none; `slot=N` is short for `path=1,N`), `connected` (default true), `large` (Large Forward Open, default true),
 * `timeout` (ms). The URL port defaults to 44818.
 */
import {
  BaseDevice,
  BifrostError,
  type BrowseNode,
  type BrowseOptions,
  bad,
  type ConnectOptions,
  type DeviceIdentity,
  type Driver,
  good,
  openDevice,
  queryBool,
  queryInt,
  type TagValue,
  type Value,
  type ValueColumns,
} from '@bifrost/core';
import { EipClient, type ReadResult } from './client.js';
import { parseRoutePath } from './codec/epath.js';
import { parseLogixAddress } from './codec/logix.js';

/**
 * A Logix controller as a Bifrost device.
 * @example const plc = await driver.connect(new URL('eip://10.0.0.5?path=1,0'))
 */
export class EipDevice extends BaseDevice {
  readonly protocol = 'eip';
  readonly #host: string;
  readonly #port: number;
  readonly #route: string;
  readonly #connectedMessaging: boolean;
  readonly #large: boolean;
  #client: EipClient | undefined;
  readonly #results = new WeakMap<readonly string[], ReadResult[]>();

  constructor(url: URL, options: ConnectOptions = {}) {
    super(url, options);
    this.#host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.#host) throw new BifrostError('BIFROST_INVALID_URL', `${url} has no host; expected eip://host[:port]?path=1,0`);
    this.#port = url.port ? Number(url.port) : 44818;
    // `slot=N` is shorthand for the backplane route `path=1,N` (CIP Vol 1 §C-1.4.1: port 1 = backplane).
    const slot = url.searchParams.has('slot') ? queryInt(url, 'slot', 0, { min: 0, max: 255 }) : undefined;
    this.#route = url.searchParams.get('path') ?? (slot === undefined ? '' : `1,${slot}`);
    try {
      parseRoutePath(this.#route);
    } catch (e) {
      throw new BifrostError('BIFROST_INVALID_URL', `URL option path=${this.#route}: ${(e as Error).message}`);
    }
    this.#connectedMessaging = queryBool(url, 'connected', true);
    this.#large = queryBool(url, 'large', true);
    queryInt(url, 'timeout', 2000, { min: 1 });
  }

  /** The client in use (undefined while disconnected). */
  get client(): EipClient | undefined {
    return this.#client;
  }

  protected async doConnect(signal: AbortSignal): Promise<void> {
    const client = new EipClient({
      host: this.#host,
      port: this.#port,
      route: this.#route,
      connected: this.#connectedMessaging,
      largeForwardOpen: this.#large,
      timeoutMs: this.requestTimeoutMs,
      name: this.name,
    });
    await client.connect(signal);
    client.on('close', (err) => {
      if (this.#client === client) {
        this.#client = undefined;
        this.connectionLost(err);
      }
    });
    this.#client = client;
  }

  protected async doDisconnect(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.close().catch(() => {});
  }

  #live(): EipClient {
    const c = this.#client;
    if (!c) throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name });
    return c;
  }

  protected async doReadMany(addresses: readonly string[], signal: AbortSignal): Promise<TagValue[]> {
    const results = await this.#live().readTags(addresses, signal);
    const now = Date.now();
    return results.map((r) => (r.error ? bad(r.address, r.error, now) : good(r.address, r.value as Value, now)));
  }

  /** The gateway's poll: the client reuses this list's results from poll to poll, and the values land in columns. */
  protected override async doReadInto(addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    const reuse = this.#results.get(addresses);
    const results = await this.#live().readTags(addresses, signal, reuse);
    if (results !== reuse) this.#results.set(addresses, results);
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as (typeof results)[number];
      if (r.error) out.setBad(i, r.error);
      else out.set(i, r.value ?? null);
    }
    out.timestamp = Date.now();
  }

  protected async doWrite(address: string, value: Value, signal: AbortSignal): Promise<void> {
    await this.#live().writeTag(address, value, signal);
  }

  protected async doIdentify(signal: AbortSignal): Promise<DeviceIdentity> {
    const id = await this.#live().identify(signal);
    return {
      protocol: 'eip',
      vendor: id.vendorName,
      vendorId: id.vendorId,
      product: id.productName,
      productCode: id.productCode,
      deviceType: id.deviceTypeName,
      firmware: `${id.revision.major}.${id.revision.minor}`,
      serial: id.serialNumber.toString(16).padStart(8, '0'),
      status: id.status,
    };
  }

  /**
   * The controller's tags: `/` (or nothing) for controller scope with program folders,
   * `Program:Main` for one program.
   * @example const nodes = await plc.browse?.()
   */
  async browse(path?: string, options: BrowseOptions = {}): Promise<BrowseNode[]> {
    await this.ensureConnected(options);
    const program = path && path !== '/' ? path.replace(/^\//, '') : undefined;
    const nodes = await this.#live().browse({ ...(program ? { program } : {}), depth: options.depth ?? 3, ...(options.signal ? { signal: options.signal } : {}) });
    options.onProgress?.(nodes.length, path ?? '/');
    return nodes;
  }
}

/**
 * The EtherNet/IP (Logix) driver for `eip://host[:port]?path=1,0`.
 * @example registerDriver(driver); const plc = await connect('eip://10.0.0.5?path=1,0')
 */
export const driver: Driver = {
  name: 'ethernetip',
  schemes: ['eip'],
  urlOptions: ['path', 'slot', 'connected', 'large', 'timeout'],
  async connect(url: URL, options: ConnectOptions = {}) {
    return openDevice(new EipDevice(url, options), options);
  },
  validateAddress(address: string) {
    parseLogixAddress(address);
  },
};
