#!/usr/bin/env node
// The gateway as an OPC UA server (issue 17), measured from outside: one real `bifrost run`
// polling 10,000 tags at 1 s from a Modbus simulator (every tenth register a counter, so 1,000
// values change per second) and serving them with `opcuaServer`; node-opcua's own client, in
// this process, does bulk Reads of all 10,000 variables (values/s served) and then monitors all
// 10,000 at 1 s (notifications/s delivered), while the gateway's CPU (% of one core) and RSS are
// sampled from /proc — first with no OPC UA client (the baseline), then with the monitored items.
// Targets of the issue: ≥ 100,000 values/s by bulk Read; 10,000 monitored items at 1 s on < 25 % of one core.
//   npm run bench -- opcua-server [--tags 10000] [--reads 20] [--duration 30]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'packages/cli/dist/bin.js');
const ua = createRequire(join(root, 'packages/opcua/package.json'))('node-opcua');
const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TAGS = opt('tags', 10_000);
const READS = opt('reads', 20);
const DURATION_S = opt('duration', 30);
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

let client;
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
  const gw = await start([process.execPath, BIN, 'run', join(dir, 'gateway.yaml')], (o) => o.includes('OPC UA server on'));
  const pid = gw.child.pid;
  console.log(`bifrost run with ${TAGS.toLocaleString()} tags and opcuaServer ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(3000);
  const idle = await sample(pid, 10);
  console.log(`gateway, no OPC UA client:          CPU ${idle.cpu.toFixed(1)} % of one core, RSS ${MB(idle.rss)}`);

  client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 }, defaultTransactionTimeout: 60_000 });
  await client.connect(`opc.tcp://127.0.0.1:${uaPort}`);
  const session = await client.createSession();
  const nodes = Array.from({ length: TAGS }, (_, i) => ({ nodeId: `ns=1;s=plc.t${i}`, attributeId: ua.AttributeIds.Value }));
  let good = 0;
  await session.read(nodes); // warm-up
  const times = [];
  const readCpu0 = cpuSeconds(pid);
  for (let r = 0; r < READS; r++) {
    const s = performance.now();
    const dvs = await session.read(nodes);
    times.push(performance.now() - s);
    good += dvs.filter((d) => d.statusCode.value === 0).length;
  }
  const readCpu = cpuSeconds(pid) - readCpu0;
  times.sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  console.log(
    `bulk Read of ${TAGS.toLocaleString()} variables × ${READS}: ${Math.round((TAGS * READS) / (total / 1000)).toLocaleString()} values/s (p50 ${times[Math.floor(times.length / 2)].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms, ${good === TAGS * READS ? 'all Good' : `${good} Good of ${TAGS * READS}`})`,
  );

  // The client in this process decodes as much as the server encodes: the gateway's own CPU per value says what it could serve.
  console.log(
    `  gateway CPU during the Reads: ${((readCpu / READS) * 1000).toFixed(0)} ms per Read of ${TAGS.toLocaleString()}, ${Math.round((TAGS * READS) / readCpu).toLocaleString()} values per gateway CPU-second`,
  );
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
    `targets: bulk Read ≥ 100,000 values/s; 10,000 monitored items at 1 s on < 25 % of one core — ${busy.cpu - idle.cpu < 25 ? 'met' : 'not met'} for the server's share (total ${busy.cpu.toFixed(1)} %)`,
  );
  await sub.terminate();
  await session.close();
} finally {
  await client?.disconnect().catch(() => {});
  killChildren();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
