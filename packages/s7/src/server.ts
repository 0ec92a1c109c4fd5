/**
 * @module
 * `S7Server`: an S7comm server (a simulated CPU) in pure TypeScript on the same codec as the
 * client. It accepts ISO-on-TCP connections (optionally only to the TSAP of one rack/slot),
 * negotiates the PDU, serves read/write jobs on DB, M, I and Q memory and answers SZL reads
 * (0x0011 module identification, 0x001C component identification, their single-record forms
 * 0x0111/0x011C, 0x0424 CPU status RUN/STOP, and the SZL list 0x0000). It never prints: problems are published on the
 * diagnostics channel `bifrost:s7:server`.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { BifrostError, ConnectionGuard, channel } from '@bifrost/core';
import { type CotpTpdu, decodeIsoPacket, encodeIsoPacket } from './codec/iso-on-tcp.js';
import { ITEM_RETURN_CODE } from './codec/return-codes.js';
import {
  AREA,
  DATA_TRANSPORT_SIZE,
  decodeS7Pdu,
  encodedSize,
  encodeS7Pdu,
  encodeSzlList,
  JOB_HEADER_SIZE,
  ROSCTR,
  type S7DataItem,
  type S7Pdu,
  type S7VarSpec,
  TRANSPORT_SIZE,
  transportElementSize,
} from './codec/s7comm.js';
import { TpktAssembler } from './framing.js';

/** What the simulated CPU says about itself in its SZL answers. */
export interface S7Identity {
  /** Order number (MLFB), SZL 0x0011 index 1. */
  orderCode: string;
  /** Firmware, SZL 0x0011 index 7, e.g. `V4.5.0`. */
  firmware: string;
  /** SZL 0x001C index 1. */
  plcName: string;
  /** SZL 0x001C index 2. */
  moduleName: string;
  /** SZL 0x001C index 3. */
  plantId: string;
  /** SZL 0x001C index 4. */
  copyright: string;
  /** SZL 0x001C index 5. */
  serial: string;
  /** SZL 0x001C index 7. */
  moduleTypeName: string;
}

/**
 * The identity of the default simulated CPU.
 * @example new S7Server(memory, { identity: { ...DEFAULT_IDENTITY, serial: 'S C-123' } })
 */
export const DEFAULT_IDENTITY: S7Identity = {
  orderCode: '6ES7 516-3AN02-0AB0',
  firmware: 'V2.9.4',
  plcName: 'BIFROST-SIM',
  moduleName: 'PLC_1',
  plantId: 'Bifrost demo plant',
  copyright: 'Original Siemens Equipment',
  serial: 'S V-BIFROST0001',
  moduleTypeName: 'CPU 1516-3 PN/DP',
};

/** The CPU's operating mode as SZL 0x0424 reports it. */
export type S7CpuStatus = 'run' | 'stop';

/**
 * The mode codes of SZL 0x0424's `bzu-id` byte (low nibble: current mode), as the S7 System
 * Software manual ("SSL-ID W#16#xy24") and snap7's `PlcStatus` use them.
 * @example CPU_STATUS_CODE.run // 0x08
 */
export const CPU_STATUS_CODE = { run: 0x08, stop: 0x04 } as const;

/** Options of {@link S7Server}. */
export interface S7ServerOptions {
  /** Largest PDU the server negotiates (default 480, as an S7-300/snap7; an S7-1500 offers 960). */
  pduLength?: number;
  /** Largest number of parallel jobs it grants (default 8). */
  maxAmq?: number;
  /** Whether PUT/GET access is permitted (default true); when false every read/write job is refused with 0x8104, as an S7-1200/1500 does. */
  putGet?: boolean;
  /** Remote TSAPs to accept; the low byte (rack·32 + slot) is compared. Default: any. */
  acceptRackSlot?: { rack: number; slot: number };
  /** SZL identity. */
  identity?: Partial<S7Identity>;
  /** Operating mode reported in SZL 0x0424 (default `run`); can be switched while running. */
  cpuStatus?: S7CpuStatus;
  /** Largest TPKT packet accepted from a client (default 8192). */
  maxPacketSize?: number;
  /** Most connections at once (default 64); at the cap a new connection closes the longest-idle one. */
  maxConnections?: number;
  /** Close a connection that completed no request for this long, in ms (default 120000; 0 = never). */
  idleTimeoutMs?: number;
}

/** Memory of the simulated CPU. */
export interface S7Memory {
  dbs: Map<number, Uint8Array>;
  M: Uint8Array;
  I: Uint8Array;
  Q: Uint8Array;
}

const diag = channel('s7', 'server');

interface Fragment {
  rest: Uint8Array;
}

/**
 * A simulated S7 CPU.
 * @example
 * const srv = new S7Server({ dbs: new Map([[1, new Uint8Array(100)]]), M: new Uint8Array(64), I: new Uint8Array(16), Q: new Uint8Array(16) });
 * const port = await srv.listen(0, '127.0.0.1');
 */
export class S7Server extends EventEmitter<{ write: [{ area: number; dbNumber: number; byteOffset: number; length: number }] }> {
  readonly memory: S7Memory;
  readonly identity: S7Identity;
  readonly #options: S7ServerOptions;
  #server: Server | undefined;
  readonly #guard: ConnectionGuard;
  #putGet: boolean;
  #cpuStatus: S7CpuStatus;
  /** When the CPU last changed mode (SZL 0x0424's time stamp). */
  #statusSince = new Date();

  constructor(memory: S7Memory, options: S7ServerOptions = {}) {
    super();
    this.memory = memory;
    this.#options = options;
    this.#putGet = options.putGet ?? true;
    this.#cpuStatus = options.cpuStatus ?? 'run';
    this.identity = { ...DEFAULT_IDENTITY, ...options.identity };
    this.#guard = new ConnectionGuard(options, (socket, reason) => {
      if (diag.hasSubscribers) diag.publish({ event: reason === 'idle' ? 'idle-closed' : 'evicted', remote: socket.remoteAddress });
    });
  }

  /** Whether PUT/GET access is permitted; can be switched while running. */
  get putGet(): boolean {
    return this.#putGet;
  }
  set putGet(v: boolean) {
    this.#putGet = v;
  }

  /** The operating mode SZL 0x0424 reports; can be switched while running. */
  get cpuStatus(): S7CpuStatus {
    return this.#cpuStatus;
  }
  set cpuStatus(v: S7CpuStatus) {
    if (v !== this.#cpuStatus) this.#statusSince = new Date();
    this.#cpuStatus = v;
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.#guard.size;
  }

  /**
   * Starts listening; resolves with the bound port.
   * @example const port = await server.listen(102, '0.0.0.0')
   */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    if (this.#server) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'S7 server is already listening');
    const server = createServer((s) => this.#accept(s));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) => {
        this.#server = undefined;
        reject(e);
      });
      server.listen(port, host, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Stops listening and drops every connection; idempotent. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of [...this.#guard.sockets()]) s.destroy();
    this.#guard.stop();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The memory of an area, or undefined when it does not exist. */
  area(areaCode: number, dbNumber: number): Uint8Array | undefined {
    switch (areaCode) {
      case AREA.DB:
        return this.memory.dbs.get(dbNumber);
      case AREA.M:
        return this.memory.M;
      case AREA.I:
        return this.memory.I;
      case AREA.Q:
        return this.memory.Q;
      default:
        return undefined;
    }
  }

  #accept(socket: Socket): void {
    this.#guard.admit(socket);
    socket.setNoDelay(true);
    const asm = new TpktAssembler(this.#options.maxPacketSize ?? 8192);
    const state = { connected: false, pdu: 0, fragments: new Map<number, Fragment>(), nextSeq: 1 };
    const drop = (why: unknown) => {
      if (diag.hasSubscribers) diag.publish({ event: 'client-dropped', remote: socket.remoteAddress, error: why });
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const packet of asm.push(chunk)) {
          this.#guard.active(socket);
          const reply = this.#handle(decodeIsoPacket(packet), state);
          if (reply === 'close') {
            socket.end();
            return;
          }
          if (reply) socket.write(reply);
        }
      } catch (e) {
        drop(e);
      }
    });
    socket.on('error', () => {});
  }

  #handle(tpdu: CotpTpdu, state: { connected: boolean; pdu: number; fragments: Map<number, Fragment>; nextSeq: number }): Uint8Array | 'close' | undefined {
    if (tpdu.type === 'CR') {
      const want = this.#options.acceptRackSlot;
      if (want && ((tpdu.dstTsap ?? 0) & 0xff) !== (((want.rack & 7) << 5) | (want.slot & 0x1f))) {
        // ISO 8073 §13.5: a DR refuses the connection (reason 0: not specified), as a CPU does for a TSAP it does not serve.
        return encodeIsoPacket({ type: 'DR', dstRef: tpdu.srcRef, srcRef: 0, reason: 0 });
      }
      state.connected = true;
      const cc: CotpTpdu = { type: 'CC', dstRef: tpdu.srcRef, srcRef: 0x0044, classOption: 0 };
      if (tpdu.tpduSize !== undefined) cc.tpduSize = Math.min(tpdu.tpduSize, 1024);
      if (tpdu.srcTsap !== undefined) cc.srcTsap = tpdu.srcTsap;
      if (tpdu.dstTsap !== undefined) cc.dstTsap = tpdu.dstTsap;
      return encodeIsoPacket(cc);
    }
    if (tpdu.type === 'DR') return 'close';
    if (tpdu.type !== 'DT' || !state.connected) return 'close';
    const req = decodeS7Pdu(tpdu.payload);
    const res = this.#answer(req, state);
    return res ? encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: encodeS7Pdu(res) }) : undefined;
  }

  #answer(req: S7Pdu, state: { pdu: number; fragments: Map<number, Fragment>; nextSeq: number }): S7Pdu | undefined {
    const ack = (errorClass: number, errorCode: number): S7Pdu => ({ kind: 'ack', rosctr: ROSCTR.ACK_DATA, pduRef: req.pduRef, errorClass, errorCode });
    if (req.kind === 'setup-request') {
      const pdu = Math.max(240, Math.min(req.pduLength, this.#options.pduLength ?? 480));
      state.pdu = pdu;
      const amq = Math.max(1, Math.min(req.maxAmqCalling, this.#options.maxAmq ?? 8));
      return { kind: 'setup-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, maxAmqCalling: amq, maxAmqCalled: amq, pduLength: pdu };
    }
    if (state.pdu === 0) return ack(0x81, 0x04); // No job before setup communication.
    if (req.kind === 'read-request' || req.kind === 'write-request') {
      if (encodedSize(req) > state.pdu) return ack(0x85, 0x00);
      if (!this.#putGet) return ack(0x81, 0x04);
      if (req.kind === 'read-request') {
        const items = req.items.map((s) => this.#read(s));
        const res: S7Pdu = { kind: 'read-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, items };
        return encodedSize(res) > state.pdu ? ack(0x85, 0x00) : res;
      }
      if (req.data.length !== req.items.length) return ack(0x85, 0x00);
      return { kind: 'write-response', pduRef: req.pduRef, errorClass: 0, errorCode: 0, returnCodes: req.items.map((s, i) => this.#write(s, req.data[i] as S7DataItem)) };
    }
    if (req.kind === 'szl-request') return this.#szl(req, state);
    return undefined; // Answers sent to a server are ignored.
  }

  #locate(s: S7VarSpec): { mem: Uint8Array; bytes: number } | number {
    const mem = this.area(s.area, s.dbNumber);
    if (!mem) return ITEM_RETURN_CODE.OBJECT_DOES_NOT_EXIST;
    const el = transportElementSize(s.transportSize);
    if (el === 0 || s.area === AREA.C || s.area === AREA.T) return ITEM_RETURN_CODE.DATA_TYPE_NOT_SUPPORTED;
    if (s.transportSize === TRANSPORT_SIZE.BIT && s.count !== 1) return ITEM_RETURN_CODE.DATA_TYPE_NOT_SUPPORTED;
    const bytes = s.transportSize === TRANSPORT_SIZE.BIT ? 1 : el * s.count;
    if (s.count === 0 || s.byteOffset + bytes > mem.length) return ITEM_RETURN_CODE.ADDRESS_OUT_OF_RANGE;
    return { mem, bytes };
  }

  #read(s: S7VarSpec): S7DataItem {
    const at = this.#locate(s);
    if (typeof at === 'number') return { returnCode: at, transportSize: DATA_TRANSPORT_SIZE.NULL, data: new Uint8Array(0) };
    if (s.transportSize === TRANSPORT_SIZE.BIT) {
      return { returnCode: ITEM_RETURN_CODE.SUCCESS, transportSize: DATA_TRANSPORT_SIZE.BIT, data: Uint8Array.of(((at.mem[s.byteOffset] as number) >> s.bitOffset) & 1) };
    }
    // Answer transport sizes as an S7-300 gives them (snap7 s7_server.cpp): INT/DINT as INTEGER, REAL as REAL, the rest as BYTE.
    const ts =
      s.transportSize === TRANSPORT_SIZE.INT || s.transportSize === TRANSPORT_SIZE.DINT
        ? DATA_TRANSPORT_SIZE.INT
        : s.transportSize === TRANSPORT_SIZE.REAL
          ? DATA_TRANSPORT_SIZE.REAL
          : DATA_TRANSPORT_SIZE.BYTE;
    return { returnCode: ITEM_RETURN_CODE.SUCCESS, transportSize: ts, data: at.mem.slice(s.byteOffset, s.byteOffset + at.bytes) };
  }

  #write(s: S7VarSpec, d: S7DataItem): number {
    const at = this.#locate(s);
    if (typeof at === 'number') return at;
    if (d.data.length !== at.bytes) return ITEM_RETURN_CODE.DATA_TYPE_INCONSISTENT;
    if (s.transportSize === TRANSPORT_SIZE.BIT) {
      const mask = 1 << s.bitOffset;
      at.mem[s.byteOffset] = (d.data[0] as number) & 1 ? (at.mem[s.byteOffset] as number) | mask : (at.mem[s.byteOffset] as number) & ~mask;
    } else at.mem.set(d.data, s.byteOffset);
    this.emit('write', { area: s.area, dbNumber: s.dbNumber, byteOffset: s.byteOffset, length: at.bytes });
    return ITEM_RETURN_CODE.SUCCESS;
  }

  #szl(req: Extract<S7Pdu, { kind: 'szl-request' }>, state: { pdu: number; fragments: Map<number, Fragment>; nextSeq: number }): S7Pdu {
    const room = state.pdu - JOB_HEADER_SIZE - 12 - 4;
    const reply = (data: Uint8Array, sequence: number): S7Pdu => {
      if (data.length <= room) return { kind: 'szl-response', pduRef: req.pduRef, sequence, lastUnit: true, errorCode: 0, returnCode: 0xff, data };
      const seq = sequence || state.nextSeq++ % 255 || state.nextSeq++;
      state.fragments.set(seq, { rest: data.subarray(room) });
      return { kind: 'szl-response', pduRef: req.pduRef, sequence: seq, lastUnit: false, errorCode: 0, returnCode: 0xff, data: data.subarray(0, room) };
    };
    if (req.continuation) {
      const f = state.fragments.get(req.sequence);
      if (!f) return { kind: 'szl-response', pduRef: req.pduRef, sequence: req.sequence, lastUnit: true, errorCode: 0xd402, returnCode: 0x0a, data: new Uint8Array(0) };
      state.fragments.delete(req.sequence);
      return reply(f.rest, req.sequence);
    }
    const list = this.#szlList(req.szlId, req.szlIndex);
    if (!list) return { kind: 'szl-response', pduRef: req.pduRef, sequence: req.sequence, lastUnit: true, errorCode: 0xd401, returnCode: 0x0a, data: new Uint8Array(0) };
    return reply(list, 0);
  }

  #szlList(id: number, index: number): Uint8Array | undefined {
    const me = this.identity;
    const fixed = (n: number, s: string) => {
      const b = new Uint8Array(n);
      b.set(Buffer.from(s, 'latin1').subarray(0, n));
      return b;
    };
    // SZL-ID 0x0011 records (28 bytes): index, MLFB[20], BGTyp, Ausbg, Ausbe (S7 System Software manual, "SSL-ID W#16#xy11").
    const r11 = (i: number, mlfb: string, tail: number[]) => Uint8Array.from([i >> 8, i & 0xff, ...fixed(20, mlfb.padEnd(20, ' ')), ...tail]);
    const fw = /^V?(\d+)\.(\d+)\.(\d+)/.exec(me.firmware) ?? ['', '0', '0', '0'];
    const rec11 = [r11(1, me.orderCode, [0, 0xc0, 0, 1, 0, 1]), r11(6, me.orderCode, [0, 0xc0, 0, 1, 0, 1]), r11(7, '', [0, 0xc0, 0x56, Number(fw[1]), Number(fw[2]), Number(fw[3])])];
    // SZL-ID 0x001C records (34 bytes): index, name[32] ("SSL-ID W#16#xy1C").
    const r1c = (i: number, s: string) => Uint8Array.from([i >> 8, i & 0xff, ...fixed(32, s)]);
    const rec1c = [r1c(1, me.plcName), r1c(2, me.moduleName), r1c(3, me.plantId), r1c(4, me.copyright), r1c(5, me.serial), r1c(7, me.moduleTypeName), r1c(8, ''), r1c(9, '\x00\x2a')];
    const pick = (recs: Uint8Array[]) => recs.filter((r) => (((r[0] as number) << 8) | (r[1] as number)) === index);
    switch (id) {
      case 0x0000: {
        const ids = [0x0000, 0x0011, 0x0111, 0x001c, 0x011c, 0x0424];
        return encodeSzlList({ szlId: 0, szlIndex: 0, recordLength: 2, records: ids.map((x) => Uint8Array.of(x >> 8, x & 0xff)) });
      }
      case 0x0011:
        return encodeSzlList({ szlId: id, szlIndex: index, recordLength: 28, records: rec11 });
      case 0x0111: {
        const recs = pick(rec11);
        return recs.length ? encodeSzlList({ szlId: id, szlIndex: index, recordLength: 28, records: recs }) : undefined;
      }
      case 0x001c:
        return encodeSzlList({ szlId: id, szlIndex: index, recordLength: 34, records: rec1c });
      case 0x011c: {
        const recs = pick(rec1c);
        return recs.length ? encodeSzlList({ szlId: id, szlIndex: index, recordLength: 34, records: recs }) : undefined;
      }
      case 0x0424: {
        // SZL-ID 0x0424 (20 bytes, "SSL-ID W#16#xy24", status of the CPU): ereig (event id of the
        // last mode transition), ae, bzu-id (low nibble: current mode, 8 RUN / 4 STOP; high
        // nibble: previous mode), 8 reserved bytes, and the transition's time as a BCD DATE_AND_TIME.
        // Event id and ae as a real CPU answers them (snap7's server replays the same record).
        const rec = new Uint8Array(20);
        rec.set([0x51, 0x44, 0xff, CPU_STATUS_CODE[this.#cpuStatus]], 0);
        rec.set(bcdDateAndTime(this.#statusSince), 12);
        return encodeSzlList({ szlId: id, szlIndex: index, recordLength: 20, records: [rec] });
      }
      default:
        return undefined;
    }
  }
}

/** DATE_AND_TIME: BCD year (2 digits), month, day, hour, minute, second, ms (3 digits) and weekday 1 = Sunday. */
function bcdDateAndTime(d: Date): Uint8Array {
  const bcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);
  const ms = d.getUTCMilliseconds();
  return Uint8Array.of(
    bcd(d.getUTCFullYear() % 100),
    bcd(d.getUTCMonth() + 1),
    bcd(d.getUTCDate()),
    bcd(d.getUTCHours()),
    bcd(d.getUTCMinutes()),
    bcd(d.getUTCSeconds()),
    bcd(Math.floor(ms / 10)),
    ((ms % 10) << 4) | (d.getUTCDay() + 1),
  );
}
