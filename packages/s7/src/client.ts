/**
 * @module
 * `S7Client`: an S7comm client over ISO-on-TCP. It connects by rack/slot or by TSAPs (COTP CR/CC,
 * ISO 8073), negotiates the PDU length and the number of parallel jobs (setup communication),
 * then runs read/write jobs, up to the negotiated number in flight, matched to their answers by
 * PDU reference. Reads go through the planner, which packs many variables into each job.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { BifrostError, channel, connectError, type DeviceIdentity, type OperationOptions, toBifrostError, type Value, type ValueColumns, withTimeout } from '@bifrost/core';
import { parseS7Address, type S7Address } from './address.js';
import { type ConnectionType, decodeIsoPacket, encodeIsoPacket, remoteTsapFor } from './codec/iso-on-tcp.js';
import { headerError, itemError } from './codec/return-codes.js';
import { DATA_TRANSPORT_SIZE, decodeS7Pdu, decodeSzlList, encodedSize, encodeS7Packet, type S7DataItem, type S7Pdu, type S7VarSpec, type SzlList, TRANSPORT_SIZE } from './codec/s7comm.js';
import { TpktAssembler } from './framing.js';
import { planReads, type ReadPlan } from './planner.js';
import { decodeS7Value, encodeS7Value } from './values.js';

/** Options of {@link S7Client}. */
export interface S7ClientOptions {
  host: string;
  /** ISO-on-TCP port, 102 by default. */
  port?: number;
  /** Rack of the CPU (default 0). */
  rack?: number;
  /** Slot of the CPU (default 1; S7-300: 2; S7-1200/1500: 0 or 1). */
  slot?: number;
  /** Connection type in the remote TSAP: `pg` (default), `op` or `basic`. */
  connectionType?: ConnectionType;
  /** Local (calling) TSAP, default 0x0100. */
  localTsap?: number;
  /** Remote (called) TSAP; overrides rack/slot (LOGO!: 0x0200). */
  remoteTsap?: number;
  /** PDU length to ask for (default 960; the PLC may answer less). */
  pduLength?: number;
  /** Parallel jobs to ask for (default 8; the PLC may answer less). */
  maxAmqCalling?: number;
  /** Per-request timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Items per read job (default 20, the limit of snap7 and of many CPUs). */
  maxItemsPerJob?: number;
  /** Unused bytes the planner may read to merge two variables into one item; `auto` (default) picks the distance that needs the fewest jobs. */
  maxGap?: number | 'auto';
  /** Largest TPKT packet accepted (default 8192). */
  maxPacketSize?: number;
  /** A name for error messages (default host:port). */
  name?: string;
}

/** The result of one variable of {@link S7Client.readMany}. */
export interface S7ReadResult {
  address: string;
  value: Value | null;
  error?: BifrostError;
}

/** Item return codes that say the PLC will refuse this variable again (S7 data item return codes 0x05, 0x06, 0x07, 0x0A). */
const REFUSED_ITEM: ReadonlySet<number> = new Set([0x05, 0x06, 0x07, 0x0a]);

/** Where a read puts each variable's outcome: result objects for `readMany`, columns for `readInto`. */
interface Put {
  value(i: number, address: string, value: Value): void;
  error(i: number, address: string, error: BifrostError): void;
}

interface Pending {
  resolve: (pdu: S7Pdu) => void;
  reject: (err: BifrostError) => void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A PDU to send; the client fills in the PDU reference. */
export type S7Job = DistributiveOmit<S7Pdu, 'pduRef'>;

const requests = channel('s7', 'request');

const PARSE_CACHE_MAX = 10_000;
const PLAN_CACHE_MAX = 32;

/**
 * An S7comm client.
 * @example
 * const plc = new S7Client({ host: '10.0.0.5', rack: 0, slot: 1 });
 * await plc.connect();
 * const [t] = await plc.readMany(['DB1.DBD0:REAL']);
 * await plc.close();
 */
export class S7Client extends EventEmitter<{ close: [BifrostError | undefined] }> {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly localTsap: number;
  readonly remoteTsap: number;
  readonly #requestedPdu: number;
  readonly #requestedAmq: number;
  readonly #timeoutMs: number;
  readonly #maxItems: number;
  readonly #maxGap: number | 'auto';
  readonly #plans = new Map<string, { texts: string[]; plan: ReadPlan }>();
  readonly #maxPacket: number;
  #socket: Socket | undefined;
  #pduLength = 0;
  #parallel = 1;
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #pending = new Map<number, Pending>();
  #nextRef = 1;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #connecting: Promise<void> | undefined;
  /** True once setup communication has succeeded on the current socket. */
  #ready = false;
  #handshake: ((pdu: ReturnType<typeof decodeIsoPacket>) => void) | undefined;
  readonly #cache = new Map<string, S7Address>();
  /**
   * Variables the PLC refuses (address out of range, object does not exist, type not supported):
   * bad with the error of their first refusal, not asked again until `retryAt` (30 s, doubling to 10
   * minutes). Without it, every poll read a block in which one of them lay, saw it fail, and read
   * each of its variables alone again, making a new error per variable per poll.
   */
  readonly #refused = new Map<string, { error: BifrostError; retryAt: number; delayMs: number }>();

  constructor(options: S7ClientOptions) {
    super();
    this.host = options.host;
    this.port = options.port ?? 102;
    this.name = options.name ?? `${this.host}:${this.port}`;
    this.localTsap = options.localTsap ?? 0x0100;
    this.remoteTsap = options.remoteTsap ?? remoteTsapFor(options.rack ?? 0, options.slot ?? 1, options.connectionType ?? 'pg');
    this.#requestedPdu = options.pduLength ?? 960;
    this.#requestedAmq = options.maxAmqCalling ?? 8;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#maxItems = options.maxItemsPerJob ?? 20;
    this.#maxGap = options.maxGap ?? 'auto';
    this.#maxPacket = options.maxPacketSize ?? 8192;
    if (!(this.#requestedPdu >= 240 && this.#requestedPdu <= 0xffff)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `PDU length ${this.#requestedPdu} is not 240…65535`);
    if (!(this.#maxItems >= 1 && this.#maxItems <= 255)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `items per job ${this.#maxItems} is not 1…255`);
  }

  /** The negotiated PDU length (0 before connecting). */
  get pduLength(): number {
    return this.#pduLength;
  }

  /** The negotiated number of jobs in flight. */
  get parallelJobs(): number {
    return this.#parallel;
  }

  /** True while connected. */
  get connected(): boolean {
    return this.#socket !== undefined && this.#ready;
  }

  /**
   * Opens TCP, the COTP connection and the S7 communication. A refusal of the TSAPs is
   * BIFROST_S7_CONNECTION_REJECTED with a rack/slot hint.
   */
  async connect(options: OperationOptions = {}): Promise<void> {
    if (this.#connecting) return this.#connecting;
    if (this.connected) return;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs * 2;
    const what = `connect to S7 ${this.name}`;
    this.#connecting = withTimeout((signal) => this.#open(signal), { timeoutMs, what, ...(options.signal ? { signal: options.signal } : {}) })
      .catch((e: unknown) => {
        this.#teardown(undefined, false);
        throw connectError(e, { device: this.name });
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  async #open(signal: AbortSignal): Promise<void> {
    const asm = new TpktAssembler(this.#maxPacket);
    // Reads land in one reused buffer (`onread`) instead of a new Buffer per read: the
    // assembler copies every packet out, and a 1,000-variable read takes dozens of reads.
    const readBuffer = Buffer.allocUnsafe(Math.max(this.#maxPacket, 16_384));
    const onread = {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        try {
          for (const packet of asm.push(buf.subarray(0, n))) this.#onPacket(packet);
        } catch (e) {
          this.#teardown(toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name }), true);
        }
        return true;
      },
    };
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: this.host, port: this.port, noDelay: true, onread });
      const onAbort = () => s.destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      s.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    this.#socket = socket;
    let handshakeDone = false;
    const closedDuringHandshake = new Promise<never>((_, reject) => {
      socket.once('close', () => {
        if (!handshakeDone)
          reject(
            new BifrostError('BIFROST_S7_CONNECTION_REJECTED', `${this.name} closed the connection during the ISO/S7 handshake (remote TSAP 0x${this.remoteTsap.toString(16).padStart(4, '0')})`, {
              device: this.name,
            }),
          );
      });
    });
    closedDuringHandshake.catch(() => {});
    socket.on('error', () => {});
    socket.on('close', () => this.#teardown(new BifrostError('BIFROST_CONNECTION_LOST', `connection to S7 ${this.name} closed`, { device: this.name }), true));

    const cc = new Promise<ReturnType<typeof decodeIsoPacket>>((resolve) => {
      this.#handshake = resolve;
    });
    // ISO 8073 §13.3: class 0 CR with TPDU size 1024 and the two TSAPs (snap7 s7_isotcp.cpp sends the same).
    socket.write(encodeIsoPacket({ type: 'CR', dstRef: 0, srcRef: 1, classOption: 0, tpduSize: 1024, srcTsap: this.localTsap, dstTsap: this.remoteTsap }));
    const answer = await Promise.race([cc, closedDuringHandshake]);
    this.#handshake = undefined;
    if (answer.type !== 'CC') {
      throw new BifrostError('BIFROST_S7_CONNECTION_REJECTED', `${this.name} refused the ISO connection to TSAP 0x${this.remoteTsap.toString(16).padStart(4, '0')} (COTP ${answer.type})`, {
        device: this.name,
        status: answer.type === 'DR' ? answer.reason : answer.type,
      });
    }
    this.#pduLength = 0xffff; // Until negotiated: the setup job itself is small.
    const setup = await Promise.race([
      this.request({ kind: 'setup-request', maxAmqCalling: this.#requestedAmq, maxAmqCalled: this.#requestedAmq, pduLength: this.#requestedPdu }, { signal }),
      closedDuringHandshake,
    ]);
    if (setup.kind === 'ack' || (setup.kind === 'setup-response' && (setup.errorClass !== 0 || setup.errorCode !== 0))) {
      throw headerError((setup as { errorClass: number }).errorClass, (setup as { errorCode: number }).errorCode, { device: this.name });
    }
    if (setup.kind !== 'setup-response') throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} answered setup communication with ${setup.kind}`, { device: this.name });
    if (setup.pduLength < 64) throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} negotiated an unusable PDU length ${setup.pduLength}`, { device: this.name });
    this.#pduLength = Math.min(setup.pduLength, this.#requestedPdu, this.#maxPacket - 7);
    this.#parallel = Math.max(1, Math.min(setup.maxAmqCalling || 1, this.#requestedAmq));
    handshakeDone = true;
    this.#ready = true;
  }

  #onPacket(packet: Uint8Array): void {
    const tpdu = decodeIsoPacket(packet);
    if (tpdu.type !== 'DT') {
      if (this.#handshake) this.#handshake(tpdu);
      else if (tpdu.type === 'DR')
        this.#teardown(new BifrostError('BIFROST_CONNECTION_LOST', `${this.name} disconnected (COTP DR reason ${tpdu.reason})`, { device: this.name, status: tpdu.reason }), true);
      return;
    }
    // ISO 8073 §13.7: a TSDU longer than the TPDU size comes in several DTs, the last with EOT.
    let payload = tpdu.payload;
    if (!tpdu.eot || this.#partial.length > 0) {
      this.#partial.push(payload);
      this.#partialBytes += payload.length;
      if (this.#partialBytes > this.#maxPacket) throw new BifrostError('BIFROST_FRAME_TOO_LARGE', `${this.name} sent a fragmented S7 PDU over ${this.#maxPacket} bytes`, { device: this.name });
      if (!tpdu.eot) return;
      payload = Buffer.concat(this.#partial);
      this.#partial = [];
      this.#partialBytes = 0;
    }
    const pdu = decodeS7Pdu(payload);
    const p = this.#pending.get(pdu.pduRef);
    if (!p) return; // Late answer to a job that timed out.
    this.#pending.delete(pdu.pduRef);
    p.resolve(pdu);
  }

  #teardown(err: BifrostError | undefined, emit: boolean): void {
    const s = this.#socket;
    if (!s) return;
    this.#socket = undefined;
    this.#ready = false;
    this.#pduLength = 0;
    this.#partial = [];
    this.#partialBytes = 0;
    s.destroy();
    const reason = err ?? new BifrostError('BIFROST_CLOSED', `S7 client ${this.name} is closed`, { device: this.name });
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    if (emit) this.emit('close', err);
  }

  async #acquire(signal: AbortSignal | undefined, timeoutMs: number, what: string): Promise<void> {
    if (this.#inFlight < this.#parallel) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
      };
      const grant = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        leave();
        reject(toBifrostError(signal?.reason, 'BIFROST_ABORTED'));
      };
      const timer = setTimeout(() => {
        leave();
        reject(new BifrostError('BIFROST_TIMEOUT', `${what} timed out after ${timeoutMs} ms waiting for a free job slot`, { device: this.name }));
      }, timeoutMs);
      this.#waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }

  /**
   * Sends one job and waits for its answer (low level: header errors are returned, not thrown).
   * @example const answer = await plc.request({ kind: 'read-request', items: [spec] })
   */
  async request(job: S7Job, options: OperationOptions = {}): Promise<S7Pdu> {
    // The hot path: one timer and one pending entry per job, no AbortController (core's
    // withTimeout would add one per job; a 1,000-variable read runs dozens of jobs).
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const signal = options.signal;
    if (signal?.aborted) throw toBifrostError(signal.reason, 'BIFROST_ABORTED');
    const what = `S7 ${job.kind} on ${this.name}`;
    const started = Date.now();
    await this.#acquire(signal, timeoutMs, what);
    try {
      const socket = this.#socket;
      if (!socket) throw new BifrostError('BIFROST_NOT_CONNECTED', `S7 client ${this.name} is not connected`, { device: this.name });
      const pduRef = this.#nextRef;
      this.#nextRef = this.#nextRef >= 0xffff ? 1 : this.#nextRef + 1;
      const pdu = { ...job, pduRef } as S7Pdu;
      const size = encodedSize(pdu);
      if (size > this.#pduLength)
        throw new BifrostError('BIFROST_S7_PDU_TOO_LARGE', `S7 job of ${size} bytes exceeds the negotiated PDU length ${this.#pduLength} of ${this.name}`, { device: this.name });
      if (requests.hasSubscribers) requests.publish({ device: this.name, kind: pdu.kind, pduRef, size });
      const packet = encodeS7Packet(pdu);
      return await new Promise<S7Pdu>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.#pending.delete(pduRef);
        };
        const onAbort = () => {
          done();
          reject(toBifrostError(signal?.reason, 'BIFROST_ABORTED'));
        };
        const timer = setTimeout(
          () => {
            done();
            reject(new BifrostError('BIFROST_TIMEOUT', `${what} timed out after ${timeoutMs} ms`, { device: this.name }));
          },
          Math.max(1, timeoutMs - (Date.now() - started)),
        );
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#pending.set(pduRef, {
          resolve: (v) => {
            done();
            resolve(v);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        });
        // One write per job: coalescing jobs with cork() made snap7's server answer far slower (bench/s7).
        socket.write(packet);
      });
    } finally {
      this.#release();
    }
  }

  #parse(address: string): S7Address {
    let a = this.#cache.get(address);
    if (a) return a;
    a = parseS7Address(address);
    if (this.#cache.size >= PARSE_CACHE_MAX) this.#cache.clear();
    this.#cache.set(address, a);
    return a;
  }

  /**
   * Reads raw variables in one job: one data item per spec. Header errors throw.
   * @example const [item] = await plc.readVars([{ transportSize: 2, count: 4, dbNumber: 1, area: 0x84, byteOffset: 0, bitOffset: 0 }])
   */
  async readVars(items: S7VarSpec[], options: OperationOptions = {}): Promise<S7DataItem[]> {
    const answer = await this.request({ kind: 'read-request', items }, options);
    if (answer.kind === 'ack' || (answer.kind === 'read-response' && (answer.errorClass !== 0 || answer.errorCode !== 0))) {
      throw headerError((answer as { errorClass: number }).errorClass, (answer as { errorCode: number }).errorCode, { device: this.name });
    }
    if (answer.kind !== 'read-response' || answer.items.length !== items.length) {
      throw new BifrostError(
        'BIFROST_MALFORMED_FRAME',
        `${this.name} answered a read of ${items.length} items with ${answer.kind === 'read-response' ? `${answer.items.length} items` : answer.kind}`,
        { device: this.name },
      );
    }
    return answer.items;
  }

  /**
   * Reads many variables in as few jobs as the PDU allows. A variable the PLC refuses, or an
   * address that does not parse, is a result with an `error`; a lost connection or timeout rejects.
   * @example const results = await plc.readMany(['DB1.DBD0:REAL', 'M10.1', 'DB2.DBB10:STRING[20]'])
   */
  async readMany(addresses: readonly (string | S7Address)[], options: OperationOptions = {}): Promise<S7ReadResult[]> {
    const results: S7ReadResult[] = new Array(addresses.length);
    await this.#read(
      addresses,
      {
        value: (i, text, value) => {
          results[i] = { address: text, value };
        },
        error: (i, text, error) => {
          results[i] = { address: text, value: null, error };
        },
      },
      options,
    );
    return results;
  }

  /**
   * {@link readMany} into reused columns, slot `i` for `addresses[i]`, with no object per value:
   * the gateway's poll.
   * @example await plc.readInto(addresses, columns)
   */
  async readInto(addresses: readonly string[], out: ValueColumns, options: OperationOptions = {}): Promise<void> {
    await this.#read(
      addresses,
      {
        value: (i, _text, value) => out.set(i, value),
        error: (i, _text, error) => out.setBad(i, error),
      },
      options,
    );
    out.timestamp = Date.now();
  }

  async #read(addresses: readonly (string | S7Address)[], target: Put, options: OperationOptions): Promise<void> {
    const parsed: S7Address[] = [];
    const index: number[] = [];
    const now = Date.now();
    const refused = this.#refused;
    const put: Put = {
      value: (i, text, value) => {
        if (refused.size > 0) refused.delete(text);
        target.value(i, text, value);
      },
      error: (i, text, error) => {
        if (typeof error.status === 'number' && REFUSED_ITEM.has(error.status)) this.#refuse(text, error, now);
        target.error(i, text, error);
      },
    };
    for (let i = 0; i < addresses.length; i++) {
      const raw = addresses[i] as string | S7Address;
      const text = typeof raw === 'string' ? raw : raw.text;
      const r = refused.size === 0 ? undefined : refused.get(text);
      if (r !== undefined && now < r.retryAt) {
        target.error(i, text, r.error);
        continue;
      }
      try {
        parsed.push(typeof raw === 'string' ? this.#parse(raw) : raw);
        index.push(i);
      } catch (e) {
        put.error(i, text, toBifrostError(e, 'BIFROST_INVALID_ADDRESS', { address: text, device: this.name }));
      }
    }
    if (!this.connected) throw new BifrostError('BIFROST_NOT_CONNECTED', `S7 client ${this.name} is not connected`, { device: this.name });
    const retry = await this.#readPass(parsed, index, put, this.#maxGap, options);
    // A merged block fails as a whole when one of its variables lies outside the DB: read those alone.
    if (retry.length > 0)
      await this.#readPass(
        retry.map((i) => parsed[i] as S7Address),
        retry.map((i) => index[i] as number),
        put,
        -1,
        options,
      );
  }

  #refuse(text: string, error: BifrostError, now: number): void {
    const was = this.#refused.get(text);
    const delayMs = was ? Math.min(was.delayMs * 2, 600_000) : 30_000;
    if (!was && this.#refused.size >= 100_000) this.#refused.clear();
    this.#refused.set(text, { error: was?.error ?? error, delayMs, retryAt: now + delayMs * (0.5 + Math.random() / 2) });
  }

  /** The plan for these addresses, from a small cache: a poll reads the same list again and again. */
  #plan(parsed: readonly S7Address[], maxGap: number | 'auto'): ReadPlan {
    const options = { pduLength: this.#pduLength, maxItems: this.#maxItems, maxGap };
    if (parsed.length < 8) return planReads(parsed, options);
    // A short key finds the candidate; comparing the address texts one by one confirms it
    // (cheaper than building a key of all of them on every poll).
    const key = `${this.#pduLength}|${maxGap}|${parsed.length}|${(parsed[0] as S7Address).text}|${(parsed[parsed.length - 1] as S7Address).text}`;
    const hit = this.#plans.get(key);
    if (hit?.texts.every((t, i) => t === (parsed[i] as S7Address).text)) return hit.plan;
    const plan = planReads(parsed, options);
    if (this.#plans.size >= PLAN_CACHE_MAX) this.#plans.delete(this.#plans.keys().next().value as string);
    this.#plans.set(key, { texts: parsed.map((a) => a.text), plan });
    return plan;
  }

  async #readPass(parsed: S7Address[], index: number[], put: Put, maxGap: number | 'auto', options: OperationOptions): Promise<number[]> {
    const plan = this.#plan(parsed, maxGap);
    const data = plan.blocks.map((b) => new Uint8Array(b.length));
    // A block fails with a header error (whole job) or an item return code.
    const failed: (BifrostError | number | undefined)[] = new Array(plan.blocks.length);
    await Promise.all(
      plan.jobs.map(async (job) => {
        let items: S7DataItem[];
        try {
          items = await this.readVars(
            job.map((p) => p.spec),
            options,
          );
        } catch (e) {
          const err = toBifrostError(e, 'BIFROST_S7_JOB_ERROR', { device: this.name });
          if (!err.code.startsWith('BIFROST_S7_')) throw err;
          for (const p of job) failed[p.block] = err;
          return;
        }
        for (let k = 0; k < job.length; k++) {
          const p = job[k] as (typeof job)[number];
          const item = items[k] as S7DataItem;
          if (item.returnCode !== 0xff) failed[p.block] = item.returnCode;
          else if (item.data.length !== p.length)
            failed[p.block] = new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} returned ${item.data.length} bytes for a read of ${p.length}`, { device: this.name });
          else (data[p.block] as Uint8Array).set(item.data, p.offset);
        }
      }),
    );
    const retry: number[] = [];
    for (let bi = 0; bi < plan.blocks.length; bi++) {
      const b = plan.blocks[bi] as (typeof plan.blocks)[number];
      const err = failed[bi];
      const bytes = data[bi] as Uint8Array;
      for (const t of b.tags) {
        const a = parsed[t] as S7Address;
        const i = index[t] as number;
        if (err !== undefined) {
          if (maxGap !== -1 && b.tags.length > 1 && err === 0x05) retry.push(t);
          else put.error(i, a.text, typeof err === 'number' ? itemError(err, { device: this.name, address: a.text }) : withAddress(err, a.text));
          continue;
        }
        let v: Value;
        try {
          v = decodeS7Value(a, bytes, a.byteOffset - b.start) as Value;
        } catch (e) {
          put.error(i, a.text, toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name, address: a.text }));
          continue;
        }
        put.value(i, a.text, v);
      }
    }
    return retry;
  }

  /**
   * Reads one variable, throwing its error.
   * @example const celsius = await plc.read('DB1.DBD0:REAL')
   */
  async read(address: string, options: OperationOptions = {}): Promise<Value> {
    const [r] = await this.readMany([address], options);
    if (!r || r.error) throw r?.error ?? new BifrostError('BIFROST_MALFORMED_FRAME', `no value for ${address}`);
    return r.value as Value;
  }

  /**
   * Writes one variable. BOOL is written with the BIT transport size (no read-modify-write of the
   * byte); longer values that do not fit one job are written in several jobs, in order.
   * @example await plc.write('DB1.DBD12:REAL', 55.5)
   */
  async write(address: string | S7Address, value: unknown, options: OperationOptions = {}): Promise<void> {
    const a = typeof address === 'string' ? this.#parse(address) : address;
    const bytes = encodeS7Value(a, value);
    if (!this.connected) throw new BifrostError('BIFROST_NOT_CONNECTED', `S7 client ${this.name} is not connected`, { device: this.name });
    if (a.type === 'BOOL') {
      await this.writeVars(
        [{ transportSize: TRANSPORT_SIZE.BIT, count: 1, dbNumber: a.dbNumber, area: a.areaCode, byteOffset: a.byteOffset, bitOffset: a.bitOffset }],
        [{ returnCode: 0, transportSize: DATA_TRANSPORT_SIZE.BIT, data: bytes }],
        a.text,
        options,
      );
      return;
    }
    // Job: header 10, parameters 2 + 12, data item header 4.
    const chunk = (this.#pduLength - 28) & ~1;
    for (let off = 0; off < bytes.length; off += chunk) {
      const data = bytes.subarray(off, Math.min(bytes.length, off + chunk));
      await this.writeVars(
        [{ transportSize: TRANSPORT_SIZE.BYTE, count: data.length, dbNumber: a.dbNumber, area: a.areaCode, byteOffset: a.byteOffset + off, bitOffset: 0 }],
        [{ returnCode: 0, transportSize: DATA_TRANSPORT_SIZE.BYTE, data }],
        a.text,
        options,
      );
    }
  }

  /**
   * Writes raw variables in one job; throws the first item's error.
   * @example await plc.writeVars([spec], [{ returnCode: 0, transportSize: 4, data: Uint8Array.of(1, 2) }])
   */
  async writeVars(items: S7VarSpec[], data: S7DataItem[], address?: string, options: OperationOptions = {}): Promise<void> {
    const answer = await this.request({ kind: 'write-request', items, data }, options);
    const ctx = { device: this.name, ...(address ? { address } : {}) };
    if (answer.kind === 'ack' || (answer.kind === 'write-response' && (answer.errorClass !== 0 || answer.errorCode !== 0))) {
      throw headerError((answer as { errorClass: number }).errorClass, (answer as { errorCode: number }).errorCode, ctx);
    }
    if (answer.kind !== 'write-response' || answer.returnCodes.length !== items.length)
      throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} answered a write of ${items.length} items with ${answer.kind}`, ctx);
    const bad = answer.returnCodes.find((rc) => rc !== 0xff);
    if (bad !== undefined) throw itemError(bad, ctx);
  }

  /**
   * Reads a system status list extract (SZL, "Systemzustandsliste"), following multi-part answers.
   * @example const ids = await plc.readSzl(0x0011, 0) // module identification
   */
  async readSzl(szlId: number, szlIndex = 0, options: OperationOptions = {}): Promise<SzlList> {
    const parts: Uint8Array[] = [];
    let answer = await this.request({ kind: 'szl-request', sequence: 0, szlId, szlIndex }, options);
    for (let guard = 0; ; guard++) {
      if (answer.kind === 'ack') throw headerError(answer.errorClass, answer.errorCode, { device: this.name });
      if (answer.kind !== 'szl-response') throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} answered a read-SZL with ${answer.kind}`, { device: this.name });
      const id = `SZL 0x${szlId.toString(16).padStart(4, '0')} index 0x${szlIndex.toString(16)}`;
      if (answer.errorCode !== 0) throw headerError(answer.errorCode >> 8, answer.errorCode & 0xff, { device: this.name, address: id });
      if (answer.returnCode !== 0xff)
        throw new BifrostError('BIFROST_S7_SZL_ERROR', `${this.name} cannot read ${id} (return code 0x${answer.returnCode.toString(16)})`, { device: this.name, status: answer.returnCode });
      parts.push(answer.data);
      if (answer.lastUnit) break;
      if (guard > 64) throw new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} sent more than 64 parts for ${id}`, { device: this.name });
      answer = await this.request({ kind: 'szl-request', sequence: answer.sequence, szlId: 0, szlIndex: 0, continuation: true }, options);
    }
    return decodeSzlList(Buffer.concat(parts));
  }

  /**
   * Identifies the CPU from SZL 0x0011 (module identification: order code, firmware), 0x001C
   * (component identification: names, serial number) and 0x0424 (CPU status: `cpuStatus` RUN or STOP).
   * @example const { model, serial } = await plc.identify()
   */
  async identify(options: OperationOptions = {}): Promise<DeviceIdentity> {
    const id: DeviceIdentity = { protocol: 's7', vendor: 'Siemens', pduLength: this.#pduLength };
    const text = (r: Uint8Array, from: number, to: number) => Buffer.from(r.subarray(from, to)).toString('latin1').replace(/\0.*$/s, '').trim();
    let anyAnswer = false;
    try {
      const mod = await this.readSzl(0x0011, 0, options);
      anyAnswer = true;
      for (const r of mod.records) {
        const index = ((r[0] as number) << 8) | (r[1] as number);
        if (index === 1) id.model = id.orderCode = text(r, 2, 22);
        if (index === 7 && r.length >= 28 && r[24] === 0x56) id.firmware = `V${r[25]}.${r[26]}.${r[27]}`;
      }
    } catch (e) {
      if (!(e instanceof BifrostError) || !e.code.startsWith('BIFROST_S7_')) throw e;
    }
    try {
      const comp = await this.readSzl(0x001c, 0, options);
      anyAnswer = true;
      const names: Record<number, string> = { 1: 'plcName', 2: 'moduleName', 3: 'plantId', 4: 'copyright', 5: 'serial', 7: 'moduleTypeName', 8: 'memoryCardSerial' };
      for (const r of comp.records) {
        const key = names[((r[0] as number) << 8) | (r[1] as number)];
        if (key) {
          const v = text(r, 2, r.length);
          if (v) id[key] = v;
        }
      }
      if (typeof id.moduleTypeName === 'string') id.product = id.moduleTypeName;
      else if (typeof id.moduleName === 'string') id.product = id.moduleName;
    } catch (e) {
      if (!(e instanceof BifrostError) || !e.code.startsWith('BIFROST_S7_')) throw e;
    }
    try {
      // SZL 0x0424 record byte 3 (bzu-id), low nibble: the current mode; 8 RUN, 4 or 3 STOP, as snap7's PlcStatus reads it.
      const st = await this.readSzl(0x0424, 0, options);
      anyAnswer = true;
      const mode = (st.records[0]?.[3] ?? 0) & 0x0f;
      id.cpuStatus = mode === 0x08 ? 'RUN' : mode === 0x04 || mode === 0x03 ? 'STOP' : mode === 0 ? 'UNKNOWN' : `mode 0x${mode.toString(16)}`;
    } catch (e) {
      if (!(e instanceof BifrostError) || !e.code.startsWith('BIFROST_S7_')) throw e;
    }
    if (!anyAnswer) id.note = 'the CPU answers no SZL reads';
    return id;
  }

  /** Closes the connection; idempotent. */
  async close(): Promise<void> {
    this.#teardown(undefined, false);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function withAddress(err: BifrostError, address: string): BifrostError {
  if (err.address === address) return err;
  const opts: ConstructorParameters<typeof BifrostError>[2] = { address, cause: err.cause ?? err };
  if (err.status !== undefined) opts.status = err.status;
  if (err.statusName !== undefined) opts.statusName = err.statusName;
  if (err.device !== undefined) opts.device = err.device;
  if (err.hint !== undefined) opts.hint = err.hint;
  return new BifrostError(err.code, `${address}: ${err.message}`, opts);
}
