/**
 * @module
 * Modbus clients: TCP (MBAP framing, several requests in flight matched by transaction id),
 * RTU over a serial port and RTU over TCP (one request at a time: an RTU frame carries no
 * transaction id, Serial Line V1.02 §2.1). Each request has its own timeout and abort signal; a
 * response that does not match its request is a typed error and the next request still works.
 *
 * The hot path avoids per-request closures: pending requests are plain objects, the timeout
 * callback is one module-level function, and frames are handled by methods of the client.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Backoff, type BackoffOptions, BifrostError, channel, connectError, type OperationOptions, sleep, toBifrostError } from '@bifrost/core';
import { exceptionErrorCode, exceptionName, Limits } from './constants.js';
import { MbapFrameAssembler, RtuFrameAssembler, rtuSilentIntervalMs, writeCrc, writeMbapHeader } from './framing.js';
import { decodeResponse, isException, type ModbusNormalResponse, type ModbusRequest, type ReadDeviceIdentificationResponse, requestLength, unpackBits, validateRequest, writeRequest } from './pdu.js';
import { openSerial, openTcp, type SerialOptions, type SerialStream } from './transport.js';

const requestChannel = channel('modbus', 'request');
const unmatchedChannel = channel('modbus', 'unmatched');

/** Options of every Modbus client. */
export interface ModbusClientOptions {
  /** Unit identifier used when a request does not name one (default 1). */
  unitId?: number;
  /** Per-request timeout in ms (default 2000). */
  timeoutMs?: number;
  /**
   * Requests in flight at once (TCP only; default 1, because many devices and gateways serve one
   * request per connection at a time). RTU is always 1.
   */
  maxInFlight?: number;
  /** Largest response frame accepted (default the protocol maximum: 260 TCP, 256 RTU). */
  maxFrameSize?: number;
  /** Reconnect on the next request after the connection drops, waiting a backoff delay between failed attempts (default on). */
  reconnect?: boolean | BackoffOptions;
  /** A name for messages (default host:port or the serial path). */
  name?: string;
  /** RTU: the delay after a broadcast (unit 0) write before the next request, in ms (default 100; Serial Line §2.4.1 "turnaround delay"). */
  turnaroundMs?: number;
}

/** Options of one request. */
export interface RequestOptions extends OperationOptions {
  /** Unit identifier for this request. */
  unitId?: number;
}

/** Events a client emits. */
export interface ModbusClientEvents {
  /** The transport closed; the error says why when it was not asked for. */
  close: [BifrostError | undefined];
  /** A frame arrived that no request was waiting for, or the stream could not be parsed. */
  unmatched: [BifrostError];
}

interface Pending {
  client: ModbusClient;
  tid: number;
  unitId: number;
  req: ModbusRequest;
  adu: Buffer;
  timeoutMs: number;
  resolve: (res: ModbusNormalResponse) => void;
  reject: (err: BifrostError) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
}

/**
 * Requests in flight by transaction id, in a fixed table of slots (`tid & mask`). It was a
 * `Map<number, Pending>`: with ids cycling through 1..65535, each poll's inserts and deletes made
 * the map rehash into new backing stores, the largest source of promoted garbage of a gateway
 * polling 100,000 registers. Here an id is only given out when its slot is free, so lookups are
 * one array read and nothing is allocated per request.
 */
class InFlightTable {
  readonly #slots: (Pending | undefined)[];
  readonly #mask: number;
  size = 0;

  constructor(maxInFlight: number) {
    let n = 1;
    while (n < maxInFlight) n *= 2;
    this.#slots = new Array<Pending | undefined>(n).fill(undefined);
    this.#mask = n - 1;
  }

  get(tid: number): Pending | undefined {
    const p = this.#slots[tid & this.#mask];
    return p !== undefined && p.tid === tid ? p : undefined;
  }

  /** Whether transaction id `tid` may be given out: its slot holds no request. */
  free(tid: number): boolean {
    return this.#slots[tid & this.#mask] === undefined;
  }

  /** Adds `p` under `p.tid`, whose slot must be {@link free}. */
  add(p: Pending): void {
    this.#slots[p.tid & this.#mask] = p;
    this.size++;
  }

  delete(tid: number): void {
    const i = tid & this.#mask;
    const p = this.#slots[i];
    if (p !== undefined && p.tid === tid) {
      this.#slots[i] = undefined;
      this.size--;
    }
  }

  /** Any request in flight (RTU has at most one). */
  first(): Pending | undefined {
    if (this.size === 0) return undefined;
    for (const p of this.#slots) if (p !== undefined) return p;
    return undefined;
  }

  /** Empties the table and returns what it held. */
  drain(): Pending[] {
    const out: Pending[] = [];
    if (this.size === 0) return out;
    for (let i = 0; i < this.#slots.length; i++) {
      const p = this.#slots[i];
      if (p !== undefined) {
        out.push(p);
        this.#slots[i] = undefined;
      }
    }
    this.size = 0;
    return out;
  }
}

function onRequestTimeout(p: Pending): void {
  p.timer = undefined;
  p.client._timeout(p);
}

function onBroadcastDone(p: Pending): void {
  p.timer = undefined;
  p.client._broadcastDone(p);
}

/** The response a broadcast write would have had: its echo (MB App Protocol §6.5, §6.6, §6.11, §6.12, §6.16). */
function broadcastEcho(req: ModbusRequest): ModbusNormalResponse {
  switch (req.fc) {
    case 5:
    case 6:
      return { fc: req.fc, address: req.address, value: req.value } as ModbusNormalResponse;
    case 15:
      return { fc: 15, address: req.address, quantity: req.values.length };
    case 16:
      return { fc: 16, address: req.address, quantity: req.data.length >> 1 };
    case 22:
      return { fc: 22, address: req.address, andMask: req.andMask, orMask: req.orMask };
    default:
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `FC ${req.fc} cannot be broadcast: only writes go to unit 0`);
  }
}

function describeRequest(req: ModbusRequest): string {
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      return `FC ${req.fc} read of ${req.quantity} at ${req.address}`;
    case 5:
    case 6:
    case 22:
      return `FC ${req.fc} write at ${req.address}`;
    case 15:
      return `FC 15 write of ${req.values.length} coils at ${req.address}`;
    case 16:
      return `FC 16 write of ${req.data.length >> 1} registers at ${req.address}`;
    case 23:
      return `FC 23 read/write at ${req.readAddress}/${req.writeAddress}`;
    case 43:
      return 'FC 43/14 read device identification';
  }
}

function requestAddress(req: ModbusRequest): number | undefined {
  return req.fc === 23 ? req.readAddress : req.fc === 43 ? undefined : req.address;
}

/**
 * The shared machinery of the three Modbus clients: queueing, pipelining, timeouts and matching.
 * Use {@link ModbusTcpClient}, {@link ModbusRtuClient} or {@link ModbusRtuOverTcpClient}.
 * @example const client: ModbusClient = new ModbusTcpClient({ host: '127.0.0.1', port: 5020 }); await client.readCoils(0, 8);
 */
export abstract class ModbusClient extends EventEmitter<ModbusClientEvents> {
  readonly name: string;
  readonly unitId: number;
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  /** RTU: how long a broadcast (unit 0) write waits before the next request (default 100 ms). */
  readonly turnaroundMs: number;
  protected readonly maxFrameSize: number | undefined;
  #stream: Duplex | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;
  readonly #backoff: Backoff | undefined;
  #nextAttemptAt = 0;
  // Requests waiting for a slot, as a queue with a moving head (no Array#shift on the hot path).
  #queue: (Pending | undefined)[] = [];
  #head = 0;
  #inFlight: InFlightTable;
  #nextTid = 0;
  // Transaction ids of requests that timed out: a late answer to one of them is dropped quietly.
  readonly #expired: number[] = [];
  readonly #watched = new Map<AbortSignal, Set<Pending>>();
  #pumpScheduled = false;
  readonly #scheduledPump = () => {
    this.#pumpScheduled = false;
    this.#pump();
  };
  readonly #onAnyAbort = (ev: Event) => this.#signalAborted(ev.target as AbortSignal);
  readonly #tcpHandler = { frame: (tid: number, unit: number, pdu: Uint8Array) => this.#onFrame(tid, unit, pdu), error: (e: BifrostError) => this.#onStreamError(e) };
  readonly #rtuHandler = { frame: (unit: number, pdu: Uint8Array) => this.#onFrame(-1, unit, pdu), error: (e: BifrostError) => this.#onRtuError(e) };
  #assembler: MbapFrameAssembler | RtuFrameAssembler | undefined;
  readonly #onData = (chunk: Buffer) => this.#data(chunk);
  readonly #onClose = () => this.#transportClosed();
  readonly #onError = (err: Error) => {
    this.#lastError = toBifrostError(err, 'BIFROST_CONNECTION_LOST', { device: this.name });
  };
  #lastError: BifrostError | undefined;
  #lastDataAt = 0;
  #silenceTimer: NodeJS.Timeout | undefined;
  readonly #afterSilence = () => {
    this.#silenceTimer = undefined;
    this.#pump();
  };

  protected constructor(name: string, options: ModbusClientOptions, rtu: boolean) {
    super();
    this.name = options.name ?? name;
    this.unitId = options.unitId ?? 1;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxInFlight = rtu ? 1 : (options.maxInFlight ?? 1);
    this.maxFrameSize = options.maxFrameSize;
    this.turnaroundMs = options.turnaroundMs ?? 100;
    this.#rtu = rtu;
    if (!Number.isInteger(this.unitId) || this.unitId < 0 || this.unitId > 255) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `unit id ${this.unitId} is not in 0..255`);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1 || this.maxInFlight > 1024) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `maxInFlight ${this.maxInFlight} is not in 1..1024`);
    this.#inFlight = new InFlightTable(this.maxInFlight);
    const reconnect = options.reconnect ?? true;
    if (reconnect !== false) this.#backoff = new Backoff({ baseMs: 100, maxMs: 10_000, ...(reconnect === true ? {} : reconnect) });
  }

  readonly #rtu: boolean;

  /** Opens the transport. */
  protected abstract open(signal?: AbortSignal): Promise<Duplex>;

  /** The RTU silent interval in ms for this line, or 0 on TCP. */
  protected silentIntervalMs(): number {
    return 0;
  }

  /** True while the transport is open. */
  get isOpen(): boolean {
    return this.#stream !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Opens the connection (joins an open in progress).
   * @example await client.connect()
   */
  async connect(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name });
    if (this.#stream) return;
    this.#connecting ??= this.#open(signal).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(signal?: AbortSignal): Promise<void> {
    let stream: Duplex;
    try {
      stream = await this.open(signal);
    } catch (e) {
      if (this.#backoff) this.#nextAttemptAt = Date.now() + this.#backoff.next();
      throw connectError(e, { device: this.name });
    }
    if (this.#closed) {
      this.closeTransport(stream);
      throw new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name });
    }
    this.#backoff?.reset();
    this.#nextAttemptAt = 0;
    this.#lastError = undefined;
    this.#assembler = this.#rtu
      ? new RtuFrameAssembler(this.#rtuHandler, 'response', { maxFrameSize: this.maxFrameSize ?? Limits.maxRtuAdu })
      : new MbapFrameAssembler(this.#tcpHandler, { maxFrameSize: this.maxFrameSize ?? Limits.maxTcpAdu });
    stream.on('data', this.#onData);
    stream.on('close', this.#onClose);
    stream.on('error', this.#onError);
    this.#stream = stream;
    this.#pump();
  }

  /**
   * Closes the connection and fails every pending request with BIFROST_CLOSED. Idempotent.
   * @example await client.close()
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#silenceTimer) clearTimeout(this.#silenceTimer);
    await this.#connecting?.catch(() => {});
    this.#failAll(new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name }));
    const s = this.#stream;
    if (s) {
      await new Promise<void>((resolve) => {
        // A port that fails to close reports `error`, not `close`: do not wait for it forever.
        const timer = setTimeout(resolve, 2000);
        timer.unref();
        s.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.closeTransport(s);
      });
    }
  }

  /** Ends the transport; it must emit `close` when done. A serial port overrides this (destroying its stream does not release the port). */
  protected closeTransport(stream: Duplex): void {
    stream.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Drops the connection (as if the peer had closed it); the next request reconnects.
   * @example client.destroy()
   */
  destroy(err?: BifrostError): void {
    const s = this.#stream;
    if (!s) return;
    if (err) this.#lastError = err;
    // Detach now, so a request made before the socket reports `close` goes to a new connection.
    this.#transportClosed();
    this.closeTransport(s);
  }

  #transportClosed(): void {
    const s = this.#stream;
    if (!s) return;
    s.off('data', this.#onData);
    s.off('close', this.#onClose);
    this.#stream = undefined;
    const err = this.#closed
      ? new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name })
      : new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} closed${this.#lastError ? `: ${this.#lastError.message}` : ''}`, {
          device: this.name,
          cause: this.#lastError,
        });
    if (this.#closed || !this.#backoff) this.#failAll(err);
    else {
      // Only what was on the wire is lost; requests still queued go out on the next connection.
      for (const p of this.#inFlight.drain()) this.#settle(p, err);
      if (this.#head < this.#queue.length) void this.#reconnectAndPump(undefined);
    }
    this.emit('close', this.#closed ? undefined : err);
  }

  #failAll(err: BifrostError): void {
    for (const p of this.#inFlight.drain()) this.#settle(p, err);
    for (let i = this.#head; i < this.#queue.length; i++) {
      const p = this.#queue[i];
      if (p) this.#settle(p, err);
    }
    this.#queue = [];
    this.#head = 0;
  }

  /**
   * Sends one request and resolves with its response; an exception response rejects with the
   * exception's error code, `status` and `statusName`.
   * @example const res = await client.request({ fc: 3, address: 0, quantity: 2 })
   */
  request(req: ModbusRequest, options: RequestOptions = {}): Promise<ModbusNormalResponse> {
    try {
      validateRequest(req);
    } catch (e) {
      return Promise.reject(e);
    }
    const unitId = options.unitId ?? this.unitId;
    if (unitId === 0 && this.#rtu) {
      try {
        broadcastEcho(req);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (this.#closed) return Promise.reject(new BifrostError('BIFROST_CLOSED', `${this.name} is closed`, { device: this.name }));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new BifrostError('BIFROST_ABORTED', `${describeRequest(req)} on ${this.name} aborted`, { device: this.name, cause: signal.reason }));
    const pduLength = requestLength(req);
    const adu = this.#rtu ? Buffer.allocUnsafe(pduLength + 3) : Buffer.allocUnsafe(pduLength + 7);
    if (this.#rtu) {
      adu[0] = unitId;
      writeRequest(req, adu, 1);
      writeCrc(adu, pduLength + 1);
    } else {
      writeRequest(req, adu, 7);
    }
    const p: Pending = {
      client: this,
      tid: -1,
      unitId,
      req,
      adu,
      timeoutMs: options.timeoutMs ?? this.timeoutMs,
      resolve: undefined as unknown as Pending['resolve'],
      reject: undefined as unknown as Pending['reject'],
      timer: undefined,
      signal,
    };
    const promise = new Promise<ModbusNormalResponse>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    if (signal) {
      // One abort listener per signal, however many requests share it (a batch read shares one).
      let set = this.#watched.get(signal);
      if (!set) {
        set = new Set();
        this.#watched.set(signal, set);
        signal.addEventListener('abort', this.#onAnyAbort, { once: true });
      }
      set.add(p);
    }
    this.#queue.push(p);
    if (this.#stream) this.#schedulePump();
    else void this.#reconnectAndPump(signal);
    return promise;
  }

  async #reconnectAndPump(signal: AbortSignal | undefined): Promise<void> {
    try {
      if (!this.#connecting && this.#backoff) {
        const wait = this.#nextAttemptAt - Date.now();
        if (wait > 0) await sleep(wait, signal);
      } else if (!this.#connecting && !this.#backoff && this.#everOpened) {
        throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name, cause: this.#lastError });
      }
      await this.connect(signal);
    } catch (e) {
      const err = toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: this.name });
      // Fail what is still queued: with no connection nothing can be sent.
      if (!this.#stream) {
        for (let i = this.#head; i < this.#queue.length; i++) {
          const p = this.#queue[i];
          if (p) this.#settle(p, err);
        }
        this.#queue = [];
        this.#head = 0;
      }
      return;
    }
    this.#pump();
  }

  /**
   * Sends on the next microtask, so requests issued together (a batch read), and the requests
   * that refill the slots freed by one received chunk, leave together in one write.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#scheduledPump);
  }

  get #everOpened(): boolean {
    return this.#assembler !== undefined;
  }

  /** Sends queued requests while slots are free. */
  #pump(): void {
    const stream = this.#stream;
    if (!stream) return;
    if (this.#rtu && this.#inFlight.size === 0 && this.#head < this.#queue.length) {
      // Serial Line §2.5.1.1: frames are separated by at least t3.5 of silence on the line.
      const silent = this.silentIntervalMs();
      if (silent > 0) {
        const wait = this.#lastDataAt + silent - performance.now();
        if (wait > 0) {
          if (!this.#silenceTimer) this.#silenceTimer = setTimeout(this.#afterSilence, Math.ceil(wait));
          return;
        }
      }
    }
    // Requests sent in one go leave in one TCP segment.
    const batch = this.maxInFlight > 1 && this.#queue.length - this.#head > 1;
    if (batch) stream.cork();
    while (this.#inFlight.size < this.maxInFlight && this.#head < this.#queue.length) {
      const p = this.#queue[this.#head] as Pending | undefined;
      this.#queue[this.#head++] = undefined;
      if (!p) continue;
      if (this.#rtu) {
        p.tid = 0;
        // The answer starts after the request: bytes still buffered are noise from before.
        this.#assembler?.reset();
      } else {
        // Transaction ids cycle through 1..65535, skipping ids whose slot is taken (one in flight).
        do this.#nextTid = this.#nextTid >= 0xffff ? 1 : this.#nextTid + 1;
        while (!this.#inFlight.free(this.#nextTid));
        p.tid = this.#nextTid;
        writeMbapHeader(p.adu, p.tid, p.unitId, p.adu.length - 7);
      }
      this.#inFlight.add(p);
      // Serial Line §2.1: a broadcast (unit 0) write is answered by no one; the master waits a
      // turnaround delay so the units can execute it, then goes on.
      p.timer = p.unitId === 0 && this.#rtu ? setTimeout(onBroadcastDone, this.turnaroundMs, p) : setTimeout(onRequestTimeout, p.timeoutMs, p);
      if (requestChannel.hasSubscribers) requestChannel.publish({ device: this.name, unitId: p.unitId, fc: p.req.fc, transactionId: p.tid, request: p.req });
      stream.write(p.adu);
    }
    if (batch) stream.uncork();
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #settle(p: Pending, err: BifrostError | undefined, res?: ModbusNormalResponse): void {
    if (p.timer) {
      clearTimeout(p.timer);
      p.timer = undefined;
    }
    const signal = p.signal;
    if (signal) {
      p.signal = undefined;
      const set = this.#watched.get(signal);
      if (set?.delete(p) && set.size === 0) {
        this.#watched.delete(signal);
        signal.removeEventListener('abort', this.#onAnyAbort);
      }
    }
    if (err) p.reject(err);
    else p.resolve(res as ModbusNormalResponse);
  }

  #signalAborted(signal: AbortSignal): void {
    const set = this.#watched.get(signal);
    if (!set) return;
    this.#watched.delete(signal);
    for (const p of set) this.#abort(p, signal);
  }

  #abort(p: Pending, signal: AbortSignal): void {
    p.signal = undefined;
    const err = new BifrostError('BIFROST_ABORTED', `${describeRequest(p.req)} on ${this.name} aborted`, { device: this.name, cause: signal.reason });
    if (this.#inFlight.get(p.tid) === p) {
      this.#inFlight.delete(p.tid);
      this.#remember(p.tid);
      this.#settle(p, err);
      this.#afterLoss();
      this.#pump();
      return;
    }
    const i = this.#queue.indexOf(p, this.#head);
    if (i >= 0) {
      this.#queue[i] = undefined;
      this.#settle(p, err);
    }
  }

  /** Called when the turnaround delay of a broadcast has passed. @internal */
  _broadcastDone(p: Pending): void {
    if (this.#inFlight.get(p.tid) !== p) return;
    this.#inFlight.delete(p.tid);
    this.#settle(p, undefined, broadcastEcho(p.req));
    this.#pump();
  }

  /** Called by the timer of a request. @internal */
  _timeout(p: Pending): void {
    if (this.#inFlight.get(p.tid) !== p) return;
    this.#inFlight.delete(p.tid);
    this.#remember(p.tid);
    const address = requestAddress(p.req);
    this.#settle(
      p,
      new BifrostError('BIFROST_TIMEOUT', `${this.name} did not answer ${describeRequest(p.req)} (unit ${p.unitId}) within ${p.timeoutMs} ms`, {
        device: this.name,
        details: { fc: p.req.fc, unitId: p.unitId, ...(address === undefined ? {} : { address }) },
      }),
    );
    this.#afterLoss();
    this.#pump();
  }

  /**
   * After a lost request, bytes of an unfinished frame cannot be trusted. RTU drops them (a late
   * answer must not be taken for the next one's); on TCP the MBAP stream may be out of step, so
   * the connection is dropped and the next request reconnects.
   */
  #afterLoss(): void {
    const a = this.#assembler;
    if (!a || a.buffered === 0) return;
    if (this.#rtu) a.reset();
    else this.destroy(new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} left an MBAP frame unfinished; reconnecting to resynchronise`, { device: this.name }));
  }

  #remember(tid: number): void {
    if (this.#rtu) return;
    this.#expired.push(tid);
    if (this.#expired.length > 64) this.#expired.shift();
  }

  #data(chunk: Buffer): void {
    const a = this.#assembler;
    if (!a) return;
    if (this.#rtu) {
      const silent = this.silentIntervalMs();
      const now = silent > 0 ? performance.now() : 0;
      // Serial Line §2.5.1.1: a silence of t3.5 ends a frame; bytes of an unfinished one are noise.
      if (silent > 0 && a.buffered > 0 && now - this.#lastDataAt > Math.max(silent, 20)) a.reset();
      this.#lastDataAt = now;
    }
    a.push(chunk);
  }

  #onStreamError(err: BifrostError): void {
    // An MBAP stream that cannot be parsed cannot be resynchronised: drop the connection.
    const e = new BifrostError(err.code, `${this.name}: ${err.message}`, { device: this.name, cause: err });
    this.emit('unmatched', e);
    this.destroy(e);
  }

  #onRtuError(err: BifrostError): void {
    const e = new BifrostError(err.code, `${this.name}: ${err.message}`, { device: this.name, cause: err, ...(err.details ? { details: err.details } : {}) });
    // A corrupt frame on the line is the answer to the request in flight (there is only one).
    const p = this.#inFlight.first();
    if (p) {
      this.#inFlight.delete(p.tid);
      this.#settle(p, this.#withRequest(e, p));
      this.#afterLoss();
      this.#pump();
    } else {
      this.emit('unmatched', e);
    }
  }

  #withRequest(e: BifrostError, p: Pending): BifrostError {
    const address = requestAddress(p.req);
    return new BifrostError(e.code, `${e.message} (${describeRequest(p.req)}, unit ${p.unitId})`, {
      device: this.name,
      cause: e.cause ?? e,
      ...(e.status === undefined ? {} : { status: e.status }),
      ...(e.statusName === undefined ? {} : { statusName: e.statusName }),
      details: { ...e.details, fc: p.req.fc, unitId: p.unitId, ...(address === undefined ? {} : { address }) },
    });
  }

  #onFrame(tid: number, unitId: number, pdu: Uint8Array): void {
    let p: Pending | undefined;
    if (this.#rtu) {
      p = this.#inFlight.get(0);
      if (!p) {
        this.#unmatched(`${this.name} sent an RTU frame from unit ${unitId} while no request was waiting`);
        return;
      }
    } else {
      p = this.#inFlight.get(tid);
      if (!p) {
        if (this.#expired.includes(tid)) return; // the late answer to a request that timed out
        // With one request in flight, an answer with another id belongs to nothing we sent:
        // fail the request now rather than let it time out.
        if (this.#inFlight.size === 1) {
          const only = this.#inFlight.first() as Pending;
          this.#inFlight.delete(only.tid);
          this.#remember(only.tid);
          this.#settle(
            only,
            this.#withRequest(new BifrostError('BIFROST_MODBUS_UNEXPECTED_RESPONSE', `${this.name} answered transaction id ${tid}, but the request has id ${only.tid}`, { device: this.name }), only),
          );
          this.#pump();
          return;
        }
        this.#unmatched(`${this.name} answered transaction id ${tid}, which no request in flight has`);
        return;
      }
    }
    this.#inFlight.delete(p.tid);
    let err: BifrostError | undefined;
    let res: ModbusNormalResponse | undefined;
    if (unitId !== p.unitId) {
      err = new BifrostError('BIFROST_MODBUS_UNEXPECTED_RESPONSE', `${this.name} answered from unit ${unitId}, expected unit ${p.unitId}`, { device: this.name });
    } else {
      try {
        const r = decodeResponse(pdu);
        if (r.fc !== p.req.fc) {
          err = new BifrostError('BIFROST_MODBUS_UNEXPECTED_RESPONSE', `${this.name} answered function code ${r.fc}, expected ${p.req.fc}`, { device: this.name });
        } else if (isException(r)) {
          const name = exceptionName(r.exception);
          err = new BifrostError(exceptionErrorCode(r.exception), `${this.name} answered Modbus exception ${r.exception} ${name}`, {
            device: this.name,
            status: r.exception,
            statusName: name,
          });
        } else {
          const why = mismatch(p.req, r);
          if (why) err = new BifrostError('BIFROST_MODBUS_UNEXPECTED_RESPONSE', `${this.name}: ${why}`, { device: this.name });
          else res = r;
        }
      } catch (e) {
        err = toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name });
      }
    }
    if (err) this.#settle(p, this.#withRequest(err, p));
    else this.#settle(p, undefined, res);
    this.#schedulePump();
  }

  #unmatched(message: string): void {
    if (unmatchedChannel.hasSubscribers) unmatchedChannel.publish({ device: this.name, message });
    if (this.listenerCount('unmatched') > 0) this.emit('unmatched', new BifrostError('BIFROST_MODBUS_UNEXPECTED_RESPONSE', message, { device: this.name }));
  }

  /**
   * FC 3: reads holding registers; resolves with their bytes (two per register, big-endian).
   * @example const bytes = await client.readHoldingRegisters(0, 10)
   */
  async readHoldingRegisters(address: number, quantity: number, options?: RequestOptions): Promise<Uint8Array> {
    const res = await this.request({ fc: 3, address, quantity }, options);
    return (res as { data: Uint8Array }).data;
  }

  /**
   * FC 4: reads input registers; resolves with their bytes.
   * @example const bytes = await client.readInputRegisters(0, 2)
   */
  async readInputRegisters(address: number, quantity: number, options?: RequestOptions): Promise<Uint8Array> {
    const res = await this.request({ fc: 4, address, quantity }, options);
    return (res as { data: Uint8Array }).data;
  }

  /**
   * FC 1: reads coils.
   * @example const [c0, c1] = await client.readCoils(0, 2)
   */
  async readCoils(address: number, quantity: number, options?: RequestOptions): Promise<boolean[]> {
    const res = await this.request({ fc: 1, address, quantity }, options);
    return unpackBits((res as { data: Uint8Array }).data, quantity);
  }

  /**
   * FC 2: reads discrete inputs.
   * @example const bits = await client.readDiscreteInputs(0, 8)
   */
  async readDiscreteInputs(address: number, quantity: number, options?: RequestOptions): Promise<boolean[]> {
    const res = await this.request({ fc: 2, address, quantity }, options);
    return unpackBits((res as { data: Uint8Array }).data, quantity);
  }

  /**
   * FC 5: writes one coil.
   * @example await client.writeSingleCoil(3, true)
   */
  async writeSingleCoil(address: number, value: boolean, options?: RequestOptions): Promise<void> {
    await this.request({ fc: 5, address, value }, options);
  }

  /**
   * FC 6: writes one register.
   * @example await client.writeSingleRegister(10, 1234)
   */
  async writeSingleRegister(address: number, value: number, options?: RequestOptions): Promise<void> {
    await this.request({ fc: 6, address, value }, options);
  }

  /**
   * FC 15: writes consecutive coils.
   * @example await client.writeMultipleCoils(0, [true, false, true])
   */
  async writeMultipleCoils(address: number, values: boolean[], options?: RequestOptions): Promise<void> {
    await this.request({ fc: 15, address, values }, options);
  }

  /**
   * FC 16: writes consecutive registers, given as 16-bit numbers or as their bytes.
   * @example await client.writeMultipleRegisters(10, [0x4248, 0x0000])
   */
  async writeMultipleRegisters(address: number, values: readonly number[] | Uint8Array, options?: RequestOptions): Promise<void> {
    await this.request({ fc: 16, address, data: registersToBytes(values) }, options);
  }

  /**
   * FC 22: mask write register: result = (current AND andMask) OR (orMask AND NOT andMask).
   * @example await client.maskWriteRegister(5, 0xfff7, 0x0008) // set bit 3
   */
  async maskWriteRegister(address: number, andMask: number, orMask: number, options?: RequestOptions): Promise<void> {
    await this.request({ fc: 22, address, andMask, orMask }, options);
  }

  /**
   * FC 23: writes registers then reads registers in one transaction.
   * @example const bytes = await client.readWriteMultipleRegisters(0, 2, 10, [1, 2])
   */
  async readWriteMultipleRegisters(readAddress: number, readQuantity: number, writeAddress: number, values: readonly number[] | Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    const res = await this.request({ fc: 23, readAddress, readQuantity, writeAddress, data: registersToBytes(values) }, options);
    return (res as { data: Uint8Array }).data;
  }

  /**
   * FC 43/14: reads device identification objects, following "more follows" until complete.
   * `readDeviceIdCode` 1 basic, 2 regular, 3 extended.
   * @example const objects = await client.readDeviceIdentification(2) // Map { 0 => 'Bifrost', … }
   */
  async readDeviceIdentification(readDeviceIdCode = 1, options?: RequestOptions): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    let objectId = 0;
    for (let i = 0; i < 64; i++) {
      const res = (await this.request({ fc: 43, meiType: 14, readDeviceIdCode, objectId }, options)) as ReadDeviceIdentificationResponse;
      for (const o of res.objects) out.set(o.id, o.value);
      if (!res.moreFollows || res.nextObjectId <= objectId) break;
      objectId = res.nextObjectId;
    }
    return out;
  }
}

/**
 * Registers given as numbers or bytes, as bytes.
 * @example registersToBytes([0x4248, 1]) // <42 48 00 01>
 */
export function registersToBytes(values: readonly number[] | Uint8Array): Uint8Array {
  if (values instanceof Uint8Array) return values;
  const out = Buffer.allocUnsafe(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `register value ${v} is not in 0..65535`);
    out.writeUInt16BE(v, i * 2);
  }
  return out;
}

/** Why a well-formed response does not answer its request, or undefined when it does. */
function mismatch(req: ModbusRequest, res: ModbusNormalResponse): string | undefined {
  switch (req.fc) {
    case 1:
    case 2: {
      const want = (req.quantity + 7) >> 3;
      const got = (res as { data: Uint8Array }).data.length;
      return got === want ? undefined : `FC ${req.fc} response has ${got} data bytes for ${req.quantity} bits, expected ${want}`;
    }
    case 3:
    case 4:
    case 23: {
      const q = req.fc === 23 ? req.readQuantity : req.quantity;
      const got = (res as { data: Uint8Array }).data.length;
      return got === q * 2 ? undefined : `FC ${req.fc} response has ${got} data bytes for ${q} registers, expected ${q * 2}`;
    }
    case 5:
    case 6: {
      const r = res as { address: number; value: number | boolean };
      return r.address === req.address && r.value === req.value ? undefined : `FC ${req.fc} response does not echo the request`;
    }
    case 15:
    case 16: {
      const r = res as { address: number; quantity: number };
      const q = req.fc === 15 ? req.values.length : req.data.length >> 1;
      return r.address === req.address && r.quantity === q ? undefined : `FC ${req.fc} response confirms ${r.quantity} at ${r.address}, expected ${q} at ${req.address}`;
    }
    case 22: {
      const r = res as { address: number; andMask: number; orMask: number };
      return r.address === req.address && r.andMask === req.andMask && r.orMask === req.orMask ? undefined : 'FC 22 response does not echo the request';
    }
    case 43:
      return undefined;
  }
}

/** Options of {@link ModbusTcpClient} and {@link ModbusRtuOverTcpClient}. */
export interface ModbusTcpClientOptions extends ModbusClientOptions {
  host: string;
  port?: number;
}

/**
 * A Modbus TCP client (MBAP framing) with optional pipelining.
 * @example
 * await using client = new ModbusTcpClient({ host: '127.0.0.1', port: 5020, maxInFlight: 4 });
 * await client.connect();
 * const bytes = await client.readHoldingRegisters(0, 2);
 */
export class ModbusTcpClient extends ModbusClient {
  readonly host: string;
  readonly port: number;

  constructor(options: ModbusTcpClientOptions) {
    super(`${options.host}:${options.port ?? 502}`, options, false);
    this.host = options.host;
    this.port = options.port ?? 502;
  }

  protected open(signal?: AbortSignal): Promise<Duplex> {
    return openTcp(this.host, this.port, signal, this.name);
  }
}

/**
 * RTU frames over a TCP stream (serial-to-Ethernet converters in transparent mode).
 * @example const client = new ModbusRtuOverTcpClient({ host: '10.0.0.9', port: 4001, unitId: 3 })
 */
export class ModbusRtuOverTcpClient extends ModbusClient {
  readonly host: string;
  readonly port: number;

  constructor(options: ModbusTcpClientOptions) {
    super(`${options.host}:${options.port ?? 502}`, options, true);
    this.host = options.host;
    this.port = options.port ?? 502;
  }

  protected open(signal?: AbortSignal): Promise<Duplex> {
    return openTcp(this.host, this.port, signal, this.name);
  }
}

/** Options of {@link ModbusRtuClient}. */
export interface ModbusRtuClientOptions extends ModbusClientOptions, SerialOptions {}

/**
 * A Modbus RTU client on a serial port (needs the optional `serialport` package).
 * @example const client = new ModbusRtuClient({ path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even', unitId: 1 })
 */
export class ModbusRtuClient extends ModbusClient {
  readonly serial: SerialOptions;

  constructor(options: ModbusRtuClientOptions) {
    super(options.path, options, true);
    this.serial = { path: options.path, baudRate: options.baudRate ?? 19200, parity: options.parity ?? 'even' };
    if (options.stopBits !== undefined) this.serial.stopBits = options.stopBits;
    if (options.dataBits !== undefined) this.serial.dataBits = options.dataBits;
  }

  protected override silentIntervalMs(): number {
    return rtuSilentIntervalMs(this.serial.baudRate ?? 19200);
  }

  protected open(signal?: AbortSignal): Promise<Duplex> {
    return openSerial(this.serial, signal);
  }

  protected override closeTransport(stream: Duplex): void {
    const port = stream as SerialStream;
    if (port.isOpen) port.close();
    else stream.destroy();
  }
}
