/**
 * Regression (issue 22, item 3): 20 anonymous WebSockets sending 62 KB subscribe messages in a
 * loop starved the poll loop of `bifrost run` (a device's poll latency went from 0.66 ms to 571
 * ms, with overruns), and any number of sockets was accepted. Now connections are limited in total
 * and per address, a connection sending more than `web.stream.maxMessagesPerSecond` is closed with
 * 1008 before its messages are parsed, and subscriptions are bounded. The flood runs in its own
 * process (reconnecting whenever it is closed, as an attacker would) while `bifrost run` polls
 * the Modbus simulator; the test counts the device's polls in a window (counts, not timings).
 */
import { spawn } from 'node:child_process';
import type { RunningSimulator } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/modbus';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type BifrostProcess, ROOT, startBifrost, waitHttp } from './bifrost-process.js';

const POLL_MS = 100;
const TAGS = 100;
let sim: RunningSimulator | undefined;
let gw: BifrostProcess | undefined;
let flood: ReturnType<typeof spawn> | undefined;

afterAll(async () => {
  flood?.kill('SIGKILL');
  await gw?.stop();
  await sim?.close();
});

/** The flooder: 20 sockets, each sending a 56 KB subscribe as fast as its socket drains, reconnecting when closed. Prints close codes. */
const FLOOD = `
import WebSocket from 'ws';
const url = process.argv[1];
const tags = Array.from({ length: 2000 }, (_, i) => 'press1.no_such_tag_' + String(i).padStart(6, '0'));
const msg = JSON.stringify({ op: 'subscribe', tags });
const codes = {};
function run() {
  const ws = new WebSocket(url);
  const pump = () => {
    for (let i = 0; i < 16 && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20; i++) ws.send(msg);
    if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 1);
  };
  ws.on('open', pump);
  ws.on('message', () => {});
  ws.on('close', (code) => { codes[code] = (codes[code] ?? 0) + 1; setTimeout(run, 100); });
  ws.on('unexpected-response', (_req, res) => { codes[res.statusCode] = (codes[res.statusCode] ?? 0) + 1; res.resume(); ws.terminate(); });
  ws.on('error', () => {});
}
for (let i = 0; i < 20; i++) run();
setInterval(() => console.log(JSON.stringify(codes)), 500);
`;

async function polls(base: string): Promise<number> {
  const devices = (await (await fetch(`${base}/api/devices`)).json()) as { name: string; stats: { polls: number } }[];
  return devices.find((d) => d.name === 'press1')?.stats.polls ?? 0;
}

it('keeps the poll rate of a device while 20 sockets flood the live stream', async () => {
  sim = await startSimulator({ port: 0 });
  const port = await freePort();
  const tags = Array.from({ length: TAGS }, (_, i) => `      - { name: t${i}, address: "HR${i}:UINT16" }`).join('\n');
  gw = startBifrost({
    'gateway.yaml': `devices:\n  - name: press1\n    url: ${sim.url}\n    pollMs: ${POLL_MS}\n    tags:\n${tags}\nweb: { port: ${port} }\naudit: { file: audit.jsonl }\n`,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  // Polling has started.
  const t = Date.now();
  while ((await polls(base)) < 5 && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 100));

  flood = spawn(process.execPath, ['--input-type=module', '-e', FLOOD, `ws://127.0.0.1:${port}/api/stream`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let last = '{}';
  flood.stdout?.on('data', (d: Buffer) => {
    const lines = d.toString().trim().split('\n');
    last = lines[lines.length - 1] ?? last;
  });
  // Let the flood build up, then count polls over a 4 s window.
  await new Promise((r) => setTimeout(r, 1500));
  const p0 = await polls(base);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 4000));
  const p1 = await polls(base);
  const t1 = Date.now();
  const expected = (t1 - t0) / POLL_MS;
  const codes = JSON.parse(last) as Record<string, number>;
  flood.kill('SIGKILL');

  // And the device kept its rate: at least 80 % of the polls its period asks for.
  expect(p1 - p0, `${p1 - p0} polls in ${t1 - t0} ms, expected about ${Math.round(expected)}`).toBeGreaterThanOrEqual(0.8 * expected);
  // The flood was refused: connections closed for policy (1008).
  expect(codes['1008'] ?? 0, JSON.stringify(codes)).toBeGreaterThan(0);

  // The flooding address is kept out for a while (web.stream.blockMs).
  const blocked = await upgradeStatus(`ws://127.0.0.1:${port}/api/stream`, '127.0.0.1');
  expect(blocked).toBe(429);
  // From another address: a 21st connection is refused while 20 are open.
  const open: WebSocket[] = [];
  for (let i = 0; i < 20; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/stream`, { localAddress: '127.0.0.2' });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    open.push(ws);
  }
  expect(await upgradeStatus(`ws://127.0.0.1:${port}/api/stream`, '127.0.0.2')).toBe(429);
  for (const ws of open) ws.close();
}, 60_000);

it('refuses a subscription beyond web.stream.maxTags', async () => {
  await gw?.stop();
  const port = await freePort();
  const tags = Array.from({ length: 60 }, (_, i) => `      - { name: t${i}, address: "HR${i}:UINT16" }`).join('\n');
  gw = startBifrost({
    'gateway.yaml': `devices:\n  - name: press1\n    url: ${sim?.url}\n    tags:\n${tags}\nweb: { port: ${port}, stream: { maxTags: 50 } }\naudit: { file: audit.jsonl }\n`,
  });
  await waitHttp(`http://127.0.0.1:${port}/health`);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/stream`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const answer = new Promise<{ type: string; code?: string }>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
  ws.send(JSON.stringify({ op: 'subscribe', tags: Array.from({ length: 51 }, (_, i) => `press1.t${i}`) }));
  expect(await answer).toMatchObject({ type: 'error', code: 'BIFROST_WEB_PAYLOAD_TOO_LARGE' });
  ws.close();
}, 30_000);

function upgradeStatus(url: string, localAddress: string): Promise<number> {
  return new Promise<number>((resolve) => {
    const ws = new WebSocket(url, { localAddress });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', () => {});
  });
}
