/**
 * @module
 * The connection wizard, unattended by flags and interactively in tmux, against the Modbus
 * simulator; and the bash completion script, exercised by bash itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUrl, parseTagList, tagNameFor } from '../src/commands/connect.js';
import { runCli, type SimProcess, startSimulatorProcess, Tmux } from './helpers.js';

const CONFIG = join(import.meta.dirname, 'fixtures-sim.yaml');
const dir = mkdtempSync(join(tmpdir(), 'bifrost-connect-'));
let sim: SimProcess;

beforeAll(async () => {
  sim = await startSimulatorProcess('modbus', await freePort(), ['--config', CONFIG]);
});

afterAll(async () => {
  await sim.stop();
});

describe('bifrost connect (unattended)', () => {
  it('writes a gateway.yaml that parseGatewayConfig and `bifrost run --check` accept', async () => {
    const out = join(dir, 'gateway.yaml');
    const r = await runCli([
      'connect',
      '--protocol',
      'modbus',
      '--host',
      '127.0.0.1',
      '--port',
      String(sim.port),
      '--unit',
      '1',
      '--name',
      'press1',
      '--tags',
      'temp=HR0:FLOAT32,count=IR0,HR2:UINT16',
      '--poll',
      '500ms',
      '--out',
      out,
      '--yes',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('vendor: Bifrost');
    expect(r.stderr).toMatch(/temp\s+HR0:FLOAT32\s+21\.5/);
    const { config } = parseGatewayConfig(readFileSync(out, 'utf8'), out);
    expect(config.devices).toHaveLength(1);
    expect(config.devices[0]).toMatchObject({ name: 'press1', url: `modbus://127.0.0.1:${sim.port}?unit=1`, pollMs: 500 });
    expect(config.devices[0]?.tags.map((t) => [t.name, t.address])).toEqual([
      ['temp', 'HR0:FLOAT32'],
      ['count', 'IR0'],
      ['HR2_UINT16', 'HR2:UINT16'],
    ]);
    const check = await runCli(['run', out, '--check'], { timeoutMs: 60_000 });
    expect(check.code, check.stderr + check.stdout).toBe(0);
    // And the read-type commands take it as a source.
    const read = await runCli(['--json', 'read', out, 'temp']);
    expect((JSON.parse(read.stdout) as { value: number }[])[0]?.value).toBe(21.5);
  });

  it('--json reports the identity and the first read', async () => {
    const out = join(dir, 'gw-json.yaml');
    const r = await runCli(['--json', 'connect', sim.url, '--tags', 'a=HR3:INT16', '--out', out, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { file: string; identity: Record<string, unknown>; tags: Record<string, unknown>[] };
    expect(j.file).toBe(out);
    expect(j.identity.product).toBe('CLI test plant');
    expect(j.tags[0]).toMatchObject({ name: 'a', address: 'HR3:INT16', value: -42, quality: 'good' });
  });

  it('refuses to overwrite without --force, and names the missing flag when unattended', async () => {
    const out = join(dir, 'exists.yaml');
    writeFileSync(out, 'keep me\n');
    const r = await runCli(['connect', sim.url, '--tags', 'HR0', '--out', out, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--force');
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    const noTags = await runCli(['connect', sim.url, '--out', join(dir, 'none.yaml'), '--yes']);
    expect(noTags.code).toBe(2);
    expect(noTags.stderr).toContain('--tags');
    const noHost = await runCli(['connect', '--protocol', 's7', '--yes', '--out', join(dir, 'none.yaml')]);
    expect(noHost.code).toBe(2);
    expect(noHost.stderr).toContain('--host');
  });

  it('an unreachable device fails the test with exit 3 and writes nothing', async () => {
    const out = join(dir, 'down.yaml');
    const r = await runCli(['connect', `modbus://127.0.0.1:${await freePort()}?timeout=500`, '--tags', 'HR0', '--out', out, '--yes']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('BIFROST_CONNECTION_REFUSED');
    expect(existsSync(out)).toBe(false);
  });

  it('an address the driver cannot parse is a usage error', async () => {
    const r = await runCli(['connect', sim.url, '--tags', 'x=QQ7', '--out', join(dir, 'bad.yaml'), '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BIFROST_INVALID_ADDRESS');
  });
});

describe('bifrost connect (interactive, in tmux)', () => {
  it('asks protocol, host, port, unit, name and tags, tests the device and writes the file', async () => {
    const out = join(dir, 'wizard.yaml');
    const t = new Tmux('bifrost-wizard');
    const step = async (screen: RegExp, keys: string) => {
      await t.waitFor(screen);
      if (keys) t.send(keys, true);
      t.send('Enter');
    };
    try {
      t.start(Tmux.bifrost(`connect --out ${out}`), 100, 50);
      await step(/Protocol[\s\S]*Modbus TCP/, '');
      await step(/Host or IP/, '127.0.0.1');
      await step(/Port/, String(sim.port));
      await step(/Unit id/, '');
      await step(/Device name/, 'line1');
      await step(/Tags \(name=address/, 'temp=HR0:FLOAT32, n=HR2:UINT16');
      const end = await t.waitFor(/\[exit 0\]/, 15_000);
      expect(end).toContain('Device identity');
      expect(end).toContain('CLI test plant');
      expect(end).toMatch(/temp\s+HR0:FLOAT32\s+21\.5/);
      expect(end).toContain(`wrote ${out}`);
    } finally {
      t.kill();
    }
    const { config } = parseGatewayConfig(readFileSync(out, 'utf8'), out);
    expect(config.devices[0]).toMatchObject({ name: 'line1', url: `modbus://127.0.0.1:${sim.port}?unit=1` });
    expect(config.devices[0]?.tags.map((x) => x.address)).toEqual(['HR0:FLOAT32', 'HR2:UINT16']);
  });
});

describe('wizard helpers', () => {
  it.each([
    ['modbus', { protocol: 'modbus', host: '10.0.0.5', port: 502, unit: 3 }, 'modbus://10.0.0.5:502?unit=3'],
    ['s7', { protocol: 's7', host: 'plc', port: 102, rack: 0, slot: 2 }, 's7://plc:102?rack=0&slot=2'],
    ['eip', { protocol: 'eip', host: '10.0.0.7', port: 44818, path: '1,0' }, 'eip://10.0.0.7:44818?path=1,0'],
    ['opcua', { protocol: 'opcua', host: 'srv', port: 4840, endpoint: 'UA/Server' }, 'opc.tcp://srv:4840/UA/Server'],
    ['ipv6', { protocol: 'modbus', host: '::1', port: 502 }, 'modbus://[::1]:502?unit=1'],
  ] as const)('buildUrl %s', (_n, answers, url) => {
    expect(buildUrl(answers)).toBe(url);
  });

  it('parses tag lists, keeping OPC UA NodeIds whole', () => {
    expect(parseTagList('temp=HR0:FLOAT32, IR4 ,ns=2;s=Line1.Temp')).toEqual([
      { name: 'temp', address: 'HR0:FLOAT32' },
      { name: 'IR4', address: 'IR4' },
      { name: 'ns_2_s_Line1_Temp', address: 'ns=2;s=Line1.Temp' },
    ]);
    expect(tagNameFor('40001')).toBe('t_40001');
  });
});

describe('bifrost completion', () => {
  const complete = (script: string, words: string[]): string[] => {
    const file = join(dir, 'complete.bash');
    writeFileSync(file, script);
    const cmd = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _bifrost_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  };

  it('bash: completes commands, subcommands, options and argument choices', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('complete -o default -F _bifrost_completions bifrost');
    expect(complete(r.stdout, ['bifrost', 'mo'])).toEqual(['monitor']);
    expect(complete(r.stdout, ['bifrost', 'simulate', ''])).toEqual(expect.arrayContaining(['modbus', 's7', 'eip', 'opcua', '--port']));
    expect(complete(r.stdout, ['bifrost', 'monitor', 'gw.yaml', '--da'])).toEqual(['--dashboard']);
    expect(complete(r.stdout, ['bifrost', 'pki', 't'])).toEqual(['trust']);
    expect(complete(r.stdout, ['bifrost', 'pki', 'trust', '--'])).toEqual(expect.arrayContaining(['--dir', '--help']));
    expect(complete(r.stdout, ['bifrost', '--j'])).toEqual(['--json']);
    // bash itself accepts the script.
    execFileSync('bash', ['-n', join(dir, 'complete.bash')]);
  });

  it('zsh: a #compdef script that names every command', async () => {
    const r = await runCli(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('#compdef bifrost')).toBe(true);
    for (const c of ['read', 'write', 'monitor', 'export', 'connect', 'simulate', 'completion']) expect(r.stdout).toContain(`'${c}:`);
    expect(r.stdout).toContain("'--dashboard'");
  });
});
