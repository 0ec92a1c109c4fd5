#!/usr/bin/env node
// Cold start beside a bare `node -e 0`, median of 20 runs each, interleaved so all see the same
// machine load: `import('@bifrost/core')` (target ≤ 1.5x), `bifrost --help`, `--version`, and
// `bifrost read` of one register from the Modbus simulator (target ≤ 2.5x; issue 25 §5).
// Also prints the install size of @bifrost/core + @bifrost/modbus with their dependencies.
// Build first: npx tsc -b packages/cli.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
if (!existsSync(bin)) {
  console.error(`missing ${bin}: run npx tsc -b packages/cli first`);
  process.exit(1);
}
const RUNS = Number(process.env.RUNS ?? 20);
const root = fileURLToPath(new URL('..', import.meta.url));
const coreIndex = join(root, 'packages/core/dist/index.js');
const { startSimulator } = await import(join(root, 'packages/modbus/dist/index.js'));
const sim = await startSimulator({ port: 0 });
const simUrl = sim.url.replace(/\?.*$/, '');
const cases = {
  'node -e 0': ['-e', '0'],
  'import core': ['--input-type=module', '-e', `await import(${JSON.stringify(coreIndex)})`],
  'bifrost --help': [bin, '--help'],
  'bifrost --version': [bin, '--version'],
  'bifrost read HR0': [join(root, 'packages/cli/bin/bifrost.js'), 'read', simUrl, 'HR0'],
  // the same without the launcher's --max-semi-space-size=2 (kept for the gateway's memory,
  // bench/gateway-memory.mjs): what that flag costs a short command
  'read, no V8 flags': [bin, 'read', simUrl, 'HR0'],
};
const targets = { 'import core': 1.5, 'bifrost read HR0': 2.5 };
const env = { ...process.env, NO_COLOR: '1' };
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const deadline = Date.now() + 50_000;
for (let i = 0; i < RUNS + 2 && Date.now() < deadline; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    // the launcher's V8 flags (bin/bifrost.js shebang) are part of what a user runs
    const argv = name === 'bifrost read HR0' ? ['--max-semi-space-size=2', ...args] : args;
    const r = await new Promise((resolve) => {
      const c = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (status) => resolve({ status, stderr }));
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
    if (i >= 2) times[name].push(ms); // two warm-up rounds fill the OS file cache
  }
}
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const base = q(times['node -e 0'], 0.5);
console.log(`CLI cold start, ${times['node -e 0'].length} runs each (node ${process.version})`);
console.log('case                 p50 ms   p90 ms   min ms   vs node -e 0   bifrost own cost   target');
for (const [name, xs] of Object.entries(times)) {
  const p50 = q(xs, 0.5);
  console.log(
    `${name.padEnd(20)} ${p50.toFixed(1).padStart(6)}   ${q(xs, 0.9).toFixed(1).padStart(6)}   ${Math.min(...xs)
      .toFixed(1)
      .padStart(
        6,
      )}   ${(p50 / base).toFixed(2).padStart(10)}x   ${(name === 'node -e 0' ? '' : `${(p50 - base).toFixed(1)} ms`).padEnd(16)}   ${targets[name] ? `≤ ${targets[name]}x ${p50 / base <= targets[name] ? 'met' : 'MISSED'}` : ''}`,
  );
}
await sim.close();

// Install size: what `npm i @bifrost/core @bifrost/modbus` puts in node_modules (the packages'
// shipped files, per their "files", and their production dependencies, optional ones included).
function du(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(p)) n += du(join(p, e));
  return n;
}
function pkgDir(name, from) {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (d === dirname(d)) return undefined;
  }
}
const seen = new Map();
function walk(name, from) {
  const dir = pkgDir(name, from);
  if (!dir || seen.has(name)) return;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const files = name.startsWith('@bifrost/') ? [...(pkg.files ?? []), 'package.json', 'LICENSE'].filter((f) => existsSync(join(dir, f))) : ['.'];
  seen.set(
    name,
    files.reduce((n, f) => n + du(join(dir, f)), 0),
  );
  for (const d of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) walk(d, dir);
}
walk('@bifrost/core', root);
walk('@bifrost/modbus', root);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const total = [...seen.values()].reduce((a, b) => a + b, 0);
const top = [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
console.log(`\ninstall size of @bifrost/core + @bifrost/modbus: ${mb(total)} in ${seen.size} packages (largest: ${top.map(([n, s]) => `${n} ${mb(s)}`).join(', ')})`);
