/**
 * Issue 18.2's fallback (a SendRRData reply whose context matches nothing goes to the oldest
 * outstanding request) must not swallow the late reply of a request that timed out on a target
 * that does echo contexts: that reply carries a context the client issued, and is dropped, so the
 * next request gets its own answer, not the stale one.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '@bifrost/core/test-fixtures';
import { CipType, decodeEncap, EipClient, EncapCommand, EncapFramer, encodeEncap, encodeResponse, encodeUnconnectedPacket, Service } from '@bifrost/ethernetip';
import { afterEach, describe, expect, it } from 'vitest';

function dint(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16LE(CipType.DINT, 0);
  b.writeInt32LE(v, 2);
  return encodeResponse({ service: Service.ReadTag | 0x80, status: 0, extended: [], data: b });
}

/** Echoes contexts; answers the n-th request with 111·n after `delays[n − 1]` ms. */
async function startSlowPeer(delays: number[]): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let n = 0;
    const framer = new EncapFramer(
      65559,
      (frame) => {
        const p = decodeEncap(frame);
        if (p.command === EncapCommand.RegisterSession) sock.write(encodeEncap({ ...p, session: 0x42 }));
        if (p.command !== EncapCommand.SendRRData) return;
        const i = n++;
        setTimeout(() => sock.writable && sock.write(encodeUnconnectedPacket(0x42, p.context, dint(111 * (i + 1)))), delays[i] ?? 0);
      },
      () => sock.destroy(),
    );
    sock.on('data', (c: Buffer) => framer.push(c));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, server, sockets };
}

let peer: Awaited<ReturnType<typeof startSlowPeer>> | undefined;
afterEach(async () => {
  for (const s of peer?.sockets ?? []) s.destroy();
  await new Promise<void>((r) => (peer ? peer.server.close(() => r()) : r()));
  peer = undefined;
});

describe('a late reply echoing the context of a timed-out request', () => {
  it('is dropped and counted as stale, and the next request gets its own reply', async () => {
    // Request 1 times out at 250 ms; request 2 is sent then; reply 1 arrives at 350 ms while
    // request 2 waits; reply 2 arrives about 450 ms.
    peer = await startSlowPeer([350, 200]);
    const c = new EipClient({ host: '127.0.0.1', port: peer.port, connected: false, timeoutMs: 250 });
    await c.connect();
    try {
      await expect(c.readTags(['X:DINT'])).rejects.toMatchObject({ code: 'BIFROST_TIMEOUT' });
      const [second] = await c.readTags(['X:DINT']);
      expect(second).toMatchObject({ value: 222 });
      expect(c.replyStats).toMatchObject({ stale: 1, contextFallbacks: 0 });
    } finally {
      await c.close();
    }
  });
});
