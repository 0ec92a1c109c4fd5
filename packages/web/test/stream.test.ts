/**
 * The live WebSocket stream on a listening server, with a real `ws` client, against a Gateway
 * polling the real Modbus simulator: subscriptions, token checks at the upgrade, bad messages, and
 * the latest-value-wins policy that keeps a slow client from growing memory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { createToken, StreamHub, type StreamSocket, startWebServer } from '@bifrost/web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

let sim: RunningSimulator;
let gw: Gateway;
let web: Awaited<ReturnType<typeof startWebServer>>;
const viewer = createToken({ name: 'vera', role: 'viewer' });
const KEYS = ['press1.temperature', 'press1.parts', 'press1.ramp', 'press1.setpoint'];

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-stream-'));
  const { config, source } = parseGatewayConfig(
    `
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 50
    tags:
      - { name: temperature, address: "HR0:FLOAT32" }
      - { name: parts, address: "HR4:UINT16" }
      - { name: ramp, address: "HR5:UINT16" }
      - { name: setpoint, address: "HR10:FLOAT32" }
audit: { file: ${join(dir, 'audit.jsonl')} }
`,
    'gw.yaml',
  );
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  web = await startWebServer(gw, { port: 0, tokens: [viewer.entry], streamIntervalMs: 50 });
  await waitFor(() => gw.latestOf('press1', 'parts') !== undefined, 10_000);
}, 60_000);

afterAll(async () => {
  await web?.close();
  await gw?.stop();
  await sim?.close();
});

type Msg = { type: string; values?: [string, unknown, string, number][]; code?: string; message?: string };

async function open(options: { protocols?: string[]; headers?: Record<string, string> }): Promise<{ ws: WebSocket; messages: Msg[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/stream`, options.protocols ?? [], { headers: options.headers ?? {} });
  const messages: Msg[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Msg));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages };
}

describe('live stream', () => {
  it('sends the current and then the changing values of the subscribed tags only', async () => {
    const { ws, messages } = await open({ headers: { authorization: `Bearer ${viewer.token}` } });
    ws.send(JSON.stringify({ op: 'subscribe', tags: ['press1.parts', 'press1.ramp'] }));
    const parts = () => messages.flatMap((m) => m.values ?? []).filter((r) => r[0] === 'press1.parts');
    // HR4 counts one per second in the simulator.
    await waitFor(() => new Set(parts().map((r) => r[1])).size >= 2, 5000);
    const keys = new Set(messages.flatMap((m) => m.values ?? []).map((r) => r[0]));
    expect([...keys].sort()).toEqual(['press1.parts', 'press1.ramp']);
    for (const r of parts()) {
      expect(r[2]).toBe('good');
      expect(typeof r[3]).toBe('number');
    }
    // Within one message a tag appears at most once: the latest value wins.
    for (const m of messages) if (m.values) expect(new Set(m.values.map((r) => r[0])).size).toBe(m.values.length);
    ws.close();
  });

  it('accepts the token as a subprotocol (browsers) and answers with "bifrost", never the token', async () => {
    const { ws, messages } = await open({ protocols: ['bifrost', `bearer.${viewer.token}`] });
    expect(ws.protocol).toBe('bifrost');
    ws.send(JSON.stringify({ op: 'subscribe', all: true }));
    await waitFor(() => new Set(messages.flatMap((m) => m.values ?? []).map((r) => r[0])).size === KEYS.length, 5000);
    ws.close();
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { headers: { authorization: 'Bearer bft_wrong' } }],
    ['a wrong subprotocol token', { protocols: ['bifrost', 'bearer.bft_wrong'] }],
  ] as const)('refuses the upgrade with 401 for %s', async (_name, options) => {
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/stream`, 'protocols' in options ? [...options.protocols] : [], { headers: 'headers' in options ? options.headers : {} });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    expect(status).toBe(401);
  });

  it('refuses a WebSocket opened by a page of another origin, and accepts its own origin', async () => {
    const foreign = new WebSocket(`ws://127.0.0.1:${web.port}/api/stream`, ['bifrost', `bearer.${viewer.token}`], { headers: { origin: 'https://evil.example' } });
    const status = await new Promise<number>((resolve) => {
      foreign.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      foreign.once('open', () => resolve(101));
      foreign.once('error', () => {});
    });
    expect(status).toBe(403);
    const { ws } = await open({ protocols: ['bifrost', `bearer.${viewer.token}`], headers: { origin: `http://127.0.0.1:${web.port}` } });
    expect(ws.protocol).toBe('bifrost');
    ws.close();
  });

  it.each([
    ['not JSON', 'hello', 'BIFROST_WEB_BAD_REQUEST'],
    ['an unknown op', '{"op":"delete"}', 'BIFROST_WEB_BAD_REQUEST'],
    ['tags not strings', '{"op":"subscribe","tags":[1,2]}', 'BIFROST_WEB_BAD_REQUEST'],
    ['an unknown tag', '{"op":"subscribe","tags":["press1.nope","nodot"]}', 'BIFROST_GATEWAY_UNKNOWN_TAG'],
  ])('answers %s with an error message and keeps the connection', async (_name, text, code) => {
    const { ws, messages } = await open({ headers: { authorization: `Bearer ${viewer.token}` } });
    ws.send(text);
    await waitFor(() => messages.some((m) => m.type === 'error'), 5000);
    expect(messages.find((m) => m.type === 'error')?.code).toBe(code);
    ws.send(JSON.stringify({ op: 'subscribe', tags: ['press1.parts'] }));
    await waitFor(() => messages.some((m) => m.type === 'values'), 5000);
    ws.close();
  });

  it('refuses a message larger than the limit by closing with 1009', async () => {
    const { ws } = await open({ headers: { authorization: `Bearer ${viewer.token}` } });
    const code = await new Promise<number>((resolve) => {
      ws.once('close', (c) => resolve(c));
      ws.send(JSON.stringify({ op: 'subscribe', tags: Array.from({ length: 10_000 }, (_, i) => `press1.t${i}`) }));
    });
    expect(code).toBe(1009);
  });
});

describe('a slow client never grows memory', () => {
  // A socket whose send buffer stays full, as a client on a slow link whose TCP window is closed.
  class FullSocket implements StreamSocket {
    bufferedAmount = 10 * 1024 * 1024;
    readyState = 1;
    sent: string[] = [];
    send(data: string): void {
      this.sent.push(data);
    }
  }

  it('holds at most one pending value per tag while the socket is full, then sends only the latest', async () => {
    const hub = new StreamHub(gw, { intervalMs: 20, maxBufferedBytes: 1024 * 1024, maxTags: 100 });
    const slow = new FullSocket();
    hub.add(slow);
    hub.message(slow, JSON.stringify({ op: 'subscribe', tags: KEYS }));
    const before = hub.stats().coalesced;
    // Two seconds of 20 Hz polling: about 40 values per tag were produced while the socket was full.
    await waitFor(() => hub.stats().coalesced - before > 4 * 20, 10_000);
    expect(slow.sent).toEqual([]);
    expect(hub.stats().skipped).toBeGreaterThan(0);
    slow.bufferedAmount = 0;
    hub.flush();
    expect(slow.sent).toHaveLength(1);
    const rows = (JSON.parse(slow.sent[0] as string) as Msg).values ?? [];
    expect(rows.map((r) => r[0]).sort()).toEqual([...KEYS].sort());
    // What it received is the latest value the gateway holds, not the oldest queued one. (The
    // stream carries changes: its timestamp is the poll that changed it, at or before the latest read.)
    for (const key of ['press1.parts', 'press1.ramp']) {
      const row = rows.find((r) => r[0] === key);
      const latest = gw.latestOf('press1', key.slice('press1.'.length));
      expect(row?.[1]).toBe(latest?.value);
      expect(row?.[3]).toBeLessThanOrEqual(latest?.timestamp as number);
    }
    hub.close();
  });
});
