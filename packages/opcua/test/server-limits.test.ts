/**
 * @module
 * The server's limits (issue 17, "bad input"): a client that opens too many sessions, monitors
 * too many items or sends a message above the maximum gets the server's refusal
 * (BadTooManySessions, BadTooManyMonitoredItems, a closed channel), and the server keeps serving.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TagValue } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { createOpcUaServer, type OpcUaServer, type TagProvider } from '@bifrost/opcua';
import type { ClientSession, OPCUAClient } from 'node-opcua';
import { afterAll, beforeAll, expect, it } from 'vitest';

type Ua = typeof import('node-opcua');
let ua: Ua;
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-limits-'));
let server: OpcUaServer;
let url: string;
const clients: OPCUAClient[] = [];
const events = new EventEmitter();
const provider: TagProvider = {
  devices: () => [{ name: 'plc', tags: Array.from({ length: 20 }, (_, i) => ({ name: `t${i}`, type: 'LREAL' as const })) }],
  latest: (_d, tag): TagValue => ({ address: tag, value: 1, quality: 'good', timestamp: Date.now() }),
  write: async () => {},
  on: (event, listener) => events.on(event, listener),
};

beforeAll(async () => {
  ua = await import('node-opcua');
  const port = await freePort();
  server = await createOpcUaServer({
    provider,
    port,
    host: '127.0.0.1',
    pkiDir: join(dir, 'pki'),
    securityPolicies: ['None'],
    securityModes: ['None'],
    maxSessions: 2,
    maxMonitoredItems: 5,
    maxMessageSize: 64 * 1024,
  });
  url = server.endpointUrl;
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.disconnect().catch(() => {});
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(): Promise<ClientSession> {
  const client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  clients.push(client);
  await client.connect(url);
  return client.createSession();
}

const readOne = async (s: ClientSession) => (await s.read({ nodeId: 'ns=1;s=plc.t0', attributeId: ua.AttributeIds.Value })).value.value;

it('refuses a session above maxSessions and keeps serving the others', async () => {
  const a = await open();
  await open();
  await expect(open()).rejects.toThrow(/BadTooManySessions/);
  expect(await readOne(a)).toBe(1);
}, 30_000);

it('refuses monitored items above maxMonitoredItems', async () => {
  const s = await open().catch(async () => {
    // The previous test holds both sessions: free one.
    await clients.shift()?.disconnect();
    return open();
  });
  const sub = await s.createSubscription2({ requestedPublishingInterval: 100, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100, publishingEnabled: true });
  const group = await sub.monitorItems(
    Array.from({ length: 10 }, (_, i) => ({ nodeId: `ns=1;s=plc.t${i}`, attributeId: ua.AttributeIds.Value })),
    { samplingInterval: 100, queueSize: 1 },
    ua.TimestampsToReturn.Both,
  );
  const codes = group.monitoredItems.map((m) => m.statusCode.name);
  expect(codes.filter((c) => c === 'Good')).toHaveLength(5);
  expect(codes.filter((c) => c === 'BadTooManyMonitoredItems')).toHaveLength(5);
  expect(await readOne(s)).toBe(1);
}, 30_000);

it('closes a channel that sends a message above maxMessageSize, and serves the next client', async () => {
  for (const c of clients.splice(0)) await c.disconnect().catch(() => {});
  const s = await open();
  // 5,000 NodeIds of 100 characters: about 0.5 MB, above the 64 KiB the server announced.
  const big = Array.from({ length: 5000 }, (_, i) => ({ nodeId: `ns=1;s=${'x'.repeat(100)}${i}`, attributeId: ua.AttributeIds.Value }));
  await expect(s.read(big)).rejects.toThrow();
  const t = await open();
  expect(await readOne(t)).toBe(1);
}, 30_000);
