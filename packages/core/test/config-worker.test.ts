/**
 * @module
 * A large config file (from 256 KiB) is parsed in a worker thread by `loadGatewayConfigAsync`, so
 * the YAML document's peak (about 450 MB at 100,000 tags) never sits in the gateway's heap. The
 * worker exists only in the build, so the loader runs from dist/ in a child process here; the
 * result must be exactly what the in-process parse gives, and a YAML error must still name its line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGatewayConfig } from '@bifrost/core';
import { expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bifrost-config-worker-'));

function big(tags: number, broken = false): string {
  const lines = ['devices:', '  - name: press1', '    url: modbus://127.0.0.1:5020?unit=1', '    pollMs: 1000', '    tags:'];
  for (let k = 0; k < tags; k++) lines.push(`      - { name: t${k}, address: "HR${k}", unit: degC, deadband: 0.5 }`);
  if (broken) lines.push('      - { name: bad, address: "HR1" ');
  return `${lines.join('\n')}\n`;
}

function loadInChild(file: string): { config?: unknown; error?: { code: string; message: string } } {
  const script = `
    import { loadGatewayConfigAsync } from ${JSON.stringify(dist)};
    try {
      const { config } = await loadGatewayConfigAsync(${JSON.stringify(file)});
      console.log(JSON.stringify({ config }));
    } catch (e) {
      console.log(JSON.stringify({ error: { code: e.code, message: e.message } }));
    }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

it('parses a large config in a worker and gives exactly the in-process result', () => {
  const text = big(6000);
  expect(text.length).toBeGreaterThan(256 * 1024);
  const file = join(dir, 'big.yaml');
  writeFileSync(file, text);
  const child = loadInChild(file);
  const here = parseGatewayConfig(text, file).config;
  expect(child.error).toBeUndefined();
  expect(child.config).toEqual(JSON.parse(JSON.stringify(here)));
}, 60_000);

it('a YAML error in a large file still names its file and line', () => {
  const text = big(6000, true);
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, text);
  const child = loadInChild(file);
  expect(child.error?.code).toBe('BIFROST_CONFIG_YAML');
  expect(child.error?.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:600[0-9]:`));
}, 60_000);
