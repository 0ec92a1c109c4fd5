/**
 * @module
 * One fingerprint per protocol. Each probe is read-only (identification requests and at most one
 * harmless read), bounded by the timeout, and answers `undefined` when the service on the port
 * is not that protocol — never a guess.
 */
import { connect as tcpConnect } from 'node:net';
import { connect, type Device, type DeviceIdentity, isBifrostError } from '@bifrost/core';
import { decodeHelloAnswer, encodeHello } from './opcua-hello.js';

/** The protocols discovery knows. */
export type DiscoveryProtocol = 'modbus' | 's7' | 'eip' | 'opcua';

/** Default TCP ports: Modbus 502, ISO-on-TCP 102, EtherNet/IP 44818, OPC UA 4840. */
export const DEFAULT_PORTS: Readonly<Record<DiscoveryProtocol, number>> = { modbus: 502, s7: 102, eip: 44818, opcua: 4840 };

/** A probe: the identity when the host speaks the protocol, else undefined. */
export type Probe = (host: string, port: number, timeoutMs: number, signal: AbortSignal) => Promise<DeviceIdentity | undefined>;

/** True when the error proves the peer answered in the protocol (e.g. a Modbus exception reply). */
function isProtocolAnswer(e: unknown): boolean {
  return isBifrostError(e) && e.status !== undefined && !['BIFROST_TIMEOUT', 'BIFROST_MALFORMED_FRAME', 'BIFROST_CONNECTION_LOST', 'BIFROST_FRAME_TOO_LARGE'].includes(e.code);
}

async function withDevice<T>(url: string, timeoutMs: number, signal: AbortSignal, fn: (d: Device) => Promise<T>): Promise<T | undefined> {
  let d: Device | undefined;
  try {
    d = await connect(url, { requestTimeoutMs: timeoutMs, timeoutMs, signal, backoff: { baseMs: 60_000, maxMs: 60_000 } });
    return await fn(d);
  } catch {
    return undefined;
  } finally {
    await d?.close();
  }
}

/** Modbus: Read Device Identification (FC 43/14); a device without it must still answer a read of one holding register, with data or with a Modbus exception. */
const modbus: Probe = (host, port, timeoutMs, signal) =>
  withDevice(`modbus://${host}:${port}?unit=1&timeout=${timeoutMs}`, timeoutMs, signal, async (d) => {
    try {
      const id = await d.identify({ timeoutMs, signal });
      return { ...id, protocol: 'modbus' };
    } catch (e) {
      if (!isProtocolAnswer(e)) return undefined;
    }
    const [v] = await d.readMany(['HR0'], { timeoutMs, signal });
    if (v?.quality === 'good' || isProtocolAnswer(v?.error)) return { protocol: 'modbus', identification: 'no FC 43/14 support; answered a holding-register read' };
    return undefined;
  });

/** S7: COTP connection and S7 setup communication, then the SZL for identity. Rack 0 slot 1 (S7-300/400), then slot 0 (S7-1200/1500). */
const s7: Probe = async (host, port, timeoutMs, signal) => {
  for (const slot of [1, 0]) {
    const id = await withDevice(`s7://${host}:${port}?rack=0&slot=${slot}&timeout=${timeoutMs}`, timeoutMs, signal, async (d) => {
      try {
        return { ...(await d.identify({ timeoutMs, signal })), protocol: 's7', rack: 0, slot };
      } catch (e) {
        // Setup communication succeeded (we are connected): it is S7 even when the SZL is refused.
        return isProtocolAnswer(e) ? { protocol: 's7', rack: 0, slot, identification: 'SZL read refused' } : undefined;
      }
    });
    if (id) return id as DeviceIdentity;
    if (signal.aborted) return undefined;
  }
  return undefined;
};

/** EtherNet/IP: ListIdentity over unicast TCP (CIP Vol 2 §2-4.2). */
const eip: Probe = async (host, port, timeoutMs) => {
  const mod = (await import('@bifrost/ethernetip' as string)) as { listIdentity?: (h: string, o: { port: number; timeoutMs: number }) => Promise<unknown> };
  if (!mod.listIdentity) return undefined;
  try {
    const r = await mod.listIdentity(host, { port, timeoutMs });
    const first = Array.isArray(r) ? r[0] : r;
    if (!first || typeof first !== 'object') return undefined;
    return { ...(first as Record<string, unknown>), protocol: 'eip' } as DeviceIdentity;
  } catch {
    return undefined;
  }
};

function helloExchange(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<ReturnType<typeof decodeHelloAnswer>> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (v: ReturnType<typeof decodeHelloAnswer>) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      resolve(v);
    };
    const onAbort = () => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    s.on('connect', () => s.write(encodeHello(`opc.tcp://${host}:${port}`)));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      try {
        const a = decodeHelloAnswer(buf);
        if (a) done(a);
      } catch {
        done(undefined);
      }
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
  });
}

/** OPC UA: Hello/Acknowledge first (cheap, certain); then GetEndpoints through @bifrost/opcua for names and security policies. */
const opcua: Probe = async (host, port, timeoutMs, signal) => {
  const answer = await helloExchange(host, port, timeoutMs, signal);
  if (!answer) return undefined;
  const identity: DeviceIdentity = { protocol: 'opcua', endpointUrl: `opc.tcp://${host}:${port}` };
  if (answer.kind === 'error') return { ...identity, hello: `ERR 0x${answer.statusCode.toString(16)} ${answer.reason}` };
  try {
    const mod = (await import('@bifrost/opcua' as string)) as { describeServer?: (url: string, o: { timeoutMs: number }) => Promise<Record<string, unknown>> };
    if (mod.describeServer) {
      const d = await mod.describeServer(`opc.tcp://${host}:${port}`, { timeoutMs: Math.max(timeoutMs, 3000) });
      Object.assign(identity, d);
      if (typeof d.applicationName === 'string') identity.product = d.applicationName;
    }
  } catch {
    // The handshake already proved OPC UA; the details are a bonus.
  }
  return identity;
};

/** The probes by protocol. */
export const PROBES: Readonly<Record<DiscoveryProtocol, Probe>> = { modbus, s7, eip, opcua };

/** Opens a TCP connection and closes it: true when something listens. */
export function tcpOpen(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (open: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      resolve(open);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
