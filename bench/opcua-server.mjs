#!/usr/bin/env node
// The gateway as an OPC UA server (issue 17), measured from outside: one real `bifrost run`
// polling 10,000 tags at 1 s from a Modbus simulator (every tenth register a counter, so 1,000
// values change per second) and serving them with `opcuaServer`.
//
// Bulk Read: a reading client in its own process (the machine's other core) keeps --inflight Read
// requests of all 10,000 variables in flight, as a SCADA polling a large display does. Two clients
// take turns: a lean one in this file (pre-encoded ReadRequest, responses walked byte by byte, so
// that the figure is the server's), then node-opcua's own client. Printed for each: values/s
// served, the gateway's CPU-seconds per 100,000 values (from /proc), the ratio to the target, and
// how busy the client's own core was — when the client was the limit, the line says so.
// Monitored items: node-opcua's client in this process monitors all 10,000 at 1 s (notifications/s
// delivered) while the gateway's CPU (% of one core) and RSS are sampled from /proc — against a
// baseline with no OPC UA client.
// Targets of the issue: ≥ 100,000 values/s by bulk Read; 10,000 monitored items at 1 s on < 25 % of one core.
//   npm run bench -- opcua-server [--tags 10000] [--reads 60] [--inflight 4] [--duration 30] [--clients lean,node-opcua] [--cpu-prof DIR]
// --cpu-prof DIR writes the gateway's CPU profile (node --cpu-prof) of the whole run into DIR.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect as tcpConnect } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'packages/cli/dist/bin.js');
const ua = createRequire(join(root, 'packages/opcua/package.json'))('node-opcua');
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const opt = (name, dflt) => Number(arg(name) ?? dflt);
const TAGS = opt('tags', 10_000);
const READS = opt('reads', 60);
const INFLIGHT = opt('inflight', 4);
const DURATION_S = opt('duration', 30);
const CLIENTS = (arg('clients') ?? 'lean,node-opcua').split(',');
const CPU_PROF = arg('cpu-prof');
const TARGET = 100_000;

// ── The lean reading client ──────────────────────────────────────────────────────────────────
// Lean OPC UA binary client (SecurityPolicy None, anonymous): HEL/ACK, OPN, CreateSession,
// ActivateSession, then pre-encoded Read requests; responses are walked, not decoded into objects.

const ID = { OPN_REQ: 446, OPN_RES: 449, CS_REQ: 461, CS_RES: 464, AS_REQ: 467, AS_RES: 470, READ_REQ: 631, READ_RES: 634, FAULT: 397, ANON: 321, CLOSE_CH: 452 };

class W {
  constructor(size = 1024) {
    this.b = Buffer.alloc(size);
    this.o = 0;
  }
  need(n) {
    if (this.o + n > this.b.length) {
      const nb = Buffer.alloc(Math.max(this.b.length * 2, this.o + n));
      this.b.copy(nb);
      this.b = nb;
    }
  }
  u8(v) {
    this.need(1);
    this.b[this.o++] = v;
  }
  u16(v) {
    this.need(2);
    this.b.writeUInt16LE(v, this.o);
    this.o += 2;
  }
  u32(v) {
    this.need(4);
    this.b.writeUInt32LE(v >>> 0, this.o);
    this.o += 4;
  }
  i32(v) {
    this.need(4);
    this.b.writeInt32LE(v, this.o);
    this.o += 4;
  }
  f64(v) {
    this.need(8);
    this.b.writeDoubleLE(v, this.o);
    this.o += 8;
  }
  i64(v) {
    this.need(8);
    this.b.writeBigInt64LE(BigInt(v), this.o);
    this.o += 8;
  }
  str(s) {
    if (s == null) return this.i32(-1);
    const x = Buffer.from(s);
    this.i32(x.length);
    this.need(x.length);
    x.copy(this.b, this.o);
    this.o += x.length;
  }
  nodeIdNum(id) {
    if (id < 256) {
      this.u8(0);
      this.u8(id);
    } else {
      this.u8(1);
      this.u8(0);
      this.u16(id);
    }
  }
  nodeId(n) {
    if (typeof n === 'number') return this.nodeIdNum(n);
    if (n.kind === 'raw') {
      this.need(n.bytes.length);
      n.bytes.copy(this.b, this.o);
      this.o += n.bytes.length;
      return;
    }
    this.u8(3);
    this.u16(n.ns);
    this.str(n.s);
  }
  done() {
    return this.b.subarray(0, this.o);
  }
}

const now = () => (BigInt(Date.now()) + 11644473600000n) * 10000n;

function requestHeader(w, auth, handle) {
  if (auth) w.nodeId({ kind: 'raw', bytes: auth });
  else w.nodeIdNum(0); // the null NodeId
  w.i64(now());
  w.u32(handle);
  w.u32(0);
  w.str(null);
  w.u32(60000);
  w.u8(0);
  w.u8(0);
  w.u8(0); // AdditionalHeader: null NodeId, no body
}

/** Reader over a Buffer. */
class R {
  constructor(b, o = 0) {
    this.b = b;
    this.o = o;
  }
  u8() {
    return this.b[this.o++];
  }
  u16() {
    const v = this.b.readUInt16LE(this.o);
    this.o += 2;
    return v;
  }
  u32() {
    const v = this.b.readUInt32LE(this.o);
    this.o += 4;
    return v;
  }
  i32() {
    const v = this.b.readInt32LE(this.o);
    this.o += 4;
    return v;
  }
  skip(n) {
    this.o += n;
  }
  str() {
    const n = this.i32();
    if (n < 0) return null;
    const s = this.b.toString('utf8', this.o, this.o + n);
    this.o += n;
    return s;
  }
  skipStr() {
    const n = this.i32();
    if (n > 0) this.o += n;
  }
  nodeIdRaw() {
    const start = this.o;
    const e = this.u8();
    switch (e & 0x3f) {
      case 0:
        this.o += 1;
        break;
      case 1:
        this.o += 3;
        break;
      case 2:
        this.o += 6;
        break;
      case 3:
        this.o += 2;
        this.skipStr();
        break;
      case 4:
        this.o += 18;
        break;
      case 5:
        this.o += 2;
        this.skipStr();
        break;
      default:
        throw new Error(`NodeId encoding ${e}`);
    }
    if (e & 0x80) this.skipStr();
    if (e & 0x40) this.o += 4;
    return this.b.subarray(start, this.o);
  }
  typeId() {
    const raw = this.nodeIdRaw();
    return raw[0] === 0 ? raw[1] : raw[0] === 1 ? raw.readUInt16LE(2) : raw[0] === 2 ? raw.readUInt32LE(3) : -1;
  }
  diag() {
    const m = this.u8();
    if (m & 0x01) this.o += 4;
    if (m & 0x02) this.o += 4;
    if (m & 0x04) this.o += 4;
    if (m & 0x08) this.o += 4;
    if (m & 0x10) this.skipStr();
    if (m & 0x20) this.o += 4;
    if (m & 0x40) this.diag();
  }
  extObj() {
    this.nodeIdRaw();
    const enc = this.u8();
    if (enc === 1 || enc === 2) {
      const n = this.i32();
      if (n > 0) this.o += n;
    }
  }
  responseHeader() {
    this.o += 8;
    const handle = this.u32();
    const status = this.u32();
    this.diag();
    const n = this.i32();
    for (let i = 0; i < n; i++) this.skipStr();
    this.extObj();
    return { handle, status };
  }
}

// Sizes of the scalar built-in types (OPC 10000-6 §5.1.2) a served variable may carry.
const FIXED = [0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, -1, 8, 16, -1, -1, -1, -1, 4];

function skipVariantValue(r, type) {
  const size = FIXED[type];
  if (size === undefined) throw new Error(`variant type ${type} not walked by the lean client`);
  if (size > 0) r.o += size;
  else if (size === -1 && (type === 12 || type === 15 || type === 16)) r.skipStr();
  else if (type === 17) r.nodeIdRaw();
  else throw new Error(`variant type ${type} not walked by the lean client`);
}

/** Walks a ReadResponse's DataValues: count, Good count, and the status of the first few not Good. */
function walkReadResults(r) {
  const n = r.i32();
  let good = 0;
  const bad = [];
  for (let i = 0; i < n; i++) {
    const m = r.u8();
    if (m & 0x01) {
      const e = r.u8();
      const type = e & 0x3f;
      if (e & 0x80) {
        const len = r.i32();
        for (let k = 0; k < len; k++) skipVariantValue(r, type);
        if (e & 0x40) {
          const d = r.i32();
          r.o += 4 * Math.max(d, 0);
        }
      } else skipVariantValue(r, type);
    }
    const status = m & 0x02 ? r.u32() : 0;
    if (m & 0x04) r.o += 8;
    if (m & 0x08) r.o += 8;
    if (m & 0x10) r.o += 2;
    if (m & 0x20) r.o += 2;
    if (status === 0) good++;
    else if (bad.length < 3) bad.push(status);
  }
  return { n, good, bad };
}

async function connectRaw(url, { receiveBufferSize = 65535 } = {}) {
  const u = new URL(url);
  const socket = tcpConnect({ host: u.hostname, port: Number(u.port) });
  socket.setNoDelay(true);
  await new Promise((res, rej) => {
    socket.once('connect', res);
    socket.once('error', rej);
  });
  let pending = Buffer.alloc(0);
  const partial = new Map(); // requestId → Buffer[]
  const waiters = new Map(); // requestId → resolve
  let ackWaiter;
  let failure;
  const fail = (e) => {
    failure = e;
    for (const w of waiters.values()) w.reject(e);
    waiters.clear();
    ackWaiter?.reject(e);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  socket.on('data', (d) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    while (pending.length >= 8) {
      const size = pending.readUInt32LE(4);
      if (pending.length < size) break;
      const chunk = pending.subarray(0, size);
      pending = pending.subarray(size);
      const type = chunk.toString('latin1', 0, 3);
      const final = chunk[3];
      if (type === 'ACK') {
        ackWaiter.resolve(chunk);
        continue;
      }
      if (type === 'ERR') {
        fail(new Error(`ERR 0x${chunk.readUInt32LE(8).toString(16)} ${chunk.toString('utf8', 16)}`));
        return;
      }
      let o = 12; // after the message header and SecureChannelId
      if (type === 'OPN') {
        const r = new R(chunk, o);
        r.skipStr();
        r.skipStr();
        r.skipStr();
        o = r.o;
      } else o += 4; // TokenId
      o += 4; // SequenceNumber
      const requestId = chunk.readUInt32LE(o);
      o += 4;
      const parts = partial.get(requestId) ?? [];
      parts.push(chunk.subarray(o));
      if (final === 0x43 /* C */) {
        partial.set(requestId, parts);
        continue;
      }
      partial.delete(requestId);
      const w = waiters.get(requestId);
      waiters.delete(requestId);
      if (final === 0x41 /* A */) w?.reject(new Error('aborted chunk'));
      else w?.resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    }
  });

  // HEL (OPC 10000-6 §7.1.2.3)
  const hel = new W();
  hel.b.write('HELF', 0, 'latin1');
  hel.o = 8;
  hel.u32(0);
  hel.u32(receiveBufferSize);
  hel.u32(receiveBufferSize);
  hel.u32(0);
  hel.u32(0);
  hel.str(url);
  const helB = hel.done();
  helB.writeUInt32LE(helB.length, 4);
  const ack = await new Promise((resolve, reject) => {
    ackWaiter = { resolve, reject };
    socket.write(helB);
  });
  const serverReceive = ack.readUInt32LE(12);
  let channelId = 0,
    tokenId = 0,
    seq = 1,
    reqId = 1,
    auth;

  const send = (kind, body) => {
    const id = reqId++;
    const p = new Promise((resolve, reject) => waiters.set(id, { resolve, reject }));
    if (kind === 'OPN') {
      const h = new W();
      h.b.write('OPNF', 0, 'latin1');
      h.o = 8;
      h.u32(0);
      h.str('http://opcfoundation.org/UA/SecurityPolicy#None');
      h.i32(-1);
      h.i32(-1);
      h.u32(seq++);
      h.u32(id);
      const head = h.done();
      const msg = Buffer.concat([head, body]);
      msg.writeUInt32LE(msg.length, 4);
      socket.write(msg);
    } else {
      const max = serverReceive - 24;
      for (let off = 0; off < body.length || off === 0; off += max) {
        const part = body.subarray(off, off + max);
        const last = off + max >= body.length;
        const h = Buffer.alloc(24);
        h.write(last ? 'MSGF' : 'MSGC', 0, 'latin1');
        h.writeUInt32LE(24 + part.length, 4);
        h.writeUInt32LE(channelId, 8);
        h.writeUInt32LE(tokenId, 12);
        h.writeUInt32LE(seq++, 16);
        h.writeUInt32LE(id, 20);
        socket.write(h);
        socket.write(part);
        if (last) break;
      }
    }
    return p;
  };
  const expect = (buf, type) => {
    const r = new R(buf);
    const t = r.typeId();
    const { status } = r.responseHeader();
    if (t === ID.FAULT || t !== type || status !== 0) throw new Error(`service ${t} failed: 0x${status.toString(16)}`);
    return r;
  };

  // OPN (OPC 10000-4 §5.5.2, SecurityMode None)
  let w = new W();
  w.nodeIdNum(ID.OPN_REQ);
  requestHeader(w, null, 1);
  w.u32(0);
  w.u32(0);
  w.u32(1);
  w.i32(-1);
  w.u32(600000);
  let r = expect(await send('OPN', w.done()), ID.OPN_RES);
  r.u32();
  channelId = r.u32();
  tokenId = r.u32();

  // CreateSession (§5.6.2)
  w = new W();
  w.nodeIdNum(ID.CS_REQ);
  requestHeader(w, null, 2);
  w.str('urn:bifrost:bench:lean-client');
  w.str('urn:bifrost:bench');
  w.u8(2);
  w.str('lean client');
  w.i32(1);
  w.str(null);
  w.str(null);
  w.i32(-1);
  w.str(null);
  w.str(url);
  w.str('bench');
  w.i32(-1);
  w.i32(-1);
  w.f64(600000);
  w.u32(0);
  r = expect(await send('MSG', w.done()), ID.CS_RES);
  r.nodeIdRaw();
  auth = Buffer.from(r.nodeIdRaw());

  // ActivateSession, anonymous (§5.6.3)
  w = new W();
  w.nodeIdNum(ID.AS_REQ);
  requestHeader(w, auth, 3);
  w.str(null);
  w.i32(-1);
  w.i32(-1);
  w.i32(-1);
  w.nodeIdNum(ID.ANON);
  w.u8(1);
  w.i32(4);
  w.i32(-1); // AnonymousIdentityToken{ policyId: null }
  w.str(null);
  w.i32(-1);
  expect(await send('MSG', w.done()), ID.AS_RES);

  return {
    serverReceiveBufferSize: serverReceive,
    /** Encodes a ReadRequest once (OPC 10000-4 §5.10.2); read() sends it again and again. */
    prepareRead(nodes, { maxAge = 0, timestampsToReturn = 2 } = {}) {
      const rw = new W(64 + nodes.length * 40);
      rw.nodeIdNum(ID.READ_REQ);
      requestHeader(rw, auth, 0);
      rw.f64(maxAge);
      rw.u32(timestampsToReturn);
      rw.i32(nodes.length);
      for (const n of nodes) {
        rw.nodeId(n);
        rw.u32(n.attributeId ?? 13);
        rw.str(null);
        rw.u16(0);
        rw.str(null);
      }
      return rw.done();
    },
    async read(body) {
      const res = await send('MSG', body);
      const rr = expect(res, ID.READ_RES);
      return walkReadResults(rr);
    },
    close() {
      socket.destroy();
    },
    get failure() {
      return failure;
    },
  };
}

/** The reading client's process: connects, warms up, prints `ready`, runs the Reads, prints a JSON line. */
async function reader() {
  const url = arg('url');
  const kind = arg('client');
  const nodes = Array.from({ length: TAGS }, (_, i) => ({ ns: 1, s: `plc.t${i}` }));
  let readOnce;
  let close;
  if (kind === 'lean') {
    const c = await connectRaw(url);
    const body = c.prepareRead(nodes, { maxAge: 0, timestampsToReturn: 2 });
    readOnce = () => c.read(body);
    close = async () => c.close();
  } else {
    const client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 }, defaultTransactionTimeout: 60_000 });
    await client.connect(url);
    const session = await client.createSession();
    const toRead = nodes.map((n) => ({ nodeId: `ns=1;s=${n.s}`, attributeId: ua.AttributeIds.Value }));
    readOnce = async () => {
      const dvs = await session.read(toRead, 0);
      const bad = dvs.filter((d) => d.statusCode.value !== 0).map((d) => d.statusCode.value);
      return { n: dvs.length, good: dvs.length - bad.length, bad: bad.slice(0, 3) };
    };
    close = async () => {
      await session.close();
      await client.disconnect();
    };
  }
  await readOnce(); // warm-up: the server's and the client's code paths compiled
  await readOnce();
  process.stdout.write('ready\n');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  let values = 0;
  let good = 0;
  const times = [];
  const bad = new Set();
  const slot = async () => {
    while (next < READS) {
      next++;
      const s = performance.now();
      const r = await readOnce();
      times.push(performance.now() - s);
      values += r.n;
      good += r.good;
      for (const b of r.bad) bad.add(`0x${b.toString(16)}`);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, slot));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ values, good, ms, cpuMs: (cpu.user + cpu.system) / 1000, p50: times[Math.floor(times.length / 2)], max: times.at(-1), bad: [...bad] })}\n`);
  await close();
}

if (process.argv.includes('--reader')) {
  try {
    await reader();
    process.exit(0);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ error: String(e?.stack ?? e) })}\n`);
    process.exit(1);
  }
}
const dir = mkdtempSync(join(tmpdir(), 'bifrost-bench-opcua-server-'));
const children = [];
const killChildren = () => {
  for (const c of children) c.kill('SIGKILL');
};
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    killChildren();
    process.exit(130);
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
const rssOf = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const MB = (b) => `${(b / 1048576).toFixed(0)} MB`;

function start(args, ready) {
  const c = spawn(args[0], args.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'info' } });
  children.push(c);
  let out = '';
  c.stdout.on('data', (d) => (out = (out + d).slice(-20_000)));
  c.stderr.on('data', (d) => (out = (out + d).slice(-20_000)));
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (ready(out)) {
        clearInterval(t);
        resolve({ child: c, output: () => out });
      }
    }, 50);
    c.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

/** CPU % of one core and peak RSS of `pid` over `seconds`. */
async function sample(pid, seconds) {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  let peak = 0;
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    peak = Math.max(peak, rssOf(pid));
  }
  return { cpu: ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100, rss: peak };
}

/**
 * One reading client in its own process against the gateway: values/s served, the gateway's CPU per
 * 100,000 values, the ratio to the target, and whether the client's core was the limit.
 */
async function bulkRead(kind, url, pid) {
  const r = spawn(process.execPath, [fileURLToPath(import.meta.url), '--reader', '--client', kind, '--url', url, '--tags', String(TAGS), '--reads', String(READS), '--inflight', String(INFLIGHT)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(r);
  let out = '';
  let err = '';
  r.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  let gw0 = 0;
  const line = await new Promise((resolve, reject) => {
    r.stdout.on('data', (d) => {
      out += d;
      if (gw0 === 0 && out.includes('ready\n')) gw0 = cpuSeconds(pid);
      const last = out.split('\n').find((l) => l.startsWith('{'));
      if (last) resolve(last);
    });
    r.once('exit', (code) => reject(new Error(`${kind} reader exited ${code}: ${out}${err}`)));
  });
  const gw = cpuSeconds(pid) - gw0;
  const res = JSON.parse(line);
  if (res.error) throw new Error(`${kind} reader: ${res.error}`);
  const rate = res.values / (res.ms / 1000);
  const clientBusy = (res.cpuMs / res.ms) * 100;
  const gwBusy = (gw / (res.ms / 1000)) * 100;
  const perValue = gw / res.values;
  const name = kind === 'lean' ? 'lean client' : 'node-opcua client';
  console.log(
    `bulk Read, ${name} in its own process, ${INFLIGHT} Reads of ${TAGS.toLocaleString()} in flight, ${READS} Reads: ${Math.round(rate).toLocaleString()} values/s served (${(rate / TARGET).toFixed(2)}× the 100,000 target; p50 ${res.p50.toFixed(0)} ms, max ${res.max.toFixed(0)} ms per Read, ${res.good === res.values ? 'all Good' : `${res.good} Good of ${res.values} — the gateway's own values, e.g. ${res.bad.join(' ')}`})`,
  );
  console.log(
    `  gateway: ${(perValue * 100_000).toFixed(3)} CPU-s per 100,000 values (${Math.round(1 / perValue / 1000)}k values per gateway CPU-second); busy ${gwBusy.toFixed(0)} % of one core; client busy ${clientBusy.toFixed(0)} % of its core — ${
      clientBusy > 85
        ? 'the client is the limit: the server could serve more'
        : gwBusy > 85
          ? 'the server is the limit'
          : 'neither process saturated its core (the machine is shared, or the Reads wait on each other)'
    }`,
  );
  console.log(`  machine: load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores during the Reads`);
  return rate;
}

let client;
let gateway;
try {
  const simPort = await freePort();
  const points = [];
  for (let a = 0; a < TAGS; a += 10) points.push(`      - { address: "HR${a}", signal: counter, step: 1, everyS: 1, max: 65535 }`);
  writeFileSync(join(dir, 'sim.yaml'), `updateMs: 1000\nunits:\n  - id: 1\n    map: ["HR0-HR${TAGS - 1}"]\n    points:\n${points.join('\n')}\n`);
  await start([process.execPath, BIN, 'simulate', 'modbus', '--port', String(simPort), '--config', join(dir, 'sim.yaml')], (o) => o.includes('listening'));
  const uaPort = await freePort();
  const tags = [];
  for (let i = 0; i < TAGS; i++) tags.push(`      - { name: t${i}, address: "HR${i}:UINT16" }`);
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `devices:\n  - name: plc\n    url: modbus://127.0.0.1:${simPort}?unit=1\n    pollMs: 1000\n    tags:\n${tags.join('\n')}\nopcuaServer:\n  port: ${uaPort}\n  securityPolicies: [None]\n  securityModes: [None]\n`,
  );
  const t0 = performance.now();
  if (CPU_PROF) mkdirSync(CPU_PROF, { recursive: true });
  const profArgs = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
  gateway = await start([process.execPath, ...profArgs, BIN, 'run', join(dir, 'gateway.yaml')], (o) => o.includes('OPC UA server on'));
  const gw = gateway;
  const pid = gw.child.pid;
  console.log(`bifrost run with ${TAGS.toLocaleString()} tags and opcuaServer ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(3000);
  const idle = await sample(pid, 10);
  console.log(`gateway, no OPC UA client:          CPU ${idle.cpu.toFixed(1)} % of one core, RSS ${MB(idle.rss)}`);

  for (const kind of CLIENTS) await bulkRead(kind, `opc.tcp://127.0.0.1:${uaPort}`, pid);

  client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 }, defaultTransactionTimeout: 60_000 });
  await client.connect(`opc.tcp://127.0.0.1:${uaPort}`);
  const session = await client.createSession();
  const nodes = Array.from({ length: TAGS }, (_, i) => ({ nodeId: `ns=1;s=plc.t${i}`, attributeId: ua.AttributeIds.Value }));
  const sub = await session.createSubscription2({
    requestedPublishingInterval: 1000,
    requestedMaxKeepAliveCount: 10,
    requestedLifetimeCount: 100,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
  });
  let notifications = 0;
  const created = performance.now();
  const group = await sub.monitorItems(nodes, { samplingInterval: 1000, queueSize: 1, discardOldest: true }, ua.TimestampsToReturn.Both);
  group.on('changed', () => notifications++);
  const refused = group.monitoredItems.filter((m) => m.statusCode.value !== 0).length;
  console.log(`${TAGS.toLocaleString()} monitored items at 1 s created in ${((performance.now() - created) / 1000).toFixed(1)} s${refused ? ` (${refused} refused)` : ''}`);
  await sleep(5000);
  const n0 = notifications;
  const s0 = performance.now();
  const busy = await sample(pid, DURATION_S);
  const rate = (notifications - n0) / ((performance.now() - s0) / 1000);
  console.log(`gateway, ${TAGS.toLocaleString()} monitored items at 1 s: CPU ${busy.cpu.toFixed(1)} % of one core (${(busy.cpu - idle.cpu).toFixed(1)} % over the baseline), RSS ${MB(busy.rss)}`);
  console.log(`notifications delivered: ${Math.round(rate).toLocaleString()}/s (the simulator changes ${(TAGS / 10).toLocaleString()} values/s)`);
  console.log(
    `targets: bulk Read ≥ 100,000 values/s (see the lines above); 10,000 monitored items at 1 s on < 25 % of one core — ${busy.cpu - idle.cpu < 25 ? 'met' : 'not met'} for the server's share (total ${busy.cpu.toFixed(1)} %)`,
  );
  await sub.terminate();
  await session.close();
} finally {
  await client?.disconnect().catch(() => {});
  if (CPU_PROF && gateway) {
    // A profile is written when the process exits on its own: SIGINT lets `bifrost run` close down.
    const exited = new Promise((r) => gateway.child.once('exit', r));
    gateway.child.kill('SIGINT');
    await Promise.race([exited, sleep(15_000)]);
    console.log(`gateway CPU profile in ${CPU_PROF}`);
  }
  killChildren();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
