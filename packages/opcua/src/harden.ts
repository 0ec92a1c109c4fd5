/**
 * @module
 * Hardening of node-opcua 2.182.0 against hostile bytes, applied once when node-opcua loads, so
 * that a socket that sends garbage can close only itself — never the process (issue 22, item 1).
 *
 * Three flaws of node-opcua let a few bytes from an unauthenticated peer kill a server (our
 * simulator and the gateway's OPC UA server alike) or a client:
 *
 * 1. `TCP_transport.setLimits()` (called on HEL by a server, on ACK by a client) reinstalls the
 *    PacketAssembler and removes the old one's listeners while the old one's `feed()` is still
 *    splitting the same TCP segment. A second chunk in that segment (`HEL` + `MSGF ffffffff`)
 *    then raises `error` on an EventEmitter with no listener, which throws out of the socket's
 *    `data` handler. Here the reinstall waits until `feed()` has returned: the limits themselves
 *    are set at once, and the rest of the segment goes through the old assembler, whose listeners
 *    answer an oversize chunk with ERR BadTcpMessageTooLarge (OPC 10000-6 §7.1.5) and close.
 * 2. A message whose type NodeId is opaque makes the message builder throw synchronously
 *    (`getConstructor not implemented for opaque nodeid`) from inside `feed()`. Any exception out
 *    of one socket's decoding is now caught there: the socket gets ERR BadDecodingError and is
 *    closed.
 * 3. `on_request()` calls the asynchronous `_on_<Service>Request` handlers without handling their
 *    rejection: a CreateSession whose client certificate has a broken DER length rejects in
 *    `computeSignatureAsync` (`split_der`), an unhandled rejection that ends the process even on
 *    SecurityPolicy None. Each handler's rejection now answers that request with a ServiceFault
 *    (Bad_CertificateInvalid for a certificate that does not parse, OPC 10000-4 §5.6.2;
 *    Bad_InternalError otherwise).
 *
 * Each tolerated input is counted ({@link hostileInputStats}) and published on
 * `bifrost:opcua:hostile-input`. The patch is checked against node-opcua's shape: if a method it
 * wraps is missing (another node-opcua version), it throws at load rather than silently not
 * protecting.
 */
import { createRequire } from 'node:module';
import { BifrostError, channel } from '@bifrost/core';

const hostileChannel = channel('opcua', 'hostile-input');

/** What the hardening tolerated since the process started. */
export interface HostileInputStats {
  /** Limits reinstalls deferred until the segment being split was done (HEL/ACK followed by more bytes). */
  deferredLimits: number;
  /** Sockets closed because decoding their bytes threw. */
  decoderErrors: number;
  /** Requests answered with a ServiceFault because their handler rejected. */
  handlerFaults: number;
}

const stats: HostileInputStats = { deferredLimits: 0, decoderErrors: 0, handlerFaults: 0 };

/**
 * Counters of the hostile inputs the OPC UA stack survived.
 * @example const { decoderErrors } = hostileInputStats()
 */
export function hostileInputStats(): HostileInputStats {
  return { ...stats };
}

type Limits = { receiveBufferSize: number; sendBufferSize: number; maxMessageSize: number; maxChunkCount: number };

interface Transport {
  _socket: unknown;
  receiveBufferSize: number;
  sendBufferSize: number;
  maxMessageSize: number;
  maxChunkCount: number;
  setLimits(limits: Limits): void;
  _on_socket_data(data: Buffer): void;
  sendErrorMessage(statusCode: unknown, reason: string): void;
  prematureTerminate(err: Error, statusCode: unknown): void;
}

interface ServerChannel {
  send_response(type: string, response: unknown, message: unknown): void;
}

interface RequestMessage {
  request?: { clientCertificate?: Buffer | null; schema?: { name?: string } };
}

const FEEDING = Symbol('bifrost.feeding');
type Feeding = { deferred?: Limits };

let applied = false;

/**
 * Applies the patches to the node-opcua instance that `ua` was loaded from. Idempotent.
 * @example hardenNodeOpcua(await import('node-opcua'))
 */
export function hardenNodeOpcua(): void {
  if (applied) return;
  // Resolve the packages from node-opcua's own folder, so the instance patched is the one it uses.
  const fromUa = createRequire(createRequire(import.meta.url).resolve('node-opcua'));
  const transport = fromUa('node-opcua-transport') as { TCP_transport: { prototype: Transport }; StatusCodes2: Record<string, unknown> };
  const fromServer = createRequire(fromUa.resolve('node-opcua-server'));
  const server = fromUa('node-opcua-server') as { OPCUAServer: { prototype: Record<string, unknown> } };
  const types = fromUa('node-opcua-types') as { ServiceFault: new (o: unknown) => unknown };
  const { StatusCodes } = fromUa('node-opcua-status-code') as { StatusCodes: Record<string, unknown> };
  const { split_der } = fromServer('node-opcua-crypto') as { split_der: (b: Buffer) => Buffer[] };

  const proto = transport.TCP_transport.prototype;
  const setLimits = proto.setLimits;
  const onData = proto._on_socket_data;
  if (typeof setLimits !== 'function' || typeof onData !== 'function' || typeof proto.prematureTerminate !== 'function') {
    throw new BifrostError('BIFROST_NOT_SUPPORTED', 'node-opcua-transport does not have the shape Bifrost hardens (TCP_transport.setLimits/_on_socket_data): check the pinned node-opcua version');
  }
  const tcpInternal = transport.StatusCodes2.BadTcpInternalError;
  const decoding = StatusCodes.BadDecodingError;

  // One way out for a socket whose bytes cannot be used: count it, report it, send ERR with the
  // status (OPC 10000-6 §7.1.2.5), and close that socket alone.
  const closeHostile = (t: Transport, kind: 'decoder-error' | 'bad-limits', what: string, status: unknown, err: unknown) => {
    stats.decoderErrors++;
    const message = err instanceof Error ? err.message : String(err);
    if (hostileChannel.hasSubscribers) hostileChannel.publish({ kind, message });
    try {
      t.sendErrorMessage(status, `${what}: ${message.slice(0, 160)}`);
    } catch {
      // The socket may already be gone; closing it below is what matters.
    }
    t.prematureTerminate(new Error(`${what}: ${message}`), status);
  };

  proto.setLimits = function (this: Transport & { [FEEDING]?: Feeding }, limits: Limits): void {
    const feeding = this[FEEDING];
    if (!feeding) {
      try {
        setLimits.call(this, limits);
      } catch (err) {
        closeHostile(this, 'bad-limits', 'unusable transport limits', tcpInternal, err);
      }
      return;
    }
    // Set the limits now (the ACK a server sends next reads them); reinstall the assembler once the segment is split.
    this.receiveBufferSize = limits.receiveBufferSize;
    this.sendBufferSize = limits.sendBufferSize;
    this.maxMessageSize = limits.maxMessageSize;
    this.maxChunkCount = limits.maxChunkCount;
    feeding.deferred = limits;
  };

  proto._on_socket_data = function (this: Transport & { [FEEDING]?: Feeding }, data: Buffer): void {
    const feeding: Feeding = {};
    this[FEEDING] = feeding;
    try {
      onData.call(this, data);
    } catch (err) {
      closeHostile(this, 'decoder-error', 'undecodable input', decoding ?? tcpInternal, err);
    } finally {
      delete this[FEEDING];
      if (feeding.deferred) {
        stats.deferredLimits++;
        if (this._socket) {
          try {
            setLimits.call(this, feeding.deferred);
          } catch (err) {
            // Limits no assembler can work with (an ACK or HEL whose buffer sizes are 0: OPC 10000-6
            // §7.1.2.3 asks for at least 8192) end this connection, not the process.
            closeHostile(this, 'bad-limits', 'unusable transport limits', tcpInternal, err);
          }
        }
      }
    }
  };

  const serverProto = server.OPCUAServer.prototype;
  const handlers = Object.getOwnPropertyNames(serverProto).filter((n) => /^_on_[A-Za-z]+Request$/.test(n) && typeof serverProto[n] === 'function');
  if (!handlers.includes('_on_CreateSessionRequest')) {
    throw new BifrostError('BIFROST_NOT_SUPPORTED', 'node-opcua-server does not have the shape Bifrost hardens (OPCUAServer._on_CreateSessionRequest): check the pinned node-opcua version');
  }
  const fault = (channelLayer: ServerChannel, message: unknown, serviceResult: unknown, err: unknown) => {
    stats.handlerFaults++;
    if (hostileChannel.hasSubscribers) hostileChannel.publish({ kind: 'handler-fault', message: err instanceof Error ? err.message : String(err) });
    try {
      channelLayer.send_response('MSG', new types.ServiceFault({ responseHeader: { serviceResult } }), message);
    } catch {
      // A channel closed meanwhile has no one to answer.
    }
  };
  for (const name of handlers) {
    const handler = serverProto[name] as (message: RequestMessage, channel: ServerChannel) => unknown;
    serverProto[name] = function (this: unknown, message: RequestMessage, channelLayer: ServerChannel): unknown {
      if (name === '_on_CreateSessionRequest') {
        const cert = message.request?.clientCertificate;
        if (cert && cert.length > 0) {
          try {
            split_der(cert);
          } catch (err) {
            fault(channelLayer, message, StatusCodes.BadCertificateInvalid, err);
            return undefined;
          }
        }
      }
      const r = handler.call(this, message, channelLayer);
      if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).catch((err: unknown) => fault(channelLayer, message, StatusCodes.BadInternalError, err));
      return r;
    };
  }
  applied = true;
}
