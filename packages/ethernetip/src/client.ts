/**
 * @module
 * The Logix client: a session with unconnected (SendRRData, Unconnected Send routed along
 * `path`) or connected messaging (Forward Open, Large Forward Open where the target allows it,
 * then SendUnitData), a read planner that packs Read Tag requests into Multiple Service Packets
 * up to the connection size and switches to Read Tag Fragmented for what does not fit, writes
 * (fragmented when large, Read-Modify-Write for bits), identity, and tag browsing from the Symbol
 * (0x6B) and Template (0x6C) objects (1756-PM020).
 */
import { EventEmitter } from 'node:events';
import { BifrostError, type BrowseNode, type DataType, toBifrostError, type Value, withTimeout } from '@bifrost/core';
import {
  type CipResponse,
  ClassId,
  CONNECTION_MANAGER_PATH,
  cipError,
  connectionParams,
  decodeForwardOpenReply,
  decodeResponse,
  encodeForwardClose,
  encodeForwardOpen,
  encodeMultipleServiceData,
  encodeRequest,
  encodeUnconnectedSend,
  MESSAGE_ROUTER_PATH,
  Service,
} from './codec/cip.js';
import { encodeEpath, parseRoutePath, type Segment } from './codec/epath.js';
import { decodeIdentityObject, deviceTypeName, type IdentityObject, vendorName } from './codec/identity.js';
import {
  atomicSize,
  CipType,
  cipTypeOf,
  dataTypeOf,
  decodeSymbolList,
  decodeSymbolType,
  decodeTagValue,
  decodeTemplateAttributes,
  decodeTemplateDefinition,
  decodeTypeId,
  encodeLogixString,
  encodeTagValue,
  instanceAttributeListData,
  type LogixAddress,
  parseLogixAddress,
  readModifyWriteData,
  readTagData,
  readTagFragmentedData,
  readTemplateData,
  STRING_HANDLE,
  STRING_SIZE,
  SYMBOL_ATTRIBUTES,
  type SymbolInstance,
  type TagType,
  type Template,
  templateAttributesData,
  templateDefinitionBytes,
  typeName,
  writeTagData,
  writeTagFragmentedData,
} from './codec/logix.js';
import { EipTransport, type TransportStats } from './transport.js';

/** Options of {@link EipClient}. */
export interface EipClientOptions {
  host: string;
  /** TCP port (default 44818). */
  port?: number;
  /** Routing path as port,link pairs, e.g. `1,0` for the controller in backplane slot 0; empty for a directly addressed controller. */
  route?: string;
  /** Connected messaging (Forward Open + SendUnitData); default true. */
  connected?: boolean;
  /** Try a Large Forward Open first (default true); falls back to a 504-byte Forward Open when refused. */
  largeForwardOpen?: boolean;
  /** Connection size to ask for with a Large Forward Open (default 4002 bytes). */
  connectionSize?: number;
  /** Per-request timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Name for messages (default host:port). */
  name?: string;
  /** Largest encapsulation packet accepted (default 16384). */
  maxFrameSize?: number;
}

/** The result of reading one address: a value, or the error that address got. */
export interface ReadResult {
  address: string;
  value?: Value | undefined;
  /** The CIP type the controller reported. */
  type?: TagType | undefined;
  error?: BifrostError | undefined;
}

/** What `identify()` returns: the Identity object plus names. */
export interface EipIdentity extends IdentityObject {
  vendorName: string;
  deviceTypeName: string;
}

/** Events of a client. */
export interface EipClientEvents {
  /** The session ended (socket closed or dropped); carries the cause when it was not `close()`. */
  close: [BifrostError | undefined];
}

// Bytes of the Message Router request/reply framing around each embedded service.
const MSP_REQUEST_OVERHEAD = 2 + MESSAGE_ROUTER_PATH.length + 2;
const MSP_REPLY_OVERHEAD = 4 + 2;
const UNCONNECTED_SIZE = 504;
const SMALL_CONNECTION_SIZE = 504;

interface PlannedRead {
  index: number;
  a: LogixAddress;
  count: number;
  req: Buffer;
  estimate: number;
  sizeKey: string;
  /** Decoder for the fast path, when the tag's atomic type is known. */
  fast?: (buf: Buffer, offset: number) => Value;
  fastType?: TagType;
}

interface PlannedBatch {
  items: PlannedRead[];
  /** The encoded request: one Read Tag, or a Multiple Service Packet. */
  request: Buffer;
  /** Too big for one reply: read with Read Tag Fragmented. */
  fragmented: boolean;
}

interface ReadPlan {
  addresses: string[];
  connectionSize: number;
  batches: PlannedBatch[];
  errors: Map<number, BifrostError>;
  /** Made with guessed sizes or types: rebuild after this read. */
  stale: boolean;
}

// Little-endian readers of one atomic value (1756-PM020 atomic data types), for the fast path.
const FAST_READERS: Partial<Record<number, (b: Buffer, o: number) => Value>> = {
  [CipType.BOOL]: (b, o) => b[o] !== 0,
  [CipType.SINT]: (b, o) => b.readInt8(o),
  [CipType.INT]: (b, o) => b.readInt16LE(o),
  [CipType.DINT]: (b, o) => b.readInt32LE(o),
  [CipType.LINT]: (b, o) => b.readBigInt64LE(o),
  [CipType.USINT]: (b, o) => b.readUInt8(o),
  [CipType.UINT]: (b, o) => b.readUInt16LE(o),
  [CipType.UDINT]: (b, o) => b.readUInt32LE(o),
  [CipType.ULINT]: (b, o) => b.readBigUInt64LE(o),
  [CipType.REAL]: (b, o) => b.readFloatLE(o),
  [CipType.LREAL]: (b, o) => b.readDoubleLE(o),
};

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A Logix (ControlLogix, CompactLogix, Micro800) client over EtherNet/IP.
 * @example
 * const plc = new EipClient({ host: '10.0.0.5', route: '1,0' });
 * await plc.connect();
 * const [counter] = await plc.readTags(['Counter']);
 * await plc.writeTag('Setpoint', 42.5);
 * await plc.close();
 */
export class EipClient extends EventEmitter<EipClientEvents> {
  readonly name: string;
  readonly #opts: Required<Omit<EipClientOptions, 'route' | 'name'>> & { route: Segment[] };
  #transport: EipTransport | undefined;
  #otConnectionId = 0;
  #toConnectionId = 0;
  /** Counters of the sessions closed so far; the open one's are added on read. */
  readonly #pastStats: TransportStats = { contextFallbacks: 0, wrongSession: 0, wrongConnection: 0, stale: 0 };
  #connectionSerial = 0;
  #originatorSerial = 0;
  #connectionSize = UNCONNECTED_SIZE;
  #connected = false;
  readonly #parsed = new Map<string, LogixAddress>();
  readonly #types = new Map<string, TagType>();
  readonly #sizes = new Map<string, number>();
  readonly #templates = new Map<number, Template>();
  readonly #plans = new WeakMap<readonly string[], ReadPlan>();

  constructor(options: EipClientOptions) {
    super();
    let route: Segment[];
    try {
      route = parseRoutePath(options.route ?? '');
    } catch (e) {
      throw new BifrostError('BIFROST_INVALID_URL', (e as Error).message);
    }
    this.#opts = {
      host: options.host,
      port: options.port ?? 44818,
      route,
      connected: options.connected ?? true,
      largeForwardOpen: options.largeForwardOpen ?? true,
      connectionSize: options.connectionSize ?? 4002,
      timeoutMs: options.timeoutMs ?? 2000,
      maxFrameSize: options.maxFrameSize ?? 16384,
    };
    this.name = options.name ?? `${options.host}:${this.#opts.port}`;
  }

  /** True while connected messaging is in use (after a successful Forward Open). */
  get isConnectedMessaging(): boolean {
    return this.#connected;
  }

  /** The negotiated connection size in bytes (504 for unconnected messaging). */
  get connectionSize(): number {
    return this.#connectionSize;
  }

  /** Replies that did not match their request exactly, over every session of this client (see {@link TransportStats}). */
  get replyStats(): TransportStats {
    const now = this.#transport?.stats;
    const out = { ...this.#pastStats };
    if (now) for (const k of Object.keys(out) as (keyof TransportStats)[]) out[k] += now[k];
    return out;
  }

  /** True while the session is open. */
  get isOpen(): boolean {
    return this.#transport !== undefined && !this.#transport.closed;
  }

  /** Opens the TCP session and, for connected messaging, the CIP connection. */
  async connect(signal?: AbortSignal): Promise<void> {
    if (this.isOpen) return;
    const t = await withTimeout((s) => EipTransport.open({ host: this.#opts.host, port: this.#opts.port, name: this.name, maxFrameSize: this.#opts.maxFrameSize, signal: s }), {
      timeoutMs: this.#opts.timeoutMs,
      what: `connect to ${this.name}`,
      ...(signal ? { signal } : {}),
    });
    this.#transport = t;
    this.#connected = false;
    this.#connectionSize = UNCONNECTED_SIZE;
    t.once('close', (err) => {
      const s = t.stats;
      for (const k of Object.keys(s) as (keyof TransportStats)[]) this.#pastStats[k] += s[k];
      if (this.#transport === t) {
        this.#transport = undefined;
        this.#connected = false;
      }
      this.emit('close', err?.code === 'BIFROST_CLOSED' ? undefined : err);
    });
    if (this.#opts.connected) {
      try {
        await this.#forwardOpen(signal);
      } catch (e) {
        t.destroy();
        throw e;
      }
    }
  }

  async #forwardOpen(signal?: AbortSignal): Promise<void> {
    const attempts = this.#opts.largeForwardOpen
      ? [
          { large: true, size: this.#opts.connectionSize },
          { large: false, size: SMALL_CONNECTION_SIZE },
        ]
      : [{ large: false, size: SMALL_CONNECTION_SIZE }];
    let last: BifrostError | undefined;
    for (const { large, size } of attempts) {
      this.#connectionSerial = (Math.random() * 0xffff) | 0;
      this.#originatorSerial = (Math.random() * 0xffffffff) >>> 0;
      const req = encodeForwardOpen({
        large,
        tickTime: 0x0a,
        timeoutTicks: 0x0e,
        otConnectionId: 0,
        toConnectionId: (Math.random() * 0xffffffff) >>> 0,
        connectionSerial: this.#connectionSerial,
        vendorId: 0x1337,
        originatorSerial: this.#originatorSerial,
        timeoutMultiplier: 5,
        otRpi: 2_000_000,
        otParams: connectionParams(size, large),
        toRpi: 2_000_000,
        toParams: connectionParams(size, large),
        // Transport class 3, application-triggered server (CIP Vol 1 §3-4.4.3).
        transportTrigger: 0xa3,
        path: [...this.#opts.route, { type: 'class', id: ClassId.MessageRouter }, { type: 'instance', id: 1 }],
      });
      const res = await this.#send(req, false, signal);
      if (res.status === 0) {
        const reply = decodeForwardOpenReply(res.data);
        this.#otConnectionId = reply.otConnectionId;
        this.#toConnectionId = reply.toConnectionId;
        this.#connectionSize = size;
        this.#connected = true;
        return;
      }
      last = cipError(res.status, res.extended, { device: this.name, what: large ? 'Large Forward Open' : 'Forward Open' });
      // Only a target that does not know Large Forward Open, or refuses the size, gets the small one.
      if (!(res.status === 0x08 || (res.status === 0x01 && res.extended[0] === 0x0109))) break;
    }
    throw last as BifrostError;
  }

  /** Sends a raw Message Router request through the session (connected when open, else unconnected and routed). */
  async request(mr: Buffer, signal?: AbortSignal): Promise<CipResponse> {
    return this.#send(mr, this.#connected, signal);
  }

  async #send(mr: Buffer, connected: boolean, signal?: AbortSignal): Promise<CipResponse> {
    const t = this.#transport;
    if (!t || t.closed) throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name });
    const service = mr[0] as number;
    const bytes = await this.#exchange(t, mr, service, connected, signal);
    const res = decodeResponse(bytes);
    if (res.service !== (service | 0x80)) {
      // An Unconnected Send that could not be delivered answers as itself (0xD2) with the routing error.
      if (res.service === (Service.UnconnectedSend | 0x80) && res.status !== 0) return res;
      throw new BifrostError('BIFROST_MALFORMED_FRAME', `reply service 0x${res.service.toString(16)} does not answer request service 0x${service.toString(16)} on ${this.name}`, { device: this.name });
    }
    return res;
  }

  async #exchange(t: EipTransport, mr: Buffer, service: number, connected: boolean, signal?: AbortSignal): Promise<Buffer> {
    try {
      return await withTimeout(
        (s) => {
          if (connected) return t.sendUnitData(this.#otConnectionId, mr, s, this.#toConnectionId);
          // Forward Open/Close go to the local Connection Manager, which routes along the connection path itself.
          const direct = this.#opts.route.length === 0 || ((service === Service.ForwardOpen || service === Service.LargeForwardOpen || service === Service.ForwardClose) && isConnectionManager(mr));
          return t.sendRRData(direct ? mr : encodeUnconnectedSend(mr, this.#opts.route), s);
        },
        { timeoutMs: this.#opts.timeoutMs, what: `request to ${this.name}`, ...(signal ? { signal } : {}) },
      );
    } catch (e) {
      // A controller drops a connected session it considers timed out without a word (CIP Vol 1
      // §3-4.5): a request that times out on it ends the session, so the next one reconnects.
      if (connected && e instanceof BifrostError && e.code === 'BIFROST_TIMEOUT') t.destroy();
      throw e;
    }
  }

  #parse(address: string): LogixAddress {
    let a = this.#parsed.get(address);
    if (!a) {
      a = parseLogixAddress(address);
      if (this.#parsed.size > 10_000) this.#parsed.clear();
      this.#parsed.set(address, a);
    }
    return a;
  }

  #limit(): number {
    // Room for the sequence count of connected data and the MSP framing.
    return this.#connectionSize - 2;
  }

  /**
   * Reads many addresses in as few round trips as the connection size allows. Never rejects for a
   * bad address: that address's result carries the error. Reading the same array again reuses
   * its plan (the encoded Multiple Service Packets).
   * @example const [a, b] = await plc.readTags(['Counter', 'Temps{10}'])
   */
  async readTags(addresses: readonly string[], signal?: AbortSignal, reuse?: ReadResult[]): Promise<ReadResult[]> {
    let plan = this.#plans.get(addresses);
    if (!plan || plan.connectionSize !== this.#connectionSize || !sameList(plan.addresses, addresses)) {
      plan = this.#plan(addresses);
      this.#plans.set(addresses, plan);
    }
    // A poller passes the results of its previous poll: they are cleared and filled again, not made anew.
    let results: ReadResult[];
    if (reuse && reuse.length === addresses.length) {
      results = reuse;
      for (let i = 0; i < addresses.length; i++) {
        const r = results[i] as ReadResult;
        r.address = addresses[i] as string;
        r.value = undefined;
        r.type = undefined;
        r.error = undefined;
      }
    } else {
      results = new Array(addresses.length);
      for (let i = 0; i < addresses.length; i++) results[i] = { address: addresses[i] as string };
    }
    for (const [i, err] of plan.errors) (results[i] as ReadResult).error = err;
    const current = plan;
    await Promise.all(current.batches.map((b) => this.#readBatch(b, results, current, signal)));
    // A plan made with guessed reply sizes is rebuilt once the sizes are known.
    if (current.stale) this.#plans.delete(addresses);
    return results;
  }

  #plan(addresses: readonly string[]): ReadPlan {
    const plan: ReadPlan = { addresses: [...addresses], connectionSize: this.#connectionSize, batches: [], errors: new Map(), stale: false };
    const plans: PlannedRead[] = [];
    for (let i = 0; i < addresses.length; i++) {
      const address = addresses[i] as string;
      try {
        const a = this.#parse(address);
        const count = a.bit === undefined ? a.count : 1;
        const req = encodeRequest({ service: Service.ReadTag, path: a.path, data: readTagData(count) });
        const sizeKey = `${a.tag}{${count}}`;
        const known = this.#sizes.get(sizeKey);
        const hinted = a.type === 'STRING' ? STRING_SIZE * count : a.type ? (atomicSize(cipTypeOf(a.type) ?? 0) || 8) * count : 8 * count;
        if (known === undefined) plan.stale = true;
        const type = this.#types.get(a.tag);
        const fast = count === 1 && a.bit === undefined && type !== undefined && type.code !== CipType.STRUCT && !(a.type && !typeMatches(a.type, type)) ? FAST_READERS[type.code] : undefined;
        plans.push({ index: i, a, count, req, estimate: 4 + 4 + (known ?? hinted), sizeKey, ...(fast && type ? { fast, fastType: type } : {}) });
      } catch (e) {
        plan.errors.set(i, toBifrostError(e, 'BIFROST_INVALID_ADDRESS', { address, device: this.name }));
      }
    }
    const limit = this.#limit();
    let batch: PlannedRead[] = [];
    let reqBytes = MSP_REQUEST_OVERHEAD;
    let resBytes = MSP_REPLY_OVERHEAD;
    const flush = () => {
      if (batch.length === 0) return;
      const request =
        batch.length === 1
          ? (batch[0] as PlannedRead).req
          : encodeRequest({ service: Service.MultipleServicePacket, path: MESSAGE_ROUTER_PATH, data: encodeMultipleServiceData(batch.map((p) => p.req)) });
      plan.batches.push({ items: batch, request, fragmented: false });
      batch = [];
      reqBytes = MSP_REQUEST_OVERHEAD;
      resBytes = MSP_REPLY_OVERHEAD;
    };
    for (const p of plans) {
      if (p.estimate > limit - MSP_REPLY_OVERHEAD - 2 || p.req.length + MSP_REQUEST_OVERHEAD + 2 > limit) {
        plan.batches.push({ items: [p], request: p.req, fragmented: p.estimate > limit - MSP_REPLY_OVERHEAD - 2 });
        continue;
      }
      if (batch.length > 0 && (reqBytes + p.req.length + 2 > limit || resBytes + p.estimate + 2 > limit)) flush();
      batch.push(p);
      reqBytes += p.req.length + 2;
      resBytes += p.estimate + 2;
    }
    flush();
    return plan;
  }

  async #readBatch(batch: PlannedBatch, results: ReadResult[], plan: ReadPlan, signal?: AbortSignal): Promise<void> {
    const items = batch.items;
    try {
      if (items.length === 1) {
        const p = items[0] as PlannedRead;
        if (batch.fragmented) {
          try {
            this.#finish(p, results, await this.#readFragmented(p, 0, [], signal), plan);
          } catch (e) {
            const err = toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name, address: p.a.address });
            if (isFatal(err)) throw err;
            (results[p.index] as ReadResult).error = err;
          }
          return;
        }
        const res = await this.#send(batch.request, this.#connected, signal);
        await this.#settle(p, res, results, plan, signal);
        return;
      }
      const res = await this.#send(batch.request, this.#connected, signal);
      if (res.status !== 0 && res.status !== 0x1e) throw cipError(res.status, res.extended, { device: this.name, what: 'Multiple Service Packet' });
      const buf = res.data;
      if (buf.length < 2 + items.length * 2 || buf.readUInt16LE(0) !== items.length) {
        throw new BifrostError('BIFROST_MALFORMED_FRAME', `Multiple Service Packet reply does not carry ${items.length} replies`, { device: this.name });
      }
      let slow: Promise<void>[] | undefined;
      for (let i = 0; i < items.length; i++) {
        const p = items[i] as PlannedRead;
        const start = buf.readUInt16LE(2 + i * 2);
        const end = i + 1 < items.length ? buf.readUInt16LE(4 + i * 2) : buf.length;
        if (start < 2 + items.length * 2 || end > buf.length || end < start + 4) {
          throw new BifrostError('BIFROST_MALFORMED_FRAME', `Multiple Service Packet reply ${i} lies outside the packet`, { device: this.name });
        }
        // Fast path: a good atomic reply of the type this tag had last time (no objects, no copies).
        if (p.fast && buf[start + 2] === 0 && buf[start + 3] === 0 && end - start >= 6 && buf.readUInt16LE(start + 4) === p.fastType?.code && end - start - 6 >= atomicSize(p.fastType.code)) {
          const r = results[p.index] as ReadResult;
          r.value = p.fast(buf, start + 6);
          r.type = p.fastType;
          continue;
        }
        (slow ??= []).push(this.#settle(p, decodeResponse(buf.subarray(start, end)), results, plan, signal));
      }
      if (slow) await Promise.all(slow);
    } catch (e) {
      const err = toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name });
      for (const p of items) {
        const r = results[p.index] as ReadResult;
        if (r.value === undefined && r.error === undefined) r.error = err;
      }
      if (isFatal(err)) throw err;
    }
  }

  async #settle(p: PlannedRead, res: CipResponse, results: ReadResult[], plan: ReadPlan, signal?: AbortSignal): Promise<void> {
    try {
      await this.#settleOne(p, res, results, plan, signal);
    } catch (e) {
      const err = toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name, address: p.a.address });
      if (isFatal(err)) throw err;
      (results[p.index] as ReadResult).error = err;
    }
  }

  async #settleOne(p: PlannedRead, res: CipResponse, results: ReadResult[], plan: ReadPlan, signal?: AbortSignal): Promise<void> {
    const r = results[p.index] as ReadResult;
    if (res.status === 0x06) {
      // Partial transfer (1756-PM020): the rest comes with Read Tag Fragmented from where this stopped.
      if (res.data.length < 2) {
        this.#finish(p, results, await this.#readFragmented(p, 0, [], signal), plan);
        return;
      }
      const first = decodeTypeId(res.data);
      const chunks = await this.#readFragmented(p, first.data.length, [first.data], signal, first.type);
      this.#finish(p, results, chunks, plan);
      return;
    }
    if (res.status !== 0) {
      r.error = cipError(res.status, res.extended, { device: this.name, address: p.a.address, what: 'read' });
      return;
    }
    this.#finish(p, results, decodeTypeId(res.data), plan);
  }

  async #readFragmented(p: PlannedRead, offset: number, chunks: Buffer[], signal?: AbortSignal, knownType?: TagType): Promise<{ type: TagType; data: Buffer }> {
    let type = knownType;
    for (let guard = 0; guard < 100_000; guard++) {
      const req = encodeRequest({ service: Service.ReadTagFragmented, path: p.a.path, data: readTagFragmentedData(p.count, offset) });
      const res = await this.#send(req, this.#connected, signal);
      if (res.status !== 0 && res.status !== 0x06) throw cipError(res.status, res.extended, { device: this.name, address: p.a.address, what: 'read' });
      const part = decodeTypeId(res.data);
      type ??= part.type;
      chunks.push(part.data);
      offset += part.data.length;
      if (res.status === 0) break;
      if (part.data.length === 0) throw new BifrostError('BIFROST_MALFORMED_FRAME', `fragmented read of "${p.a.address}" made no progress`, { device: this.name, address: p.a.address });
    }
    return { type: type as TagType, data: Buffer.concat(chunks) };
  }

  #finish(p: PlannedRead, results: ReadResult[], got: { type: TagType; data: Buffer }, plan: ReadPlan): void {
    const r = results[p.index] as ReadResult;
    const { type, data } = got;
    const knownType = this.#types.get(p.a.tag);
    if (!knownType || knownType.code !== type.code || knownType.handle !== type.handle) {
      this.#types.set(p.a.tag, type);
      plan.stale = true;
    }
    if (this.#sizes.get(p.sizeKey) !== data.length) {
      this.#sizes.set(p.sizeKey, data.length);
      plan.stale = true;
    }
    try {
      if (p.a.type && !typeMatches(p.a.type, type)) {
        throw new BifrostError('BIFROST_EIP_TYPE_MISMATCH', `"${p.a.address}" is ${describeType(type)} on ${this.name}, not ${p.a.type}`, { device: this.name, address: p.a.address });
      }
      let value = decodeTagValue(type, data, p.count);
      if (p.a.bit !== undefined) value = extractBit(value, p.a.bit, p.a.address);
      r.value = value;
      r.type = type;
    } catch (e) {
      r.error = toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name, address: p.a.address });
    }
  }

  /**
   * Reads one address; rejects with its error.
   * @example const v = await plc.readTag('Program:Main.X')
   */
  async readTag(address: string, signal?: AbortSignal): Promise<Value> {
    const [r] = await this.readTags([address], signal);
    if (!r || r.error) throw r?.error ?? new BifrostError('BIFROST_MALFORMED_FRAME', `no result for ${address}`);
    return r.value as Value;
  }

  async #typeOf(a: LogixAddress, signal?: AbortSignal): Promise<TagType> {
    if (a.type === 'STRING') return { code: CipType.STRUCT, handle: STRING_HANDLE };
    const hinted = a.type ? cipTypeOf(a.type) : undefined;
    if (hinted !== undefined && a.bit === undefined) return { code: hinted };
    const known = this.#types.get(a.tag);
    if (known) return known;
    const res = await this.#send(encodeRequest({ service: Service.ReadTag, path: a.path, data: readTagData(1) }), this.#connected, signal);
    if (res.status !== 0 && res.status !== 0x06) throw cipError(res.status, res.extended, { device: this.name, address: a.address, what: 'write' });
    const { type } = decodeTypeId(res.data);
    this.#types.set(a.tag, type);
    return type;
  }

  /**
   * Writes a value (scalar, array, or string to a Logix STRING; raw bytes to other structures).
   * The tag's type comes from the `:TYPE` hint, an earlier read, or one read before the write.
   * @example await plc.writeTag('Setpoint', 55.5); await plc.writeTag('Counter.3', true)
   */
  async writeTag(address: string, value: Value, signal?: AbortSignal): Promise<void> {
    const a = this.#parse(address);
    const type = await this.#typeOf(a, signal);
    const fail = (res: CipResponse) => cipError(res.status, res.extended, { device: this.name, address, what: 'write' });
    if (a.bit !== undefined) {
      const size = atomicSize(type.code);
      if (type.code === CipType.STRUCT || size === 0 || type.code === CipType.BOOL || type.code === CipType.REAL || type.code === CipType.LREAL || a.bit >= size * 8) {
        throw new BifrostError('BIFROST_INVALID_ADDRESS', `"${address}": bit ${a.bit} needs an integer tag of more than ${a.bit} bits; the tag is ${describeType(type)}`, {
          device: this.name,
          address,
        });
      }
      const bool = toBool(value, address);
      const res = await this.#send(encodeRequest({ service: Service.ReadModifyWriteTag, path: a.path, data: readModifyWriteData(size, a.bit, bool) }), this.#connected, signal);
      if (res.status !== 0) throw fail(res);
      return;
    }
    let data: Buffer;
    let elementSize: number;
    const values = Array.isArray(value) ? value : [value];
    try {
      if (type.code === CipType.STRUCT && type.handle === STRING_HANDLE) {
        data = Buffer.concat(values.map((v) => encodeLogixString(typeof v === 'string' ? v : String(v))));
        elementSize = STRING_SIZE;
      } else if (type.code === CipType.STRUCT) {
        if (!(value instanceof Uint8Array)) throw new BifrostError('BIFROST_TYPE_MISMATCH', `"${address}" is a structure; write its members, or raw bytes`, { address });
        data = Buffer.from(value);
        elementSize = data.length;
      } else {
        data = encodeTagValue(type.code, value);
        elementSize = atomicSize(type.code);
      }
    } catch (e) {
      const err = toBifrostError(e, 'BIFROST_TYPE_MISMATCH');
      throw new BifrostError(err.code, `cannot write "${address}" (${describeType(type)}) on ${this.name}: ${err.message}`, { device: this.name, address, cause: err });
    }
    const count = type.code === CipType.STRUCT && type.handle !== STRING_HANDLE ? 1 : values.length;
    const room = this.#limit() - 2 - a.path.length - 16;
    if (data.length <= room) {
      const res = await this.#send(encodeRequest({ service: Service.WriteTag, path: a.path, data: writeTagData(type, count, data) }), this.#connected, signal);
      if (res.status !== 0) throw fail(res);
      return;
    }
    const chunk = Math.max(elementSize, Math.floor(room / elementSize) * elementSize);
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, off + chunk);
      const res = await this.#send(encodeRequest({ service: Service.WriteTagFragmented, path: a.path, data: writeTagFragmentedData(type, count, off, part) }), this.#connected, signal);
      if (res.status !== 0) throw fail(res);
    }
  }

  /**
   * Reads the Identity object (class 1, instance 1) with names for vendor and device type.
   * @example (await plc.identify()).productName // '1756-L83E/B'
   */
  async identify(signal?: AbortSignal): Promise<EipIdentity> {
    const path = encodeEpath([
      { type: 'class', id: ClassId.Identity },
      { type: 'instance', id: 1 },
    ]);
    const res = await this.#send(encodeRequest({ service: Service.GetAttributesAll, path, data: Buffer.alloc(0) }), this.#connected, signal);
    if (res.status !== 0) throw cipError(res.status, res.extended, { device: this.name, what: 'identify' });
    const id = decodeIdentityObject(res.data);
    return { ...id, vendorName: vendorName(id.vendorId), deviceTypeName: deviceTypeName(id.deviceType) };
  }

  /**
   * Get_Attributes_All (0x01) of any object instance; returns the raw attribute data.
   * @example const raw = await plc.getAttributesAll(0x01, 1) // Identity object
   */
  async getAttributesAll(classId: number, instance: number, signal?: AbortSignal): Promise<Buffer> {
    const path = encodeEpath([
      { type: 'class', id: classId },
      { type: 'instance', id: instance },
    ]);
    const res = await this.#send(encodeRequest({ service: Service.GetAttributesAll, path, data: Buffer.alloc(0) }), this.#connected, signal);
    if (res.status !== 0) throw cipError(res.status, res.extended, { device: this.name, what: `Get_Attributes_All of class 0x${classId.toString(16)} instance ${instance}` });
    return res.data;
  }

  /**
   * Get_Attribute_Single (0x0E) of any object attribute; returns the raw attribute value.
   * @example (await plc.getAttributeSingle(0x01, 1, 7)).toString('latin1', 1) // product name
   */
  async getAttributeSingle(classId: number, instance: number, attribute: number, signal?: AbortSignal): Promise<Buffer> {
    const path = encodeEpath([
      { type: 'class', id: classId },
      { type: 'instance', id: instance },
      { type: 'attribute', id: attribute },
    ]);
    const res = await this.#send(encodeRequest({ service: Service.GetAttributeSingle, path, data: Buffer.alloc(0) }), this.#connected, signal);
    if (res.status !== 0) throw cipError(res.status, res.extended, { device: this.name, what: `Get_Attribute_Single of class 0x${classId.toString(16)} instance ${instance} attribute ${attribute}` });
    return res.data;
  }

  /**
   * Lists the symbols of the controller, or of one program (`program` = `Main` or `Program:Main`),
   * with Get Instance Attribute List on the Symbol Object, continuing after a partial transfer.
   * @example const symbols = await plc.listSymbols()
   */
  async listSymbols(program?: string, signal?: AbortSignal): Promise<SymbolInstance[]> {
    const out: SymbolInstance[] = [];
    const prefix: Segment[] = program ? [{ type: 'symbolic', name: program.toLowerCase().startsWith('program:') ? program : `Program:${program}` }] : [];
    let instance = 0;
    for (let guard = 0; guard < 100_000; guard++) {
      const path = encodeEpath([...prefix, { type: 'class', id: ClassId.Symbol }, { type: 'instance', id: instance }]);
      const res = await this.#send(encodeRequest({ service: Service.GetInstanceAttributeList, path, data: instanceAttributeListData(SYMBOL_ATTRIBUTES) }), this.#connected, signal);
      if (res.status !== 0 && res.status !== 0x06) throw cipError(res.status, res.extended, { device: this.name, what: 'tag list', ...(program ? { address: program } : {}) });
      const page = decodeSymbolList(res.data, SYMBOL_ATTRIBUTES);
      out.push(...page);
      if (res.status === 0 || page.length === 0) break;
      instance = (page.at(-1) as SymbolInstance).instance + 1;
    }
    return out;
  }

  /**
   * Reads a structure template (Template Object 0x6C): attributes, then the definition in pieces.
   * @example const motor = await plc.readTemplate(0x100)
   */
  async readTemplate(id: number, signal?: AbortSignal): Promise<Template> {
    const cached = this.#templates.get(id);
    if (cached) return cached;
    const path = encodeEpath([
      { type: 'class', id: ClassId.Template },
      { type: 'instance', id },
    ]);
    const attrsRes = await this.#send(encodeRequest({ service: Service.GetAttributeList, path, data: templateAttributesData() }), this.#connected, signal);
    if (attrsRes.status !== 0) throw cipError(attrsRes.status, attrsRes.extended, { device: this.name, what: `template ${id} attributes` });
    const attrs = decodeTemplateAttributes(attrsRes.data);
    // 1756-PM020: the definition is (object definition size × 4) − 23 bytes, rounded up to 32 bits.
    const total = templateDefinitionBytes(attrs.objectDefinitionSize);
    const chunks: Buffer[] = [];
    let offset = 0;
    for (let guard = 0; guard < 10_000 && offset < total; guard++) {
      const res = await this.#send(encodeRequest({ service: Service.ReadTag, path, data: readTemplateData(offset, total - offset) }), this.#connected, signal);
      if (res.status !== 0 && res.status !== 0x06) throw cipError(res.status, res.extended, { device: this.name, what: `template ${id} definition` });
      chunks.push(res.data);
      offset += res.data.length;
      if (res.status === 0 || res.data.length === 0) break;
    }
    const t = decodeTemplateDefinition(Buffer.concat(chunks), attrs.memberCount, { id, handle: attrs.handle, size: attrs.structureSize });
    this.#templates.set(id, t);
    return t;
  }

  /**
   * The controller's tags as a tree: controller-scope tags, one folder per program with its tags,
   * and structure members (from the templates) as children; system and hidden symbols are left out.
   * @example const nodes = await plc.browse()
   */
  async browse(options: { program?: string; depth?: number; signal?: AbortSignal } = {}): Promise<BrowseNode[]> {
    const depth = options.depth ?? 3;
    const toNodes = async (symbols: SymbolInstance[], prefix: string): Promise<BrowseNode[]> => {
      const out: BrowseNode[] = [];
      for (const s of symbols) {
        const info = decodeSymbolType(s.symbolType);
        if (s.name.toLowerCase().startsWith('program:')) {
          if (prefix !== '') continue;
          const children = depth > 1 ? await toNodes(await this.listSymbols(s.name, options.signal), `${s.name}.`) : undefined;
          out.push({ name: s.name, kind: 'folder', ...(children ? { children } : {}) });
          continue;
        }
        if (info.system || s.name.startsWith('__') || s.name.includes(':')) continue;
        out.push(await this.#node(s.name, `${prefix}${s.name}`, s.symbolType, s.dimensions.slice(0, info.dimensionCount), depth - 1, options.signal));
      }
      return out;
    };
    if (options.program)
      return toNodes(await this.listSymbols(options.program, options.signal), `${options.program.toLowerCase().startsWith('program:') ? options.program : `Program:${options.program}`}.`);
    return toNodes(await this.listSymbols(undefined, options.signal), '');
  }

  async #node(name: string, address: string, typeWord: number, dimensions: number[], depth: number, signal?: AbortSignal): Promise<BrowseNode> {
    const info = decodeSymbolType(typeWord);
    const node: BrowseNode = { name, address, kind: 'tag', writable: true };
    if (dimensions.length > 0 && dimensions[0] !== 0) node.dimensions = dimensions;
    if (!info.structure) {
      node.type = dataTypeOf(info.code) ?? typeName(info.code);
      return node;
    }
    if (info.code === STRING_HANDLE) {
      node.type = 'STRING';
      return node;
    }
    let t: Template;
    try {
      t = await this.readTemplate(info.code, signal);
    } catch {
      node.kind = 'struct';
      node.type = `STRUCT 0x${info.code.toString(16)}`;
      return node;
    }
    node.kind = 'struct';
    node.type = t.name;
    if (t.members.length === 2 && t.members[0]?.name === 'LEN' && t.members[1]?.name === 'DATA') {
      node.kind = 'tag';
      node.type = 'STRING';
      return node;
    }
    if (depth > 0 && !node.dimensions) {
      const children: BrowseNode[] = [];
      for (const m of t.members) {
        if (m.name.startsWith('ZZZZZZZZZZ') || m.name.startsWith('__')) continue;
        const mi = decodeSymbolType(m.type);
        const dims = mi.dimensionCount > 0 || (mi.code !== CipType.BOOL && m.info > 0 && !mi.structure) ? [m.info] : [];
        children.push(
          await this.#node(
            m.name,
            `${address}.${m.name}`,
            m.type & ~0x6000,
            dims.filter((d) => d > 0),
            depth - 1,
            signal,
          ),
        );
      }
      node.children = children;
    }
    return node;
  }

  /** Closes the CIP connection (Forward Close) and the session; idempotent. */
  async close(): Promise<void> {
    const t = this.#transport;
    if (!t || t.closed) return;
    if (this.#connected) {
      this.#connected = false;
      const req = encodeForwardClose({
        tickTime: 0x0a,
        timeoutTicks: 0x0e,
        connectionSerial: this.#connectionSerial,
        vendorId: 0x1337,
        originatorSerial: this.#originatorSerial,
        path: [...this.#opts.route, { type: 'class', id: ClassId.MessageRouter }, { type: 'instance', id: 1 }],
      });
      await withTimeout((s) => t.sendRRData(req, s), { timeoutMs: 500 }).catch(() => {});
    }
    this.#transport = undefined;
    await t.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The Logix name for {@link EipClient}.
 * @example const plc = new LogixClient({ host: '10.0.0.5', route: '1,0' })
 */
export const LogixClient = EipClient;
/** The Logix name for {@link EipClient}. */
export type LogixClient = EipClient;

function isConnectionManager(mr: Buffer): boolean {
  return mr.length >= 2 + CONNECTION_MANAGER_PATH.length && mr.subarray(2, 2 + CONNECTION_MANAGER_PATH.length).equals(CONNECTION_MANAGER_PATH);
}

/** Errors that end the whole batch: the session is gone or the caller gave up. */
function isFatal(err: BifrostError): boolean {
  return err.code === 'BIFROST_ABORTED' || err.code === 'BIFROST_NOT_CONNECTED' || err.code === 'BIFROST_CONNECTION_LOST' || err.code === 'BIFROST_TIMEOUT' || err.code === 'BIFROST_CLOSED';
}

function typeMatches(hint: DataType, t: TagType): boolean {
  if (hint === 'STRING') return t.code === CipType.STRUCT && t.handle === STRING_HANDLE;
  if (t.code === CipType.STRUCT) return hint === 'BYTES';
  return dataTypeOf(t.code) === hint;
}

function describeType(t: TagType): string {
  if (t.code === CipType.STRUCT) return t.handle === STRING_HANDLE ? 'STRING' : `a structure (handle 0x${(t.handle ?? 0).toString(16)})`;
  return typeName(t.code);
}

function extractBit(v: Value, bit: number, address: string): boolean {
  if (typeof v === 'number' && Number.isInteger(v) && bit < 32) return ((v >> bit) & 1) === 1;
  if (typeof v === 'bigint') return ((v >> BigInt(bit)) & 1n) === 1n;
  throw new BifrostError('BIFROST_INVALID_ADDRESS', `"${address}": bit ${bit} needs an integer tag wide enough`, { address });
}

function toBool(v: Value, address: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string' && ['true', 'false', '1', '0', 'on', 'off'].includes(v.toLowerCase())) return ['true', '1', 'on'].includes(v.toLowerCase());
  throw new BifrostError('BIFROST_TYPE_MISMATCH', `"${address}" is a bit: write true or false, not ${String(v)}`, { address });
}
