/**
 * @module
 * node-opcua loads only when OPC UA is used. Each check runs a fresh Node process on the BUILT
 * packages with a preload hook that, at exit, counts the node-opcua files in the CommonJS module
 * cache (node-opcua is CommonJS, so an `import()` of it lands there too). A positive control
 * imports node-opcua and must see it, so the check can fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-lazy-'));
const hook = join(dir, 'count-node-opcua.cjs');

beforeAll(() => {
  // The checks run the build, so build it first (incremental: quick when up to date).
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', join(root, 'packages/opcua')], { stdio: 'pipe' });
  writeFileSync(
    hook,
    `process.on('exit', () => {
  const files = Object.keys(require.cache).filter((f) => /[\\\\/]node_modules[\\\\/]node-opcua[^\\\\/]*[\\\\/]/.test(f));
  require('node:fs').writeSync(2, '\\nNODE_OPCUA_FILES=' + files.length + '\\n');
});\n`,
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a script (ESM) or a file from the repository root and returns how many node-opcua files it loaded. */
function loadedBy(script: string, args: string[] = []): number {
  const r = spawnSync(process.execPath, ['-r', hook, ...args, ...(script ? ['--input-type=module', '-e', script] : [])], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  const m = /NODE_OPCUA_FILES=(\d+)/.exec(r.stderr);
  if (!m) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  if (script && r.status !== 0) throw new Error(`script failed: ${r.stderr}`);
  return Number(m[1]);
}

describe('node-opcua is loaded lazily', () => {
  it('is not loaded by importing @bifrost/opcua, parsing addresses or listing the PKI', () => {
    const n = loadedBy(`
      const opcua = await import('@bifrost/opcua');
      opcua.validateAddress('ns=2;s=Line1.Temp');
      await opcua.pkiList({ dir: ${JSON.stringify(join(dir, 'pki'))} });
      if (typeof opcua.driver.connect !== 'function' || typeof opcua.startSimulator !== 'function') throw new Error('exports missing');
    `);
    expect(n).toBe(0);
  });

  it('is loaded once an OPC UA function needs it (the positive control)', () => {
    const n = loadedBy(`
      const opcua = await import('@bifrost/opcua');
      await opcua.pkiInit({ dir: ${JSON.stringify(join(dir, 'pki2'))} });
    `);
    expect(n).toBeGreaterThan(50);
  });

  it.skipIf(!existsSync(join(root, 'packages/modbus/dist/index.js')))('is not loaded by a Modbus-only process that connects through the registry', () => {
    const n = loadedBy(`
      const { connect } = await import('@bifrost/core');
      const plc = await connect('modbus://127.0.0.1:9?unit=1', { lazy: true });
      if (plc.protocol !== 'modbus') throw new Error('not modbus: ' + plc.protocol);
      await plc.close();
    `);
    expect(n).toBe(0);
  });

  it.skipIf(!existsSync(join(root, 'packages/cli/dist/bin.js')))('is not loaded by bifrost --help', () => {
    expect(loadedBy('', [join(root, 'packages/cli/dist/bin.js'), '--help'])).toBe(0);
  });
});
