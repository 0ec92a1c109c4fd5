/**
 * @module
 * The OPC UA inputs that killed node-opcua servers and clients (issue 22, item 1), built byte for
 * byte: OPC 10000-6 §7.1.2 (HEL/ACK/MSG/OPN headers) and §6.7.2 (the asymmetric security header
 * of SecurityPolicy None). The service bodies are encoded with node-opcua's own encoders, so only
 * the one field under attack is malformed.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: node-opcua's generated classes are used only to encode fixtures here.
const ua = require('node-opcua') as any;
const { BinaryStream } = require('node-opcua-binary-stream') as { BinaryStream: new (size: number | Buffer) => { buffer: Buffer } };

/** HEL and a MSG chunk header of length 0xFFFFFFFF in one write: the 65 bytes of the issue. */
export const HEL_THEN_HUGE_CHUNK = Buffer.from('48454c46390000000000000000000a0000000a000000000000000000190000006f70632e7463703a2f2f3132372e302e302e313a32323130344d534746ffffffff', 'hex');
/** An ACK and a MSG chunk header of length 0xFFFFFFFF in one segment, as a malicious server answers. */
export const ACK_THEN_HUGE_CHUNK = Buffer.concat([frame('ACK', Buffer.concat([u32(0), u32(65536), u32(65536), u32(0), u32(0)])), Buffer.from('4d534746ffffffff', 'hex')]);

/** An ACK whose buffer sizes and limits are all 0 (found by the fuzz suite: the assembler's assertion escaped). */
export const ACK_ZERO_LIMITS = Buffer.from('41434b461c0000000000000000000000000000000000000000000000', 'hex');

const POLICY_NONE = 'http://opcfoundation.org/UA/SecurityPolicy#None';

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([u32(b.length), b]);
}
function frame(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${type}F`), u32(8 + body.length), body]);
}
/** A FourByte NodeId (OPC 10000-6 §5.2.2.9) of namespace 0. */
function typeId(id: number): Buffer {
  const b = Buffer.from([0x01, 0x00, 0, 0]);
  b.writeUInt16LE(id, 2);
  return b;
}
function encode(obj: { binaryStoreSize(): number; encode(s: unknown): void }): Buffer {
  const s = new BinaryStream(obj.binaryStoreSize());
  obj.encode(s);
  return s.buffer;
}
function openRequest(): Buffer {
  return encode(
    new ua.OpenSecureChannelRequest({
      clientProtocolVersion: 0,
      requestType: ua.SecurityTokenRequestType.Issue,
      securityMode: ua.MessageSecurityMode.None,
      clientNonce: Buffer.alloc(0),
      requestedLifetime: 60_000,
    }),
  );
}
function opnChunk(body: Buffer): Buffer {
  return frame('OPN', Buffer.concat([u32(0), str(POLICY_NONE), u32(0xffffffff), u32(0xffffffff), u32(1), u32(1), body]));
}

/** HEL for `url`. */
export function hello(url: string): Buffer {
  return frame('HEL', Buffer.concat([u32(0), u32(65536), u32(65536), u32(0), u32(0), str(url)]));
}
/** A valid OpenSecureChannel request on SecurityPolicy None (OpenSecureChannelRequest_Encoding_DefaultBinary is i=446). */
export function openSecureChannel(): Buffer {
  return opnChunk(Buffer.concat([typeId(446), openRequest()]));
}
/** An OpenSecureChannel whose request type NodeId is opaque (encoding byte 0x05, a ByteString identifier). */
export function openSecureChannelOpaqueType(): Buffer {
  return opnChunk(Buffer.concat([Buffer.from([0x05, 0x00, 0x00]), u32(4), Buffer.from('abcd'), openRequest()]));
}
/** Reads the channel id and token id from an OpenSecureChannel response chunk. */
export function parseOpenResponse(chunk: Buffer): { channelId: number; tokenId: number } {
  let o = 8;
  const channelId = chunk.readUInt32LE(o);
  o += 4;
  for (let i = 0; i < 3; i++) o += 4 + Math.max(chunk.readInt32LE(o), 0);
  o += 8 + 4; // sequence number, request id, type NodeId
  const resp = new ua.OpenSecureChannelResponse();
  resp.decode(new BinaryStream(chunk.subarray(o)));
  return { channelId, tokenId: resp.securityToken.tokenId };
}
/** A CreateSession (i=461) whose client certificate is `certificate`. */
export function createSession(channelId: number, tokenId: number, certificate: Buffer): Buffer {
  const req = new ua.CreateSessionRequest({
    clientDescription: { applicationUri: 'urn:hostile', applicationName: { text: 'hostile' }, applicationType: ua.ApplicationType.Client },
    endpointUrl: 'opc.tcp://127.0.0.1',
    sessionName: 'hostile',
    clientNonce: Buffer.alloc(32, 1),
    clientCertificate: certificate,
    requestedSessionTimeout: 60_000,
    maxResponseMessageSize: 0,
  });
  return frame('MSG', Buffer.concat([u32(channelId), u32(tokenId), u32(2), u32(2), typeId(461), encode(req)]));
}
/** A DER SEQUENCE whose length (0xFFFF) runs past the end of the buffer. */
export const BROKEN_DER = Buffer.from('3082ffff0102030405', 'hex');
