/**
 * @module
 * The Modbus driver: `modbus://` and `modbus+tcp://` (Modbus TCP), `modbus+rtu://` (RTU on a
 * serial port) and `modbus+rtuovertcp://`. Reads go through the read planner (fewest requests,
 * pipelined when `maxInFlight` > 1); a range the device refuses is retried tag by tag so only the
 * tags it really refuses come back bad. Writes check the value against its type before anything
 * is sent.
 */
import {
  BaseDevice,
  BifrostError,
  type ConnectOptions,
  coerceValue,
  type DeviceIdentity,
  type Driver,
  decodeValue,
  encodeValueInto,
  isBifrostError,
  openDevice,
  queryBool,
  queryChoice,
  queryInt,
  type TagValue,
  type Value,
  ValueColumns,
} from '@bifrost/core';
import { AREA_PREFIX, isRegisterArea, type ModbusAddress, parseModbusAddress } from './address.js';
import { type ModbusClient, type ModbusClientOptions, ModbusRtuClient, ModbusRtuOverTcpClient, ModbusTcpClient } from './client.js';
import { Limits } from './constants.js';
import type { ModbusNormalResponse } from './pdu.js';
import { type PlannedRange, type PlannerLimits, planReads, resolvePlannerLimits } from './planner.js';

/** Modbus-specific connect options (also accepted as URL query options of the same name). */
export interface ModbusConnectOptions extends ConnectOptions {
  /** Unit identifier (URL `unit`, default 1). */
  unitId?: number;
  /** Requests in flight at once on TCP (URL `maxInFlight`, default 1). */
  maxInFlight?: number;
  /** Most registers per read (URL `maxRegisters`, default 125). */
  maxRegisters?: number;
  /** Most bits per read (URL `maxBits`, default 2000). */
  maxBits?: number;
  /** Largest register hole bridged when merging reads (URL `maxGap`, default 10). */
  maxGapRegisters?: number;
  /** Largest bit hole bridged when merging reads (URL `maxGapBits`, default 64). */
  maxGapBits?: number;
  /** Write single registers with FC 16 instead of FC 6, for devices without FC 6 (URL `fc16=1`). */
  alwaysWriteMultiple?: boolean;
  /** First retry, in ms, of tags the device refused with exception 01/02/03; doubles to 10 minutes (URL `refusedRetry`, default 30000). */
  refusedRetryMs?: number;
}

/**
 * A range of plain 16-bit registers (UINT, one register, no bit), most of a plant's tags, as a plan
 * keeps it between polls: each tag's index and register offset in typed arrays. A parsed address
 * and a planned item per tag were 114 bytes at 100,000 tags, kept for the life of the plan; the
 * tags of a compact range are parsed again only when the device refuses it and it is bisected.
 */
interface CompactRange {
  area: PlannedRange['area'];
  start: number;
  quantity: number;
  index: Uint32Array;
  /** Each tag's register, from `start`. */
  offset: Uint16Array;
  items?: undefined;
}

type DeviceRange = PlannedRange | CompactRange;

function isPlainRegister(a: ModbusAddress): boolean {
  return a.type === 'UINT' && a.arrayLength === undefined && a.bit === undefined && (a.order === 'ABCD' || a.order === 'CDAB') && isRegisterArea(a.area);
}

/** The range compact when every tag in it is a plain register. */
function compact(r: PlannedRange): DeviceRange {
  if (!r.items.every((it) => isPlainRegister(it.address))) return r;
  const n = r.items.length;
  const index = new Uint32Array(n);
  const offset = new Uint16Array(n);
  for (let k = 0; k < n; k++) {
    const it = r.items[k] as PlannedRange['items'][number];
    index[k] = it.index;
    offset[k] = it.address.address - r.start;
  }
  return { area: r.area, start: r.start, quantity: r.quantity, index, offset };
}

function firstIndex(r: DeviceRange): number {
  return r.items ? (r.items[0] as PlannedRange['items'][number]).index : (r.index[0] as number);
}

function rangeSize(r: DeviceRange): number {
  return r.items ? r.items.length : r.index.length;
}

interface CachedPlan {
  addresses: readonly string[];
  /** The addresses that do not parse, by index (absent when all do: no array of nothing per plan). */
  errors: Map<number, BifrostError> | undefined;
  ranges: DeviceRange[];
  /** Ranges the device refused for good (an exception 01/02/03 down to single tags), merged into blocks and retried on a slow schedule. */
  quarantined: Quarantined[];
  /** Single tags refused in this poll, to merge into blocks at its end. */
  refused: Map<number, BifrostError>;
  /** The quarantine changed: plan the ranges of the other tags again at the end of the poll. */
  dirty: boolean;
}

/** A block of tags the device refuses: bad with the error of its first refusal until `retryAt`. */
interface Quarantined {
  range: PlannedRange;
  /** One error per item, made once when the tag was refused (no object per poll). */
  errors: BifrostError[];
  retryAt: number;
  delayMs: number;
}

/** First retry of a refused block, then doubling up to the cap. */
const QUARANTINE_FIRST_MS = 30_000;
const QUARANTINE_MAX_MS = 600_000;

/**
 * Exceptions that say the request itself is wrong for this device, so asking again with the same
 * range gets the same answer (MB App Protocol §7: 01 illegal function, 02 illegal data address, 03
 * illegal data value); busy and failure exceptions (04, 05, 06, …) are transient and retried each poll.
 */
function refusesRange(err: BifrostError): boolean {
  return err.status === 1 || err.status === 2 || err.status === 3;
}

function rangeOf(area: PlannedRange['area'], items: PlannedRange['items']): PlannedRange {
  const first = items[0] as PlannedRange['items'][number];
  let end = first.address.address + first.address.span;
  for (const it of items) end = Math.max(end, it.address.address + it.address.span);
  return { area, start: first.address.address, quantity: end - first.address.address, items };
}

const FC_READ = { holdingRegisters: 3, inputRegisters: 4, coils: 1, discreteInputs: 2 } as const;

function numberOption(options: ConnectOptions, key: string, url: URL, query: string, fallback: number, min: number, max: number): number {
  const v = options[key];
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < min || v > max) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `option ${key}=${v} must be an integer from ${min} to ${max}`);
    return v;
  }
  return queryInt(url, query, fallback, { min, max });
}

/**
 * A Modbus device (use `connect(url)` from `@bifrost/core`, or {@link driver}).
 * @example
 * await using plc = await connect('modbus://127.0.0.1:5020?unit=1');
 * const t = await plc.read('HR0:FLOAT32');
 */
export class ModbusDevice extends BaseDevice {
  readonly protocol = 'modbus';
  readonly unitId: number;
  readonly #acquire: () => ModbusClient;
  readonly #release: (client: ModbusClient) => Promise<void>;
  readonly #onClientClose = (err: BifrostError | undefined) => {
    if (err) this.connectionLost(err);
  };
  readonly #limits: PlannerLimits;
  readonly #alwaysWriteMultiple: boolean;
  readonly #refusedRetryMs: number;
  #client: ModbusClient | undefined;
  readonly #addresses = new Map<string, ModbusAddress | BifrostError>();
  readonly #plans = new Map<string, CachedPlan>();
  readonly #plansByList = new WeakMap<readonly string[], CachedPlan>();

  constructor(url: URL, options: ModbusConnectOptions = {}) {
    super(url, options);
    const scheme = url.protocol.replace(/:$/, '').toLowerCase();
    this.unitId = numberOption(options, 'unitId', url, 'unit', 1, 0, 255);
    const maxInFlight = numberOption(options, 'maxInFlight', url, 'maxInFlight', 1, 1, 256);
    this.#limits = resolvePlannerLimits({
      maxRegisters: numberOption(options, 'maxRegisters', url, 'maxRegisters', Limits.maxReadRegisters, 1, Limits.maxReadRegisters),
      maxBits: numberOption(options, 'maxBits', url, 'maxBits', Limits.maxReadBits, 1, Limits.maxReadBits),
      maxGapRegisters: numberOption(options, 'maxGapRegisters', url, 'maxGap', 10, 0, Limits.maxReadRegisters),
      maxGapBits: numberOption(options, 'maxGapBits', url, 'maxGapBits', 64, 0, Limits.maxReadBits),
    });
    this.#refusedRetryMs = numberOption(options, 'refusedRetryMs', url, 'refusedRetry', QUARANTINE_FIRST_MS, 10, QUARANTINE_MAX_MS);
    this.#alwaysWriteMultiple = options.alwaysWriteMultiple ?? queryBool(url, 'fc16', false);
    const common: ModbusClientOptions = { unitId: this.unitId, timeoutMs: this.requestTimeoutMs, maxInFlight, reconnect: false, name: this.name };
    if (scheme === 'modbus+rtu') {
      const path = decodeURIComponent(url.pathname && url.pathname !== '/' ? url.pathname : url.hostname);
      if (!path) throw new BifrostError('BIFROST_INVALID_URL', `${this.name}: modbus+rtu needs a serial port path, e.g. modbus+rtu:///dev/ttyUSB0?baud=19200`);
      const baudRate = queryInt(url, 'baud', 19200, { min: 50, max: 4_000_000 });
      const parity = queryChoice(url, 'parity', 'even', ['none', 'even', 'odd'] as const);
      const stopBits = queryInt(url, 'stopBits', parity === 'none' ? 2 : 1, { min: 1, max: 2 }) as 1 | 2;
      const dataBits = queryInt(url, 'dataBits', 8, { min: 7, max: 8 }) as 7 | 8;
      const key = `${baudRate}/${parity}/${stopBits}/${dataBits}`;
      this.#acquire = () => acquireLine(path, key, () => new ModbusRtuClient({ ...common, name: path, path, baudRate, parity, stopBits, dataBits }));
      this.#release = (c) => releaseLine(path, c);
    } else {
      if (!url.hostname) throw new BifrostError('BIFROST_INVALID_URL', `${this.name}: a Modbus TCP URL needs a host, e.g. modbus://10.0.0.100:502?unit=1`);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const port = url.port ? Number(url.port) : 502;
      this.#acquire = scheme === 'modbus+rtuovertcp' ? () => new ModbusRtuOverTcpClient({ ...common, host, port }) : () => new ModbusTcpClient({ ...common, host, port });
      this.#release = (c) => c.close();
    }
  }

  /** The client of the current connection (undefined while disconnected). */
  get client(): ModbusClient | undefined {
    return this.#client;
  }

  protected async doConnect(signal: AbortSignal): Promise<void> {
    const client = this.#acquire();
    client.on('close', this.#onClientClose);
    try {
      await client.connect(signal);
    } catch (e) {
      client.off('close', this.#onClientClose);
      await this.#release(client);
      throw e;
    }
    this.#client = client;
  }

  protected async doDisconnect(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    c.off('close', this.#onClientClose);
    await this.#release(c);
  }

  #connected(): ModbusClient {
    const c = this.#client;
    if (!c) throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name });
    return c;
  }

  /** Parses an address, remembering the result (the gateway polls the same addresses again and again). */
  #parse(address: string): ModbusAddress | BifrostError {
    let a = this.#addresses.get(address);
    if (a === undefined) {
      a = this.#parseNow(address);
      if (this.#addresses.size > 10_000) this.#addresses.clear();
      this.#addresses.set(address, a);
    }
    return a;
  }

  #parseNow(address: string): ModbusAddress | BifrostError {
    try {
      return parseModbusAddress(address);
    } catch (e) {
      return e instanceof BifrostError ? new BifrostError(e.code, `${this.name}: ${e.message}`, { device: this.name, address, cause: e, ...(e.hint ? { hint: e.hint } : {}) }) : (e as BifrostError);
    }
  }

  /** The plan's tags parsed again (for planning again), leaving out `skip` and those that do not parse. */
  #parsedOf(plan: CachedPlan, keep: (i: number) => boolean): (ModbusAddress | undefined)[] {
    return plan.addresses.map((text, i) => {
      if (!keep(i) || plan.errors?.has(i)) return undefined;
      const a = this.#parseNow(text);
      return a instanceof BifrostError ? undefined : a;
    });
  }

  /** A compact range as the planner's items, its tags parsed again (to bisect it). */
  #expand(plan: CachedPlan, r: CompactRange): PlannedRange {
    const items = Array.from(r.index, (i) => ({ index: i, address: parseModbusAddress(plan.addresses[i] as string) }));
    return { area: r.area, start: r.start, quantity: r.quantity, items };
  }

  #plan(addresses: readonly string[]): CachedPlan {
    // A poller passes the same array every time: find its plan by identity, checking that the
    // array still holds the same addresses, before falling back to a key of the addresses.
    let plan = this.#plansByList.get(addresses);
    if (plan && sameList(plan.addresses, addresses)) return plan;
    const key = addresses.join('\n');
    plan = this.#plans.get(key);
    if (plan) {
      this.#plansByList.set(addresses, plan);
      return plan;
    }
    const parsed: (ModbusAddress | undefined)[] = new Array(addresses.length);
    let errors: Map<number, BifrostError> | undefined;
    // Parsed for planning only (the per-address cache is for single reads and writes): a plan keeps
    // plain registers compact, and parses again in the rare case it must plan again.
    for (let i = 0; i < addresses.length; i++) {
      const a = this.#parseNow(addresses[i] as string);
      if (a instanceof BifrostError) (errors ??= new Map()).set(i, a);
      else parsed[i] = a;
    }
    plan = { addresses: addresses.slice(), errors, ranges: planReads(parsed, this.#limits).map(compact), quarantined: [], refused: new Map(), dirty: false };
    this.#plansByList.set(addresses, plan);
    if (this.#plans.size >= 32) this.#plans.delete(this.#plans.keys().next().value as string);
    this.#plans.set(key, plan);
    return plan;
  }

  protected async doReadMany(addresses: readonly string[], signal: AbortSignal): Promise<TagValue[]> {
    const cols = new ValueColumns(addresses.length);
    await this.doReadInto(addresses, cols, signal);
    const out = new Array<TagValue>(addresses.length);
    for (let i = 0; i < addresses.length; i++) out[i] = cols.tagValue(i, addresses[i] as string);
    return out;
  }

  /**
   * Decodes every range straight into the columns: a poll of 10,000 single registers makes no
   * object per value. Tags the device refused (see {@link Quarantined}) cost nothing until their
   * block's retry time.
   */
  protected override async doReadInto(addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    const client = this.#connected();
    const plan = this.#plan(addresses);
    if (plan.errors) for (const [i, e] of plan.errors) out.setBad(i, e);
    // The ranges are requested a few at a time — as many as the client sends at once, plus one
    // waiting so the link never idles — not all at once: a request's objects then live one round
    // trip instead of the whole poll and die young. The 80 requests of a 10,000-register poll,
    // queued together, were the largest source of promoted garbage at 100,000 tags. A snapshot of
    // the ranges, since a refused one is split in place.
    const ranges = plan.ranges.slice();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < ranges.length && !signal.aborted) await this.#readRange(client, plan, ranges[next++] as DeviceRange, addresses, out, signal);
    };
    const jobs: Promise<void>[] = [];
    for (let l = Math.min(ranges.length, client.maxInFlight + 1); l > 0; l--) jobs.push(lane());
    const now = Date.now();
    for (const q of plan.quarantined) {
      if (now >= q.retryAt) jobs.push(this.#retry(client, plan, q, addresses, out, signal));
      else for (let k = 0; k < q.range.items.length; k++) out.setBad((q.range.items[k] as PlannedRange['items'][number]).index, q.errors[k] as BifrostError);
    }
    await Promise.all(jobs);
    if (plan.refused.size > 0) this.#quarantine(plan);
    if (plan.dirty) this.#replan(plan);
    out.timestamp = Date.now();
  }

  /** Requests one range; resolves with its data, or rejects with the device's error. */
  async #request(client: ModbusClient, range: DeviceRange, signal: AbortSignal): Promise<Uint8Array> {
    const registers = isRegisterArea(range.area);
    const max = registers ? this.#limits.maxRegisters : this.#limits.maxBits;
    const fc = FC_READ[range.area];
    const opts = { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs };
    if (range.quantity <= max) return ((await client.request({ fc, address: range.start, quantity: range.quantity }, opts)) as ModbusNormalResponse & { data: Uint8Array }).data;
    // One tag larger than a request (a long array or string): read it in consecutive chunks.
    const parts: Promise<ModbusNormalResponse>[] = [];
    for (let s = range.start; s < range.start + range.quantity; s += max) parts.push(client.request({ fc, address: s, quantity: Math.min(max, range.start + range.quantity - s) }, opts));
    const got = await Promise.all(parts);
    if (registers) return Buffer.concat(got.map((g) => (g as { data: Uint8Array }).data));
    const data = new Uint8Array((range.quantity + 7) >> 3);
    got.forEach((g, k) => {
      const d = (g as { data: Uint8Array }).data;
      const base = k * max;
      for (let b = 0; b < Math.min(max, range.quantity - base); b++) if (((d[b >> 3] as number) >> (b & 7)) & 1) data[(base + b) >> 3] = (data[(base + b) >> 3] as number) | (1 << ((base + b) & 7));
    });
    return data;
  }

  #decodeInto(range: DeviceRange, data: Uint8Array, addresses: readonly string[], out: ValueColumns): void {
    if (!range.items) {
      // Plain registers: one 16-bit number each, without a call per value.
      const { index, offset } = range;
      for (let k = 0; k < index.length; k++) {
        const off = (offset[k] as number) * 2;
        out.setNumber(index[k] as number, ((data[off] as number) << 8) | (data[off + 1] as number));
      }
      return;
    }
    for (const item of range.items) {
      const a = item.address;
      if (isPlainRegister(a)) {
        const off = (a.address - range.start) * 2;
        out.setNumber(item.index, ((data[off] as number) << 8) | (data[off + 1] as number));
        continue;
      }
      try {
        out.set(item.index, decodeItem(a, data, range.start));
      } catch (e) {
        out.setBad(item.index, this.#tagError(e, addresses[item.index] as string));
      }
    }
  }

  async #readRange(client: ModbusClient, plan: CachedPlan, range: DeviceRange, addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    let data: Uint8Array;
    try {
      data = await this.#request(client, range, signal);
    } catch (e) {
      const err = e instanceof BifrostError ? e : new BifrostError('BIFROST_MALFORMED_FRAME', String(e), { device: this.name, cause: e });
      if (refusesRange(err)) {
        if (rangeSize(range) > 1) {
          // The device refused the merged range (a hole in its map): bisect it, once, to find the
          // tags it refuses; the halves it answers stay merged.
          const items = (range.items ? range : this.#expand(plan, range)).items;
          const half = items.length >> 1;
          const parts = [rangeOf(range.area, items.slice(0, half)), rangeOf(range.area, items.slice(half))];
          const at = plan.ranges.indexOf(range);
          if (at >= 0) plan.ranges.splice(at, 1, ...parts);
          await Promise.all(parts.map((p) => this.#readRange(client, plan, p, addresses, out, signal)));
          return;
        }
        const i = firstIndex(range);
        const error = this.#tagError(err, addresses[i] as string);
        const at = plan.ranges.indexOf(range);
        if (at >= 0) plan.ranges.splice(at, 1);
        plan.refused.set(i, error);
        out.setBad(i, error);
        return;
      }
      // A transient failure (timeout, busy, lost connection): one error for the range, every poll retries it.
      const error = this.#tagError(err, rangeSize(range) === 1 ? (addresses[firstIndex(range)] as string) : `${AREA_PREFIX[range.area]}${range.start}+${range.quantity}`);
      if (range.items) for (const item of range.items) out.setBad(item.index, error);
      else for (const i of range.index) out.setBad(i, error);
      return;
    }
    this.#decodeInto(range, data, addresses, out);
  }

  /** Merges the tags refused in this poll with the quarantined ones into blocks, each retried on its own slow schedule. */
  #quarantine(plan: CachedPlan): void {
    const errors = new Map(plan.refused);
    for (const q of plan.quarantined) {
      q.range.items.forEach((it, k) => {
        errors.set(it.index, q.errors[k] as BifrostError);
      });
    }
    plan.refused.clear();
    const parsed = this.#parsedOf(plan, (i) => errors.has(i));
    const previous = new Map<number, Quarantined>();
    for (const q of plan.quarantined) for (const it of q.range.items) previous.set(it.index, q);
    const now = Date.now();
    // No holes bridged: a block holds only refused tags, so a register between them cannot keep it refused.
    plan.quarantined = planReads(parsed, { ...this.#limits, maxGapRegisters: 0, maxGapBits: 0 }).map((range) => {
      // A block keeps the schedule of a block it grew from; a new one waits the first delay, spread with jitter.
      const was = previous.get((range.items[0] as PlannedRange['items'][number]).index);
      const delayMs = was?.delayMs ?? this.#refusedRetryMs;
      return { range, errors: range.items.map((it) => errors.get(it.index) as BifrostError), delayMs, retryAt: was?.retryAt ?? now + delayMs * (0.5 + Math.random() / 2) };
    });
    plan.dirty = true;
  }

  /**
   * Plans the reads of the tags that are not quarantined, merged again as far as the limits allow
   * (the bisection left them in pieces), but never across a quarantined block: a hole the planner
   * would bridge must not hold a register the device refuses.
   */
  #replan(plan: CachedPlan): void {
    plan.dirty = false;
    const out = new Set<number>();
    for (const q of plan.quarantined) for (const it of q.range.items) out.add(it.index);
    const parsed = this.#parsedOf(plan, (i) => !out.has(i));
    const blocks = plan.quarantined.map((q) => q.range);
    const crosses = (area: PlannedRange['area'], from: number, to: number) => blocks.some((b) => b.area === area && b.start < to && b.start + b.quantity > from);
    plan.ranges = planReads(parsed, this.#limits).flatMap((r) => {
      const parts: PlannedRange['items'][] = [[]];
      let end = -1;
      for (const it of r.items) {
        const cur = parts[parts.length - 1] as PlannedRange['items'];
        if (cur.length > 0 && crosses(r.area, end, it.address.address)) parts.push([it]);
        else cur.push(it);
        end = Math.max(end, it.address.address + it.address.span);
      }
      return (parts.length === 1 ? [r] : parts.map((items) => rangeOf(r.area, items))).map(compact);
    });
  }

  /** Asks a quarantined block again: answered, it is read every poll again; refused, it waits twice as long. */
  async #retry(client: ModbusClient, plan: CachedPlan, q: Quarantined, addresses: readonly string[], out: ValueColumns, signal: AbortSignal): Promise<void> {
    try {
      const data = await this.#request(client, q.range, signal);
      plan.quarantined = plan.quarantined.filter((x) => x !== q);
      plan.dirty = true;
      this.#decodeInto(q.range, data, addresses, out);
    } catch {
      q.delayMs = Math.min(q.delayMs * 2, Math.max(QUARANTINE_MAX_MS, this.#refusedRetryMs));
      q.retryAt = Date.now() + q.delayMs * (0.5 + Math.random() / 2);
      for (let k = 0; k < q.range.items.length; k++) out.setBad((q.range.items[k] as PlannedRange['items'][number]).index, q.errors[k] as BifrostError);
    }
  }

  #tagError(e: unknown, address: string): BifrostError {
    const err = e instanceof BifrostError ? e : new BifrostError('BIFROST_MALFORMED_FRAME', String(e), { cause: e });
    return new BifrostError(err.code, `${address}: ${err.message}`, {
      device: this.name,
      address,
      cause: err,
      ...(err.status === undefined ? {} : { status: err.status }),
      ...(err.statusName === undefined ? {} : { statusName: err.statusName }),
      ...(err.details ? { details: err.details } : {}),
    });
  }

  protected async doWrite(address: string, value: Value, signal: AbortSignal): Promise<void> {
    const a = this.#parse(address);
    if (a instanceof BifrostError) throw a;
    if (!(a.area === 'holdingRegisters' || a.area === 'coils')) {
      throw new BifrostError('BIFROST_NOT_SUPPORTED', `${this.name}: ${address} is ${a.area === 'inputRegisters' ? 'an input register' : 'a discrete input'}, which Modbus cannot write`, {
        device: this.name,
        address,
      });
    }
    let request: () => Promise<unknown>;
    const client = () => this.#connected();
    const opts = { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs };
    try {
      const elements = a.arrayLength === undefined ? [value] : Array.isArray(value) ? value : undefined;
      if (!elements || elements.length !== (a.arrayLength ?? 1)) {
        throw new BifrostError('BIFROST_TYPE_MISMATCH', `expected an array of ${a.arrayLength} values`);
      }
      if (a.area === 'coils') {
        const bits = elements.map((v) => coerceValue('BOOL', v) as boolean);
        request = () => (bits.length === 1 && a.arrayLength === undefined ? client().writeSingleCoil(a.address, bits[0] as boolean, opts) : this.#writeCoils(a.address, bits, signal));
      } else if (a.bit !== undefined) {
        const on = coerceValue('BOOL', value) as boolean;
        const bit = a.bit;
        request = () => this.#writeBit(a.address, bit, on, signal);
      } else {
        const data = Buffer.alloc(a.span * 2);
        elements.forEach((v, k) => {
          encodeRegisterElement(a, v, data, k * a.elementSpan * 2);
        });
        request = a.span === 1 && !this.#alwaysWriteMultiple ? () => client().writeSingleRegister(a.address, data.readUInt16BE(0), opts) : () => this.#writeRegisters(a.address, data, signal);
      }
    } catch (e) {
      throw this.#tagError(e, address);
    }
    try {
      await request();
    } catch (e) {
      throw this.#tagError(e, address);
    }
  }

  async #writeRegisters(address: number, data: Buffer, signal: AbortSignal): Promise<void> {
    const max = Limits.maxWriteRegisters * 2;
    for (let o = 0; o < data.length; o += max)
      await this.#connected().request({ fc: 16, address: address + o / 2, data: data.subarray(o, o + max) }, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
  }

  async #writeCoils(address: number, bits: boolean[], signal: AbortSignal): Promise<void> {
    for (let o = 0; o < bits.length; o += Limits.maxWriteBits)
      await this.#connected().request({ fc: 15, address: address + o, values: bits.slice(o, o + Limits.maxWriteBits) }, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
  }

  async #writeBit(address: number, bit: number, on: boolean, signal: AbortSignal): Promise<void> {
    const mask = 1 << bit;
    try {
      // FC 22 (§6.16) changes one bit without a race against other writers.
      await this.#connected().maskWriteRegister(address, ~mask & 0xffff, on ? mask : 0, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
    } catch (e) {
      if (!isBifrostError(e, 'BIFROST_MODBUS_ILLEGAL_FUNCTION')) throw e;
      // Without FC 22: read, modify, write.
      const cur = (await this.#connected().readHoldingRegisters(address, 1, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs })) as Uint8Array;
      const v = (((cur[0] as number) << 8) | (cur[1] as number)) & 0xffff;
      await this.#connected().writeSingleRegister(address, on ? v | mask : v & ~mask & 0xffff, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
    }
  }

  protected async doIdentify(signal: AbortSignal): Promise<DeviceIdentity> {
    const client = this.#connected();
    let objects: Map<number, string>;
    try {
      objects = await client.readDeviceIdentification(2, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
    } catch (e) {
      if (!(e instanceof BifrostError) || e.status === undefined) throw this.#tagError(e, 'FC43');
      try {
        objects = await client.readDeviceIdentification(1, { signal, unitId: this.unitId, timeoutMs: this.requestTimeoutMs });
      } catch (e2) {
        if (!(e2 instanceof BifrostError) || e2.status === undefined) throw this.#tagError(e2, 'FC43');
        // The device does not implement FC 43: say what is known.
        return { protocol: 'modbus', unitId: this.unitId, identification: `not supported (${e2.statusName ?? e2.code})` };
      }
    }
    const id: DeviceIdentity = { protocol: 'modbus', unitId: this.unitId };
    const set = (key: string, objectId: number) => {
      const v = objects.get(objectId);
      if (v !== undefined) id[key] = v;
    };
    set('vendor', 0);
    set('productCode', 1);
    set('firmware', 2);
    set('vendorUrl', 3);
    set('product', 4);
    set('model', 5);
    set('application', 6);
    if (id.product === undefined && typeof id.productCode === 'string') id.product = id.productCode;
    for (const [k, v] of objects) if (k > 6) id[`object${k}`] = v;
    return id;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// One RS-485 line is one serial port: the devices (unit ids) on it share one client, whose
// queue keeps a single request on the line at a time (Serial Line V1.02 §2.1, single master).
const lines = new Map<string, { key: string; client: ModbusClient; refs: number }>();

function acquireLine(path: string, key: string, make: () => ModbusClient): ModbusClient {
  let line = lines.get(path);
  if (line && line.key !== key) {
    throw new BifrostError('BIFROST_INVALID_URL', `serial port ${path} is already open with other settings (${line.key}, baud/parity/stop/data bits); every device on one line must use the same`);
  }
  if (!line) {
    line = { key, client: make(), refs: 0 };
    lines.set(path, line);
  }
  line.refs++;
  return line.client;
}

async function releaseLine(path: string, client: ModbusClient): Promise<void> {
  const line = lines.get(path);
  if (!line || line.client !== client) return;
  if (--line.refs > 0) return;
  lines.delete(path);
  await client.close();
}

/** Decodes one tag from the data of the range that starts at `start`. */
function decodeItem(a: ModbusAddress, data: Uint8Array, start: number): Value {
  if (!isRegisterArea(a.area)) {
    const first = a.address - start;
    if (a.arrayLength === undefined) return (((data[first >> 3] as number) >> (first & 7)) & 1) === 1;
    const out = new Array<boolean>(a.arrayLength);
    for (let k = 0; k < a.arrayLength; k++) {
      const i = first + k;
      out[k] = (((data[i >> 3] as number) >> (i & 7)) & 1) === 1;
    }
    return out;
  }
  const off = (a.address - start) * 2;
  if (a.bit !== undefined) return (((((data[off] as number) << 8) | (data[off + 1] as number)) >> a.bit) & 1) === 1;
  if (a.arrayLength === undefined) return decodeRegisterElement(a, data, off);
  const out: Value[] = new Array(a.arrayLength);
  for (let k = 0; k < a.arrayLength; k++) out[k] = decodeRegisterElement(a, data, off + k * a.elementSpan * 2);
  return out as Value;
}

function decodeRegisterElement(a: ModbusAddress, data: Uint8Array, off: number): Exclude<Value, unknown[]> {
  switch (a.type) {
    case 'UINT':
      if (a.order === 'ABCD' || a.order === 'CDAB') return ((data[off] as number) << 8) | (data[off + 1] as number);
      break;
    case 'BOOL':
      return data[off] !== 0 || data[off + 1] !== 0;
    case 'SINT':
    case 'USINT':
      // An 8-bit value sits in the low byte of its register.
      return decodeValue(a.type, data, off + 1) as number;
  }
  if (a.length !== undefined) return decodeValue(a.type, data, off, { order: a.order, length: a.length }) as Exclude<Value, unknown[]>;
  return decodeValue(a.type, data, off, { order: a.order }) as Exclude<Value, unknown[]>;
}

function encodeRegisterElement(a: ModbusAddress, v: unknown, data: Buffer, off: number): void {
  if (a.type === 'BOOL') {
    data.writeUInt16BE(coerceValue('BOOL', v) ? 1 : 0, off);
    return;
  }
  if (a.type === 'SINT' || a.type === 'USINT') {
    data[off] = 0;
    encodeValueInto(a.type, v, data, off + 1);
    return;
  }
  encodeValueInto(a.type, v, data, off, a.length === undefined ? { order: a.order } : { order: a.order, length: a.length });
}

/**
 * The Modbus driver, registered for `modbus`, `modbus+tcp`, `modbus+rtu` and `modbus+rtuovertcp`.
 * @example const plc = await driver.connect(new URL('modbus://127.0.0.1:5020?unit=1'))
 */
export const driver: Driver = {
  name: 'modbus',
  schemes: ['modbus', 'modbus+tcp', 'modbus+rtu', 'modbus+rtuovertcp'],
  urlOptions: ['unit', 'timeout', 'maxInFlight', 'maxRegisters', 'maxBits', 'maxGap', 'maxGapBits', 'refusedRetry', 'fc16', 'baud', 'parity', 'stopBits', 'dataBits'],
  async connect(url, options = {}) {
    return openDevice(new ModbusDevice(url, options as ModbusConnectOptions), options);
  },
  validateAddress(address) {
    parseModbusAddress(address);
  },
};

/** Short names of the areas (re-exported for tools that print addresses). */
export { AREA_PREFIX };
