/**
 * Issue 25 §5: `import('@bifrost/core')` loaded zod and yaml eagerly (≈400 ms of a 260 ms cold
 * start on the CI machine) although only config parsing needs them. The import must not load them;
 * the first config parse must. Runs the build in a child Node with a resolve hook that lists every
 * module the ESM loader resolves (timings are measured by bench/cli-start.mjs, not asserted here).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
const hooks = `data:text/javascript,${encodeURIComponent("import{writeSync}from'node:fs';export async function resolve(s,c,n){const r=await n(s,c);writeSync(2,'LOADED '+r.url+'\\n');return r}")}`;
const register = `data:text/javascript,${encodeURIComponent(`import{register}from'node:module';register(${JSON.stringify(hooks)})`)}`;

function loaded(code: string): string[] {
  const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice(7));
}

describe('importing @bifrost/core', () => {
  it('loads neither zod nor yaml until a config is parsed', () => {
    const core = loaded(`await import(${JSON.stringify(`${dist}index.js`)});`);
    expect(core.some((u) => u.endsWith('/dist/index.js'))).toBe(true);
    expect(core.filter((u) => /\/node_modules\/(zod|yaml)\//.test(u))).toEqual([]);
    // nor the builtins whose ES import costs most on Node 20 (node:fs's facade loads streams and readline)
    expect(core.filter((u) => ['node:fs', 'node:fs/promises', 'node:child_process', 'node:worker_threads'].includes(u))).toEqual([]);
    // the probe does see them when the config module is imported
    const config = loaded(`await import(${JSON.stringify(`${dist}config.js`)});`);
    expect(config.some((u) => /\/node_modules\/zod\//.test(u))).toBe(true);
  });

  it('parses a config on first use, with the same BifrostError class', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(`${dist}index.js`)});
         const { config } = m.parseGatewayConfig('devices: []\\n', 'a.yaml');
         let err; try { m.parseGatewayConfig('devices: 3\\n', 'b.yaml'); } catch (e) { err = e; }
         const s = new m.ConfigSource('c.yaml', 'x: 1\\n');
         console.log(JSON.stringify([config.devices, err instanceof m.BifrostError, err.code, s instanceof m.ConfigSource, s.toJS(), m.formatPath(['devices', 0])]));`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([[], true, 'BIFROST_CONFIG_INVALID', true, { x: 1 }, 'devices[0]']);
  });
});
