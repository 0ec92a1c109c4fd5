/**
 * @module
 * ListIdentity (CIP Vol 2 §2-4.2) for network discovery: unicast over TCP (default) or UDP, or a
 * UDP broadcast that collects every answer until the timeout. No session is needed.
 */
import { createSocket } from 'node:dgram';
import { createConnection } from 'node:net';
import { BifrostError, toBifrostError } from '@bifrost/core';
import { CpfType, decodeCpf, decodeEncap, decodeIdentityItem, EncapCommand, encodeEncap, type IdentityItem } from './codec/encapsulation.js';
import { deviceTypeName, vendorName } from './codec/identity.js';
import { EncapFramer } from './framing.js';

/** Options of {@link listIdentity}. */
export interface ListIdentityOptions {
  /** Port (default 44818). */
  port?: number;
  /** How long to wait in ms (default 1000); a broadcast collects answers for this long. */
  timeoutMs?: number;
  /** Send a UDP broadcast (host is then a broadcast address such as 255.255.255.255) and collect every answer. */
  broadcast?: boolean;
  /** `tcp` (default for unicast: a closed port fails at once) or `udp` (always used for a broadcast). */
  transport?: 'udp' | 'tcp';
  signal?: AbortSignal;
}

/** What a device says about itself in a ListIdentity reply. */
export interface EipDeviceInfo {
  /** Where the answer came from. */
  address: string;
  port: number;
  vendorId: number;
  vendorName: string;
  deviceType: number;
  deviceTypeName: string;
  productCode: number;
  productName: string;
  serialNumber: number;
  /** Serial number as 8 hex digits. */
  serial: string;
  /** `major.minor`. */
  revision: string;
  status: number;
  state: number;
  /** The same facts under the names of a Bifrost DeviceIdentity (vendor, product, firmware). */
  vendor: string;
  product: string;
  firmware: string;
}

function request(): Buffer {
  return encodeEncap({ command: EncapCommand.ListIdentity, session: 0, status: 0, context: 0x4246524f5354n, options: 0, data: Buffer.alloc(0) });
}

function toInfo(item: IdentityItem, address: string, port: number): EipDeviceInfo {
  return {
    address,
    port,
    vendorId: item.vendorId,
    vendorName: vendorName(item.vendorId),
    deviceType: item.deviceType,
    deviceTypeName: deviceTypeName(item.deviceType),
    productCode: item.productCode,
    productName: item.productName,
    serialNumber: item.serialNumber,
    serial: item.serialNumber.toString(16).padStart(8, '0'),
    revision: `${item.revision.major}.${item.revision.minor}`,
    status: item.status,
    state: item.state,
    vendor: vendorName(item.vendorId),
    product: item.productName,
    firmware: `${item.revision.major}.${item.revision.minor}`,
  };
}

/**
 * Decodes a ListIdentity reply packet into device infos (one per identity item).
 * @example parseListIdentityReply(datagram, rinfo.address, rinfo.port)
 */
export function parseListIdentityReply(packet: Buffer, address: string, port: number): EipDeviceInfo[] {
  const p = decodeEncap(packet);
  if (p.command !== EncapCommand.ListIdentity) throw new BifrostError('BIFROST_MALFORMED_FRAME', `expected a ListIdentity reply, got command 0x${p.command.toString(16)}`);
  return decodeCpf(p.data)
    .filter((i) => i.type === CpfType.ListIdentity)
    .map((i) => toInfo(decodeIdentityItem(i.data), address, port));
}

/**
 * Asks a device (or, with `broadcast`, every device on a subnet) who it is.
 * Unicast resolves with the one answer or rejects with BIFROST_TIMEOUT; a broadcast resolves
 * with every answer received within `timeoutMs` (possibly none).
 * @example const [plc] = await listIdentity('10.0.0.5'); console.log(plc.vendorName, plc.productName)
 * @example const all = await listIdentity('255.255.255.255', { broadcast: true, timeoutMs: 2000 })
 */
export function listIdentity(host: string, options: ListIdentityOptions = {}): Promise<EipDeviceInfo[]> {
  const port = options.port ?? 44818;
  const timeoutMs = options.timeoutMs ?? 1000;
  if (!options.broadcast && (options.transport ?? 'tcp') === 'tcp') return listIdentityTcp(host, port, timeoutMs, options.signal);
  return new Promise<EipDeviceInfo[]>((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const found: EipDeviceInfo[] = [];
    let done = false;
    const finish = (err?: BifrostError) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      sock.close();
      if (err) reject(err);
      else resolve(found);
    };
    const onAbort = () => finish(new BifrostError('BIFROST_ABORTED', `ListIdentity to ${host} aborted`));
    const timer = setTimeout(() => {
      if (options.broadcast) finish();
      else finish(new BifrostError('BIFROST_TIMEOUT', `no ListIdentity answer from ${host}:${port} (UDP) within ${timeoutMs} ms`, { device: `${host}:${port}` }));
    }, timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => finish(toBifrostError(e, 'BIFROST_CONNECTION_REFUSED', { device: `${host}:${port}` })));
    sock.on('message', (msg, rinfo) => {
      try {
        found.push(...parseListIdentityReply(msg, rinfo.address, rinfo.port));
      } catch {
        return; // Not an answer to us: ignore it.
      }
      if (!options.broadcast) finish();
    });
    sock.bind(0, () => {
      if (options.broadcast) sock.setBroadcast(true);
      sock.send(request(), port, host);
    });
  });
}

function listIdentityTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<EipDeviceInfo[]> {
  return new Promise<EipDeviceInfo[]>((resolve, reject) => {
    const sock = createConnection({ host, port });
    let done = false;
    const finish = (err: BifrostError | undefined, value?: EipDeviceInfo[]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? []);
    };
    const onAbort = () => finish(new BifrostError('BIFROST_ABORTED', `ListIdentity to ${host} aborted`));
    const timer = setTimeout(() => finish(new BifrostError('BIFROST_TIMEOUT', `no ListIdentity answer from ${host}:${port} (TCP) within ${timeoutMs} ms`, { device: `${host}:${port}` })), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const framer = new EncapFramer(
      4096,
      (frame) => {
        try {
          finish(undefined, parseListIdentityReply(frame, host, port));
        } catch (e) {
          finish(toBifrostError(e, 'BIFROST_MALFORMED_FRAME', { device: `${host}:${port}` }));
        }
      },
      (e) => finish(e),
    );
    sock.on('data', (c: Buffer) => framer.push(c));
    sock.on('error', (e) => finish(toBifrostError(e, 'BIFROST_CONNECTION_REFUSED', { device: `${host}:${port}` })));
    sock.on('connect', () => sock.write(request()));
  });
}
