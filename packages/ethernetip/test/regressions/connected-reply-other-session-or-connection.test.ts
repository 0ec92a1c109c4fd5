/**
 * Issue 22.8: the client matched connected (SendUnitData) replies by sequence count alone, so a
 * reply carrying another session handle, or another connection id, was accepted as the answer.
 * A peer built on the codec answers each Read Tag first with such forged replies (same sequence
 * count, a wrong value), then with the true one: only the true one may be taken.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '@bifrost/core/test-fixtures';
import {
  CipType,
  decodeEncap,
  decodeRequest,
  decodeSendData,
  EipClient,
  EncapCommand,
  EncapFramer,
  encodeConnectedPacket,
  encodeEncap,
  encodeForwardOpenReply,
  encodeResponse,
  encodeUnconnectedPacket,
  Service,
} from '@bifrost/ethernetip';
import { afterEach, describe, expect, it } from 'vitest';

const SESSION = 0x42;
const OT_ID = 0x1111;
const TO_ID = 0x2222;

function dint(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16LE(CipType.DINT, 0);
  b.writeInt32LE(v, 2);
  return encodeResponse({ service: Service.ReadTag | 0x80, status: 0, extended: [], data: b });
}

type Forgery = 'session' | 'connection';

async function startForger(forgeries: Forgery[]): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const framer = new EncapFramer(
      65559,
      (frame) => {
        const p = decodeEncap(frame);
        if (p.command === EncapCommand.RegisterSession) {
          sock.write(encodeEncap({ ...p, session: SESSION }));
          return;
        }
        if (p.command !== EncapCommand.SendRRData && p.command !== EncapCommand.SendUnitData) return;
        const items = decodeSendData(p.data).items;
        if (p.command === EncapCommand.SendRRData) {
          const req = decodeRequest(items[1]?.data ?? Buffer.alloc(0));
          if (req.service === Service.ForwardClose) {
            sock.write(encodeUnconnectedPacket(SESSION, p.context, encodeResponse({ service: req.service | 0x80, status: 0, extended: [], data: Buffer.alloc(10) })));
            return;
          }
          if (req.service !== Service.LargeForwardOpen && req.service !== Service.ForwardOpen) return;
          // The originator chose the T→O id in its request (CIP Vol 1 §3-5.4.1); the peer picks its own
          // here and the client must follow the reply's.
          const reply = encodeResponse({
            service: req.service | 0x80,
            status: 0,
            extended: [],
            data: Buffer.concat([
              encodeForwardOpenReply({ otConnectionId: OT_ID, toConnectionId: TO_ID, connectionSerial: 0, vendorId: 0, originatorSerial: 0, otApi: 0, toApi: 0 }),
              Buffer.from([0, 0]),
            ]),
          });
          sock.write(encodeUnconnectedPacket(SESSION, p.context, reply));
          return;
        }
        const seq = items[1]?.data.readUInt16LE(0) ?? 0;
        for (const f of forgeries) {
          if (f === 'session') sock.write(encodeConnectedPacket(SESSION + 1, TO_ID, seq, dint(-666)));
          else sock.write(encodeConnectedPacket(SESSION, TO_ID + 1, seq, dint(-777)));
        }
        sock.write(encodeConnectedPacket(SESSION, TO_ID, seq, dint(1234)));
      },
      () => sock.destroy(),
    );
    sock.on('data', (c: Buffer) => framer.push(c));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, server, sockets };
}

let peer: Awaited<ReturnType<typeof startForger>> | undefined;
afterEach(async () => {
  for (const s of peer?.sockets ?? []) s.destroy();
  await new Promise<void>((r) => (peer ? peer.server.close(() => r()) : r()));
  peer = undefined;
});

describe('connected replies are matched by session handle and connection id, not only the sequence count', () => {
  for (const forgeries of [['session'], ['connection'], ['session', 'connection']] as Forgery[][]) {
    it(`drops and counts a reply with another ${forgeries.join(' and another ')}`, async () => {
      peer = await startForger(forgeries);
      const c = new EipClient({ host: '127.0.0.1', port: peer.port, route: '1,0', timeoutMs: 1000 });
      try {
        await c.connect();
        expect(c.isConnectedMessaging).toBe(true);
        const [r] = await c.readTags(['X:DINT']);
        expect(r).toMatchObject({ address: 'X:DINT', value: 1234 });
        const [again] = await c.readTags(['X:DINT']);
        expect(again).toMatchObject({ value: 1234 });
        expect(c.replyStats).toEqual({
          contextFallbacks: 0,
          wrongSession: forgeries.includes('session') ? 2 : 0,
          wrongConnection: forgeries.includes('connection') ? 2 : 0,
          stale: 0,
        });
      } finally {
        await c.close();
      }
    });
  }
});
