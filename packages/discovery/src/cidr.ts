/**
 * @module
 * IPv4 CIDR ranges: parsing, host enumeration, and the machine's own interface subnets.
 */
import { networkInterfaces } from 'node:os';
import { BifrostError } from '@bifrost/core';

/** A parsed IPv4 range. */
export interface Cidr {
  /** The network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
  /** Number of addresses in the range. */
  size: number;
  text: string;
}

/** `10.0.0.7` → 167772167; throws BIFROST_DISCOVERY_BAD_RANGE on a malformed address. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', `"${ip}" is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0) >>> 0;
}

/** 167772167 → `10.0.0.7`. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses `a.b.c.d/n` (a bare address is a /32).
 * @example parseCidr('192.168.1.0/24').size // 256
 */
export function parseCidr(text: string): Cidr {
  const m = /^\s*([\d.]+)(?:\/(\d{1,2}))?\s*$/.exec(text);
  if (!m) throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', `"${text}" is not a CIDR range such as 192.168.1.0/24`);
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', `"${text}": the prefix length must be 0 to 32`);
  const ip = ipToInt(m[1] as string);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ip & mask) >>> 0, prefix, size: 2 ** (32 - prefix), text: `${intToIp((ip & mask) >>> 0)}/${prefix}` };
}

/**
 * The host addresses of a range: without the network and broadcast addresses for prefixes up to /30
 * (RFC 950), every address for /31 (RFC 3021) and /32.
 * @example [...hostsOf(parseCidr('10.0.0.0/30'))] // ['10.0.0.1', '10.0.0.2']
 */
export function* hostsOf(c: Cidr): Generator<string> {
  const first = c.prefix >= 31 ? c.network : c.network + 1;
  const last = c.prefix >= 31 ? c.network + c.size - 1 : c.network + c.size - 2;
  for (let n = first; n <= last; n++) yield intToIp(n >>> 0);
}

/** The IPv4 subnets of this machine's non-loopback interfaces, with each interface's broadcast address. */
export function localSubnets(): Array<{ name: string; cidr: Cidr; address: string; broadcast: string }> {
  const out: Array<{ name: string; cidr: Cidr; address: string; broadcast: string }> = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const cidr = parseCidr(a.cidr);
      out.push({ name, cidr, address: a.address, broadcast: intToIp((cidr.network + cidr.size - 1) >>> 0) });
    }
  }
  return out;
}
