/**
 * Issue 18.6: after SIGTERM a gateway took too long to stop (or never did), and the next start on
 * the same ports failed. Here the device is a TCP server that accepts and never answers, one sink's
 * broker never sends CONNACK, and another's accepts the connection and then never acknowledges a
 * publish (before the fix `bifrost run` hung forever in that sink's stop). SIGTERM must end the
 * process within the configured bound, and a second gateway must then start on the same ports.
 * (The device's reads time out after 300 ms, so bad values reach the sinks and wait there for an
 * acknowledgement that never comes, while the next reads hang again.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../helpers.js';

const sockets = new Set<Socket>();
const servers: Server[] = [];
const children = new Set<ChildProcess>();

/** A TCP server that answers each connection with `onData` (or never). */
async function tcpServer(onData?: (socket: Socket, data: Buffer) => void): Promise<number> {
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => onData?.(s, d));
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as { port: number }).port;
}

function bifrostRun(file: string): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, 'run', file, '--stop-timeout', '1s'], { env: { ...process.env, NO_COLOR: '1', BIFROST_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return Object.assign(child, { output: () => out });
}

let dir: string;
let file: string;
let httpPort: number;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bifrost-hung-stop-'));
  const device = await tcpServer();
  const noConnack = await tcpServer();
  // MQTT CONNECT (packet type 1) gets CONNACK accepted (MQTT 3.1.1 §3.2); nothing else is ever answered.
  const noPuback = await tcpServer((s, d) => {
    if (d[0] !== undefined && d[0] >> 4 === 1) s.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
  });
  httpPort = await freePort();
  file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    `devices:
  - name: hung
    url: modbus://127.0.0.1:${device}?unit=1
    pollMs: 20
    timeoutMs: 300ms
    tags: [{ name: a, address: HR0 }, { name: b, address: HR100 }]
sinks:
  - { type: mqtt, name: silent, url: "mqtt://127.0.0.1:${noConnack}", qos: 1, buffer: { dir: ./q-silent } }
  - { type: mqtt, name: mute, url: "mqtt://127.0.0.1:${noPuback}", qos: 1, buffer: { dir: ./q-mute } }
metrics: { port: ${httpPort} }
`,
  );
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

describe('SIGTERM with a hung device and brokers that never answer', () => {
  it('exits within the stop bound, and the next start on the same ports works', async () => {
    const first = bifrostRun(file);
    await waitFor(() => first.output().includes('health and metrics on'), 20_000);
    // Let the device's reads and the sinks' publishes pile up unanswered.
    await waitFor(async () => /bifrost_values_forwarded_total [1-9]/.test(await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text())), 10_000);
    await new Promise((r) => setTimeout(r, 300));
    first.kill('SIGTERM');
    // --stop-timeout 1s: the gateway leaves what hangs after 1 s, the process exits after at most 2 s;
    // the wait here is generous (a loaded CI machine), but without the bound the process never exits.
    const code = await Promise.race([exited(first), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(code, first.output()).toBe(0);
    expect(first.output()).toContain('stopping: polling stops');

    const second = bifrostRun(file);
    await waitFor(() => second.output().includes('health and metrics on'), 20_000);
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    expect(health.status).toBeLessThan(600);
    expect(second.output()).not.toContain('BIFROST_ADDRESS_IN_USE');
    second.kill('SIGTERM');
    expect(await Promise.race([exited(second), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))])).toBe(0);
  });
});
