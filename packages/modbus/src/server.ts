/**
 * @module
 * A Modbus server: Modbus TCP, RTU over TCP, or RTU on a serial port, answering requests from
 * a set of units. Requests are answered in arrival order, so a pipelining client gets its
 * answers as fast as the server can decode them; the responses to one received chunk leave in
 * one write (`cork`/`uncork`).
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BifrostError, ConnectionGuard, channel } from '@bifrost/core';
import { ExceptionCode, Limits } from './constants.js';
import type { ModbusUnit } from './data-model.js';
import { MbapFrameAssembler, RtuFrameAssembler, rtuSilentIntervalMs, writeCrc, writeMbapHeader } from './framing.js';
import { decodeRequest, type ModbusResponse, responseLength, writeResponse } from './pdu.js';
import { openSerial, type SerialOptions, type SerialStream } from './transport.js';

const serverRequestChannel = channel('modbus', 'server-request');
const connectionChannel = channel('modbus', 'server-connection');

/** Options of {@link ModbusServer}. */
export interface ModbusServerOptions {
  /** The units served, by unit id. */
  units: Map<number, ModbusUnit> | ModbusUnit[];
  /** `tcp` (MBAP) or `rtu` (RTU frames on the TCP stream); default `tcp`. */
  framing?: 'tcp' | 'rtu';
  host?: string;
  /** TCP port (0 = any free port). */
  port?: number;
  /** Serve RTU on this serial port instead of TCP. */
  serial?: SerialOptions;
  /** Largest request frame accepted; larger ones close the connection (TCP) or are dropped (RTU). */
  maxFrameSize?: number;
  /** Most TCP connections at once (default 64); at the cap a new connection closes the longest-idle one. */
  maxConnections?: number;
  /** Close a TCP connection that completed no request for this long, in ms (default 120000; 0 = never). */
  idleTimeoutMs?: number;
}

/** Events of a server. */
export interface ModbusServerEvents {
  /** A connection sent bytes that are not Modbus; it was closed (TCP) or the bytes dropped (RTU). */
  frameError: [BifrostError];
}

/**
 * A Modbus server over TCP, RTU over TCP, or a serial line.
 * @example
 * const unit = new ModbusUnit(1).map('holdingRegisters', 0, 100);
 * const server = new ModbusServer({ units: [unit], port: 5020 });
 * await server.listen();
 */
export class ModbusServer extends EventEmitter<ModbusServerEvents> {
  readonly framing: 'tcp' | 'rtu';
  readonly #units: Map<number, ModbusUnit>;
  readonly #options: ModbusServerOptions;
  #server: Server | undefined;
  #serial: SerialStream | undefined;
  #guard: ConnectionGuard | undefined;
  #port = 0;
  #closing: Promise<void> | undefined;

  constructor(options: ModbusServerOptions) {
    super();
    this.#options = options;
    this.framing = options.serial ? 'rtu' : (options.framing ?? 'tcp');
    this.#units = options.units instanceof Map ? options.units : new Map(options.units.map((u) => [u.unitId, u]));
  }

  /** The TCP port listened on (after `listen`). */
  get port(): number {
    return this.#port;
  }

  /** The units served. */
  get units(): ReadonlyMap<number, ModbusUnit> {
    return this.#units;
  }

  /** Open TCP connections. */
  get connections(): number {
    return this.#guard?.size ?? 0;
  }

  /**
   * Starts serving.
   * @example await server.listen()
   */
  async listen(): Promise<void> {
    if (this.#options.serial) {
      const port = await openSerial(this.#options.serial);
      this.#serial = port;
      this.#attach(port, rtuSilentIntervalMs(this.#options.serial.baudRate ?? 19200));
      return;
    }
    const limits = { maxConnections: this.#options.maxConnections ?? 64, ...(this.#options.idleTimeoutMs !== undefined ? { idleTimeoutMs: this.#options.idleTimeoutMs } : {}) };
    const guard = new ConnectionGuard(limits, (socket, reason) => {
      if (connectionChannel.hasSubscribers) connectionChannel.publish({ event: reason === 'idle' ? 'idle-closed' : 'evicted', remote: socket.remoteAddress });
    });
    this.#guard = guard;
    const server = createServer({ noDelay: true }, (socket) => {
      guard.admit(socket);
      socket.on('error', () => {});
      this.#attach(socket, 0, socket);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  #attach(stream: Duplex, silentMs: number, socket?: Socket): void {
    const guard = socket ? this.#guard : undefined;
    if (this.framing === 'tcp') {
      const assembler = new MbapFrameAssembler(
        {
          frame: (tid, unitId, pdu) => {
            if (guard) guard.active(socket as Socket);
            this.#answerTcp(stream, tid, unitId, pdu);
          },
          error: (err) => {
            this.emit('frameError', err);
            stream.destroy();
          },
        },
        { maxFrameSize: this.#options.maxFrameSize ?? Limits.maxTcpAdu },
      );
      stream.on('data', (chunk: Buffer) => {
        stream.cork();
        assembler.push(chunk);
        stream.uncork();
        // A client that sends faster than it reads: stop reading until our answers drain.
        if (stream.writableNeedDrain) {
          stream.pause();
          stream.once('drain', () => stream.resume());
        }
      });
      return;
    }
    const assembler = new RtuFrameAssembler(
      {
        frame: (unitId, pdu) => {
          if (guard) guard.active(socket as Socket);
          this.#answerRtu(stream, unitId, pdu);
        },
        // Serial Line §2.4.2: a server does not answer a frame with a bad CRC; it waits for the next.
        error: (err) => this.emit('frameError', err),
      },
      'request',
      { maxFrameSize: this.#options.maxFrameSize ?? Limits.maxRtuAdu },
    );
    let last = 0;
    stream.on('data', (chunk: Buffer) => {
      if (silentMs > 0) {
        const now = performance.now();
        if (assembler.buffered > 0 && now - last > Math.max(silentMs, 20)) assembler.reset();
        last = now;
      }
      assembler.push(chunk);
    });
  }

  #serve(unitId: number, pdu: Uint8Array): ModbusResponse | undefined {
    const fc = pdu[0] as number;
    let unit = this.#units.get(unitId);
    // Modbus TCP: unit 0xFF (or 0) addresses the server itself (TCP Implementation Guide §4.4.2).
    if (!unit && this.framing === 'tcp' && (unitId === 0xff || unitId === 0) && this.#units.size > 0) unit = this.#units.values().next().value;
    if (!unit) {
      // A TCP gateway answers for an absent unit; on a serial line an absent unit stays silent.
      return this.framing === 'tcp' ? { fc: fc & 0x7f, exception: ExceptionCode.GatewayTargetFailed } : undefined;
    }
    let res: ModbusResponse;
    try {
      const req = decodeRequest(pdu);
      if (serverRequestChannel.hasSubscribers) serverRequestChannel.publish({ unitId, request: req });
      res = unit.handle(req);
    } catch (e) {
      const status = e instanceof BifrostError && typeof e.status === 'number' ? e.status : ExceptionCode.ServerDeviceFailure;
      res = { fc: fc & 0x7f, exception: status };
    }
    return res;
  }

  #answerTcp(stream: Duplex, tid: number, unitId: number, pdu: Uint8Array): void {
    const res = this.#serve(unitId, pdu);
    if (!res) return;
    const len = responseLength(res);
    const buf = Buffer.allocUnsafe(7 + len);
    writeMbapHeader(buf, tid, unitId, len);
    writeResponse(res, buf, 7);
    stream.write(buf);
  }

  #answerRtu(stream: Duplex, unitId: number, pdu: Uint8Array): void {
    // Serial Line §2.1: a broadcast (unit 0) is executed by every unit and answered by none.
    if (unitId === 0) {
      for (const u of this.#units.values()) {
        try {
          u.handle(decodeRequest(pdu));
        } catch {}
      }
      return;
    }
    const res = this.#serve(unitId, pdu);
    if (!res) return;
    const len = responseLength(res);
    const buf = Buffer.allocUnsafe(3 + len);
    buf[0] = unitId;
    writeResponse(res, buf, 1);
    writeCrc(buf, 1 + len);
    stream.write(buf);
  }

  /**
   * Drops every open TCP connection (for tests of a server that goes away mid-request).
   * @example server.dropConnections()
   */
  dropConnections(): void {
    for (const s of [...(this.#guard?.sockets() ?? [])]) s.destroy();
  }

  /**
   * Stops serving and drops connections. Idempotent.
   * @example await server.close()
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.dropConnections();
      this.#guard?.stop();
      const server = this.#server;
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      const serial = this.#serial;
      if (serial?.isOpen) await new Promise<void>((resolve) => serial.close(() => resolve()));
    })();
    return this.#closing;
  }
}
