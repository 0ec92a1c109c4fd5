/**
 * @module
 * The EtherNet/IP TCP transport: one socket, one registered session (CIP Vol 2 §2-4.4), requests
 * matched to replies by sender context (SendRRData) or by the connected sequence count
 * (SendUnitData, CIP Vol 2 §2-6.3.1), several requests in flight at once.
 *
 * Some targets do not echo the sender context (CIP Vol 2 §2-3.2 says they must): they answer every
 * SendRRData with the context of RegisterSession. Replies on one session come in request order, so
 * a SendRRData reply whose context matches nothing goes to the oldest outstanding request, counted
 * in {@link TransportStats.contextFallbacks}; a context this transport issued is never re-matched
 * (the late reply of a request given up on). A reply that names another session handle, or a
 * connected reply on another connection id, is dropped and counted, never accepted.
 */
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { BifrostError, channel, connectError, toBifrostError } from '@bifrost/core';
import {
  CpfType,
  checkEncapStatus,
  decodeEncap,
  decodeSendData,
  EncapCommand,
  type EncapPacket,
  encodeConnectedPacket,
  encodeEncap,
  encodeUnconnectedPacket,
  registerSessionData,
} from './codec/encapsulation.js';
import { malformed } from './codec/reader.js';
import { EncapFramer } from './framing.js';

const requests = channel('eip', 'request');
const mismatches = channel('eip', 'reply-mismatch');

/** Counters of replies that did not match their request exactly. */
export interface TransportStats {
  /** SendRRData replies whose sender context matched nothing, given to the oldest outstanding request. */
  contextFallbacks: number;
  /** Replies dropped because their session handle is not this session's. */
  wrongSession: number;
  /** Connected replies dropped because their connection id is not the connection's T→O id. */
  wrongConnection: number;
  /** SendRRData replies dropped because they echo the context of a request already given up (timed out or aborted). */
  stale: number;
}

/** Options of {@link EipTransport.open}. */
export interface TransportOptions {
  host: string;
  port: number;
  /** Name used in messages (default host:port). */
  name?: string;
  /** Largest encapsulation packet accepted (default 16384 bytes). */
  maxFrameSize?: number;
  signal?: AbortSignal;
}

interface Pending {
  resolve: (data: Buffer) => void;
  reject: (err: BifrostError) => void;
  cleanup: () => void;
  /** For a connected request: the T→O connection id its reply must carry. */
  connectionId?: number;
}

/** Events of a transport. */
export interface TransportEvents {
  close: [BifrostError | undefined];
}

/**
 * A registered EtherNet/IP session over TCP.
 * @example const t = await EipTransport.open({ host: '127.0.0.1', port: 44818 }); const reply = await t.sendRRData(mr, signal);
 */
export class EipTransport extends EventEmitter<TransportEvents> {
  readonly name: string;
  #socket: Socket;
  #session = 0;
  #context = 0n;
  #sequence = 0;
  readonly #byContext = new Map<bigint, Pending>();
  readonly #bySequence = new Map<number, Pending>();
  #closed = false;
  #register: Pending | undefined;
  readonly #stats: TransportStats = { contextFallbacks: 0, wrongSession: 0, wrongConnection: 0, stale: 0 };

  private constructor(socket: Socket, name: string, maxFrameSize: number) {
    super();
    this.#socket = socket;
    this.name = name;
    const framer = new EncapFramer(
      maxFrameSize,
      (frame) => this.#onFrame(frame),
      (err) => this.#fail(err),
    );
    socket.on('data', (c: Buffer) => framer.push(c));
    socket.on('error', (e) => this.#fail(toBifrostError(e, 'BIFROST_CONNECTION_LOST', { device: name })));
    socket.on('close', () => this.#fail(new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${name} closed`, { device: name })));
  }

  /** Connects and registers a session. */
  static async open(options: TransportOptions): Promise<EipTransport> {
    const name = options.name ?? `${options.host}:${options.port}`;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ host: options.host, port: options.port, noDelay: true });
      const onAbort = () => {
        s.destroy();
        reject(new BifrostError('BIFROST_ABORTED', `connect to ${name} aborted`, { device: name, cause: options.signal?.reason }));
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      s.once('connect', () => {
        options.signal?.removeEventListener('abort', onAbort);
        resolve(s);
      });
      s.once('error', (e) => {
        options.signal?.removeEventListener('abort', onAbort);
        reject(connectError(e, { device: name }));
      });
    });
    const t = new EipTransport(socket, name, options.maxFrameSize ?? 16384);
    try {
      await t.#registerSession(options.signal);
    } catch (e) {
      t.destroy();
      throw e;
    }
    return t;
  }

  /** The session handle the target assigned. */
  get session(): number {
    return this.#session;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Replies that did not match exactly (see the module comment); a copy. */
  get stats(): TransportStats {
    return { ...this.#stats };
  }

  #mismatch(kind: keyof TransportStats, p: EncapPacket): void {
    this.#stats[kind]++;
    if (mismatches.hasSubscribers) mismatches.publish({ device: this.name, kind, command: p.command, session: p.session, context: p.context });
  }

  #registerSession(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new BifrostError('BIFROST_ABORTED', `RegisterSession with ${this.name} aborted`, { device: this.name }));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#register = {
        resolve: () => resolve(),
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      this.#socket.write(encodeEncap({ command: EncapCommand.RegisterSession, session: 0, status: 0, context: 0n, options: 0, data: registerSessionData() }));
    });
  }

  #onFrame(frame: Buffer): void {
    let p: EncapPacket;
    try {
      p = decodeEncap(frame);
    } catch (e) {
      this.#fail(toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name }));
      return;
    }
    if (p.command === EncapCommand.RegisterSession) {
      const reg = this.#register;
      this.#register = undefined;
      if (!reg) return;
      reg.cleanup();
      try {
        checkEncapStatus(p, this.name);
        this.#session = p.session;
        reg.resolve(Buffer.alloc(0));
      } catch (e) {
        reg.reject(toBifrostError(e));
      }
      return;
    }
    if ((p.command === EncapCommand.SendRRData || p.command === EncapCommand.SendUnitData) && p.session !== this.#session) {
      // A reply for another session is not ours, whatever its context or sequence (CIP Vol 2 §2-3.1).
      this.#mismatch('wrongSession', p);
      return;
    }
    if (p.command === EncapCommand.SendRRData) {
      let key = p.context;
      let pending = this.#byContext.get(key);
      if (!pending) {
        // A context this transport issued (1…current) whose request is gone is a late echo of a
        // request given up on: it answers nothing outstanding.
        if (key >= 1n && key <= this.#context) {
          this.#mismatch('stale', p);
          return;
        }
        // Context not echoed: the oldest outstanding request (Map keeps insertion order) is the one
        // this reply answers, since a target answers one session's requests in order.
        const oldest = this.#byContext.entries().next();
        if (oldest.done) return;
        [key, pending] = oldest.value;
        this.#mismatch('contextFallbacks', p);
      }
      this.#byContext.delete(key);
      pending.cleanup();
      try {
        checkEncapStatus(p, this.name);
        const item = decodeSendData(p.data).items.find((i) => i.type === CpfType.UnconnectedData);
        if (!item) malformed('SendRRData reply has no Unconnected Data item');
        pending.resolve(item.data);
      } catch (e) {
        pending.reject(toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name }));
      }
      return;
    }
    if (p.command === EncapCommand.SendUnitData) {
      let item: Buffer | undefined;
      let address: Buffer | undefined;
      try {
        checkEncapStatus(p, this.name);
        const items = decodeSendData(p.data).items;
        item = items.find((i) => i.type === CpfType.ConnectedData)?.data;
        address = items.find((i) => i.type === CpfType.ConnectedAddress)?.data;
        if (!item || item.length < 2) malformed('SendUnitData reply has no Connected Data item');
        if (!address || address.length < 4) malformed('SendUnitData reply has no Connected Address item');
      } catch (e) {
        // A bad connected reply cannot be matched to its request: the connection is unusable.
        this.#fail(toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: this.name }));
        return;
      }
      const seq = item.readUInt16LE(0);
      const pending = this.#bySequence.get(seq);
      if (!pending) return;
      // The target sends on the T→O connection (CIP Vol 2 §2-6.3.2): a reply on another id answers
      // another connection, however its sequence count happens to match.
      if (pending.connectionId !== undefined && address.readUInt32LE(0) !== pending.connectionId) {
        this.#mismatch('wrongConnection', p);
        return;
      }
      this.#bySequence.delete(seq);
      pending.cleanup();
      pending.resolve(item.subarray(2));
    }
  }

  #track(map: Map<bigint, Pending> | Map<number, Pending>, key: bigint | number, signal: AbortSignal | undefined, connectionId?: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => {
        (map as Map<unknown, Pending>).delete(key);
        reject(new BifrostError('BIFROST_ABORTED', `request to ${this.name} aborted`, { device: this.name, cause: signal?.reason }));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const pending: Pending = { resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      if (connectionId !== undefined) pending.connectionId = connectionId;
      (map as Map<unknown, Pending>).set(key, pending);
    });
  }

  #ensureOpen(): void {
    if (this.#closed) throw new BifrostError('BIFROST_NOT_CONNECTED', `connection to ${this.name} is closed`, { device: this.name });
  }

  /**
   * Sends an unconnected message (SendRRData) and resolves with the Message Router reply bytes.
   * @example const reply = decodeResponse(await t.sendRRData(encodeRequest(req)))
   */
  sendRRData(mr: Buffer, signal?: AbortSignal): Promise<Buffer> {
    this.#ensureOpen();
    this.#context = (this.#context + 1n) & 0xffffffffffffffffn;
    const context = this.#context;
    const done = this.#track(this.#byContext, context, signal);
    const packet = encodeUnconnectedPacket(this.#session, context, mr);
    if (requests.hasSubscribers) requests.publish({ device: this.name, kind: 'SendRRData', bytes: packet.length });
    this.#socket.write(packet);
    return done;
  }

  /**
   * Sends a connected message (SendUnitData) on `connectionId` (O→T) and resolves with the reply
   * bytes; with `toConnectionId`, a reply must come on that T→O id.
   * @example const reply = decodeResponse(await t.sendUnitData(otConnectionId, encodeRequest(req), signal, toConnectionId))
   */
  sendUnitData(connectionId: number, mr: Buffer, signal?: AbortSignal, toConnectionId?: number): Promise<Buffer> {
    this.#ensureOpen();
    // The sequence count starts at 1 and wraps (CIP Vol 2 §2-6.3.1); skip numbers still in flight.
    let seq = this.#sequence;
    do seq = (seq + 1) & 0xffff;
    while (this.#bySequence.has(seq));
    this.#sequence = seq;
    const done = this.#track(this.#bySequence, seq, signal, toConnectionId);
    const packet = encodeConnectedPacket(this.#session, connectionId, seq, mr);
    if (requests.hasSubscribers) requests.publish({ device: this.name, kind: 'SendUnitData', bytes: packet.length });
    this.#socket.write(packet);
    return done;
  }

  #fail(err: BifrostError | undefined, graceful = false): void {
    if (this.#closed) return;
    this.#closed = true;
    const e = err ?? new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} closed`, { device: this.name });
    if (this.#register) {
      this.#register.cleanup();
      this.#register.reject(e);
      this.#register = undefined;
    }
    for (const p of this.#byContext.values()) {
      p.cleanup();
      p.reject(e);
    }
    for (const p of this.#bySequence.values()) {
      p.cleanup();
      p.reject(e);
    }
    this.#byContext.clear();
    this.#bySequence.clear();
    if (graceful) {
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 500).unref();
    } else this.#socket.destroy();
    this.emit('close', err);
  }

  /** Sends UnRegisterSession (CIP Vol 2 §2-4.5) and closes the socket; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const s = this.#socket;
    if (this.#session !== 0 && s.writable) {
      s.write(encodeEncap({ command: EncapCommand.UnRegisterSession, session: this.#session, status: 0, context: 0n, options: 0, data: Buffer.alloc(0) }));
    }
    this.#fail(new BifrostError('BIFROST_CLOSED', `connection to ${this.name} closed`, { device: this.name }), true);
    await new Promise<void>((resolve) => {
      if (s.closed) resolve();
      else s.once('close', () => resolve());
    });
  }

  /** Drops the socket at once. */
  destroy(): void {
    this.#fail(new BifrostError('BIFROST_CLOSED', `connection to ${this.name} closed`, { device: this.name }));
  }
}
