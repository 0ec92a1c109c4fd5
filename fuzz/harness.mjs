/**
 * @module
 * The fuzz harness, one module for every protocol (issue 22). A protocol is described by an
 * adapter (see `protocols.mjs`): how to start its simulator, what a client does against it, how
 * its byte stream splits into frames, where its length fields are and which server-assigned
 * values (a session handle, a channel id) a replayed conversation must carry.
 *
 * 1. **Capture.** Our own client runs its operations against the simulator through a recording
 *    proxy: the bytes each side wrote, split into frames, per connection, are the seeds.
 * 2. **Server fuzz.** The simulator runs in a child process (`target.mjs`), so a crash is a real
 *    exit and its memory is its own. Each mutant opens a connection, replays the valid frames that
 *    precede it in its conversation (so it reaches the state where it is parsed), sends the mutated
 *    frame and records what came back (a reply, a close, silence). A valid request by our client
 *    must succeed every `checkEvery` mutants and at the end; a crash is pinned to its input by
 *    replaying the mutants that were in flight one at a time against a new process.
 * 3. **Client fuzz.** A malicious server replays the captured replies with one of them mutated;
 *    the client must settle every operation in time with a value or a `BifrostError`.
 *
 * Mutations (bit flips, truncation at every offset, length fields set to 0 / max / ±1, garbage
 * bodies, interesting values, splices) come from a seeded PRNG: mutant `k` of seed `s` is the same
 * on every run, so a finding reproduces with `--seed s` and its index.
 */
import { fork } from 'node:child_process';
import { createServer, connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';

// ── PRNG ──

/**
 * sfc32, seeded through splitmix32: small, fast and good enough to choose mutations.
 * @example const rnd = prng(42); rnd() // 0 ≤ x < 1
 */
export function prng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

const int = (rnd, n) => Math.floor(rnd() * n);
const pick = (rnd, xs) => xs[int(rnd, xs.length)];
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

// ── capture ──

/**
 * Splits a byte stream into frames with `frameLength(buf)` (the length of the frame at the start of
 * `buf`, or 0 when the header is incomplete); without it, each chunk is one frame.
 */
function splitter(frameLength) {
  let rest = Buffer.alloc(0);
  return (chunk) => {
    if (!frameLength) return [Buffer.from(chunk)];
    rest = Buffer.concat([rest, chunk]);
    const out = [];
    for (;;) {
      const n = frameLength(rest);
      if (!n || rest.length < n) break;
      out.push(Buffer.from(rest.subarray(0, n)));
      rest = rest.subarray(n);
    }
    return out;
  };
}

/**
 * Runs `adapter.clientOps` through a recording proxy in front of `target`; returns the
 * conversations: per connection, the client's frames and the server's replies in order.
 */
export async function capture(adapter, target, connectDevice) {
  const conversations = [];
  const proxy = createServer((down) => {
    const conv = { client: [], server: [] };
    conversations.push(conv);
    const up = netConnect({ host: '127.0.0.1', port: target.port });
    const fromClient = splitter(adapter.frameLength);
    const fromServer = splitter(adapter.replyLength ?? adapter.frameLength);
    down.on('data', (c) => {
      conv.client.push(...fromClient(c));
      up.write(c);
    });
    up.on('data', (c) => {
      conv.server.push(...fromServer(c));
      down.write(c);
    });
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const port = proxy.address().port;
  try {
    const results = await runOps(adapter, adapter.url(port), connectDevice, 5000);
    const failed = results.filter((r) => r.kind !== 'ok');
    if (failed.length) throw new Error(`${adapter.name}: capture run failed: ${failed.map((f) => `${f.op}: ${f.error?.message}`).join('; ')}`);
  } finally {
    await new Promise((r) => proxy.close(r));
  }
  return conversations.filter((c) => c.client.length > 0);
}

/**
 * Runs the adapter's client operations; each settles as ok, a BifrostError, another error or a
 * hang: not settled within 4 × the request timeout + 5 s (a retry or two, a reconnect, a close).
 */
async function runOps(adapter, url, connectDevice, timeoutMs) {
  const results = [];
  const limit = timeoutMs * 4 + 5000;
  const deadline = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(HANG), ms).unref())]);
  let device;
  try {
    const t = performance.now();
    device = await deadline(connectDevice(url, { requestTimeoutMs: timeoutMs }), limit);
    results.push({ op: 'connect', kind: 'ok', ms: performance.now() - t });
  } catch (e) {
    results.push(classify('connect', e));
    return results;
  }
  try {
    for (const [name, op] of adapter.clientOps) {
      const t = performance.now();
      try {
        await deadline(op(device), limit);
        results.push({ op: name, kind: 'ok', ms: performance.now() - t });
      } catch (e) {
        results.push({ ...classify(name, e), ms: performance.now() - t });
        if (e === HANG) break;
      }
    }
  } finally {
    await deadline(
      device.close().catch(() => {}),
      limit,
    ).catch((e) => results.push(classify('close', e)));
  }
  return results;
}

const HANG = Symbol('hang');
let BifrostErrorClass;
function classify(op, e) {
  if (e === HANG) return { op, kind: 'hang' };
  if (BifrostErrorClass && e instanceof BifrostErrorClass) return { op, kind: 'typed', error: e };
  // Another copy of core (dist beside src in a test run) still names the class.
  if (e && e.name === 'BifrostError' && typeof e.code === 'string') return { op, kind: 'typed', error: e };
  return { op, kind: 'untyped', error: e };
}

// ── mutations ──

/**
 * The deterministic part of the mutants of one frame: truncation at every offset, and each length
 * field set to 0, its maximum and its true value ±1.
 */
function systematic(adapter, frame) {
  const out = [];
  for (let n = 1; n < frame.length; n++) out.push({ how: `truncate@${n}`, bytes: frame.subarray(0, n) });
  for (const f of adapter.lengthFields?.(frame) ?? []) {
    if (f.offset + f.size > frame.length) continue;
    const max = 2 ** (8 * f.size) - 1;
    const v = readField(frame, f);
    for (const [tag, x] of [
      ['0', 0],
      ['max', max],
      ['-1', v - 1],
      ['+1', v + 1],
    ]) {
      if (x < 0 || x > max) continue;
      out.push({ how: `len@${f.offset}=${tag}`, bytes: writeField(frame, f, x) });
    }
  }
  return out;
}

function readField(b, f) {
  if (f.size === 1) return b[f.offset];
  if (f.size === 2) return f.le ? b.readUInt16LE(f.offset) : b.readUInt16BE(f.offset);
  return f.le ? b.readUInt32LE(f.offset) : b.readUInt32BE(f.offset);
}

function writeField(b, f, v) {
  const c = Buffer.from(b);
  if (f.size === 1) c[f.offset] = v;
  else if (f.size === 2) f.le ? c.writeUInt16LE(v, f.offset) : c.writeUInt16BE(v, f.offset);
  else f.le ? c.writeUInt32LE(v >>> 0, f.offset) : c.writeUInt32BE(v >>> 0, f.offset);
  return c;
}

/** One random mutation (1–3 stacked operators) of `frame`. */
function randomMutant(adapter, frame, others, rnd) {
  let b = Buffer.from(frame);
  const hows = [];
  let seal = rnd() < 0.5;
  const n = 1 + int(rnd, 3);
  for (let i = 0; i < n; i++) {
    const op = int(rnd, 9);
    if (b.length === 0 && op !== 5 && op !== 8) continue;
    switch (op) {
      case 0: {
        const flips = 1 + int(rnd, 4);
        for (let j = 0; j < flips; j++) b[int(rnd, b.length)] ^= 1 << int(rnd, 8);
        hows.push(`flip×${flips}`);
        break;
      }
      case 1: {
        const at = int(rnd, b.length);
        b[at] = pick(rnd, INTERESTING);
        hows.push(`byte@${at}`);
        break;
      }
      case 2: {
        const at = int(rnd, Math.max(1, b.length - 1));
        const size = pick(rnd, [2, 4]);
        if (at + size <= b.length) {
          const v = pick(rnd, [0, 0xffffffff, 0x7fffffff, 0x80000000, 1]);
          if (size === 2) b.writeUInt16LE(v & 0xffff, at);
          else b.writeUInt32LE(v >>> 0, at);
          hows.push(`word@${at}`);
        }
        break;
      }
      case 3: {
        const fields = adapter.lengthFields?.(b) ?? [];
        const f = fields.length ? pick(rnd, fields) : undefined;
        if (f && f.offset + f.size <= b.length) {
          const max = 2 ** (8 * f.size) - 1;
          b = writeField(b, f, Math.min(max, Math.max(0, pick(rnd, [0, max, readField(b, f) + int(rnd, 9) - 4, int(rnd, max + 1)]))));
          hows.push(`len@${f.offset}`);
        }
        break;
      }
      case 4: {
        // A garbage body behind an intact header.
        const head = Math.min(b.length, adapter.headerSize ?? 8);
        const len = pick(rnd, [b.length - head, int(rnd, 2 * b.length + 16), int(rnd, 8)]);
        const body = Buffer.alloc(Math.max(0, len));
        for (let j = 0; j < body.length; j++) body[j] = int(rnd, 256);
        b = Buffer.concat([b.subarray(0, head), body]);
        seal = true;
        hows.push(`garbage-body(${body.length})`);
        break;
      }
      case 5: {
        const extra = Buffer.alloc(1 + int(rnd, 64));
        for (let j = 0; j < extra.length; j++) extra[j] = int(rnd, 256);
        b = Buffer.concat([b, extra]);
        hows.push(`append(${extra.length})`);
        break;
      }
      case 6: {
        const at = int(rnd, b.length);
        const len = 1 + int(rnd, Math.min(16, b.length - at));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        hows.push(`delete@${at}+${len}`);
        break;
      }
      case 7: {
        const other = others.length ? pick(rnd, others) : b;
        const from = int(rnd, other.length);
        const at = int(rnd, b.length);
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + 1 + int(rnd, 32)), b.subarray(at)]);
        hows.push(`splice@${at}`);
        break;
      }
      default: {
        const r = Buffer.alloc(int(rnd, 300));
        for (let j = 0; j < r.length; j++) r[j] = int(rnd, 256);
        b = r;
        hows.push(`random(${r.length})`);
      }
    }
  }
  // Half the mutants are made consistent at the framing layer (length field, CRC) so they reach the parser behind it.
  if (seal && adapter.seal) {
    b = adapter.seal(b);
    hows.push('sealed');
  }
  return { how: hows.join('+') || 'none', bytes: b };
}

/**
 * The mutant plan of a run: which frame of which conversation each mutant replaces. Systematic
 * mutants of every frame come first (thinned evenly when the budget is small: they take at most
 * half of it), random ones fill the rest. `mutant(k)` is a pure function of (seed, k).
 */
export function planMutants(adapter, conversations, side, budget, seed) {
  const slots = [];
  conversations.forEach((conv, c) => {
    conv[side].forEach((frame, i) => {
      slots.push({ c, i, frame });
    });
  });
  if (slots.length === 0) throw new Error(`${adapter.name}: nothing captured on the ${side} side`);
  const sys = [];
  for (const s of slots) for (const m of systematic(adapter, s.frame)) sys.push({ c: s.c, i: s.i, ...m });
  const nSys = Math.min(sys.length, Math.floor(budget / 2));
  const stride = sys.length / Math.max(1, nSys);
  const all = slots.map((s) => s.frame);
  return {
    size: budget,
    systematic: sys.length,
    mutant(k) {
      if (k < nSys) return { k, ...sys[Math.floor(k * stride)] };
      const rnd = prng((seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0);
      const s = slots[int(rnd, slots.length)];
      return { k, c: s.c, i: s.i, ...randomMutant(adapter, s.frame, all, rnd) };
    },
  };
}

// ── the target process ──

const TARGET = fileURLToPath(new URL('./target.mjs', import.meta.url));

/** Starts the simulator of `protocol` in a child process; resolves with its port and URL. */
export async function startTarget(protocol) {
  const child = fork(TARGET, [protocol], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = await Promise.race([new Promise((resolve) => child.once('message', resolve)), exited.then((x) => ({ exited: x }))]);
  if (ready.exited) throw new Error(`${protocol} target exited at start (${JSON.stringify(ready.exited)}): ${stderr}`);
  let alive = true;
  exited.then(() => {
    alive = false;
  });
  let seq = 0;
  return {
    port: ready.port,
    url: ready.url,
    get alive() {
      return alive;
    },
    exited,
    stderr: () => stderr,
    /** RSS and heap used after a full GC, in bytes. */
    memory() {
      if (!alive) return Promise.resolve({ rss: Number.NaN, heapUsed: Number.NaN });
      const id = ++seq;
      return new Promise((resolve) => {
        const on = (m) => {
          if (m.id === id) {
            child.off('message', on);
            resolve({ rss: m.rss, heapUsed: m.heapUsed });
          }
        };
        child.on('message', on);
        child.send({ id, cmd: 'rss' });
      });
    },
    async stop() {
      if (!alive) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ── server fuzz ──

/** Sends `frames` on a new connection, each after the previous reply, then `last`; resolves with what happened to `last`. */
function exchange(adapter, port, prefix, replies, last, settleMs, fixLast) {
  const fix = (bytes, state) => {
    try {
      return adapter.fix ? adapter.fix(bytes, state) : bytes;
    } catch {
      return bytes;
    }
  };
  return new Promise((resolve) => {
    const sock = netConnect({ host: '127.0.0.1', port });
    const split = splitter(adapter.replyLength ?? adapter.frameLength);
    const state = {};
    let step = 0;
    let timer;
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(outcome);
    };
    const arm = (ms, outcome) => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(outcome), ms);
    };
    const sendNext = () => {
      if (step < prefix.length) {
        sock.write(fix(prefix[step], state));
        arm(2000, 'prefix-timeout');
      } else {
        const bytes = fixLast && last.length ? fix(last, state) : last;
        if (bytes.length) sock.write(bytes);
        arm(settleMs, 'silent');
      }
    };
    sock.on('connect', sendNext);
    sock.on('data', (chunk) => {
      if (step >= prefix.length) {
        arm(settleMs, 'reply');
        return;
      }
      for (const reply of split(chunk)) {
        adapter.learn?.(replies[step], reply, state);
        step++;
        if (step <= prefix.length) sendNext();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => finish(step >= prefix.length ? 'closed' : 'prefix-closed'));
  });
}

/**
 * Fuzzes one protocol's simulator: `budget` mutants of the captured client frames.
 * @returns figures and findings: frames tried, outcomes, crashes (with their bytes), hangs, RSS.
 */
export async function fuzzServer(adapter, options) {
  const { budget, seed, concurrency = 32, settleMs = 30, checkEvery = 2000, connectDevice, log = () => {} } = options;
  BifrostErrorClass ??= options.BifrostError;
  let target = await startTarget(adapter.name);
  const conversations = await capture(adapter, target, connectDevice);
  const plan = planMutants(adapter, conversations, 'client', budget, seed);
  const before = await target.memory();
  // Memory after each batch: growth that keeps climbing batch after batch is a leak, a plateau is not.
  const memory = [{ frames: 0, ...before }];
  const outcomes = {};
  const crashes = [];
  const hangs = [];
  let tried = 0;
  let next = 0;
  const inFlight = new Set();
  const t0 = Date.now();

  const healthy = async () => {
    const r = await runOps(adapter, adapter.url(target.port), connectDevice, 2000);
    const bad = r.filter((x) => x.kind !== 'ok');
    return bad.length ? bad.map((x) => `${x.op}: ${x.kind}${x.error ? ` ${x.error.code ?? ''} ${x.error.message}` : ''}`).join('; ') : undefined;
  };
  const toBytes = (m) => {
    const conv = conversations[m.c];
    // Half the mutants get the live session's ids (session handle, channel, token) written over the captured ones.
    return { prefix: adapter.stateless ? [] : conv.client.slice(0, m.i), replies: conv.server, last: m.bytes, fixLast: m.k % 2 === 0 };
  };
  /** After a crash: replays the suspects one at a time on a new process to find the input. */
  const pinCrash = async (suspects, exit, stderr) => {
    target = await startTarget(adapter.name);
    for (const m of suspects) {
      const x = toBytes(m);
      await exchange(adapter, target.port, x.prefix, x.replies, x.last, 100, x.fixLast);
      await new Promise((r) => setTimeout(r, 50));
      if (!target.alive) {
        const e = await target.exited;
        crashes.push(finding(m, x, { exit: e, stderr: target.stderr() }));
        target = await startTarget(adapter.name);
        return;
      }
    }
    crashes.push({ k: suspects.map((m) => m.k), how: 'not reproduced alone', exit, stderr });
  };
  const recent = [];
  const checkCrash = async () => {
    if (target.alive) return;
    await Promise.all([...inFlight].map((e) => e.p));
    const exit = await target.exited;
    const suspects = recent.splice(0);
    log(`${adapter.name}: target exited (${JSON.stringify(exit)}); pinning the input among the last ${suspects.length} mutants`);
    await pinCrash(suspects, exit, target.stderr());
  };
  while (next < plan.size) {
    // A batch of `checkEvery` mutants, `concurrency` at a time, then a valid request.
    const end = Math.min(plan.size, next + checkEvery);
    while (next < end || inFlight.size) {
      while (next < end && inFlight.size < concurrency && target.alive) {
        const m = plan.mutant(next++);
        recent.push(m);
        if (recent.length > 2 * concurrency) recent.shift();
        const x = toBytes(m);
        const entry = { m };
        entry.p = exchange(adapter, target.port, x.prefix, x.replies, x.last, settleMs, x.fixLast).then((o) => {
          outcomes[o] = (outcomes[o] ?? 0) + 1;
          tried++;
          inFlight.delete(entry);
        });
        inFlight.add(entry);
      }
      if (inFlight.size) await Promise.race([...inFlight].map((e) => e.p));
      await checkCrash();
    }
    await new Promise((r) => setTimeout(r, 20));
    await checkCrash();
    const why = await healthy();
    if (why) hangs.push({ afterK: next - 1, why });
    memory.push({ frames: tried, ...(await target.memory()) });
    if (next % 10000 < checkEvery) log(`${adapter.name}: ${tried}/${plan.size} frames`);
  }
  await Promise.all([...inFlight].map((e) => e.p));
  const finalCheck = target.alive ? await healthy() : 'target not running';
  if (finalCheck) hangs.push({ afterK: plan.size - 1, why: `valid request at the end: ${finalCheck}` });
  const after = await target.memory();
  await target.stop();
  return {
    protocol: adapter.name,
    side: 'server',
    seed,
    frames: tried,
    systematic: plan.systematic,
    seeds: conversations.reduce((n, c) => n + c.client.length, 0),
    outcomes,
    crashes,
    hangs,
    validAfter: !finalCheck,
    rssBefore: before.rss,
    rssAfter: after.rss,
    rssPeak: Math.max(...memory.map((m) => m.rss), after.rss),
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    memory,
    ms: Date.now() - t0,
  };
}

function finding(m, x, extra) {
  return {
    k: m.k,
    conversation: m.c,
    frame: m.i,
    how: m.how,
    prefixHex: x.prefix.map((b) => b.toString('hex')),
    inputHex: Buffer.from(x.last).toString('hex'),
    ...extra,
  };
}

// ── client fuzz ──

/**
 * Fuzzes one protocol's client: a malicious server replays the captured replies, one of them
 * mutated; each client operation must settle in time with a value or a BifrostError.
 */
export async function fuzzClient(adapter, options) {
  const { budget, seed, concurrency = 8, timeoutMs = 300, connectDevice, log = () => {} } = options;
  BifrostErrorClass ??= options.BifrostError;
  const target = await startTarget(adapter.name);
  let conversations;
  try {
    conversations = await capture(adapter, target, connectDevice);
  } finally {
    await target.stop();
  }
  const plan = planMutants(adapter, conversations, 'server', budget, seed);
  const results = { ok: 0, typed: 0, untyped: 0, hang: 0 };
  const untyped = [];
  const hangs = [];
  const uncaught = [];
  const current = new Set();
  const onUncaught = (e) => uncaught.push({ k: [...current].map((m) => m.k), error: String(e?.stack ?? e) });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const rssBefore = process.memoryUsage().rss;
  const t0 = Date.now();

  /** A malicious server per worker; `mutant` says which reply of which connection to replace. */
  const worker = async (nextMutant) => {
    let mutant;
    let connIndex = 0;
    const server = createServer((sock) => {
      const c = connIndex++;
      const conv = conversations[c];
      const m = mutant;
      let r = 0;
      const split = splitter(adapter.frameLength);
      sock.on('error', () => {});
      sock.on('data', (chunk) => {
        for (const req of split(chunk)) {
          if (!conv || r >= conv.server.length) return;
          let reply = conv.server[r];
          if (adapter.patchReply) reply = adapter.patchReply(reply, req);
          if (m && m.c === c && m.i === r) reply = m.bytes;
          r++;
          if (reply.length) sock.write(reply);
        }
      });
    });
    server.on('error', () => {});
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    const url = adapter.url(server.address().port);
    try {
      if (baseline === undefined) {
        // The unmutated replay must satisfy the client, or the mutants test nothing past the first reply.
        baseline = 'running';
        mutant = undefined;
        connIndex = 0;
        const ops = await runOps(adapter, url, connectDevice, 2000);
        baseline = ops.filter((o) => o.kind !== 'ok').map((o) => `${o.op}: ${o.kind} ${o.error?.message ?? ''}`);
      }
      for (;;) {
        const k = nextMutant();
        if (k === undefined) break;
        const m = plan.mutant(k);
        mutant = m;
        connIndex = 0;
        current.add(m);
        const before = uncaught.length;
        const ops = await runOps(adapter, url, connectDevice, timeoutMs);
        current.delete(m);
        for (const o of ops) {
          results[o.kind]++;
          if (o.ms > slowest.ms) Object.assign(slowest, { ms: Math.round(o.ms), k, op: o.op, how: m.how });
          if (o.kind === 'untyped' && untyped.length < 20) untyped.push({ k, how: m.how, op: o.op, replyHex: Buffer.from(m.bytes).toString('hex'), error: String(o.error?.stack ?? o.error) });
          if (o.kind === 'hang' && hangs.length < 20) hangs.push({ k, how: m.how, op: o.op, replyHex: Buffer.from(m.bytes).toString('hex') });
        }
        if (uncaught.length > before) crashedIn.add(k);
        tried++;
        if (tried % 1000 === 0) log(`${adapter.name} client: ${tried}/${plan.size} replies`);
      }
    } finally {
      await new Promise((res) => server.close(res));
    }
  };
  let nextK = 0;
  let tried = 0;
  const crashedIn = new Set();
  const pinned = [];
  let baseline;
  const slowest = { ms: 0 };
  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker(() => (nextK < plan.size ? nextK++ : undefined))));
    // An uncaught exception names no mutant when several run at once: replay each suspect alone.
    const suspects = [...new Set([...uncaught.flatMap((u) => u.k), ...crashedIn])].sort((a, b) => a - b);
    for (const k of suspects) {
      const before = uncaught.length;
      const once = [k];
      await worker(() => once.shift());
      await new Promise((r) => setTimeout(r, 50));
      if (uncaught.length > before) {
        const m = plan.mutant(k);
        pinned.push({ k, how: m.how, conversation: m.c, reply: m.i, replyHex: Buffer.from(m.bytes).toString('hex'), error: uncaught[uncaught.length - 1].error });
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  // The client must still work against the real simulator after all that.
  const again = await startTarget(adapter.name);
  let validAfter;
  try {
    const r = await runOps(adapter, adapter.url(again.port), connectDevice, 2000);
    validAfter = r.every((x) => x.kind === 'ok');
  } finally {
    await again.stop();
  }
  globalThis.gc?.();
  return {
    protocol: adapter.name,
    side: 'client',
    timeoutMs,
    seed,
    frames: tried,
    systematic: plan.systematic,
    seeds: conversations.reduce((n, c) => n + c.server.length, 0),
    results,
    replayFailures: baseline,
    slowest,
    untyped,
    hangs,
    // Each pinned crash with its reply bytes; the raw uncaught errors when none reproduced alone.
    crashes: pinned.length ? pinned : uncaught,
    validAfter,
    rssBefore,
    rssAfter: process.memoryUsage().rss,
    ms: Date.now() - t0,
  };
}

/** One line of figures for a report. */
export function summary(r) {
  const mb = (x) => `${(x / 1048576).toFixed(1)} MB`;
  const what = r.side === 'server' ? Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`) : Object.entries(r.results).map(([k, v]) => `${k} ${v}`);
  return `${r.protocol.padEnd(11)} ${r.side.padEnd(6)} seed ${r.seed}: ${r.frames} frames (${r.systematic} systematic, ${r.seeds} seeds) in ${(r.ms / 1000).toFixed(1)} s; ${what.join(', ')}; crashes ${r.crashes.length}, hangs ${r.hangs.length}${r.untyped ? `, untyped errors ${r.untyped.length}, slowest op ${r.slowest.ms} ms (timeout ${r.timeoutMs} ms)` : ''}; valid request after: ${r.validAfter ? 'yes' : 'NO'}${r.replayFailures?.length ? `; unmutated replay failed: ${r.replayFailures.join('; ')}` : ''}; RSS ${mb(r.rssBefore)} → ${mb(r.rssAfter)}${r.rssPeak ? ` (peak ${mb(r.rssPeak)}), heap ${mb(r.heapBefore)} → ${mb(r.heapAfter)}` : ''}`;
}
