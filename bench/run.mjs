#!/usr/bin/env node
// `npm run bench -- NAME` runs bench/NAME.mjs (or bench/NAME/index.mjs) after a build;
// `npm run bench` lists them. Each benchmark runs Bifrost beside a peer in one process run and
// prints its figures and ratios.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const names = readdirSync(here)
  .filter((f) => (f.endsWith('.mjs') && f !== 'run.mjs') || existsSync(`${here}/${f}/index.mjs`))
  .map((f) => f.replace(/\.mjs$/, ''))
  .sort();
const name = process.argv[2];
if (!name) {
  console.log(`benchmarks: ${names.join(', ')}\nrun one: npm run bench -- NAME`);
  process.exit(0);
}
const file = existsSync(`${here}/${name}.mjs`) ? `${here}/${name}.mjs` : `${here}/${name}/index.mjs`;
if (!existsSync(file)) {
  console.error(`no benchmark "${name}"; known: ${names.join(', ')}`);
  process.exit(2);
}
const build = spawnSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const r = spawnSync(process.execPath, ['--expose-gc', file, ...process.argv.slice(3)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
