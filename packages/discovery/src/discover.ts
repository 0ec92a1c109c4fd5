/**
 * @module
 * `discover()`: TCP probes over a set of hosts with bounded concurrency. Safe by default: it scans
 * only what it is told, or this machine's own interface subnets when told nothing; it refuses a
 * range larger than a /16 without `force`; it never writes to a device.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { BifrostError, type DeviceIdentity } from '@bifrost/core';
import { stringify } from 'yaml';
import { hostsOf, intToIp, localSubnets, parseCidr } from './cidr.js';
import { DEFAULT_PORTS, type DiscoveryProtocol, PROBES, tcpOpen } from './probes.js';

/** Options of {@link discover}. */
export interface DiscoverOptions {
  /** CIDR ranges to scan. */
  networks?: string[];
  /** Single hosts to scan. */
  hosts?: string[];
  /** Protocols to try (default all four). */
  protocols?: DiscoveryProtocol[];
  /** Ports per protocol, overriding the defaults (502, 102, 44818, 4840). */
  ports?: Partial<Record<DiscoveryProtocol, number[]>>;
  /** Timeout per probe step in ms (default 1000). */
  timeoutMs?: number;
  /** Probes in flight at once (default 64). */
  concurrency?: number;
  /** Allow ranges larger than a /16. */
  force?: boolean;
  /**
   * Also send one EtherNet/IP ListIdentity by UDP broadcast to each network's broadcast address
   * (CIP Vol 2 §2-4.2): it finds adapters that answer UDP only. Default true when EtherNet/IP is
   * probed and networks are given.
   */
  broadcast?: boolean;
  signal?: AbortSignal;
  /** Called after each probe with the count done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** A device found. */
export interface Finding {
  protocol: DiscoveryProtocol;
  host: string;
  port: number;
  identity: DeviceIdentity;
}

/** A port that answered but did not identify as the protocol probed. */
export interface Unidentified {
  host: string;
  port: number;
  probed: DiscoveryProtocol;
}

/** The outcome of a scan. */
export interface DiscoveryResult {
  found: Finding[];
  /** Open ports that spoke none of the probed protocols. */
  unidentified: Unidentified[];
  hostsScanned: number;
  probes: number;
  durationMs: number;
}

const ALL: DiscoveryProtocol[] = ['modbus', 's7', 'eip', 'opcua'];

/** Parses `--protocols modbus,s7`. */
export function parseProtocols(text: string): DiscoveryProtocol[] {
  const list = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const p of list) if (!ALL.includes(p as DiscoveryProtocol)) throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', `unknown protocol "${p}"; expected some of ${ALL.join(', ')}`);
  return list as DiscoveryProtocol[];
}

/**
 * Parses `--ports`: `modbus=5020,s7=1102` (per protocol; repeat a protocol for several ports)
 * or plain `5020,1102` (tried for every protocol).
 */
export function parsePorts(text: string, protocols: DiscoveryProtocol[] = ALL): Partial<Record<DiscoveryProtocol, number[]>> {
  const out: Partial<Record<DiscoveryProtocol, number[]>> = {};
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:([a-z0-9]+)=)?(\d{1,5})$/i.exec(item);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', `"${item}" is not a port or protocol=port`);
    const targets = m[1] ? parseProtocols(m[1]) : protocols;
    for (const p of targets) out[p] = [...(out[p] ?? []), port];
  }
  return out;
}

/** The hosts a scan covers, checked against the /16 limit. */
export function planHosts(options: Pick<DiscoverOptions, 'networks' | 'hosts' | 'force'>): string[] {
  const networks = options.networks?.length || options.hosts?.length ? (options.networks ?? []) : localSubnets().map((s) => s.cidr.text);
  if (networks.length === 0 && !options.hosts?.length)
    throw new BifrostError('BIFROST_DISCOVERY_BAD_RANGE', 'no network to scan: this machine has no IPv4 interface besides loopback; pass --network CIDR or --hosts');
  const hosts = new Set<string>();
  for (const n of networks) {
    const c = parseCidr(n);
    if (c.prefix < 16 && !options.force) throw new BifrostError('BIFROST_DISCOVERY_RANGE_TOO_LARGE', `${c.text} has ${c.size.toLocaleString('en')} addresses: ranges larger than a /16 need --force`);
    for (const h of hostsOf(c)) hosts.add(h);
  }
  for (const h of options.hosts ?? []) hosts.add(parseCidr(h).prefix === 32 ? h.trim() : h);
  return [...hosts];
}

/**
 * Scans hosts for industrial protocols and identifies what answers.
 * @example const { found } = await discover({ networks: ['192.168.10.0/24'], protocols: ['modbus', 's7'] })
 */
export async function discover(options: DiscoverOptions = {}): Promise<DiscoveryResult> {
  const started = Date.now();
  const hosts = planHosts(options);
  const protocols = options.protocols ?? ALL;
  const timeoutMs = options.timeoutMs ?? 1000;
  const concurrency = Math.max(1, options.concurrency ?? 64);
  const signal = options.signal ?? new AbortController().signal;
  // Every probe in flight listens on the one signal.
  setMaxListeners(concurrency * 4 + 16, signal);
  const tasks: Array<{ host: string; port: number; protocol: DiscoveryProtocol }> = [];
  for (const host of hosts) {
    for (const protocol of protocols) for (const port of options.ports?.[protocol] ?? [DEFAULT_PORTS[protocol]]) tasks.push({ host, port, protocol });
  }
  const found: Finding[] = [];
  const unidentified: Unidentified[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < tasks.length && !signal.aborted) {
      const t = tasks[next++] as (typeof tasks)[number];
      if (await tcpOpen(t.host, t.port, timeoutMs, signal)) {
        const identity = await (PROBES[t.protocol] as (typeof PROBES)['modbus'])(t.host, t.port, timeoutMs, signal).catch(() => undefined);
        if (identity) found.push({ protocol: t.protocol, host: t.host, port: t.port, identity });
        else unidentified.push({ host: t.host, port: t.port, probed: t.protocol });
      }
      options.onProgress?.(++done, tasks.length);
    }
  };
  const sweeps = options.broadcast !== false && protocols.includes('eip') ? broadcastSweeps(options, timeoutMs, signal) : Promise.resolve([]);
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  for (const f of found) if (f.protocol === 'eip') f.identity.via = 'tcp';
  for (const b of await sweeps) {
    const same = found.find((f) => f.protocol === 'eip' && f.host === b.host && f.port === b.port);
    if (same) same.identity.via = 'tcp+udp-broadcast';
    else found.push(b);
  }
  const order = (a: { host: string; port: number }, b: { host: string; port: number }) => a.host.localeCompare(b.host, 'en', { numeric: true }) || a.port - b.port;
  found.sort((a, b) => ALL.indexOf(a.protocol) - ALL.indexOf(b.protocol) || order(a, b));
  // A port found by one protocol is not "unidentified" because another protocol's probe failed there.
  const identified = new Set(found.map((f) => `${f.host}:${f.port}`));
  const unknown = new Map<string, Unidentified>();
  for (const u of unidentified) if (!identified.has(`${u.host}:${u.port}`)) unknown.set(`${u.host}:${u.port}`, u);
  return { found, unidentified: [...unknown.values()].sort(order), hostsScanned: hosts.length, probes: tasks.length, durationMs: Date.now() - started };
}

/** One ListIdentity broadcast per network (to its broadcast address) and EtherNet/IP port. */
async function broadcastSweeps(options: DiscoverOptions, timeoutMs: number, signal: AbortSignal): Promise<Finding[]> {
  const networks = options.networks?.length ? options.networks : options.hosts?.length ? [] : localSubnets().map((n) => n.cidr.text);
  if (networks.length === 0) return [];
  let mod: { listIdentity?: (h: string, o: Record<string, unknown>) => Promise<Array<Record<string, unknown>>> };
  try {
    mod = await import('@bifrost/ethernetip' as string);
  } catch {
    return [];
  }
  const listIdentity = mod.listIdentity;
  if (!listIdentity) return [];
  const ports = options.ports?.eip ?? [DEFAULT_PORTS.eip];
  const answers = await Promise.all(
    networks.flatMap((n) => {
      const c = parseCidr(n);
      const broadcastAddress = intToIp((c.network + c.size - 1) >>> 0);
      return ports.map((port) => listIdentity(broadcastAddress, { broadcast: true, port, timeoutMs, signal }).catch(() => []));
    }),
  );
  return answers
    .flat()
    .map((a) => {
      const host = String(a.address ?? a.host ?? '');
      const port = Number(a.port ?? DEFAULT_PORTS.eip);
      return { protocol: 'eip' as const, host, port, identity: { ...a, protocol: 'eip', via: 'udp-broadcast' } };
    })
    .filter((f) => f.host !== '');
}

/** The device URL a finding connects with. */
export function urlOf(f: Finding): string {
  switch (f.protocol) {
    case 'modbus':
      return `modbus://${f.host}:${f.port}?unit=1`;
    case 's7':
      return `s7://${f.host}:${f.port}?rack=${Number(f.identity.rack ?? 0)}&slot=${Number(f.identity.slot ?? 1)}`;
    case 'eip':
      return `eip://${f.host}:${f.port}?path=1,0`;
    case 'opcua':
      return `opc.tcp://${f.host}:${f.port}`;
  }
}

const FIRST_TAG: Record<DiscoveryProtocol, string> = { modbus: 'HR0', s7: 'MW0', eip: 'Tag1', opcua: 'i=2258' };

/**
 * A gateway.yaml skeleton with one device per finding (a placeholder tag each, to edit).
 * `file` is the name the comment tells the user to run.
 * @example writeFileSync('plant.yaml', toGatewayYaml(result.found, 'plant.yaml'))
 */
export function toGatewayYaml(found: readonly Finding[], file = 'gateway.yaml'): string {
  const names = new Set<string>();
  const devices = found.map((f) => {
    let name = `${f.protocol}-${f.host.replaceAll('.', '-')}${f.port === DEFAULT_PORTS[f.protocol] ? '' : `-${f.port}`}`;
    while (names.has(name)) name += '-x';
    names.add(name);
    return {
      name,
      url: urlOf(f),
      pollMs: 1000,
      tags: [
        { name: 'tag1', address: FIRST_TAG[f.protocol], description: `placeholder: replace with real tags (found ${[f.identity.vendor, f.identity.product].filter(Boolean).join(' ') || f.protocol})` },
      ],
    };
  });
  return `# Written by bifrost discover on ${new Date().toISOString()}: one device per find.\n# Replace each placeholder tag with the tags you need, then: bifrost run ${/^[\w./-]+$/.test(file) ? file : JSON.stringify(file)}\n${stringify({ devices })}`;
}

/** An EventEmitter facade for callers that prefer events. */
export class Discovery extends EventEmitter<{ progress: [number, number] }> {
  run(options: DiscoverOptions): Promise<DiscoveryResult> {
    return discover({ ...options, onProgress: (d, t) => this.emit('progress', d, t) });
  }
}
