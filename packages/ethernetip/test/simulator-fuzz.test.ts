/**
 * The simulator is a server other tools point at: random Message Router requests, random
 * encapsulation packets and random byte streams must never take it down.
 */
import { createConnection, type Socket } from 'node:net';
import {
  decodeEncap,
  decodeResponse,
  decodeSendData,
  EipClient,
  type EipSimulator,
  EncapCommand,
  EncapFramer,
  encodeEncap,
  encodeUnconnectedPacket,
  registerSessionData,
  startEipSimulator,
} from '@bifrost/ethernetip';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let sim: EipSimulator;
beforeAll(async () => {
  sim = await startEipSimulator({ port: 0 });
});
afterAll(async () => {
  await sim?.close();
});

/** A raw session: send packets, await whole reply packets. */
async function rawSession(): Promise<{ sock: Socket; next: () => Promise<Buffer>; session: number }> {
  const sock = createConnection({ host: '127.0.0.1', port: sim.port });
  await new Promise((r) => sock.once('connect', r));
  const queue: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  const framer = new EncapFramer(
    70000,
    (f) => {
      const w = waiters.shift();
      if (w) w(Buffer.from(f));
      else queue.push(Buffer.from(f));
    },
    () => sock.destroy(),
  );
  sock.on('data', (c: Buffer) => framer.push(c));
  sock.on('error', () => {});
  const next = () => {
    const q = queue.shift();
    return q ? Promise.resolve(q) : new Promise<Buffer>((r) => waiters.push(r));
  };
  sock.write(encodeEncap({ command: EncapCommand.RegisterSession, session: 0, status: 0, context: 0n, options: 0, data: registerSessionData() }));
  const session = decodeEncap(await next()).session;
  return { sock, next, session };
}

describe('simulator robustness', () => {
  it('answers every random Message Router request with a CIP reply for that service', async () => {
    const { sock, next, session } = await rawSession();
    const mrs = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 60 }),
        // Plausible requests: a known service, a path, random data.
        fc
          .tuple(fc.constantFrom(0x01, 0x03, 0x0a, 0x0e, 0x4c, 0x4d, 0x4e, 0x52, 0x53, 0x54, 0x55, 0x5b), fc.uint8Array({ maxLength: 40 }))
          .map(([svc, rest]) => Uint8Array.from([svc, rest.length >> 1, ...rest])),
      ),
      { numRuns: 400, seed: 42 },
    );
    let context = 1n;
    for (const mr of mrs) {
      sock.write(encodeUnconnectedPacket(session, context, Buffer.from(mr)));
      const reply = decodeEncap(await next());
      expect(reply.context).toBe(context);
      expect(reply.status).toBe(0);
      const res = decodeResponse(decodeSendData(reply.data).items[1]?.data ?? Buffer.alloc(0));
      // A routed Unconnected Send answers with the embedded request's reply.
      if (mr[0] !== 0x52) expect(res.service).toBe((mr[0] as number) | 0x80);
      context++;
    }
    sock.destroy();
    const c = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0' });
    await c.connect();
    expect(await c.readTag('TestDINT')).toBe(123456);
    await c.close();
  });

  it('survives random byte streams and stays available', async () => {
    const streams = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 400 }), { numRuns: 50, seed: 7 });
    for (const bytes of streams) {
      const sock = createConnection({ host: '127.0.0.1', port: sim.port });
      sock.on('error', () => {});
      await new Promise((r) => sock.once('connect', r));
      sock.write(Buffer.from(bytes));
      sock.write(encodeEncap({ command: EncapCommand.ListIdentity, session: 0, status: 0, context: 0n, options: 0, data: Buffer.alloc(0) }));
      await new Promise((r) => setTimeout(r, 2));
      sock.destroy();
    }
    const c = new EipClient({ host: '127.0.0.1', port: sim.port, route: '1,0', connected: false });
    await c.connect();
    expect(await c.readTag('TestSINT')).toBe(-8);
    await c.close();
  });
});
