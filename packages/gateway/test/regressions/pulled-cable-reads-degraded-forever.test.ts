/**
 * Issue 18.3: with a device's link down (a pulled cable), the gateway marked the device
 * `degraded` after 2 s and kept it `degraded` for the whole outage (`bifrost_device_up` 0.5): the
 * TCP connection stayed open, every request timed out, and nothing ever redialled. Now, after
 * `deadAfter` of polls with every tag bad, the device goes `disconnected`, its connection is torn
 * down and redialled with backoff, and it is `connected` again with fresh values once the link
 * is back.
 *
 * The cable is real: a Modbus simulator process runs in its own network namespace behind a veth
 * pair, and the test takes the namespace's end of the pair down (the gateway's end loses its
 * carrier, as with a pulled plug). It needs root and iproute2 (scripts/install-test-deps.sh), and
 * uses only a private /30 of 10.250.0.0/16 on its own veth pair.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HealthState, parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (ip netns, veth pairs)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (`ip`): run scripts/install-test-deps.sh';
  }
  return undefined;
}
const skip = whyNot();

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// Names unique to this run: a namespace, a veth pair (interface names are at most 15 bytes).
const id = randomBytes(3).toString('hex');
const NS = `bifrost-cable-${id}`;
const VETH_HOST = `bfc${id}h`;
const VETH_DEV = `bfc${id}d`;

/** A /30 of 10.250.0.0/16 that no interface of this host uses yet: .1 for the host, .2 for the device. */
function freeSubnet(): { host: string; device: string } {
  for (let i = 0; i < 64; i++) {
    const [a, b] = randomBytes(2);
    const net = `10.250.${a}.`;
    const last = (b as number) & 0xfc;
    const subnet = `${net}${last}/30`;
    if (ip('-4', '-o', 'addr', 'show', 'to', subnet).trim() === '' && ip('-4', 'route', 'show', 'table', 'all', 'root', subnet).trim() === '') {
      return { host: `${net}${last + 1}`, device: `${net}${last + 2}` };
    }
  }
  throw new Error('no free /30 in 10.250.0.0/16');
}

// When skipped, the suite's title says why.
describe.skipIf(skip !== undefined)(`a pulled cable (namespace + veth pair)${skip ? `: skipped, ${skip}` : ''}`, () => {
  let addr: { host: string; device: string };
  let sim: ChildProcess | undefined;
  let local: RunningSimulator | undefined;
  let gw: Gateway | undefined;
  let nsCreated = false;
  let vethCreated = false;
  const events: Array<{ state: HealthState; at: number; code?: string; message?: string }> = [];

  beforeAll(async () => {
    addr = freeSubnet();
    ip('netns', 'add', NS);
    nsCreated = true;
    ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_DEV, 'netns', NS);
    vethCreated = true;
    ip('addr', 'add', `${addr.host}/30`, 'dev', VETH_HOST);
    ip('link', 'set', VETH_HOST, 'up');
    ip('-n', NS, 'addr', 'add', `${addr.device}/30`, 'dev', VETH_DEV);
    ip('-n', NS, 'link', 'set', VETH_DEV, 'up');
    ip('-n', NS, 'link', 'set', 'lo', 'up');

    // The device: `bifrost simulate modbus`, a process inside the namespace.
    sim = spawn('ip', ['netns', 'exec', NS, process.execPath, BIN, 'simulate', 'modbus', '--host', addr.device, '--port', '5020'], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sim.stdout?.on('data', (d) => (out += d));
    sim.stderr?.on('data', (d) => (out += d));
    await waitFor(() => out.includes('listening'), 15_000).catch(() => {
      throw new Error(`the simulator in ${NS} did not start: ${out}`);
    });

    // The other device, on loopback: it must not notice the outage.
    local = await startSimulator({ port: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-cable-'));
    const { config, source } = parseGatewayConfig(
      `
devices:
  - name: cable
    url: modbus://${addr.device}:5020?unit=1
    pollMs: 100
    timeoutMs: 300
    deadAfter: 1s
    options: { backoff: { baseMs: 100, maxMs: 1000 } }
    tags:
      - { name: temperature, address: "HR0:FLOAT32" }
      - { name: parts, address: "HR4:UINT16" }
  - name: local
    url: ${local.url}
    pollMs: 100
    tags:
      - { name: temperature, address: "HR0:FLOAT32" }
audit: { file: ${join(dir, 'audit.jsonl')} }
`,
      'gateway.yaml',
    );
    gw = new Gateway(config, { source, baseDir: dir });
    gw.on('health', (e) => {
      if (e.device !== 'cable') return;
      const ev: (typeof events)[number] = { state: e.state, at: Date.now() };
      if (e.error) {
        ev.code = e.error.code;
        ev.message = e.error.message;
      }
      events.push(ev);
    });
    await gw.start();
  }, 30_000);

  afterAll(async () => {
    await gw?.stop().catch(() => {});
    await local?.close().catch(() => {});
    if (sim && sim.exitCode === null) {
      const exited = new Promise((r) => sim?.once('exit', r));
      sim.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (sim.exitCode === null) sim.kill('SIGKILL');
    }
    // Deleting one end of a veth pair deletes both; deleting the namespace would too, but only
    // once its last process has gone, so both are removed explicitly.
    if (vethCreated) {
      try {
        ip('link', 'del', VETH_HOST);
      } catch {}
    }
    if (nsCreated) {
      try {
        ip('netns', 'del', NS);
      } catch {}
    }
  }, 30_000);

  const stats = (name: string) => gw?.devices().find((d) => d.config.name === name)?.stats as NonNullable<ReturnType<Gateway['devices']>[number]['stats']>;
  const upMetric = (name: string) => Number(new RegExp(`^bifrost_device_up\\{device="${name}"\\} (\\S+)$`, 'm').exec(gw?.metrics() ?? '')?.[1]);

  it('goes disconnected, keeps redialling with backoff, and is connected with fresh values once the link is back', async () => {
    const g = gw as Gateway;
    // The link is up: both devices read good values.
    await waitFor(() => g.latestOf('cable', 'temperature')?.quality === 'good' && g.latestOf('local', 'temperature')?.quality === 'good', 15_000);
    expect(g.device('cable')?.health).toBe('connected');

    // Pull the cable: the device's end of the pair goes down, the gateway's end loses its carrier.
    const cutAt = Date.now();
    const localBefore = { ...stats('local') };
    ip('-n', NS, 'link', 'set', VETH_DEV, 'down');

    // Requests time out (degraded); after deadAfter (1 s) of all-bad polls the connection is reset.
    await waitFor(() => events.some((e) => e.at >= cutAt && e.state === 'disconnected'), 15_000);
    const down = events.filter((e) => e.at >= cutAt);
    expect(down[0]?.state).toBe('degraded');
    const reset = down.find((e) => e.state === 'disconnected');
    expect(reset?.code).toBe('BIFROST_CONNECTION_LOST');
    expect(reset?.message).toMatch(/every tag bad in every poll for \d+ ms \(deadAfter 1000 ms\); resetting the connection/);
    expect(['disconnected', 'connecting']).toContain(g.device('cable')?.health);
    expect(upMetric('cable')).toBe(0);
    expect(g.health().devices.cable).not.toBe('degraded');

    // With the link still down, the gateway keeps dialling: each attempt fails and the next
    // waits the backoff delay. Three attempts after the reset prove the loop goes on.
    const resetAt = reset?.at as number;
    await waitFor(() => events.filter((e) => e.at >= resetAt && e.state === 'connecting').length >= 3, 30_000);
    const during = events.filter((e) => e.at >= resetAt);
    expect(during.some((e) => e.state === 'connected' || e.state === 'degraded')).toBe(false);
    expect(during.filter((e) => e.state === 'disconnected').length).toBeGreaterThanOrEqual(2);
    expect(upMetric('cable')).toBe(0);

    // The device on loopback kept polling through the outage, every poll good.
    const localAfter = stats('local');
    expect(localAfter.polls - localBefore.polls).toBeGreaterThanOrEqual(10);
    expect(localAfter.errors).toBe(localBefore.errors);
    expect(localAfter.badValues).toBe(localBefore.badValues);
    expect(localAfter.health).toBe('connected');

    // Plug the cable back in: the next attempt connects and fresh values flow.
    ip('-n', NS, 'link', 'set', VETH_DEV, 'up');
    const upAt = Date.now();
    await waitFor(() => {
      const v = g.latestOf('cable', 'temperature');
      return v?.quality === 'good' && v.timestamp >= upAt;
    }, 30_000);
    await waitFor(() => g.device('cable')?.health === 'connected', 10_000);
    expect(upMetric('cable')).toBe(1);
    expect(g.latestOf('cable', 'parts')?.quality).toBe('good');
  }, 90_000);
});
