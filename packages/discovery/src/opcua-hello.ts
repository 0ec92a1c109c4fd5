/**
 * @module
 * The cheapest sure sign of an OPC UA server: the binary Hello/Acknowledge handshake of
 * OPC 10000-6 §7.1.2. A server answers HEL with ACK (or with ERR, which is OPC UA too); anything
 * else is not OPC UA. No session, no certificates, nothing written.
 */
import { BifrostError } from '@bifrost/core';

/** Encodes a Hello message (OPC 10000-6 §7.1.2.3) for `endpointUrl`. */
export function encodeHello(endpointUrl: string): Buffer {
  const url = Buffer.from(endpointUrl, 'utf8');
  const b = Buffer.alloc(32 + url.length);
  b.write('HELF', 0, 'ascii');
  b.writeUInt32LE(b.length, 4);
  b.writeUInt32LE(0, 8); // ProtocolVersion
  b.writeUInt32LE(65536, 12); // ReceiveBufferSize
  b.writeUInt32LE(65536, 16); // SendBufferSize
  b.writeUInt32LE(0, 20); // MaxMessageSize: no limit
  b.writeUInt32LE(0, 24); // MaxChunkCount: no limit
  b.writeInt32LE(url.length, 28);
  url.copy(b, 32);
  return b;
}

/** What the answer to a Hello says. */
export type HelloAnswer = { kind: 'ack'; protocolVersion: number; receiveBufferSize: number; sendBufferSize: number } | { kind: 'error'; statusCode: number; reason: string };

/**
 * Decodes the answer to a Hello: ACK (§7.1.2.4) or ERR (§7.1.2.5). Returns `undefined` while more
 * bytes are needed; throws BIFROST_MALFORMED_FRAME for anything that is not OPC UA.
 */
export function decodeHelloAnswer(buf: Buffer): HelloAnswer | undefined {
  const head = buf.toString('latin1', 0, Math.min(4, buf.length));
  if (!'ACKF'.startsWith(head) && !'ERRF'.startsWith(head)) throw new BifrostError('BIFROST_MALFORMED_FRAME', 'not an OPC UA answer');
  if (buf.length < 8) return undefined;
  const type = buf.toString('latin1', 0, 4);
  const size = buf.readUInt32LE(4);
  if ((type !== 'ACKF' && type !== 'ERRF') || size < 8 || size > 65536) throw new BifrostError('BIFROST_MALFORMED_FRAME', 'not an OPC UA answer');
  if (buf.length < size) return undefined;
  if (type === 'ACKF') {
    if (size < 28) throw new BifrostError('BIFROST_MALFORMED_FRAME', 'short OPC UA Acknowledge');
    return { kind: 'ack', protocolVersion: buf.readUInt32LE(8), receiveBufferSize: buf.readUInt32LE(12), sendBufferSize: buf.readUInt32LE(16) };
  }
  if (size < 16) throw new BifrostError('BIFROST_MALFORMED_FRAME', 'short OPC UA Error');
  const len = buf.readInt32LE(12);
  const reason = len > 0 && 16 + len <= size ? buf.toString('utf8', 16, 16 + len) : '';
  return { kind: 'error', statusCode: buf.readUInt32LE(8), reason };
}
