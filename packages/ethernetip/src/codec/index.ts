/**
 * @module
 * The pure EtherNet/IP and CIP codec: encapsulation, Common Packet Format, EPATH, Message Router
 * requests and responses, Connection Manager services and the Logix tag services.
 */
export * from './cip.js';
export * from './encapsulation.js';
export * from './epath.js';
export * from './identity.js';
export * from './logix.js';
export { ByteReader } from './reader.js';
