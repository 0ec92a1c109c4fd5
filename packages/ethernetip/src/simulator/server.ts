/**
 * @module
 * The Logix simulator: an EtherNet/IP server on TCP (sessions, SendRRData, SendUnitData,
 * ListIdentity, ListServices) and UDP (ListIdentity, ListServices) on one port number, answering
 * the CIP services of a Logix controller over the codec this package's client uses: Identity,
 * Multiple Service Packet, Unconnected Send, Forward Open / Large Forward Open / Forward Close,
 * Read/Write Tag (fragmented), Read-Modify-Write Tag, Symbol Object instance lists and Template
 * Object reads (1756-PM020).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { BifrostError, ConnectionGuard, type RunningSimulator, type SimulatorOptions, type StartSimulator } from '@bifrost/core';
import { ClassId, decodeForwardClose, decodeForwardOpen, decodeMultipleServiceData, decodeRequest, decodeUnconnectedSend, encodeForwardOpenReply, encodeResponse, Service } from '../codec/cip.js';
import {
  CpfType,
  decodeEncap,
  decodeSendData,
  EncapCommand,
  type EncapPacket,
  encodeConnectedPacket,
  encodeCpf,
  encodeEncap,
  encodeIdentityItem,
  encodeServiceItem,
  encodeUnconnectedPacket,
  type IdentityItem,
} from '../codec/encapsulation.js';
import { decodeEpath, type Segment } from '../codec/epath.js';
import { encodeIdentityObject, type IdentityObject } from '../codec/identity.js';
import {
  BASE_TAG_BIT,
  CipType,
  decodeWriteTagData,
  encodeSymbolEntry,
  encodeTemplateAttributes,
  encodeTemplateDefinition,
  encodeTypeId,
  objectDefinitionSize,
  STRING_HANDLE,
  SYMBOL_ATTRIBUTE_SIZES,
  type SymbolInstance,
} from '../codec/logix.js';
import { ByteReader } from '../codec/reader.js';
import { EncapFramer } from '../framing.js';
import { type EipSimConfig, loadSimConfig, type SignalSpec } from './config.js';
import { LogixTagDb, type SimRef, type SimStatus, type SimType } from './tag-db.js';

/**
 * The EtherNet/IP port (CIP Vol 2 §2-2: TCP and UDP 44818).
 * @example startSimulator({ port: DEFAULT_PORT })
 */
export const DEFAULT_PORT = 44818;

/** Options of the EtherNet/IP simulator. */
export interface EipSimulatorOptions extends SimulatorOptions {
  /** Largest encapsulation packet accepted (default 65535 + 24, the protocol's own limit). */
  maxFrameSize?: number;
  /** Also answer ListIdentity/ListServices over UDP on the same port (default true). */
  udp?: boolean;
  /**
   * Sender context of SendRRData replies: `'echo'` (default) returns the request's, as CIP Vol 2
   * §2-3.2 requires; `'register-session'` returns the RegisterSession's for every reply, as some
   * targets and a widely used open Logix simulator do (to test clients against them).
   */
  senderContext?: 'echo' | 'register-session';
}

/** A running EtherNet/IP simulator with its tag database. */
export interface EipSimulator extends RunningSimulator {
  readonly db: LogixTagDb;
  /** Open TCP sessions. */
  readonly sessions: number;
}

const UNCONNECTED_ROOM = 504;
/** The Program Name object of a Logix (Rockwell KB 23341): Get Attributes All on instance 1 answers the controller's name. */
const PROGRAM_NAME_CLASS = 0x64;
const MAX_LARGE_CONNECTION = 4002;
const MAX_SMALL_CONNECTION = 511;

interface Connection {
  otId: number;
  toId: number;
  size: number;
  serial: number;
  vendor: number;
  originatorSerial: number;
}

interface SessionState {
  handle: number;
  connections: Map<number, Connection>;
  /** The sender context RegisterSession carried. */
  registerContext: bigint;
}

interface Status {
  status: number;
  extended: number[];
  data?: Buffer;
  /** The data is already a whole reply (a routed Unconnected Send answers with the target's reply). */
  passThrough?: boolean;
}

interface ActiveSignal {
  spec: SignalSpec;
  ref: SimRef;
  initial: number;
}

const isStatus = (r: SimRef | SimStatus): r is SimStatus => (r as SimStatus).status !== undefined;

class Simulator implements EipSimulator {
  readonly db = new LogixTagDb();
  readonly host: string;
  port = 0;
  readonly #server: Server;
  #udp: UdpSocket | undefined;
  readonly #guard: ConnectionGuard;
  readonly #identity: IdentityObject;
  readonly #slot: number;
  readonly #large: boolean;
  readonly #maxFrame: number;
  readonly #echoContext: boolean;
  readonly #controllerName: string;
  readonly #signals: ActiveSignal[] = [];
  readonly #refs = new Map<string, SimRef>();
  readonly #start = Date.now();
  #lastTick = 0;
  #nextSession = 0x1000;
  #nextConnection = 0x10000;
  #closing: Promise<void> | undefined;

  constructor(options: EipSimulatorOptions, config: EipSimConfig) {
    this.host = options.host ?? '127.0.0.1';
    const id = config.identity ?? {};
    const [major, minor] = String(id.revision ?? '32.11')
      .split('.')
      .map((x) => Number(x) || 0);
    this.#identity = {
      vendorId: id.vendorId ?? 1,
      deviceType: id.deviceType ?? 14,
      productCode: id.productCode ?? 166,
      revision: { major: major ?? 32, minor: minor ?? 0 },
      // Status word: owned, configured, "run" (1756-PM020 / CIP Vol 1 §5A-2.2).
      status: 0x3060,
      serialNumber: id.serialNumber ?? 0x00c0ffee,
      productName: id.productName ?? '1756-L83E/B',
    };
    this.#slot = config.slot ?? 0;
    this.#controllerName = config.identity?.controllerName ?? 'Bifrost';
    this.#large = config.largeForwardOpen ?? true;
    this.#maxFrame = options.maxFrameSize ?? 65535 + 24;
    this.#echoContext = (options.senderContext ?? 'echo') === 'echo';
    // Idle sessions are closed and the longest-idle one makes room at the cap, so idle sockets cannot lock a client out.
    this.#guard = new ConnectionGuard(options);
    for (const [name, members] of Object.entries(config.udts ?? {})) this.db.defineUdt(name, members);
    for (const t of config.tags ?? []) this.db.addTag(t);
    for (const [program, tags] of Object.entries(config.programs ?? {})) {
      this.db.scope(program);
      for (const t of tags ?? []) this.db.addTag({ ...t, program });
    }
    for (const spec of config.signals ?? []) {
      const ref = this.db.find(spec.tag);
      if (isStatus(ref)) throw new BifrostError('BIFROST_CONFIG_INVALID', `signal for ${spec.tag}: no such tag or member`);
      const initial = ref.type.kind === 'atomic' && ref.bit === undefined ? Number(readNumber(ref, 0)) : 0;
      this.#signals.push({ spec, ref, initial });
    }
    this.#tick(true);
    this.#server = createServer((s) => this.#onSocket(s));
  }

  get url(): string {
    return `eip://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}?path=1,${this.#slot}`;
  }

  get sessions(): number {
    return this.#guard.size;
  }

  async listen(port: number, udp: boolean): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, this.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const addr = this.#server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    if (udp) {
      const sock = createSocket({ type: this.host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
      sock.on('message', (msg, rinfo) => {
        const reply = this.#onDatagram(msg);
        if (reply) sock.send(reply, rinfo.port, rinfo.address);
      });
      sock.on('error', () => {});
      await new Promise<void>((resolve) => {
        sock.once('error', () => resolve());
        sock.bind(this.port, this.host, () => resolve());
      });
      this.#udp = sock;
    }
  }

  describe(): string {
    const programs = [...this.db.programs.values()].map((p) => `Program:${p.name} (${p.list.length})`).join(', ');
    return `EtherNet/IP Logix simulator ${this.#identity.productName} at ${this.host}:${this.port} (TCP+UDP), slot ${this.#slot}: ${this.db.controller.list.length} controller tags${programs ? `, ${programs}` : ''}, ${this.db.templates.size} templates`;
  }

  // ── signals ──

  #tick(force = false): void {
    const now = Date.now();
    if (!force && now - this.#lastTick < 20) return;
    this.#lastTick = now;
    const t = (now - this.#start) / 1000;
    for (const s of this.#signals) {
      const { spec, ref } = s;
      const n = ref.bit !== undefined ? 1 : ref.type.kind === 'atomic' ? Math.min(ref.available, ref.tag.dims.length > 0 && ref.offset === 0 ? ref.available : 1) : 0;
      for (let i = 0; i < n; i++) {
        const phase = (spec.phase ?? 0) + (n > 1 ? (2 * Math.PI * i) / n : 0);
        let v: number;
        switch (spec.kind) {
          case 'counter':
            v = s.initial + Math.floor((now - this.#start) / (spec.periodMs ?? 1000));
            break;
          case 'sine':
            v = (spec.offset ?? 0) + (spec.amplitude ?? 1) * Math.sin((2 * Math.PI * t) / (spec.periodS ?? 60) + phase);
            break;
          case 'toggle':
            v = Math.floor((2 * t) / (spec.periodS ?? 10)) % 2 === 0 ? 1 : 0;
            break;
          case 'ramp':
            v = (spec.offset ?? 0) + (spec.amplitude ?? 100) * ((t % (spec.periodS ?? 60)) / (spec.periodS ?? 60));
            break;
        }
        writeNumber(ref, i, v);
      }
    }
  }

  // ── TCP ──

  #onSocket(socket: Socket): void {
    this.#guard.admit(socket);
    socket.setNoDelay(true);
    const session: SessionState = { handle: 0, connections: new Map(), registerContext: 0n };
    const framer = new EncapFramer(
      this.#maxFrame,
      (frame) => {
        this.#guard.active(socket);
        const reply = this.#onPacket(frame, session, socket);
        if (reply) socket.write(reply);
      },
      () => socket.destroy(),
    );
    socket.on('data', (c: Buffer) => framer.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      framer.stop();
    });
  }

  #onPacket(frame: Buffer, session: SessionState, socket: Socket): Buffer | undefined {
    let p: EncapPacket;
    try {
      p = decodeEncap(frame);
    } catch {
      socket.destroy();
      return undefined;
    }
    const reply = (data: Buffer, status = 0, sessionHandle = p.session) => encodeEncap({ command: p.command, session: sessionHandle, status, context: p.context, options: 0, data });
    switch (p.command) {
      case EncapCommand.NOP:
        return undefined;
      case EncapCommand.ListIdentity:
        return reply(this.#identityCpf());
      case EncapCommand.ListServices:
        return reply(this.#servicesCpf());
      case EncapCommand.ListInterfaces:
        return reply(Buffer.from([0, 0]));
      case EncapCommand.RegisterSession: {
        if (p.data.length < 4) return reply(p.data, 0x65, 0);
        if (p.data.readUInt16LE(0) !== 1) return reply(p.data, 0x69, 0);
        if (session.handle !== 0) return reply(p.data, 0x64, 0);
        session.handle = this.#nextSession++;
        session.registerContext = p.context;
        return reply(p.data, 0, session.handle);
      }
      case EncapCommand.UnRegisterSession:
        socket.end();
        return undefined;
      case EncapCommand.SendRRData:
      case EncapCommand.SendUnitData: {
        if (session.handle === 0 || p.session !== session.handle) return reply(Buffer.alloc(0), 0x64);
        let items: ReturnType<typeof decodeSendData>['items'];
        try {
          items = decodeSendData(p.data).items;
        } catch {
          return reply(Buffer.alloc(0), 0x03);
        }
        this.#tick();
        if (p.command === EncapCommand.SendRRData) {
          const mr = items.find((i) => i.type === CpfType.UnconnectedData);
          if (!mr) return reply(Buffer.alloc(0), 0x03);
          const context = this.#echoContext ? p.context : session.registerContext;
          return encodeUnconnectedPacket(session.handle, context, this.#message(mr.data, UNCONNECTED_ROOM, session, true));
        }
        const addr = items.find((i) => i.type === CpfType.ConnectedAddress);
        const data = items.find((i) => i.type === CpfType.ConnectedData);
        if (!addr || addr.data.length < 4 || !data || data.data.length < 2) return reply(Buffer.alloc(0), 0x03);
        const conn = session.connections.get(addr.data.readUInt32LE(0));
        if (!conn) return undefined;
        const seq = data.data.readUInt16LE(0);
        return encodeConnectedPacket(session.handle, conn.toId, seq, this.#message(data.data.subarray(2), conn.size - 2, session, false));
      }
      default:
        return reply(Buffer.alloc(0), 0x01);
    }
  }

  #onDatagram(msg: Buffer): Buffer | undefined {
    try {
      const p = decodeEncap(msg);
      const reply = (data: Buffer) => encodeEncap({ command: p.command, session: 0, status: 0, context: p.context, options: 0, data });
      if (p.command === EncapCommand.ListIdentity) return reply(this.#identityCpf());
      if (p.command === EncapCommand.ListServices) return reply(this.#servicesCpf());
    } catch {
      // A datagram that is not a whole encapsulation packet gets no answer (CIP Vol 2 §2-3.4).
    }
    return undefined;
  }

  #identityCpf(): Buffer {
    const item: IdentityItem = {
      encapsulationVersion: 1,
      socketAddress: { family: 2, port: this.port, address: /^\d+\.\d+\.\d+\.\d+$/.test(this.host) ? this.host : '0.0.0.0' },
      vendorId: this.#identity.vendorId,
      deviceType: this.#identity.deviceType,
      productCode: this.#identity.productCode,
      revision: this.#identity.revision,
      status: this.#identity.status,
      serialNumber: this.#identity.serialNumber,
      productName: this.#identity.productName,
      state: 3,
    };
    return encodeCpf([{ type: CpfType.ListIdentity, data: encodeIdentityItem(item) }]);
  }

  #servicesCpf(): Buffer {
    return encodeCpf([{ type: CpfType.ListServices, data: encodeServiceItem({ version: 1, capabilities: 0x0120, name: 'Communications' }) }]);
  }

  // ── CIP ──

  /** Handles one Message Router request; `room` is the largest reply the connection carries. */
  #message(mr: Buffer, room: number, session: SessionState, unconnected: boolean): Buffer {
    const service = mr[0] ?? 0;
    if (service === Service.ReadTag && mr[2] === 0x91) {
      const fast = this.#fastRead(mr, room);
      if (fast) return fast;
    }
    const r = this.#dispatch(mr, room, session, unconnected);
    if (r.passThrough && r.data) return r.data;
    return encodeResponse({ service: service | 0x80, status: r.status, extended: r.extended, data: r.data ?? Buffer.alloc(0) });
  }

  /**
   * Read Tag of one atomic element by symbolic path in one allocation, with resolved paths cached
   * (a polling client repeats its paths). Anything else goes the general way.
   */
  #fastRead(mr: Buffer, room: number): Buffer | undefined {
    const pathEnd = 2 + (mr[1] as number) * 2;
    if (mr.length !== pathEnd + 2) return undefined;
    const key = mr.toString('latin1', 2, pathEnd);
    let ref = this.#refs.get(key);
    if (ref === undefined) {
      let resolved: SimRef | SimStatus;
      try {
        resolved = this.db.resolve(decodeEpath(mr.subarray(2, pathEnd)));
      } catch {
        return undefined;
      }
      if (isStatus(resolved)) return undefined;
      ref = resolved;
      if (this.#refs.size < 100_000) this.#refs.set(key, ref);
    }
    const count = mr.readUInt16LE(pathEnd);
    if (ref.type.kind !== 'atomic' || ref.bit !== undefined || count !== 1) return undefined;
    const size = ref.type.size;
    if (4 + 2 + size > room) return undefined;
    const out = Buffer.allocUnsafe(4 + 2 + size);
    out[0] = Service.ReadTag | 0x80;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    out.writeUInt16LE(ref.type.code, 4);
    ref.tag.data.copy(out, 6, ref.offset, ref.offset + size);
    return out;
  }

  #dispatch(mr: Buffer, room: number, session: SessionState, unconnected: boolean): Status {
    let req: ReturnType<typeof decodeRequest>;
    let path: Segment[];
    try {
      req = decodeRequest(mr);
    } catch {
      return { status: 0x13, extended: [] };
    }
    try {
      path = decodeEpath(req.path);
    } catch {
      return { status: 0x04, extended: [] };
    }
    try {
      const symbolic = path.findIndex((s) => s.type === 'symbolic');
      const cls = path.find((s) => s.type === 'class') as { id: number } | undefined;
      if (cls?.id === ClassId.Symbol) {
        if (req.service === Service.GetInstanceAttributeList) return this.#symbols(req.service, path, req.data, room);
        // Symbol instance addressing (1756-PM020 "Symbol Instance Addressing", v21+): class 0x6B,
        // the tag's instance, then members and indices as in a symbolic path. pycomm3 reads this way.
        const byInstance = this.#instancePath(path);
        if (!Array.isArray(byInstance)) return byInstance;
        return this.#tagService(req.service, byInstance, req.data, room);
      }
      if (symbolic === 0) return this.#tagService(req.service, path, req.data, room);
      const inst = path.find((s) => s.type === 'instance') as { id: number } | undefined;
      if (!cls) return { status: 0x04, extended: [] };
      switch (cls.id) {
        case ClassId.Identity:
          if (inst?.id !== 1 && inst?.id !== undefined) return { status: 0x05, extended: [] };
          if (req.service === Service.GetAttributesAll) return { status: 0, extended: [], data: encodeIdentityObject(this.#identity) };
          if (req.service === Service.GetAttributeSingle) return this.#identityAttribute(path);
          return { status: 0x08, extended: [] };
        case ClassId.MessageRouter:
          if (req.service === Service.MultipleServicePacket) return this.#multiple(req.data, room, session, unconnected);
          return { status: 0x08, extended: [] };
        case ClassId.ConnectionManager:
          return this.#connectionManager(req.service, req.data, room, session, unconnected);
        case ClassId.Template:
          return this.#template(req.service, inst?.id ?? 0, req.data, room);
        case PROGRAM_NAME_CLASS: {
          if (inst?.id !== 1) return { status: 0x05, extended: [] };
          if (req.service !== Service.GetAttributesAll) return { status: 0x08, extended: [] };
          // A STRING: UINT length and the characters (CIP Vol 1 Appendix C-2.1.1 STRING).
          const name = Buffer.from(this.#controllerName, 'latin1');
          const out = Buffer.allocUnsafe(2 + name.length);
          out.writeUInt16LE(name.length, 0);
          name.copy(out, 2);
          return { status: 0, extended: [], data: out };
        }
        default:
          return { status: 0x05, extended: [] };
      }
    } catch (e) {
      // Request data that is too short to decode is the requester's fault (CIP Vol 1 Table B-1.1: 0x13).
      if (e instanceof BifrostError && (e.code === 'BIFROST_MALFORMED_FRAME' || e.code === 'BIFROST_BUFFER_TOO_SHORT')) return { status: 0x13, extended: [] };
      return { status: 0x1f, extended: [] };
    }
  }

  /** Turns `[Program:X] class 0x6B instance N …rest` into the symbolic path of tag N. */
  #instancePath(path: Segment[]): Segment[] | SimStatus {
    const at = path.findIndex((s) => s.type === 'class');
    const inst = path[at + 1];
    if (inst?.type !== 'instance') return { status: 0x04, extended: [] };
    const head = path.slice(0, at);
    let scope = this.db.controller;
    if (head.length > 0) {
      const p = head[0];
      const s = head.length === 1 && p?.type === 'symbolic' && p.name.toLowerCase().startsWith('program:') ? this.db.programs.get(p.name.slice(8).toLowerCase()) : undefined;
      if (!s) return { status: 0x04, extended: [] };
      scope = s;
    }
    const tag = scope.list.find((t) => t.instance === inst.id);
    if (!tag) return { status: 0x05, extended: [] };
    return [...head, { type: 'symbolic', name: tag.name }, ...path.slice(at + 2)];
  }

  #identityAttribute(path: Segment[]): Status {
    const attr = (path.find((s) => s.type === 'attribute') as { id: number } | undefined)?.id;
    const full = encodeIdentityObject(this.#identity);
    const ranges: Record<number, [number, number]> = { 1: [0, 2], 2: [2, 4], 3: [4, 6], 4: [6, 8], 5: [8, 10], 6: [10, 14], 7: [14, full.length] };
    const r = attr === undefined ? undefined : ranges[attr];
    if (!r) return { status: 0x14, extended: [] };
    return { status: 0, extended: [], data: full.subarray(r[0], r[1]) };
  }

  #multiple(data: Buffer, room: number, session: SessionState, unconnected: boolean): Status {
    const parts = decodeMultipleServiceData(data);
    const replies: Buffer[] = [];
    let used = 4 + 2 + parts.length * 2;
    let failed = false;
    for (const part of parts) {
      if (part[0] === Service.MultipleServicePacket) {
        replies.push(encodeResponse({ service: Service.MultipleServicePacket | 0x80, status: 0x08, extended: [], data: Buffer.alloc(0) }));
        failed = true;
        continue;
      }
      const res = this.#message(part, Math.max(0, room - used), session, unconnected);
      used += res.length;
      if ((res[2] ?? 0) !== 0 && res[2] !== 0x06) failed = true;
      replies.push(res);
    }
    // One failed embedded service makes the whole reply 0x1E (CIP Vol 1 §A-4.10.2). The reply is
    // written whole here, header included, to spare the copies of a 4 KB packet.
    const head = 4 + 2 + replies.length * 2;
    let size = head;
    for (const r of replies) size += r.length;
    const out = Buffer.allocUnsafe(size);
    out[0] = Service.MultipleServicePacket | 0x80;
    out[1] = 0;
    out[2] = failed ? 0x1e : 0;
    out[3] = 0;
    out.writeUInt16LE(replies.length, 4);
    let off = head - 4;
    for (let i = 0; i < replies.length; i++) {
      const r = replies[i] as Buffer;
      out.writeUInt16LE(off, 6 + i * 2);
      r.copy(out, 4 + off);
      off += r.length;
    }
    return { status: 0, extended: [], data: out, passThrough: true };
  }

  #routeStatus(route: Segment[]): Status | undefined {
    if (route.length === 0) return undefined;
    if (route.length > 1) return { status: 0x01, extended: [0x0315] };
    const seg = route[0] as Segment;
    if (seg.type !== 'port') return { status: 0x01, extended: [0x0315] };
    if (seg.port !== 1) return { status: 0x01, extended: [0x0311] };
    if (seg.link !== this.#slot) return { status: 0x01, extended: [0x0312] };
    return undefined;
  }

  #connectionManager(service: number, data: Buffer, room: number, session: SessionState, unconnected: boolean): Status {
    if (service === Service.UnconnectedSend) {
      const us = decodeUnconnectedSend(data);
      const bad = this.#routeStatus(us.route);
      // A routing failure answers as the Unconnected Send with the remaining path size (CIP Vol 1 §3-5.5.2).
      if (bad) return { ...bad, data: Buffer.from([us.route.length, 0]) };
      return { status: 0, extended: [], data: this.#message(us.message, room, session, unconnected), passThrough: true };
    }
    if (service === Service.ForwardOpen || service === Service.LargeForwardOpen) {
      const large = service === Service.LargeForwardOpen;
      if (large && !this.#large) return { status: 0x08, extended: [] };
      const fo = decodeForwardOpen(data, large);
      const failData = Buffer.alloc(10);
      failData.writeUInt16LE(fo.connectionSerial, 0);
      failData.writeUInt16LE(fo.vendorId, 2);
      failData.writeUInt32LE(fo.originatorSerial, 4);
      const route = fo.path.filter((s) => s.type === 'port');
      const bad = this.#routeStatus(route);
      if (bad) return { ...bad, data: failData };
      const size = large ? fo.otParams & 0xffff : fo.otParams & 0x1ff;
      if (size < 64 || size > (large ? MAX_LARGE_CONNECTION : MAX_SMALL_CONNECTION)) return { status: 0x01, extended: [0x0109, large ? MAX_LARGE_CONNECTION : MAX_SMALL_CONNECTION], data: failData };
      for (const c of session.connections.values()) {
        if (c.serial === fo.connectionSerial && c.vendor === fo.vendorId && c.originatorSerial === fo.originatorSerial) return { status: 0x01, extended: [0x0100], data: failData };
      }
      const conn: Connection = { otId: this.#nextConnection++ >>> 0, toId: fo.toConnectionId, size, serial: fo.connectionSerial, vendor: fo.vendorId, originatorSerial: fo.originatorSerial };
      session.connections.set(conn.otId, conn);
      return {
        status: 0,
        extended: [],
        data: Buffer.concat([
          encodeForwardOpenReply({
            otConnectionId: conn.otId,
            toConnectionId: conn.toId,
            connectionSerial: conn.serial,
            vendorId: conn.vendor,
            originatorSerial: conn.originatorSerial,
            otApi: fo.otRpi,
            toApi: fo.toRpi,
          }),
          Buffer.from([0, 0]),
        ]),
      };
    }
    if (service === Service.ForwardClose) {
      const fc = decodeForwardClose(data);
      const out = Buffer.alloc(10);
      out.writeUInt16LE(fc.connectionSerial, 0);
      out.writeUInt16LE(fc.vendorId, 2);
      out.writeUInt32LE(fc.originatorSerial, 4);
      for (const [id, c] of session.connections) {
        if (c.serial === fc.connectionSerial && c.vendor === fc.vendorId && c.originatorSerial === fc.originatorSerial) {
          session.connections.delete(id);
          return { status: 0, extended: [], data: out };
        }
      }
      // Connection not found (CIP Vol 1 Table 3-5.29, extended status 0x0107).
      return { status: 0x01, extended: [0x0107], data: out };
    }
    return { status: 0x08, extended: [] };
  }

  #symbols(service: number, path: Segment[], data: Buffer, room: number): Status {
    if (service !== Service.GetInstanceAttributeList) return { status: 0x08, extended: [] };
    const first = path[0];
    let scope = this.db.controller;
    if (first?.type === 'symbolic') {
      const s = first.name.toLowerCase().startsWith('program:') ? this.db.programs.get(first.name.slice(8).toLowerCase()) : undefined;
      if (!s) return { status: 0x04, extended: [] };
      scope = s;
    }
    const start = (path.find((s) => s.type === 'instance') as { id: number } | undefined)?.id ?? 0;
    const r = new ByteReader(data, 'Get Instance Attribute List');
    const n = r.u16();
    const attrs: number[] = [];
    for (let i = 0; i < n; i++) attrs.push(r.u16());
    if (attrs.some((a) => SYMBOL_ATTRIBUTE_SIZES[a] === undefined)) return { status: 0x0a, extended: [] };
    const entries: SymbolInstance[] = scope.list.map((t) => symbolOf(t.instance, t.name, t.type, t.dims));
    if (scope === this.db.controller) {
      // Programs appear in the controller's list as "Program:<name>" symbols (type 0x1068, 1756-PM020).
      let id = 0x8000;
      for (const p of this.db.programs.values()) {
        const instance = id++;
        entries.push({ instance, name: `Program:${p.name}`, symbolType: 0x1068, dimensions: [0, 0, 0], ...memoryOf(instance), softwareControl: 0, externalAccess: 3 });
      }
    }
    const parts: Buffer[] = [];
    let used = 4;
    let more = false;
    for (const e of entries.filter((x) => x.instance >= start).sort((a, b) => a.instance - b.instance)) {
      const b = encodeSymbolEntry(e, attrs);
      if (used + b.length > room) {
        more = true;
        break;
      }
      parts.push(b);
      used += b.length;
    }
    return { status: more ? 0x06 : 0, extended: [], data: Buffer.concat(parts) };
  }

  #template(service: number, id: number, data: Buffer, room: number): Status {
    const t = this.db.templates.get(id);
    if (!t) return { status: 0x05, extended: [] };
    const def = encodeTemplateDefinition(t);
    if (service === Service.GetAttributeList) {
      const r = new ByteReader(data, 'Get Attribute List');
      const ids: number[] = [];
      for (let n = r.u16(); n > 0; n--) ids.push(r.u16());
      const attrs = { objectDefinitionSize: objectDefinitionSize(def.length), structureSize: t.size, memberCount: t.members.length, handle: t.handle };
      // A Get Attribute List with an unsupported attribute still answers the others (CIP Vol 1 §A-4.1), status 0x0A.
      const bad = ids.some((id) => id < 1 || id > 5);
      return { status: bad ? 0x0a : 0, extended: [], data: encodeTemplateAttributes(attrs, ids) };
    }
    if (service === Service.ReadTag) {
      const r = new ByteReader(data, 'Read Template');
      const offset = r.u32();
      const bytes = r.u16();
      // Past the end is an error, never an empty success: a client that asks for more than there
      // is would otherwise ask again at the same offset forever.
      if (offset >= def.length) return { status: 0xff, extended: [0x2104] };
      const want = def.subarray(offset, Math.min(def.length, offset + bytes));
      const max = Math.max(0, room - 4);
      if (want.length > max) return { status: 0x06, extended: [], data: want.subarray(0, max & ~3) };
      return { status: 0, extended: [], data: want };
    }
    return { status: 0x08, extended: [] };
  }

  #tagService(service: number, path: Segment[], data: Buffer, room: number): Status {
    const ref = this.db.resolve(path);
    if (isStatus(ref)) return { status: ref.status, extended: ref.extended };
    switch (service) {
      case Service.ReadTag: {
        const r = new ByteReader(data, 'Read Tag');
        return readReply(ref, r.u16(), 0, room, false);
      }
      case Service.ReadTagFragmented: {
        const r = new ByteReader(data, 'Read Tag Fragmented');
        const count = r.u16();
        return readReply(ref, count, r.u32(), room, true);
      }
      case Service.WriteTag:
      case Service.WriteTagFragmented:
        return writeTag(ref, decodeWriteTagData(data, service === Service.WriteTagFragmented), service === Service.WriteTagFragmented);
      case Service.ReadModifyWriteTag: {
        if (
          ref.type.kind !== 'atomic' ||
          ref.bit !== undefined ||
          ![CipType.SINT, CipType.INT, CipType.DINT, CipType.LINT, CipType.USINT, CipType.UINT, CipType.UDINT, CipType.ULINT].includes(ref.type.code as 0xc2)
        ) {
          return { status: 0xff, extended: [0x2107] };
        }
        const r = new ByteReader(data, 'Read Modify Write Tag');
        const size = r.u16();
        if (size !== ref.type.size) return { status: 0x03, extended: [] };
        const or = r.bytes(size);
        const and = r.bytes(size);
        for (let i = 0; i < size; i++) {
          const o = ref.tag.data[ref.offset + i] as number;
          ref.tag.data[ref.offset + i] = (o | (or[i] as number)) & (and[i] as number);
        }
        return { status: 0, extended: [] };
      }
      default:
        return { status: 0x08, extended: [] };
    }
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      for (const s of [...this.#guard.sockets()]) s.destroy();
      this.#guard.stop();
      this.#udp?.close();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Made-up but stable controller memory addresses of a symbol (attributes 3 and 5). */
function memoryOf(instance: number): { address: number; objectAddress: number } {
  return { address: (0x0010_0000 + instance * 0x100) >>> 0, objectAddress: (0x0800_0000 + instance * 0x40) >>> 0 };
}

function symbolOf(instance: number, name: string, type: SimType, dims: number[]): SymbolInstance {
  const base = type.kind === 'atomic' ? type.code : 0x8000 | (type.template.id & 0x0fff);
  return {
    instance,
    name,
    symbolType: base | ((dims.length & 3) << 13),
    dimensions: [dims[0] ?? 0, dims[1] ?? 0, dims[2] ?? 0],
    ...memoryOf(instance),
    // Every simulated tag is a base tag (no aliases), read/write from outside.
    softwareControl: BASE_TAG_BIT,
    externalAccess: 0,
  };
}

function readReply(ref: SimRef, count: number, byteOffset: number, room: number, fragmented: boolean): Status {
  if (count < 1 || count > ref.available) return { status: 0xff, extended: [0x2105] };
  const size = ref.type.size;
  let bytes: Buffer;
  if (ref.bit !== undefined) bytes = Buffer.from([((ref.tag.data[ref.offset] as number) >> ref.bit) & 1]);
  else bytes = ref.tag.data.subarray(ref.offset, ref.offset + count * size);
  if (fragmented) {
    if (byteOffset > bytes.length) return { status: 0xff, extended: [0x2104] };
    bytes = bytes.subarray(byteOffset);
  }
  const typeId = encodeTypeId(LogixTagDb.typeId(ref.type));
  const max = room - 4 - typeId.length;
  if (bytes.length <= max) return { status: 0, extended: [], data: Buffer.concat([typeId, bytes]) };
  // Partial transfer: as much as fits, whole elements where an element fits (1756-PM020, status 0x06).
  const unit = size <= max ? Math.min(size, 8) : 4;
  const n = Math.max(0, Math.floor(max / unit) * unit);
  return { status: 0x06, extended: [], data: Buffer.concat([typeId, bytes.subarray(0, n)]) };
}

function writeTag(ref: SimRef, w: ReturnType<typeof decodeWriteTagData>, fragmented: boolean): Status {
  const t = ref.type;
  const matches = t.kind === 'atomic' ? w.type.code === t.code : w.type.code === CipType.STRUCT && w.type.handle === t.template.handle;
  if (!matches) return { status: 0xff, extended: [0x2107] };
  if (w.count < 1 || w.count > ref.available) return { status: 0xff, extended: [0x2105] };
  const total = w.count * t.size;
  if (ref.bit !== undefined) {
    if (w.data.length < 1) return { status: 0x13, extended: [] };
    const host = ref.tag.data[ref.offset] as number;
    ref.tag.data[ref.offset] = w.data[0] ? host | (1 << ref.bit) : host & ~(1 << ref.bit);
    return { status: 0, extended: [] };
  }
  if (fragmented) {
    if (w.offset + w.data.length > total) return { status: 0xff, extended: [0x2104] };
    w.data.copy(ref.tag.data, ref.offset + w.offset);
    return { status: 0, extended: [] };
  }
  if (w.data.length < total) return { status: 0x13, extended: [] };
  // Bytes past count × size are ignored, as a Logix ignores them: pycomm3 (1.2.x, since 2021) sends
  // a lone Write Tag twice over in one SendUnitData item, and its single writes work on real controllers.
  w.data.copy(ref.tag.data, ref.offset, 0, total);
  if (t.kind === 'atomic' && t.code === CipType.BOOL) for (let i = 0; i < w.count; i++) ref.tag.data[ref.offset + i] = ref.tag.data[ref.offset + i] ? 1 : 0;
  if (t.kind === 'struct' && t.template.handle === STRING_HANDLE) {
    // Keep LEN within DATA's 82 characters, as the controller does.
    for (let i = 0; i < w.count; i++) {
      const o = ref.offset + i * t.size;
      const len = ref.tag.data.readInt32LE(o);
      if (len < 0 || len > 82) ref.tag.data.writeInt32LE(Math.max(0, Math.min(82, len)), o);
    }
  }
  return { status: 0, extended: [] };
}

function readNumber(ref: SimRef, i: number): number | bigint {
  const d = ref.tag.data;
  const o = ref.offset + i * ref.type.size;
  if (ref.type.kind !== 'atomic') return 0;
  switch (ref.type.code) {
    case CipType.BOOL:
      return d[o] ? 1 : 0;
    case CipType.SINT:
      return d.readInt8(o);
    case CipType.INT:
      return d.readInt16LE(o);
    case CipType.DINT:
      return d.readInt32LE(o);
    case CipType.LINT:
      return d.readBigInt64LE(o);
    case CipType.USINT:
      return d.readUInt8(o);
    case CipType.UINT:
      return d.readUInt16LE(o);
    case CipType.UDINT:
      return d.readUInt32LE(o);
    case CipType.ULINT:
      return d.readBigUInt64LE(o);
    case CipType.REAL:
      return d.readFloatLE(o);
    case CipType.LREAL:
      return d.readDoubleLE(o);
    default:
      return 0;
  }
}

/** Writes a signal value, wrapping integers into their type's range. */
function writeNumber(ref: SimRef, i: number, v: number): void {
  const d = ref.tag.data;
  if (ref.bit !== undefined) {
    const host = d[ref.offset] as number;
    d[ref.offset] = v ? host | (1 << ref.bit) : host & ~(1 << ref.bit);
    return;
  }
  if (ref.type.kind !== 'atomic') return;
  const o = ref.offset + i * ref.type.size;
  const n = Math.trunc(v);
  switch (ref.type.code) {
    case CipType.BOOL:
      d[o] = v ? 1 : 0;
      break;
    case CipType.SINT:
      d.writeInt8(((n + 128) & 0xff) - 128, o);
      break;
    case CipType.INT:
      d.writeInt16LE(((n + 32768) & 0xffff) - 32768, o);
      break;
    case CipType.DINT:
      d.writeInt32LE(n | 0, o);
      break;
    case CipType.LINT:
      d.writeBigInt64LE(BigInt(n), o);
      break;
    case CipType.USINT:
      d.writeUInt8(n & 0xff, o);
      break;
    case CipType.UINT:
      d.writeUInt16LE(n & 0xffff, o);
      break;
    case CipType.UDINT:
      d.writeUInt32LE(n >>> 0, o);
      break;
    case CipType.ULINT:
      d.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)), o);
      break;
    case CipType.REAL:
      d.writeFloatLE(v, o);
      break;
    case CipType.LREAL:
      d.writeDoubleLE(v, o);
      break;
  }
}

/**
 * Starts the Logix simulator. With no `config` it serves the default plant (see the README).
 * `port` 0 picks a free port; ListIdentity is answered over UDP on the same port number.
 * @example
 * await using sim = await startSimulator({ port: 0 });
 * await using plc = await connect(sim.url);
 */
export const startSimulator: StartSimulator = async (options: EipSimulatorOptions = {}): Promise<EipSimulator> => {
  const config = loadSimConfig(options.config);
  const sim = new Simulator(options, config);
  await sim.listen(options.port ?? DEFAULT_PORT, options.udp ?? true);
  return sim;
};

/**
 * Typed alias of {@link startSimulator} returning the simulator with its tag database.
 * @example const sim = await startEipSimulator({ port: 0 }); sim.db.controller.list.length
 */
export function startEipSimulator(options: EipSimulatorOptions = {}): Promise<EipSimulator> {
  return startSimulator(options) as Promise<EipSimulator>;
}
