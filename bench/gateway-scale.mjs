#!/usr/bin/env node
// Plant scale: one real `bifrost run` polling many tags at 1 s, forwarding every change to
// Mosquitto, measured from outside: resident memory, CPU % of one core, scan overruns, values
// produced vs delivered per second, queue depth, and how fast /metrics answers. Printed beside
// the targets and the field's best published figures (EMQX Neuron, NG Gateway).
//   npm run bench -- gateway-scale [--devices 10] [--tags 10000] [--sims 10] [--duration 300] [--protocol modbus|s7|eip|opcua]
//     [--format per-tag|per-device] [--semi-space 2] [--acquisition poll|subscribe]
// --acquisition subscribe (OPC UA only): the gateway subscribes (monitored items, publishing
// interval 1 s) instead of reading every tag every second.
// Scenario of the issue: 10 Modbus simulators serving HR0-HR9999, every tenth register a counter
// (+1 per second), so 1,000 values per device change every second; one gateway reading 10,000
// single-register tags from each at pollMs 1000; one MQTT sink.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'packages/cli/dist/bin.js');
const BIFROST = join(root, 'packages/cli/bin/bifrost.js');
const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const devices = Number(opt('devices', 10));
const tagsPer = Number(opt('tags', 10_000));
const durationS = Number(opt('duration', 300));
const simCount = Number(opt('sims', 10));
// --max-inflight N sets the MQTT sink's maxInflight (values in flight before the cursor moves).
const maxInflight = opt('max-inflight', undefined);
const protocol = opt('protocol', 'modbus');
const acquisition = opt('acquisition', 'poll');
const format = opt('format', undefined);
const semiSpace = opt('semi-space', undefined);
// --sink none measures the gateway without forwarding (the poll, store and live path alone).
const sink = opt('sink', 'mqtt');
const cpuProf = process.argv.includes('--cpu-prof');
// --v8 '--optimize-for-size' passes more V8 flags to the gateway.
const v8Flags = (opt('v8', '') ?? '').split(' ').filter(Boolean);
const dir = mkdtempSync(join(tmpdir(), 'bifrost-scale-'));
const children = [];
const killChildren = () => {
  for (const c of children) c.kill('SIGKILL');
};
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
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

function start(args, ready, env = {}) {
  const c = spawn(args[0], args.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'warn', ...env } });
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

/** GET a URL; resolves with the body and the milliseconds it took, or the timeout. */
function get(url, timeoutMs = 5000) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ ms: performance.now() - t0, body }));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ ms: Number.POSITIVE_INFINITY, body: '' });
    });
    req.on('error', () => resolve({ ms: Number.POSITIVE_INFINITY, body: '' }));
    req.end();
  });
}
const metric = (text, name, filter = '') =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name) && l.includes(filter) && !l.startsWith('#'))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

async function simulator(i) {
  const port = await freePort();
  if (protocol === 'modbus') {
    const file = join(dir, `sim${i}.yaml`);
    const points = [];
    for (let a = 0; a < tagsPer; a += 10) points.push(`      - { address: "HR${a}", signal: counter, step: 1, everyS: 1, max: 65535 }`);
    writeFileSync(file, `updateMs: 1000\nunits:\n  - id: 1\n    map: ["HR0-HR${tagsPer - 1}"]\n    points:\n${points.join('\n')}\n`);
    await start([process.execPath, BIN, 'simulate', 'modbus', '--port', String(port), '--config', file], (o) => o.includes('listening'));
    return { url: `modbus://127.0.0.1:${port}?unit=1`, tag: (k) => `HR${k}` };
  }
  if (protocol === 's7') {
    // DB1 with a word per tag, every tenth word a counter (+1 per update, once a second).
    const file = join(dir, `sim${i}.yaml`);
    const points = [];
    for (let k = 0; k < tagsPer; k += 10) points.push(`  - { address: "DB1.DBW${k * 2}:INT", signal: counter, step: 1 }`);
    writeFileSync(file, `tickMs: 1000\ndbs: { 1: ${tagsPer * 2} }\ntags:\n${points.join('\n')}\n`);
    await start([process.execPath, BIN, 'simulate', 's7', '--port', String(port), '--config', file], (o) => o.includes('listening'));
    return { url: `s7://127.0.0.1:${port}?rack=0&slot=1`, tag: (k) => `DB1.DBW${k * 2}` };
  }
  if (protocol === 'eip') {
    // A Logix controller with a DINT controller tag per gateway tag, every tenth a counter (+1 a second).
    const file = join(dir, `sim${i}.yaml`);
    const tags = [];
    const signals = [];
    for (let k = 0; k < tagsPer; k++) tags.push(`  - { name: T${k}, type: DINT, value: 0 }`);
    for (let k = 0; k < tagsPer; k += 10) signals.push(`  - { tag: T${k}, kind: counter, periodMs: 1000 }`);
    writeFileSync(file, `tags:\n${tags.join('\n')}\nsignals:\n${signals.join('\n')}\n`);
    await start([process.execPath, BIN, 'simulate', 'eip', '--port', String(port), '--config', file], (o) => o.includes('listening'));
    return { url: `eip://127.0.0.1:${port}`, tag: (k) => `T${k}` };
  }
  if (protocol === 'opcua') {
    const file = join(dir, `sim${i}.yaml`);
    // Every tenth variable changes each second, as the Modbus and S7 scenarios: 1,000 of 10,000.
    writeFileSync(file, `bulkTags: ${tagsPer}\nbulkEvery: 10\nupdateMs: 1000\npkiDir: ${join(dir, `sim${i}-pki`)}\n`);
    await start([process.execPath, BIN, 'simulate', 'opcua', '--port', String(port), '--config', file], (o) => o.includes('listening'));
    return { url: `opc.tcp://127.0.0.1:${port}?pki=${encodeURIComponent(join(dir, 'client-pki'))}`, tag: (k) => `ns=1;s=Bulk.Tag${k}` };
  }
  throw new Error(`unknown protocol ${protocol}`);
}

try {
  // At most --sims simulator processes (default 10); more devices share them round-robin, each with
  // its own connection, as 100 PLCs of one model would look to the gateway.
  const servers = [];
  for (let i = 0; i < Math.min(devices, simCount); i++) servers.push(await simulator(i));
  const sims = Array.from({ length: devices }, (_, i) => servers[i % servers.length]);
  const mqttPort = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
  children.push(spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' }));
  await sleep(500);
  const webPort = await freePort();
  const yaml = [`devices:`];
  sims.forEach((s, i) => {
    yaml.push(`  - name: dev${i}`, `    url: ${s.url}`, '    pollMs: 1000', ...(acquisition === 'poll' ? [] : [`    acquisition: ${acquisition}`]), '    tags:');
    for (let k = 0; k < tagsPer; k++) yaml.push(`      - { name: t${k}, address: "${s.tag(k)}" }`);
  });
  if (sink !== 'none')
    yaml.push(
      'sinks:',
      '  - type: mqtt',
      `    url: mqtt://127.0.0.1:${mqttPort}`,
      '    qos: 1',
      ...(format ? [`    format: ${format}`] : []),
      ...(maxInflight ? [`    maxInflight: ${maxInflight}`] : []),
      '    buffer: { dir: ./queue }',
    );
  yaml.push('store: { memory: 64MB, retention: 10m }', `metrics: { port: ${webPort} }`);
  writeFileSync(join(dir, 'gateway.yaml'), `${yaml.join('\n')}\n`);
  const total = devices * tagsPer;
  // As a user runs it: bin/bifrost.js's shebang (`#!/usr/bin/env -S NAME=value … node --flag …`)
  // gives the environment and the V8 flags; --semi-space replaces its semi-space flag, and a
  // variable set in this process's environment wins over the shebang's (MALLOC_ARENA_MAX=8 …).
  const shebang = readFileSync(BIFROST, 'utf8')
    .split('\n')[0]
    .replace(/^#!\/usr\/bin\/env -S /, '')
    .split(' ');
  const launcherEnv = Object.fromEntries(shebang.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=')));
  const launcherFlags = shebang.slice(shebang.indexOf('node') + 1).filter((f) => !(semiSpace && f.startsWith('--max-semi-space-size=')));
  const flags = [...launcherFlags, ...(semiSpace ? [`--max-semi-space-size=${semiSpace}`] : []), ...v8Flags, ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'test-artifacts')}`] : [])];
  const gwEnv = { BIFROST_LOG_LEVEL: 'info' };
  for (const [k, v] of Object.entries(launcherEnv)) gwEnv[k] = process.env[k] ?? v;
  const gw = await start([process.execPath, ...flags, BIFROST, 'run', join(dir, 'gateway.yaml')], (o) => o.includes('health and metrics on'), gwEnv);
  console.log(
    `gateway-scale: ${devices} ${protocol} device(s) × ${tagsPer.toLocaleString()} tags = ${total.toLocaleString()} tags at 1 s (${acquisition}), MQTT QoS 1 (${format ?? 'default format'}), ${durationS} s, ${[
      ...Object.entries(gwEnv)
        .filter(([k]) => k !== 'BIFROST_LOG_LEVEL')
        .map(([k, v]) => `${k}=${v}`),
      ...flags,
    ].join(' ')}`,
  );
  const url = `http://127.0.0.1:${webPort}/metrics`;
  const samples = [];
  const t0 = Date.now();
  const cpu0 = cpuSeconds(gw.child.pid);
  let warm;
  while (Date.now() - t0 < durationS * 1000) {
    await sleep(10_000);
    if (gw.child.exitCode !== null) throw new Error(`gateway exited: ${gw.output()}`);
    const m = await get(url);
    const prev = samples.at(-1);
    // A /metrics that did not answer in time counts as its latency; its counters are the last ones seen.
    const answered = Number.isFinite(m.ms);
    const s = {
      t: (Date.now() - t0) / 1000,
      rss: rssOf(gw.child.pid),
      cpu: cpuSeconds(gw.child.pid),
      metricsMs: m.ms,
      polls: answered ? metric(m.body, 'bifrost_device_polls_total') : (prev?.polls ?? 0),
      overruns: answered ? metric(m.body, 'bifrost_device_overruns_total') : (prev?.overruns ?? 0),
      forwarded: answered ? metric(m.body, 'bifrost_values_forwarded_total') : (prev?.forwarded ?? 0),
      published: answered ? metric(m.body, 'bifrost_sink_published') : (prev?.published ?? 0),
      depth: answered ? metric(m.body, 'bifrost_sink_queue_depth') : (prev?.depth ?? 0),
      store: answered ? metric(m.body, 'bifrost_store_bytes') : (prev?.store ?? 0),
    };
    samples.push(s);
    // The first 30 s are start-up (connects, first full forward of every tag): rates count after it.
    if (!warm && s.t >= 30) warm = s;
    console.log(
      `  t=${s.t.toFixed(0)}s rss ${(s.rss / 2 ** 20).toFixed(1)} MB (store ${(s.store / 2 ** 20).toFixed(1)} MB) cpu ${s.cpu.toFixed(1)} s polls ${s.polls} overruns ${s.overruns} forwarded ${s.forwarded} published ${s.published} depth ${s.depth} /metrics ${s.metricsMs.toFixed(1)} ms`,
    );
  }
  const last = samples.at(-1);
  const base = warm ?? samples[0];
  const span = last.t - base.t || 1;
  const cpuPct = (100 * (last.cpu - base.cpu)) / span;
  const produced = (last.forwarded - base.forwarded) / span;
  const delivered = (last.published - base.published) / span;
  const overrunPct = (100 * (last.overruns - base.overruns)) / Math.max(1, last.polls - base.polls + last.overruns - base.overruns);
  const metricsMs = samples.filter((s) => s.t >= 30).map((s) => s.metricsMs);
  const worstMetrics = Math.max(...metricsMs);
  const unanswered = metricsMs.filter((ms) => !Number.isFinite(ms)).length;
  const peak = Math.max(...samples.map((s) => s.rss));
  const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MB`;
  console.log(`\n| figure | Bifrost (${total.toLocaleString()} tags) | target | EMQX Neuron (100k tags, 1 s) | NG Gateway |`);
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| resident memory | ${mb(last.rss)} (peak ${mb(peak)}) | < 200 MB | 497 MB | 153 MiB |`);
  // The store keeps history up to its budget (store.memory, 64 MB here as by default): part of the
  // resident size grows with it until the budget or the retention is reached. What it counts
  // against the budget (bifrost_store_bytes) includes 256 bytes per series, more than a series costs.
  console.log(`| the store's bytes against its 64 MB budget | ${mb(last.store)} | — | — | — |`);
  console.log(`| CPU, % of one core | ${cpuPct.toFixed(1)} % | < 35 % | 30 % of 4 cores | 7 % |`);
  console.log(`| scan overruns | ${last.overruns - base.overruns} (${overrunPct.toFixed(1)} % of scans) | none | — | — |`);
  console.log(`| values produced / delivered per s | ${produced.toFixed(0)} / ${delivered.toFixed(0)} | delivered ≥ produced | keeps up | — |`);
  console.log(`| queue depth at the end | ${last.depth} | bounded | — | — |`);
  console.log(
    `| /metrics latency, worst after warm-up | ${Number.isFinite(worstMetrics) ? `${worstMetrics.toFixed(1)} ms` : `no answer in 5 s (${unanswered} of ${metricsMs.length} samples)`} | < 100 ms | — | — |`,
  );
  console.log(
    `\nstart-up: ${(base.cpu - cpu0).toFixed(1)} s CPU in the first ${base.t.toFixed(0)} s; expected polls ${Math.round(devices * span)} in the measured ${span.toFixed(0)} s, done ${last.polls - base.polls}; load average ${(await import('node:os')).loadavg()[0].toFixed(1)} on ${(await import('node:os')).cpus().length} cores`,
  );
  console.log(
    `\nratios: memory / 200 MB target = ${(last.rss / (200 * 2 ** 20)).toFixed(2)}x · CPU / 35 % target = ${(cpuPct / 35).toFixed(2)}x · delivered / produced = ${(delivered / Math.max(1, produced)).toFixed(2)}x · memory / Neuron = ${(last.rss / (497 * 2 ** 20)).toFixed(2)}x`,
  );
  if (cpuProf) {
    // A CPU profile is written when the process exits normally.
    gw.child.kill('SIGTERM');
    await new Promise((r) => gw.child.once('exit', r));
    console.log(`CPU profile in ${join(root, 'test-artifacts')}`);
  }
} finally {
  killChildren();
}
