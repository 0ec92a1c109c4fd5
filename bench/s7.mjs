// bench/s7: reading 1,000 scattered variables (REAL, INT, DINT, BOOL over four DBs) from one
// snap7 S7Server, with Bifrost's S7Client, nodes7 and snap7's own (C++) client, in one run.
// Every client negotiates PDU 240 (an S7-300's; snap7's server truncates a job to 20 items and
// nodes7 packs as many as the PDU takes, so 240 keeps every job at 19 items or fewer).
// The snap7 server runs in a child process (this script with --server), so the CPU time measured
// here is the clients' alone. Rounds visit the clients in random order, each with a warm-up read,
// so that load from other processes hits every client alike. Wall time p50 gives the ratios;
// client CPU per read is printed beside it as the figure least disturbed by a busy machine.
import { createRequire } from 'node:module';
import { parseS7Address, planReads, S7Client } from '@bifrost/s7';

const require = createRequire(import.meta.url);
const snap7 = require('node-snap7');
const NodeS7 = require('nodes7');

const VARS = 1000;
const PDU = 240;
const DB_SIZE = 16384;
const ROUNDS = 30;
const PER_ROUND = 3;
const HOST = '127.0.0.1';
const deadline = Date.now() + 50_000;

// ── a seeded layout of 1,000 variables in distinct 8-byte slots of DB1…DB4 ──
let seed = 42;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const slots = [];
for (let db = 1; db <= 4; db++) for (let s = 0; s < DB_SIZE / 8; s++) slots.push([db, s * 8]);
for (let i = slots.length - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [slots[i], slots[j]] = [slots[j], slots[i]];
}
const vars = slots.slice(0, VARS).map(([db, off], i) => {
  const r = rnd();
  const type = r < 0.4 ? 'REAL' : r < 0.7 ? 'INT' : r < 0.9 ? 'DINT' : 'BOOL';
  return { name: `v${i}`, db, off, type, bit: Math.floor(rnd() * 8) };
});

// ── the snap7 server with known data ──
const dbs = [1, 2, 3, 4].map(() => Buffer.alloc(DB_SIZE));
for (const v of vars) {
  const b = dbs[v.db - 1];
  if (v.type === 'REAL') b.writeFloatBE(Math.fround(v.off / 8 + 0.5), v.off);
  else if (v.type === 'INT') b.writeInt16BE((v.off % 30000) - 15000, v.off);
  else if (v.type === 'DINT') b.writeInt32BE(v.off * 1000 - 7, v.off);
  else b[v.off] = v.off % 3 === 0 ? 1 << v.bit : 0;
}
const expected = vars.map((v) => (v.type === 'REAL' ? Math.fround(v.off / 8 + 0.5) : v.type === 'INT' ? (v.off % 30000) - 15000 : v.type === 'DINT' ? v.off * 1000 - 7 : v.off % 3 === 0));

// The server runs in a child process, so that this process's CPU time is the clients' alone.
if (process.argv[2] === '--server') {
  const server = new snap7.S7Server();
  server.SetParam(server.LocalPort, Number(process.argv[3]));
  for (const [i, b] of dbs.entries()) server.RegisterArea(server.srvAreaDB, i + 1, b);
  if (!server.StartTo(HOST)) throw new Error('snap7 server did not start');
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    server.Stop();
    process.exit(0);
  });
} else {
  await main();
}

async function main() {
  const net = await import('node:net');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, HOST, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--server', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`snap7 server process exited with ${code}`)));
  });

  // ── Bifrost ──
  const bifrost = new S7Client({ host: HOST, port, rack: 0, slot: 2, pduLength: PDU });
  await bifrost.connect();
  const bifrostAddrs = vars.map((v) => (v.type === 'BOOL' ? `DB${v.db}.DBX${v.off}.${v.bit}` : v.type === 'INT' ? `DB${v.db}.DBW${v.off}:INT` : `DB${v.db}.DBD${v.off}:${v.type}`));
  const bifrostNoMerge = new S7Client({ host: HOST, port, rack: 0, slot: 2, pduLength: PDU, maxGap: -1 });
  await bifrostNoMerge.connect();
  const readBifrost = async (c) => (await c.readMany(bifrostAddrs)).map((r) => r.value);

  // ── nodes7 ──
  const nodes7 = new NodeS7({ silent: true });
  nodes7.requestMaxPDU = PDU;
  await new Promise((resolve, reject) => nodes7.initiateConnection({ host: HOST, port, rack: 0, slot: 2, debug: false }, (err) => (err ? reject(err) : resolve())));
  const nodes7Addrs = Object.fromEntries(vars.map((v) => [v.name, v.type === 'BOOL' ? `DB${v.db},X${v.off}.${v.bit}` : `DB${v.db},${v.type}${v.off}`]));
  nodes7.setTranslationCB((tag) => nodes7Addrs[tag]);
  nodes7.addItems(vars.map((v) => v.name));
  const readNodes7 = () =>
    new Promise((resolve, reject) =>
      nodes7.readAllItems((bad, values) => {
        if (bad) reject(new Error('nodes7 read failed'));
        else resolve(vars.map((v) => values[v.name]));
      }),
    );

  // ── snap7's client: ReadMultiVars, 19 items per call at PDU 240 ──
  const s7c = new snap7.S7Client();
  s7c.SetParam(s7c.RemotePort, port);
  s7c.SetParam(s7c.PDURequest, PDU);
  await new Promise((resolve, reject) => s7c.ConnectTo(HOST, 0, 2, (err) => (err ? reject(err) : resolve())));
  const PER_CALL = Math.floor((s7c.PDULength() - 12) / 12);
  const snapItems = vars.map((v) =>
    v.type === 'BOOL'
      ? { Area: s7c.S7AreaDB, WordLen: s7c.S7WLBit, DBNumber: v.db, Start: v.off * 8 + v.bit, Amount: 1 }
      : { Area: s7c.S7AreaDB, WordLen: s7c.S7WLByte, DBNumber: v.db, Start: v.off, Amount: v.type === 'INT' ? 2 : 4 },
  );
  const readSnap7 = async () => {
    const out = new Array(VARS);
    for (let i = 0; i < VARS; i += PER_CALL) {
      const res = await new Promise((resolve, reject) => s7c.ReadMultiVars(snapItems.slice(i, i + PER_CALL), (err, r) => (err ? reject(err) : resolve(r))));
      res.forEach((r, k) => {
        const v = vars[i + k];
        if (r.Result !== 0) throw new Error(`snap7 item ${v.name} failed: ${r.Result}`);
        out[i + k] = v.type === 'REAL' ? r.Data.readFloatBE(0) : v.type === 'INT' ? r.Data.readInt16BE(0) : v.type === 'DINT' ? r.Data.readInt32BE(0) : r.Data[0] !== 0;
      });
    }
    return out;
  };

  // The same with snap7's blocking call (no thread-pool hop): snap7 at its fastest.
  const readSnap7Sync = async () => {
    const out = new Array(VARS);
    for (let i = 0; i < VARS; i += PER_CALL) {
      const res = s7c.ReadMultiVars(snapItems.slice(i, i + PER_CALL));
      if (!res) throw new Error(`snap7 ReadMultiVars failed: ${s7c.ErrorText(s7c.LastError())}`);
      res.forEach((r, k) => {
        const v = vars[i + k];
        if (r.Result !== 0) throw new Error(`snap7 item ${v.name} failed: ${r.Result}`);
        out[i + k] = v.type === 'REAL' ? r.Data.readFloatBE(0) : v.type === 'INT' ? r.Data.readInt16BE(0) : v.type === 'DINT' ? r.Data.readInt32BE(0) : r.Data[0] !== 0;
      });
    }
    return out;
  };

  const contenders = [
    { name: 'bifrost', read: () => readBifrost(bifrost) },
    { name: 'bifrost (no merging)', read: () => readBifrost(bifrostNoMerge) },
    { name: 'nodes7', read: readNodes7 },
    { name: 'snap7 client (async)', read: readSnap7 },
    { name: 'snap7 client (sync)', read: readSnap7Sync },
  ];

  // Check every client reads the same, right values before timing anything.
  for (const c of contenders) {
    const got = await c.read();
    const wrong = got.findIndex((v, i) => (typeof v === 'number' ? Math.abs(v - expected[i]) > 1e-6 : v !== expected[i]));
    if (wrong >= 0) throw new Error(`${c.name} read ${vars[wrong].name} (${vars[wrong].type} DB${vars[wrong].db}.${vars[wrong].off}) as ${got[wrong]}, expected ${expected[wrong]}`);
    c.times = [];
    c.cpu = [];
  }

  // Each round visits the clients in a fresh random order; each visit makes one untimed read
  // (wakes the connection and the server's worker) and PER_ROUND timed ones.
  for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
    const order = [...contenders];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const c of order) {
      await c.read();
      for (let k = 0; k < PER_ROUND; k++) {
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await c.read();
        c.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const cpu = process.cpuUsage(cpu0);
        c.cpu.push((cpu.user + cpu.system) / 1000);
      }
    }
  }

  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)], n: s.length };
  };
  for (const c of contenders) {
    c.stats = stats(c.times);
    c.cpuStats = stats(c.cpu);
  }
  const [bf, bfNoMerge, n7, snAsync, snSync] = contenders;
  // The reference is snap7's faster way of the two.
  const sn = snSync.stats.p50 < snAsync.stats.p50 ? snSync : snAsync;
  const f = (x) => x.toFixed(2).padStart(7);
  console.log(`\nS7: read ${VARS} scattered variables (REAL/INT/DINT/BOOL over 4 DBs of ${DB_SIZE} B) from one snap7 server (own process), PDU ${PDU}, loopback, ${bf.stats.n} reads each`);
  console.log(
    `bifrost plans ${planReads(bifrostAddrs.map(parseS7Address), { pduLength: bifrost.pduLength, maxItems: 20, maxGap: 'auto' }).jobs.length} jobs per read; load average ${(await import('node:os')).loadavg()[0].toFixed(1)}\n`,
  );
  console.log('client                 | p50 ms  | p90 ms  | CPU ms p50 | variables/s');
  console.log('-----------------------|---------|---------|------------|------------');
  for (const c of contenders)
    console.log(
      `${c.name.padEnd(22)} | ${f(c.stats.p50)} | ${f(c.stats.p90)} | ${f(c.cpuStats.p50).padStart(10)} | ${Math.round((VARS / c.stats.p50) * 1000)
        .toLocaleString('en-US')
        .padStart(11)}`,
    );
  console.log('');
  console.log(`bifrost p50 ${bf.stats.p50.toFixed(2)} ms | nodes7 p50 ${n7.stats.p50.toFixed(2)} ms | ratio ${(n7.stats.p50 / bf.stats.p50).toFixed(1)}x faster than nodes7 (aim >= 2x)`);
  console.log(`bifrost CPU ${bf.cpuStats.p50.toFixed(2)} ms | nodes7 CPU ${n7.cpuStats.p50.toFixed(2)} ms | ratio ${(n7.cpuStats.p50 / bf.cpuStats.p50).toFixed(1)}x less CPU per read`);
  console.log(`bifrost p50 ${bf.stats.p50.toFixed(2)} ms | ${sn.name} p50 ${sn.stats.p50.toFixed(2)} ms | ratio ${(bf.stats.p50 / sn.stats.p50).toFixed(2)}x snap7's time (aim <= 1.5x)`);
  console.log(
    `bifrost without merging p50 ${bfNoMerge.stats.p50.toFixed(2)} ms | ratio ${(n7.stats.p50 / bfNoMerge.stats.p50).toFixed(1)}x vs nodes7, ${(bfNoMerge.stats.p50 / sn.stats.p50).toFixed(2)}x snap7's time`,
  );

  await bifrost.close();
  await bifrostNoMerge.close();
  nodes7.dropConnection?.(() => {});
  s7c.Disconnect();
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  process.exit(0);
}
