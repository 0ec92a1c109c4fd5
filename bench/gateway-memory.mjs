#!/usr/bin/env node
// The gateway's resident memory with Modbus, S7 and EtherNet/IP devices (1,008 tags in all),
// analytics and an MQTT sink, after a run of --duration seconds (default 300, as the target
// says: "after five minutes"). The simulators and the broker run in their own processes, so only
// the gateway is measured. Printed beside an idle Node process (the floor) and the 100 MB target.
//   npm run bench -- gateway-memory [--duration 300]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'packages/cli/dist/bin.js');
// The gateway runs as a user runs it: the installed `bifrost` executable, with its shebang's V8 flags.
const BIFROST = join(root, 'node_modules/.bin/bifrost');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const durationS = arg('duration', 300);
const dir = mkdtempSync(join(tmpdir(), 'bifrost-mem-'));
const children = [];
const killChildren = () => {
  for (const c of children) c.kill('SIGKILL');
};
// Interrupted (Ctrl-C, or killed by a script), the simulators, broker and gateway go too.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    killChildren();
    process.exit(130);
  });
const freePort = () =>
  new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssOf = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
// Measure the process tree, so a launcher process in front of the gateway could not hide memory.
const treeOf = (pid) => {
  let kids = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {}
  return [pid, ...kids.flatMap(treeOf)];
};
// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s).
const cpuSeconds = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const gatewayRss = (pid) => {
  const pids = treeOf(pid);
  return { total: pids.reduce((sum, p) => sum + rssOf(p), 0), gateway: rssOf(pids.at(-1)) };
};

function start(args, ready) {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'warn' } });
  children.push(c);
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (ready(out)) {
        clearInterval(t);
        resolve(c);
      }
    }, 50);
    c.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}
const sim = async (proto) => {
  const port = await freePort();
  await start([BIN, 'simulate', proto, '--port', String(port)], (o) => o.includes('listening'));
  return port;
};

try {
  const [mb1, mb2, s71, s72, eip] = [await sim('modbus'), await sim('modbus'), await sim('s7'), await sim('s7'), await sim('eip')];
  const mqttPort = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
  const broker = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  children.push(broker);
  await sleep(500);

  const modbusTags = () => [
    ...Array.from({ length: 100 }, (_, i) => `      - { name: hr${i}, address: "HR${i}" }`),
    ...Array.from({ length: 10 }, (_, i) => `      - { name: ir${i}, address: "IR${i}" }`),
    ...Array.from({ length: 8 }, (_, i) => `      - { name: c${i}, address: "C${i}" }`),
    ...Array.from({ length: 8 }, (_, i) => `      - { name: di${i}, address: "DI${i}" }`),
  ];
  const s7Tags = () => [
    ...Array.from({ length: 100 }, (_, i) => `      - { name: db1b${i}, address: "DB1.DBB${i}" }`),
    ...Array.from({ length: 64 }, (_, i) => `      - { name: db2b${i}, address: "DB2.DBB${i}" }`),
    ...Array.from({ length: 64 }, (_, i) => `      - { name: mb${i}, address: "MB${i}" }`),
  ];
  const eipTags = Array.from({ length: 300 }, (_, i) => `      - { name: data${i}, address: "Data[${i}]" }`);
  const dev = (name, url, tags) => `  - name: ${name}\n    url: ${url}\n    pollMs: 1000\n    tags:\n${tags.join('\n')}`;
  const devices = [
    dev('modbus-1', `modbus://127.0.0.1:${mb1}?unit=1`, modbusTags()),
    dev('modbus-2', `modbus://127.0.0.1:${mb2}?unit=1`, modbusTags()),
    dev('s7-1', `s7://127.0.0.1:${s71}?rack=0&slot=1`, s7Tags()),
    dev('s7-2', `s7://127.0.0.1:${s72}?rack=0&slot=1`, s7Tags()),
    dev('eip-1', `eip://127.0.0.1:${eip}?path=1,0`, eipTags),
  ];
  const tagCount = 2 * 126 + 2 * 228 + 300;
  const pipelines = Array.from(
    { length: 10 },
    (_, i) =>
      `  - name: stats${i}\n    from: [modbus-1.hr${i}]\n    steps:\n      - window: { type: tumbling, size: 10s }\n        aggregate: [mean, min, max, stddev]\n      - anomaly: { method: zscore, window: 60, threshold: 3 }`,
  );
  const config = `devices:\n${devices.join('\n')}\npipelines:\n${pipelines.join('\n')}\nsinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:${mqttPort}\n    qos: 1\n    buffer: { dir: ./queue }\nstore: { memory: 16MB, retention: 1h }\n`;
  writeFileSync(join(dir, 'gateway.yaml'), config);

  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  children.push(idle);
  const gw = spawn(BIFROST, ['run', join(dir, 'gateway.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'warn' } });
  children.push(gw);
  let gwOut = '';
  gw.stdout.on('data', (d) => (gwOut += d));
  gw.stderr.on('data', (d) => (gwOut += d));
  console.log(`gateway: 5 devices (2 Modbus, 2 S7, 1 EtherNet/IP), ${tagCount} tags polled every 1 s, 10 pipelines (window + anomaly), MQTT sink at QoS 1; ${durationS} s`);
  const samples = [];
  let wrapper = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < durationS * 1000) {
    await sleep(Math.min(10_000, durationS * 1000 - (Date.now() - t0)) || 1);
    if (gw.exitCode !== null) throw new Error(`gateway exited: ${gwOut}`);
    const r = gatewayRss(gw.pid);
    samples.push(r.gateway);
    wrapper = r.total - r.gateway;
    process.stdout.write(`  t=${Math.round((Date.now() - t0) / 1000)}s gateway rss ${(r.gateway / 2 ** 20).toFixed(1)} MB (wrapper ${(wrapper / 2 ** 20).toFixed(1)} MB)\n`);
  }
  const cpu = cpuSeconds(treeOf(gw.pid).at(-1));
  const final = samples.at(-1);
  const peak = Math.max(...samples);
  const idleRss = rssOf(idle.pid);
  const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`;
  console.log('\n| process | resident memory |\n| --- | --- |');
  console.log(`| idle node (floor) | ${mb(idleRss)} |`);
  console.log(`| bifrost gateway after ${durationS} s | ${mb(final)} (peak ${mb(peak)}) |`);
  if (wrapper > 0) console.log(`| other processes under bifrost run | ${mb(wrapper)} |`);
  console.log(`| target | 100.0 MB |`);
  console.log(`\ngateway CPU: ${cpu.toFixed(1)} s in ${durationS} s = ${((100 * cpu) / durationS).toFixed(1)} % of one core (start-up included)`);
  console.log(`\ngateway / target = ${(final / (100 * 2 ** 20)).toFixed(2)}x · gateway / idle node = ${(final / idleRss).toFixed(2)}x · ${final < 100 * 2 ** 20 ? 'UNDER' : 'OVER'} the 100 MB target`);
} finally {
  killChildren();
}
