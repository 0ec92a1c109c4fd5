/**
 * Issue 18.2: some EtherNet/IP targets answer every SendRRData with the sender context of
 * RegisterSession instead of the request's (CIP Vol 2 §2-3.2 says to echo it). The client timed
 * out on the Forward Open; it now gives such a reply to the oldest outstanding request and counts it.
 */
import { EipClient, type EipSimulator, startEipSimulator } from '@bifrost/ethernetip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let quirky: EipSimulator;
let strict: EipSimulator;
beforeAll(async () => {
  quirky = await startEipSimulator({ port: 0, udp: false, senderContext: 'register-session' });
  strict = await startEipSimulator({ port: 0, udp: false });
});
afterAll(async () => {
  await quirky?.close();
  await strict?.close();
});

describe('a target that returns the RegisterSession context on every SendRRData reply', () => {
  it('opens a connection (Forward Open over SendRRData) and reads through it', async () => {
    const c = new EipClient({ host: '127.0.0.1', port: quirky.port, route: '1,0', timeoutMs: 1000 });
    try {
      await c.connect();
      expect(c.isConnectedMessaging).toBe(true);
      const [msg, step] = await c.readTags(['TestSTRING', 'Program:Main.Step']);
      expect(msg).toMatchObject({ value: expect.any(String) });
      expect(step).toMatchObject({ address: 'Program:Main.Step', value: 1 });
      expect(c.replyStats.contextFallbacks).toBeGreaterThanOrEqual(1);
      expect(c.replyStats.wrongSession).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('matches concurrent unconnected requests in order', async () => {
    const c = new EipClient({ host: '127.0.0.1', port: quirky.port, route: '1,0', connected: false, timeoutMs: 1000 });
    try {
      await c.connect();
      await c.writeTag('TestDINT', 4242);
      await c.writeTag('TestINT', -7);
      // Separate calls are separate SendRRData requests in flight at once on one session.
      const reads = await Promise.all(['TestDINT', 'TestINT', 'Program:Main.Step', 'TestDINT'].map((a) => c.readTags([a])));
      expect(reads.map((r) => (r[0] as { value: unknown }).value)).toEqual([4242, -7, 1, 4242]);
      expect(c.replyStats.contextFallbacks).toBeGreaterThanOrEqual(4);
    } finally {
      await c.close();
    }
  });
});

describe('a target that echoes the sender context', () => {
  it('keeps strict matching: no fallback is counted', async () => {
    const c = new EipClient({ host: '127.0.0.1', port: strict.port, route: '1,0', connected: false, timeoutMs: 1000 });
    try {
      await c.connect();
      await Promise.all(['TestDINT', 'TestINT', 'Counter'].map((a) => c.readTags([a])));
      expect(c.replyStats).toEqual({ contextFallbacks: 0, wrongSession: 0, wrongConnection: 0, stale: 0 });
    } finally {
      await c.close();
    }
  });
});
