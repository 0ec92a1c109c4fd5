/**
 * Issue 25 §3, §8, §9: what a new operator hit in the first hour with the CLI.
 * - `--help` pointed to docs/cli.md, which the installed package does not have; `discover --save
 *   plant.yaml` wrote a comment saying `bifrost run gateway.yaml`.
 * - `read opc.tcp://…` and `browse` created ./data/pki in whatever folder the user stood in, and
 *   `write` ./data/audit.jsonl; a write refused for want of a terminal and --yes was not audited.
 * - `export --samples N` was silent for N·interval when stderr is not a terminal; `connect --yes`
 *   read the device before failing on an existing output file; `run --check` passed `devices: []`;
 *   `demo --without modbus,s7,eip,opcua` failed with `devices: expected a list`.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toGatewayYaml } from '@bifrost/discovery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/index.js';
import { COMMAND_LOADERS, commandToLoad } from '../../src/commands/lazy.js';
import { DOCS_URL } from '../../src/program.js';
import { runCli, type SimProcess, startSimulatorProcess } from '../helpers.js';

const root = mkdtempSync(join(tmpdir(), 'bifrost-first-hour-'));
let n = 0;
/** A fresh user: an empty working folder and an empty home, no XDG_STATE_HOME. */
function user(): { cwd: string; home: string; env: NodeJS.ProcessEnv } {
  const base = join(root, `u${n++}`);
  const cwd = join(base, 'work');
  const home = join(base, 'home');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(home, { recursive: true });
  return { cwd, home, env: { HOME: home, XDG_STATE_HOME: '', BIFROST_DATA_DIR: '' } };
}

let silent: Server;
let silentPort = 0;
let connections = 0;
let closedPort = 0;
let sim: SimProcess;

beforeAll(async () => {
  silent = createServer((s) => {
    connections++;
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as { port: number }).port;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  closedPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  sim = await startSimulatorProcess('modbus', 0);
});
afterAll(async () => {
  await sim?.stop();
  silent.closeAllConnections?.();
  await new Promise((r) => silent.close(r));
});

describe('cold start (§5)', () => {
  it('the lazy command loaders are the registered commands, in help order', async () => {
    expect(Object.keys(COMMAND_LOADERS)).toEqual(COMMANDS.map((c) => c.name));
    for (const [name, load] of Object.entries(COMMAND_LOADERS)) expect((await load()).name).toBe(name);
  });
  it('only a plain command runs alone; help, version, completion and typos see every command', () => {
    const argv = (...a: string[]) => ['node', 'bifrost', ...a];
    expect(commandToLoad(argv('--json', '--data-dir', 'read', 'read', 'modbus://h', 'HR0'))).toBe('read');
    expect(commandToLoad(argv('--no-color', 'write', 'u', 'HR0', '1'))).toBe('write');
    for (const a of [[], ['--help'], ['-V'], ['completion', 'bash'], ['rea'], ['help', 'read']]) expect(commandToLoad(argv(...a))).toBeUndefined();
  });
});

describe('help and docs links (§3)', () => {
  it('--help links the repository docs and says where the state folder is', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${DOCS_URL}/cli.md`);
    expect(DOCS_URL).toMatch(/^https:\/\//);
    expect(r.stdout).not.toMatch(/\(docs\/cli\.md\)/);
    expect(r.stdout).toMatch(/\$XDG_STATE_HOME\/bifrost.*~\/\.local\/state\/bifrost.*--data-dir.*BIFROST_DATA_DIR/);
  });
  it('discover --save names the file it wrote in its comment', () => {
    expect(toGatewayYaml([], 'plant.yaml')).toContain('then: bifrost run plant.yaml\n');
  });
});

describe('one per-user state folder (§8)', () => {
  it('read opc.tcp:// keeps its PKI in ~/.local/state/bifrost (0700), not in the working folder', async () => {
    const u = user();
    const r = await runCli(['read', `opc.tcp://127.0.0.1:${closedPort}`, 'i=2258', '--json'], { cwd: u.cwd, env: u.env, timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(readdirSync(u.cwd)).toEqual([]);
    const state = join(u.home, '.local/state/bifrost');
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect(existsSync(join(state, 'pki'))).toBe(true);
  });
  it('XDG_STATE_HOME, BIFROST_DATA_DIR and --data-dir move it, in that order of precedence', async () => {
    const u = user();
    const xdg = join(u.home, 'xdg');
    const env = join(u.home, 'env-dir');
    const flag = join(u.home, 'flag-dir');
    // a refused write touches only the audit log: the fastest way to see where the state goes
    const refused = (pre: string[], extra: NodeJS.ProcessEnv) => runCli([...pre, 'write', `modbus://127.0.0.1:${silentPort}`, 'HR10', '1'], { cwd: u.cwd, env: { ...u.env, ...extra } });
    await refused([], { XDG_STATE_HOME: xdg });
    expect(existsSync(join(xdg, 'bifrost/audit.jsonl'))).toBe(true);
    await refused([], { XDG_STATE_HOME: xdg, BIFROST_DATA_DIR: env });
    expect(existsSync(join(env, 'audit.jsonl'))).toBe(true);
    await refused(['--data-dir', flag], { XDG_STATE_HOME: xdg, BIFROST_DATA_DIR: env });
    expect(existsSync(join(flag, 'audit.jsonl'))).toBe(true);
    expect(statSync(flag).mode & 0o777).toBe(0o700);
    expect(readdirSync(u.cwd)).toEqual([]);
  });
  it('a write refused for want of a terminal and --yes is audited in the state folder', async () => {
    const u = user();
    const r = await runCli(['write', `modbus://127.0.0.1:${silentPort}`, 'HR10', '42'], { cwd: u.cwd, env: u.env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('BIFROST_WRITE_NOT_ALLOWED');
    expect(readdirSync(u.cwd)).toEqual([]);
    const lines = readFileSync(join(u.home, '.local/state/bifrost/audit.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ address: 'HR10', newValue: 42, result: 'denied', source: 'cli' });
  });
});

describe('rough edges (§9)', () => {
  it('export without a terminal prints the ETA at start and progress every few seconds on stderr', async () => {
    const u = user();
    const out = join(u.cwd, 'x.csv');
    const r = await runCli(['export', sim.url, '--tags', 'HR0:FLOAT32', '--samples', '40', '--interval', '100ms', '--out', out], { cwd: u.cwd, env: u.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^exporting 40 samples of 1 tag\(s\) every 100 ms to .*x\.csv: about 4 s/m);
    expect(r.stderr).toMatch(/^\d+\/40 samples \(\d+%\), about \d+ s left$/m);
  });
  it('connect --yes with an existing output file fails before talking to the device', async () => {
    const u = user();
    const out = join(u.cwd, 'gateway.yaml');
    writeFileSync(out, 'devices: []\n');
    const before = connections;
    const r = await runCli(['connect', `modbus://127.0.0.1:${silentPort}`, '--tags', 't=HR0', '--out', out, '--yes'], { cwd: u.cwd, env: u.env, timeoutMs: 10_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${out} exists`);
    expect(connections).toBe(before);
    expect(readFileSync(out, 'utf8')).toBe('devices: []\n');
  });
  it('run --check refuses a gateway with no devices', async () => {
    const u = user();
    const file = join(u.cwd, 'gw.yaml');
    writeFileSync(file, 'devices: []\n');
    const r = await runCli(['run', file, '--check'], { cwd: u.cwd, env: u.env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/BIFROST_CONFIG_INVALID .*gw\.yaml:1:1: devices: expected at least one device/);
  });
  it('demo --without every protocol says nothing is left to run', async () => {
    const u = user();
    const r = await runCli(['demo', '--without', 'modbus,s7,eip,opcua', '--no-dashboard'], { cwd: u.cwd, env: u.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('leaves nothing to run');
    expect(r.stderr).not.toContain('expected a list');
  });
});
