/**
 * Issue 25 §4: the tarballs were not ready to publish — no LICENSE, no repository/homepage/bugs,
 * `dist/.tsbuildinfo` and source maps pointing at the unshipped `src/` in every tarball,
 * `@bifrost/core/test-fixtures` importing the undeclared `vitest` — and the README did not say what
 * to install. This packs every workspace, installs the tarballs as a user would (the library:
 * `npm i @bifrost/core @bifrost/modbus` in an empty project; the CLI: `npm i -g`), then runs
 * `bifrost --help`, `bifrost simulate modbus` + `bifrost read`, and the library from ESM and CJS.
 * npm runs with --prefer-offline: the packages come from the cache `npm ci` filled.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../helpers.js';

const work = mkdtempSync(join(tmpdir(), 'bifrost-pack-'));
const packs = join(work, 'packs');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

interface PackInfo {
  name: string;
  filename: string;
  files: { path: string }[];
}
let packed: PackInfo[] = [];
const running: ChildProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: ROOT, stdio: 'pipe' });
  mkdirSync(packs);
  packed = JSON.parse(npm(['pack', '--workspaces', '--json', '--pack-destination', packs], ROOT)) as PackInfo[];
}, 120_000);
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('every package tarball', () => {
  it('covers every workspace', () => {
    const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    expect(packed.map((p) => p.name).sort()).toEqual(workspaces.map((w) => (JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as { name: string }).name).sort());
  });
  it('has the Apache-2.0 LICENSE text, repository, homepage and bugs, and nothing for the build only', () => {
    for (const p of packed) {
      const paths = p.files.map((f) => f.path);
      expect(paths, p.name).toContain('LICENSE');
      expect(
        paths.filter((f) => f.endsWith('.map') || f.includes('tsbuildinfo') || f.startsWith('src/')),
        p.name,
      ).toEqual([]);
      const dir = join(ROOT, 'packages', p.name.replace('@bifrost/', ''));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, { url?: string; directory?: string } | string>;
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8'), p.name).toContain('Apache License\n                           Version 2.0, January 2004');
      expect(manifest.repository, p.name).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/.+\.git$/), directory: `packages/${p.name.replace('@bifrost/', '')}` });
      expect(manifest.homepage, p.name).toMatch(/^https:\/\//);
      expect(manifest.bugs, p.name).toMatchObject({ url: expect.stringMatching(/^https:\/\/.*\/issues$/) });
      // a shipped file that names a source map must ship it
      for (const f of paths.filter((x) => x.endsWith('.js'))) expect(readFileSync(join(dir, f), 'utf8'), `${p.name} ${f}`).not.toContain('sourceMappingURL=');
    }
  });
  it('declares every package a shipped test fixture imports (vitest, as an optional peer)', () => {
    for (const p of packed) {
      const dir = join(ROOT, 'packages', p.name.replace('@bifrost/', ''));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
      const fixtures = p.files.map((f) => f.path).filter((f) => f.startsWith('dist/test-fixtures/') && f.endsWith('.js'));
      if (!fixtures.some((f) => /from 'vitest'/.test(readFileSync(join(dir, f), 'utf8')))) continue;
      expect(manifest.peerDependencies?.vitest, p.name).toBeDefined();
      expect(manifest.peerDependenciesMeta?.vitest?.optional, p.name).toBe(true);
    }
  });
});

function tgz(name: string): string {
  const p = packed.find((x) => x.name === name);
  if (!p) throw new Error(`${name} was not packed`);
  return join(packs, p.filename);
}

/** Starts `bifrost simulate modbus --port 0` from `bin` and resolves with its URL. */
function simulate(bin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['simulate', 'modbus', '--port', '0'], { cwd: work, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`simulator did not start: ${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
  });
}

describe('installed from the tarballs', () => {
  it('the CLI: npm i -g, bifrost --help, simulate modbus, read', async () => {
    const prefix = join(work, 'global');
    npm(['install', '--global', '--prefix', prefix, ...packed.map((p) => join(packs, p.filename))], work);
    const bin = join(prefix, 'bin', 'bifrost');
    const help = execFileSync(bin, ['--help'], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(help).toContain('Usage: bifrost');
    expect(help).toMatch(/Docs: https:\/\/\S+\/docs\/cli\.md/);
    const url = await simulate(bin);
    const read = JSON.parse(execFileSync(bin, ['--json', 'read', url, 'HR0:FLOAT32', 'C0'], { cwd: work, encoding: 'utf8', env: { ...process.env, HOME: work } })) as { quality: string }[];
    expect(read.map((v) => v.quality)).toEqual(['good', 'good']);
  }, 300_000);

  it('the library: npm i @bifrost/core @bifrost/modbus, then import from ESM and require from CJS', async () => {
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
    npm(['install', tgz('@bifrost/core'), tgz('@bifrost/modbus')], app);
    expect(readdirSync(join(app, 'node_modules/@bifrost')).sort()).toEqual(['core', 'modbus']);
    const esm = `import { connect } from '@bifrost/core';
import { startSimulator } from '@bifrost/modbus';
const sim = await startSimulator({ port: 0 });
const plc = await connect(sim.url);
try {
  const t = await plc.read('HR0:FLOAT32');
  console.log(JSON.stringify({ quality: t.quality, type: typeof t.value }));
} finally {
  await plc.close();
  await sim.close();
}
`;
    const cjs = `const { connect, parseGatewayConfig } = require('@bifrost/core');
const { startSimulator } = require('@bifrost/modbus');
(async () => {
  const sim = await startSimulator({ port: 0 });
  const plc = await connect(sim.url);
  try {
    const t = await plc.read('C0');
    const { config } = parseGatewayConfig('devices: []\\n');
    console.log(JSON.stringify({ quality: t.quality, type: typeof t.value, devices: config.devices }));
  } finally {
    await plc.close();
    await sim.close();
  }
})();
`;
    writeFileSync(join(app, 'esm.mjs'), esm);
    writeFileSync(join(app, 'cjs.cjs'), cjs);
    expect(JSON.parse(execFileSync(process.execPath, ['esm.mjs'], { cwd: app, encoding: 'utf8' }))).toEqual({ quality: 'good', type: 'number' });
    expect(JSON.parse(execFileSync(process.execPath, ['cjs.cjs'], { cwd: app, encoding: 'utf8' }))).toEqual({ quality: 'good', type: 'boolean', devices: [] });
  }, 120_000);
});
