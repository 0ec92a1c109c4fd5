/**
 * @module
 * The `s7://` driver: `s7://host[:port]?rack=0&slot=1` (or `plc=s7-300|s7-400|s7-1200|s7-1500|logo`
 * for the usual slot or TSAPs, or `localTsap`/`remoteTsap` for any TSAP-addressed partner), with
 * `pdu`, `type` (pg, op, basic), `timeout`, `maxItems` and `maxGap` options. A device is a {@link S7Client} under core's BaseDevice (reconnect, health,
 * subscribe, close).
 */
import {
  BaseDevice,
  BifrostError,
  bad,
  type ConnectOptions,
  type Device,
  type DeviceIdentity,
  type Driver,
  good,
  openDevice,
  queryChoice,
  queryInt,
  type TagValue,
  type Value,
  type ValueColumns,
} from '@bifrost/core';
import { parseS7Address } from './address.js';
import { S7Client, type S7ClientOptions } from './client.js';

/** PLC families the `plc` URL option knows: their usual slot, or TSAPs (Siemens FAQ "S7 communication: TSAP"; snap7 docs for LOGO!). */
const PLC_FAMILIES = ['any', 's7-300', 's7-400', 's7-1200', 's7-1500', 'logo'] as const;
const PRESETS: Record<(typeof PLC_FAMILIES)[number], { slot?: number; localTsap?: number; remoteTsap?: number }> = {
  any: {},
  's7-300': { slot: 2 },
  's7-400': { slot: 3 },
  's7-1200': { slot: 1 },
  's7-1500': { slot: 1 },
  // LOGO! 0BA7/0BA8 as a server: the client connects from TSAP 01.00 to TSAP 02.00.
  logo: { localTsap: 0x0100, remoteTsap: 0x0200 },
};

function tsap(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  // Accept 0x0200, 0200 (hex as TIA shows it), and 02.00 (STEP 7's notation).
  const t = raw.replace(/\./g, '').replace(/^0x/i, '');
  const n = /^[0-9a-f]{1,4}$/i.test(t) ? Number.parseInt(t, 16) : Number.NaN;
  if (!Number.isInteger(n)) throw new BifrostError('BIFROST_INVALID_URL', `URL option ${name}=${raw} must be a TSAP such as 0x0200 or 02.00`);
  return n;
}

/**
 * Client options from an `s7://` URL.
 * @example clientOptionsFromUrl(new URL('s7://10.0.0.5?rack=0&slot=2')) // { host: '10.0.0.5', port: 102, rack: 0, slot: 2, … }
 */
export function clientOptionsFromUrl(url: URL, name?: string): S7ClientOptions {
  if (!url.hostname) throw new BifrostError('BIFROST_INVALID_URL', `${url} needs a host, e.g. s7://10.0.0.5?rack=0&slot=1`);
  const plc = queryChoice(url, 'plc', 'any', PLC_FAMILIES);
  const preset = PRESETS[plc];
  const o: S7ClientOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 102,
    rack: queryInt(url, 'rack', 0, { min: 0, max: 7 }),
    slot: queryInt(url, 'slot', preset.slot ?? 1, { min: 0, max: 31 }),
    connectionType: queryChoice(url, 'type', 'pg', ['pg', 'op', 'basic'] as const),
    pduLength: queryInt(url, 'pdu', 960, { min: 240, max: 65535 }),
    maxItemsPerJob: queryInt(url, 'maxItems', 20, { min: 1, max: 255 }),
    timeoutMs: queryInt(url, 'timeout', 2000, { min: 1 }),
  };
  const gap = url.searchParams.get('maxGap');
  if (gap !== null && gap !== '' && gap !== 'auto') o.maxGap = queryInt(url, 'maxGap', 0, { min: -1, max: 4096 });
  const local = tsap(url, 'localTsap') ?? preset.localTsap;
  const remote = tsap(url, 'remoteTsap') ?? preset.remoteTsap;
  if (local !== undefined) o.localTsap = local;
  if (remote !== undefined) o.remoteTsap = remote;
  if (name !== undefined) o.name = name;
  return o;
}

class S7Device extends BaseDevice {
  readonly protocol = 's7';
  readonly #options: S7ClientOptions;
  #client: S7Client | undefined;

  constructor(url: URL, options: ConnectOptions) {
    super(url, options);
    this.#options = { ...clientOptionsFromUrl(url, this.name), timeoutMs: this.requestTimeoutMs };
  }

  protected async doConnect(signal: AbortSignal): Promise<void> {
    const client = new S7Client(this.#options);
    client.on('close', (err) => {
      if (this.#client === client) this.connectionLost(err);
    });
    this.#client = client;
    await client.connect({ signal });
  }

  protected async doDisconnect(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.close();
  }

  #live(): S7Client {
    const c = this.#client;
    if (!c?.connected) throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name });
    return c;
  }

  protected async doReadMany(addresses: readonly string[], signal: AbortSignal): Promise<TagValue[]> {
    const results = await this.#live().readMany(addresses, { signal });
    const now = Date.now();
    return results.map((r) => (r.error ? bad(r.address, r.error, now) : good(r.address, r.value as Value, now)));
  }

  protected override async doReadInto(addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    await this.#live().readInto(addresses, out, { signal });
  }

  protected async doWrite(address: string, value: Value, signal: AbortSignal): Promise<void> {
    await this.#live().write(address, value, { signal });
  }

  protected async doIdentify(signal: AbortSignal): Promise<DeviceIdentity> {
    return this.#live().identify({ signal });
  }
}

/**
 * The S7 driver, found by `connect('s7://…')`.
 * @example
 * await using plc = await connect('s7://192.168.0.10?rack=0&slot=1');
 * const t = await plc.read('DB1.DBD0:REAL');
 */
export const driver: Driver = {
  name: 's7',
  schemes: ['s7'],
  urlOptions: ['plc', 'rack', 'slot', 'type', 'pdu', 'maxItems', 'timeout', 'maxGap', 'localTsap', 'remoteTsap'],
  async connect(url: URL, options: ConnectOptions = {}): Promise<Device> {
    return openDevice(new S7Device(url, options), options);
  },
  validateAddress(address: string): void {
    parseS7Address(address);
  },
};
