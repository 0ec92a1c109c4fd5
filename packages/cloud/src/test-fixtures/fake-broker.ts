/**
 * @module
 * A small MQTT 3.1.1 broker that misbehaves on purpose, for fault tests: it never sends CONNACK,
 * never acknowledges a PUBLISH, acknowledges only some, closes the connection after N messages,
 * or reads slowly. Built on mqtt-packet (the codec MQTT.js uses), it keeps every PUBLISH it
 * received (topic, payload, DUP flag, packet id) so a test asserts on the delivered sequence.
 * The behaviour can change while it runs (a broker that recovers).
 */
import { createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

/** How the fake broker behaves; every field may be changed while it runs. */
export interface FakeBrokerBehaviour {
  /** Answer CONNECT with CONNACK (default true). */
  connack: boolean;
  /**
   * Which QoS 1 PUBLISHes get a PUBACK: `all` (default), `none`, or a predicate on the running
   * count of PUBLISHes received (1-based) and the packet.
   */
  puback: 'all' | 'none' | ((n: number, packet: FakePublish) => boolean);
  /** Destroy the connection right after receiving this many PUBLISHes on it (no PUBACK for the last). */
  closeAfter?: number;
  /** Read from the socket in small pauses: after each chunk, pause reading this long. */
  readDelayMs?: number;
}

/** A PUBLISH the fake broker received. */
export interface FakePublish {
  topic: string;
  payload: Buffer;
  dup: boolean;
  qos: number;
  messageId: number | undefined;
  /** Which connection (1-based) brought it. */
  connection: number;
  /** Whether the broker acknowledged it. */
  acked: boolean;
}

/** A running fake broker. */
export interface FakeBroker {
  url: string;
  port: number;
  behaviour: FakeBrokerBehaviour;
  /** Every PUBLISH received, in order. */
  received: FakePublish[];
  /** CONNECT packets received (connection attempts that got as far as CONNECT). */
  connects: number;
  /** Connections accepted. */
  connections: number;
  /** Closes every connection (as a crashed broker would). */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * Starts a fake broker on loopback.
 * @example
 * const b = await startFakeBroker({ puback: 'none' });
 * // … a sink publishes to b.url; nothing is acknowledged …
 * b.behaviour.puback = 'all';
 */
export async function startFakeBroker(behaviour: Partial<FakeBrokerBehaviour> = {}, port = 0): Promise<FakeBroker> {
  const sockets = new Set<Socket>();
  const state: FakeBroker = {
    url: '',
    port: 0,
    behaviour: { connack: true, puback: 'all', ...behaviour },
    received: [],
    connects: 0,
    connections: 0,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  let count = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const connection = ++state.connections;
    let onConnection = 0;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const send = (p: Record<string, unknown>) => {
      if (!socket.destroyed) socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet));
    };
    parser.on('packet', (p: mqttPacket.Packet) => {
      const b = state.behaviour;
      if (p.cmd === 'connect') {
        state.connects++;
        if (b.connack) send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      } else if (p.cmd === 'pingreq') send({ cmd: 'pingresp' });
      else if (p.cmd === 'subscribe') send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s) => s.qos) });
      else if (p.cmd === 'disconnect') socket.end();
      else if (p.cmd === 'publish') {
        count++;
        onConnection++;
        const rec: FakePublish = {
          topic: p.topic,
          payload: Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload),
          dup: p.dup === true,
          qos: p.qos,
          messageId: p.messageId,
          connection,
          acked: false,
        };
        state.received.push(rec);
        if (b.closeAfter !== undefined && onConnection >= b.closeAfter) {
          socket.destroy();
          return;
        }
        const ack = b.puback === 'all' || (typeof b.puback === 'function' && b.puback(count, rec));
        if (p.qos === 1 && ack) {
          rec.acked = true;
          send({ cmd: 'puback', messageId: p.messageId });
        }
      }
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      parser.parse(chunk);
      const delay = state.behaviour.readDelayMs;
      if (delay && delay > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), delay).unref();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  state.port = typeof addr === 'object' && addr ? addr.port : 0;
  state.url = `mqtt://127.0.0.1:${state.port}`;
  return state;
}
