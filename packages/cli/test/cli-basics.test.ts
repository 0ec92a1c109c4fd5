/**
 * @module
 * The skeleton, run as the real built binary: help and examples, version, usage errors, colors,
 * --json errors, config errors, exit codes, and what `bifrost --help` loads.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, CLI_DIR, ensureBuilt, ROOT, runCli } from './helpers.js';

const COMMAND_NAMES = ['read', 'write', 'identify', 'browse', 'monitor', 'export', 'simulate', 'pki', 'completion'];
const RED = '\u001b[31m';

describe('bifrost skeleton', () => {
  it('--help lists every command with examples and exit codes, and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMAND_NAMES) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('130 interrupted');
  });

  it('every command --help shows examples', async () => {
    for (const c of COMMAND_NAMES.filter((n) => n !== 'pki')) {
      const r = await runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toContain('Examples:');
      expect(r.stdout, c).toMatch(/\$ .*bifrost /);
    }
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    const pkg = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as { version: string };
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('npm links the committed launcher as node_modules/.bin/bifrost, which runs with its V8 flags', () => {
    // A bin pointing into dist/ is not linked by `npm ci` on a fresh clone (dist/ does not exist yet).
    const link = join(ROOT, 'node_modules/.bin/bifrost');
    expect(readlinkSync(link)).toBe('../@bifrost/cli/bin/bifrost.js');
    ensureBuilt();
    const pkg = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as { version: string };
    expect(execFileSync(link, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    expect(readFileSync(link, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=2');
  });

  it('an unknown option is one red line with BIFROST_CLI_USAGE and a hint, exit 2', async () => {
    const r = await runCli(['read', '--frobnicate'], { env: { FORCE_COLOR: '1' } });
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]?.startsWith(RED)).toBe(true);
    expect(lines[0]).toContain('✖ BIFROST_CLI_USAGE');
    expect(lines[0]).toContain('— hint:');
  });

  it('no command prints help to stderr and is a usage error; a misspelt command gets a suggestion on one line', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: bifrost');
    const typo = await runCli(['reed', 'x']);
    expect(typo.code).toBe(2);
    expect(typo.stderr.trimEnd().split('\n')).toEqual(["✖ BIFROST_CLI_USAGE unknown command 'reed' (Did you mean read?) — hint: run bifrost <command> --help for usage and examples"]);
  });

  it('NO_COLOR and --no-color turn escapes off even when FORCE_COLOR is set', async () => {
    const a = await runCli(['read', 'foo://x', 'HR0'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
    const b = await runCli(['--no-color', 'read', 'foo://x', 'HR0'], { env: { FORCE_COLOR: '1' } });
    for (const r of [a, b]) {
      expect(r.stderr).not.toContain('\u001b[');
      expect(r.stderr).toContain('✖ BIFROST_UNKNOWN_SCHEME');
    }
  });

  it('an unknown URL scheme exits 2 (usage) with its code', async () => {
    const r = await runCli(['read', 'foo://x', 'HR0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^✖ BIFROST_UNKNOWN_SCHEME .*— hint: /);
  });

  it('--json errors are one JSON object on stderr with the code', async () => {
    const r = await runCli(['--json', 'read', 'not a url', 'HR0']);
    expect(r.code).toBe(2);
    const parsed = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    expect(parsed.error.code).toBe('BIFROST_INVALID_URL');
    expect(parsed.error.message).toContain('not a url');
  });

  it('a URL without tags is a usage error that says so', async () => {
    const r = await runCli(['read', 'modbus://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BIFROST_CLI_USAGE no tags given');
  });

  it('a bad gateway.yaml names file and line, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, 'devices:\n  - name: p1\n    url: modbus://127.0.0.1:1\n    tags:\n      - { name: t, adress: HR0 }\n');
    const r = await runCli(['read', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BIFROST_CONFIG_INVALID');
    expect(r.stderr).toContain(`${file}:5:`);
  });

  it('simulate rejects an unknown protocol as usage', async () => {
    const r = await runCli(['simulate', 'profibus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('modbus, s7, eip, opcua');
  });

  it('`bifrost --help` loads neither core (zod), Ink, React, prompts, parquet nor any protocol package', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-cli-'));
    const log = join(dir, 'loaded.txt');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
    );
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`);
    const r = await runCli(['--help'], { nodeArgs: ['--import', join(dir, 'register.mjs')] });
    expect(r.code).toBe(0);
    const loaded = readFileSync(log, 'utf8');
    expect(loaded).toContain(BIN.replace(/\\/g, '/'));
    expect(loaded).toContain('commander');
    for (const heavy of ['zod', 'node-opcua', 'packages/core/', 'packages/modbus', 'packages/opcua', '/ink/', '/react/', '@clack', 'hyparquet', '@duckdb', '/yaml/'])
      expect(loaded, heavy).not.toContain(heavy);
  });
});
