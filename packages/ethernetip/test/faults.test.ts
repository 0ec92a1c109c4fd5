/**
 * Misbehaving peers built from the codec: a controller that goes silent after the Forward Open,
 * one that closes the socket with requests in flight, and one that answers with garbage.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BifrostError, connect } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import {
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

type Behaviour = 'silent' | 'hangup' | 'garbage';

/** A peer that registers sessions and grants Forward Opens, then misbehaves on tag requests. */
async function startPeer(behaviour: Behaviour): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
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
          sock.write(encodeEncap({ ...p, session: 0x42 }));
          return;
        }
        if (p.command !== EncapCommand.SendRRData && p.command !== EncapCommand.SendUnitData) return;
        const items = decodeSendData(p.data).items;
        if (p.command === EncapCommand.SendRRData) {
          const req = decodeRequest(items[1]?.data ?? Buffer.alloc(0));
          if (req.service === Service.LargeForwardOpen || req.service === Service.ForwardOpen) {
            const reply = encodeResponse({
              service: req.service | 0x80,
              status: 0,
              extended: [],
              data: Buffer.concat([encodeForwardOpenReply({ otConnectionId: 7, toConnectionId: 8, connectionSerial: 0, vendorId: 0, originatorSerial: 0, otApi: 0, toApi: 0 }), Buffer.from([0, 0])]),
            });
            sock.write(encodeUnconnectedPacket(p.session, p.context, reply));
            return;
          }
          if (req.service === Service.ForwardClose) return;
        }
        if (behaviour === 'hangup') sock.destroy();
        else if (behaviour === 'garbage') {
          const seq = items[1]?.data.readUInt16LE(0) ?? 0;
          // A reply whose CIP part is a single byte: too short to be a Message Router response.
          sock.write(encodeConnectedPacket(p.session, 8, seq, Buffer.from([0xcc])));
        }
        // silent: no answer at all
      },
      () => sock.destroy(),
    );
    sock.on('data', (c: Buffer) => framer.push(c));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, server, sockets };
}

let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
afterEach(async () => {
  for (const s of peer?.sockets ?? []) s.destroy();
  await new Promise<void>((r) => (peer ? peer.server.close(() => r()) : r()));
  peer = undefined;
});

describe('misbehaving controllers', () => {
  it('a connected request that times out ends the session; the device reports it and reconnects', async () => {
    peer = await startPeer('silent');
    const plc = await connect(`eip://127.0.0.1:${peer.port}`, { requestTimeoutMs: 150, backoff: { baseMs: 10, maxMs: 20 } });
    const states: string[] = [];
    plc.on('health', (e) => states.push(e.state));
    const [v] = await plc.readMany(['Counter']);
    expect(v?.quality).toBe('bad');
    expect(v?.error?.code).toBe('BIFROST_TIMEOUT');
    await waitFor(() => states.includes('disconnected'), 2000);
    // The next operation opens a new session.
    await plc.readMany(['Counter']);
    await waitFor(() => states.filter((s) => s === 'connected').length >= 1, 2000);
    await plc.close();
  });

  it('a hang-up with requests in flight fails them with BIFROST_CONNECTION_LOST', async () => {
    peer = await startPeer('hangup');
    const c = new EipClient({ host: '127.0.0.1', port: peer.port });
    await c.connect();
    const closed = new Promise((r) => c.once('close', r));
    const results = await Promise.all([c.readTags(['A']).catch((e: unknown) => e), c.readTags(['B']).catch((e: unknown) => e)]);
    for (const r of results) expect((r as BifrostError).code).toBe('BIFROST_CONNECTION_LOST');
    expect(await closed).toBeInstanceOf(BifrostError);
    expect(c.isOpen).toBe(false);
  });

  it('a malformed reply gives BIFROST_MALFORMED_FRAME for that tag and nothing else', async () => {
    peer = await startPeer('garbage');
    const c = new EipClient({ host: '127.0.0.1', port: peer.port });
    await c.connect();
    const [r] = await c.readTags(['A']);
    expect(r?.error?.code).toBe('BIFROST_MALFORMED_FRAME');
    await c.close();
  });
});
