#!/usr/bin/env node
// CLI cold start: `bifrost --help` (and `--version`) beside a bare `node -e 0`, median of 20 runs
// each, interleaved so both see the same machine load. Build first: npx tsc -b packages/cli.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
if (!existsSync(bin)) {
  console.error(`missing ${bin}: run npx tsc -b packages/cli first`);
  process.exit(1);
}
const RUNS = Number(process.env.RUNS ?? 20);
const cases = {
  'node -e 0': ['-e', '0'],
  'bifrost --help': [bin, '--help'],
  'bifrost --version': [bin, '--version'],
};
const env = { ...process.env, NO_COLOR: '1' };
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const deadline = Date.now() + 50_000;
for (let i = 0; i < RUNS + 2 && Date.now() < deadline; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
console.log('case                 p50 ms   p90 ms   min ms   vs node -e 0   bifrost own cost');
for (const [name, xs] of Object.entries(times)) {
  const p50 = q(xs, 0.5);
  console.log(
    `${name.padEnd(20)} ${p50.toFixed(1).padStart(6)}   ${q(xs, 0.9).toFixed(1).padStart(6)}   ${Math.min(...xs)
      .toFixed(1)
      .padStart(6)}   ${(p50 / base).toFixed(2).padStart(10)}x   ${name === 'node -e 0' ? '' : `${(p50 - base).toFixed(1)} ms`}`,
  );
}
