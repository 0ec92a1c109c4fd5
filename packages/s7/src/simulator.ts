/**
 * @module
 * The S7 simulator behind `bifrost simulate s7`: an {@link S7Server} with DB, M, I and Q memory
 * described in YAML (or an object), and generated signals (sine, random walk, counter, toggle,
 * clock) written into that memory a few times a second. Without a config it serves a small
 * plant (see DEFAULT_PLANT and the package README).
 */
import { readFile } from 'node:fs/promises';
import { BifrostError, didYouMean, type RunningSimulator, type SimulatorOptions, type StartSimulator, seededRandom } from '@bifrost/core';
import { parseS7Address, type S7Address } from './address.js';
import { type S7Identity, type S7Memory, S7Server } from './server.js';
import { decodeS7Value, encodeS7Value } from './values.js';

/**
 * The ISO-on-TCP port of S7 (RFC 1006).
 * @example await startSimulator({ port: DEFAULT_PORT, host: '0.0.0.0' })
 */
export const DEFAULT_PORT = 102;

/** A simulated tag: an initial value and an optional generated signal. */
export interface SimTag {
  address: string;
  /** Initial value. */
  value?: unknown;
  /** `sine` between min and max over periodS; `walk` a random walk by ±step within min…max; `counter` +step per tick; `toggle` flips every periodS; `clock` the current time. */
  signal?: 'sine' | 'walk' | 'counter' | 'toggle' | 'clock';
  min?: number;
  max?: number;
  periodS?: number;
  step?: number;
}

/** The simulator's configuration (YAML or object). */
export interface S7SimConfig {
  /** Largest PDU the CPU offers (default 480). */
  pduLength?: number;
  /** PUT/GET access permitted (default true). */
  putGet?: boolean;
  /** Largest number of parallel jobs granted (default 8; an S7-300 grants 1). */
  maxAmq?: number;
  /** When set, only connections to this rack/slot are accepted. */
  rack?: number;
  slot?: number;
  identity?: Partial<S7Identity>;
  /** Operating mode SZL 0x0424 reports: `run` (default) or `stop`. */
  cpuStatus?: 'run' | 'stop';
  /** Sizes in bytes of M, I and Q (default 256, 64, 64). */
  areas?: { M?: number; I?: number; Q?: number };
  /** DB number → size in bytes. */
  dbs?: Record<string | number, number>;
  tags?: SimTag[];
  /** Signal update period (default 100 ms). */
  tickMs?: number;
}

/**
 * The plant served when no config is given; the gateway demo reads it.
 * @example await startSimulator({ config: { ...DEFAULT_PLANT, putGet: false } })
 */
export const DEFAULT_PLANT: S7SimConfig = {
  pduLength: 480,
  areas: { M: 64, I: 16, Q: 16 },
  dbs: { 1: 100, 2: 64 },
  tags: [
    { address: 'DB1.DBD0:REAL', signal: 'sine', min: 55, max: 65, periodS: 60 },
    { address: 'DB1.DBD4:REAL', signal: 'walk', value: 2.5, min: 1.5, max: 3.5, step: 0.02 },
    { address: 'DB1.DBD8:DINT', signal: 'counter', step: 1 },
    { address: 'DB1.DBD12:REAL', value: 60 },
    { address: 'DB1.DBX16.0', value: true },
    { address: 'DB1.DBX16.1', signal: 'toggle', periodS: 10 },
    { address: 'DB1.DBX16.2', value: false },
    { address: 'DB1.DBW18:INT', signal: 'sine', min: 1200, max: 1800, periodS: 30 },
    { address: 'DB1.DBB20:STRING[20]', value: 'BATCH-0001' },
    { address: 'DB1.DBB42:LREAL', signal: 'counter', step: 0.125 },
    { address: 'DB1.DBB50:DATE_AND_TIME', signal: 'clock' },
    { address: 'DB1.DBB58:CHAR', value: 'A' },
    { address: 'DB1.DBW60', value: 0x0001 },
    { address: 'MW10', signal: 'counter', step: 1 },
    { address: 'M0.0', signal: 'toggle', periodS: 1 },
    { address: 'I0.0', value: true },
    { address: 'I0.1', signal: 'toggle', periodS: 5 },
    { address: 'IW2:INT', signal: 'sine', min: 0, max: 27648, periodS: 20 },
    { address: 'Q0.0', value: true },
  ],
};

/** A running S7 simulator; `server` exposes the memory for tests. */
export interface S7Simulator extends RunningSimulator {
  readonly server: S7Server;
}

function configError(where: string, why: string): BifrostError {
  return new BifrostError('BIFROST_CONFIG_INVALID', `S7 simulator config${where}: ${why}`);
}

async function loadConfig(config: SimulatorOptions['config']): Promise<{ cfg: S7SimConfig; where: string }> {
  if (config === undefined) return { cfg: DEFAULT_PLANT, where: '' };
  if (typeof config !== 'string') return { cfg: config as S7SimConfig, where: '' };
  let text: string;
  try {
    text = await readFile(config, 'utf8');
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `cannot read S7 simulator config ${config}`, { cause });
  }
  try {
    // yaml loads only here: a process that reads a PLC never pays for it (issue 25 §5)
    const { parse: parseYaml } = await import('yaml');
    return { cfg: (parseYaml(text) ?? {}) as S7SimConfig, where: ` ${config}` };
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_YAML', `S7 simulator config ${config} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
}

const CONFIG_KEYS = ['pduLength', 'putGet', 'maxAmq', 'rack', 'slot', 'identity', 'cpuStatus', 'areas', 'dbs', 'tags', 'tickMs'];
const TAG_KEYS = ['address', 'value', 'signal', 'min', 'max', 'periodS', 'step'];

/** A key the simulator does not know is refused, with the closest one it does: ignored, it would simulate something else than asked. */
function checkKeys(obj: unknown, known: readonly string[], prefix: string, where: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw configError(where, `${prefix || 'the config'} must be a mapping`);
  for (const k of Object.keys(obj)) {
    if (known.includes(k)) continue;
    const guess = didYouMean(k, known);
    throw configError(where, `unknown field ${prefix}${k}${guess ? ` (did you mean ${prefix}${guess}?)` : ''}; known: ${known.join(', ')}`);
  }
}

const size = (v: unknown, dflt: number, what: string, where: string) => {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 65536) throw configError(where, `${what} must be a size in bytes 0…65536, got ${JSON.stringify(v)}`);
  return n as number;
};

/**
 * Starts the S7 simulator.
 * @example
 * await using sim = await startSimulator({ port: 0 });
 * await using plc = await connect(sim.url);
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<S7Simulator> {
  const { cfg, where } = await loadConfig(options.config);
  checkKeys(cfg, CONFIG_KEYS, '', where);
  for (const [i, t] of (cfg.tags ?? []).entries()) checkKeys(t, TAG_KEYS, `tags[${i}].`, where);
  const memory: S7Memory = {
    dbs: new Map(),
    M: new Uint8Array(size(cfg.areas?.M, 256, 'areas.M', where)),
    I: new Uint8Array(size(cfg.areas?.I, 64, 'areas.I', where)),
    Q: new Uint8Array(size(cfg.areas?.Q, 64, 'areas.Q', where)),
  };
  for (const [k, v] of Object.entries(cfg.dbs ?? {})) {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw configError(where, `dbs key ${k} is not a DB number 1…65535`);
    memory.dbs.set(n, new Uint8Array(size(v, 0, `dbs.${k}`, where)));
  }
  const serverOptions: ConstructorParameters<typeof S7Server>[1] = { pduLength: cfg.pduLength ?? 480, putGet: cfg.putGet ?? true };
  if (cfg.identity) serverOptions.identity = cfg.identity;
  if (cfg.cpuStatus !== undefined) {
    if (cfg.cpuStatus !== 'run' && cfg.cpuStatus !== 'stop') throw configError(where, `cpuStatus must be run or stop, got ${JSON.stringify(cfg.cpuStatus)}`);
    serverOptions.cpuStatus = cfg.cpuStatus;
  }
  if (cfg.maxAmq !== undefined) serverOptions.maxAmq = cfg.maxAmq;
  if (cfg.rack !== undefined || cfg.slot !== undefined) serverOptions.acceptRackSlot = { rack: cfg.rack ?? 0, slot: cfg.slot ?? 1 };
  if (options.maxConnections !== undefined) serverOptions.maxConnections = options.maxConnections;
  if (options.idleTimeoutMs !== undefined) serverOptions.idleTimeoutMs = options.idleTimeoutMs;
  const server = new S7Server(memory, serverOptions);

  const random = seededRandom(options.seed ?? 1);
  const tags: { a: S7Address; t: SimTag; v: number }[] = [];
  (cfg.tags ?? []).forEach((t, i) => {
    let a: S7Address;
    try {
      a = parseS7Address(String(t.address));
    } catch (e) {
      throw configError(where, `tags[${i}].address: ${(e as Error).message}`);
    }
    const mem = server.area(a.areaCode, a.dbNumber);
    if (!mem) throw configError(where, `tags[${i}].address ${t.address}: DB${a.dbNumber} is not declared under dbs`);
    if (a.byteOffset + a.byteLength > mem.length) throw configError(where, `tags[${i}].address ${t.address} lies outside its area of ${mem.length} bytes`);
    if (t.value !== undefined) {
      try {
        write(mem, a, t.value);
      } catch (e) {
        throw configError(where, `tags[${i}].value: ${(e as Error).message}`);
      }
    }
    if (t.signal) tags.push({ a, t, v: typeof t.value === 'number' ? t.value : (t.min ?? 0) });
  });

  const started = Date.now();
  const tick = () => {
    const s = (Date.now() - started) / 1000;
    for (const g of tags) {
      const mem = server.area(g.a.areaCode, g.a.dbNumber) as Uint8Array;
      const { min = 0, max = 100, periodS = 10, step = 1 } = g.t;
      let value: unknown;
      switch (g.t.signal) {
        case 'sine':
          value = (min + max) / 2 + ((max - min) / 2) * Math.sin((2 * Math.PI * s) / periodS);
          break;
        case 'walk':
          g.v = Math.min(max, Math.max(min, g.v + (random() * 2 - 1) * step));
          value = g.v;
          break;
        case 'counter':
          g.v += step;
          value = g.v;
          break;
        case 'toggle':
          value = Math.floor(s / periodS) % 2 === 1;
          break;
        case 'clock':
          value = new Date();
          break;
      }
      if (g.a.dataType !== 'REAL' && g.a.dataType !== 'LREAL' && typeof value === 'number') value = Math.round(value);
      try {
        write(mem, g.a, value);
      } catch {
        g.v = g.t.min ?? 0; // A counter ran past its type: start again.
      }
    }
  };
  tick();
  const timer = setInterval(tick, cfg.tickMs ?? 100);
  timer.unref();

  const host = options.host ?? '127.0.0.1';
  let port: number;
  try {
    port = await server.listen(options.port ?? DEFAULT_PORT, host);
  } catch (e) {
    clearInterval(timer);
    throw e;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    clearInterval(timer);
    closing ??= server.close();
    return closing;
  };
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const rackSlot = serverOptions.acceptRackSlot ?? { rack: 0, slot: 1 };
  return {
    url: `s7://${urlHost}:${port}?rack=${rackSlot.rack}&slot=${rackSlot.slot}`,
    host,
    port,
    server,
    describe: () =>
      `S7 simulator (${server.identity.moduleTypeName}) on ${host}:${port}: ${[...memory.dbs].map(([n, m]) => `DB${n} ${m.length} B`).join(', ')}, M ${memory.M.length} B, I ${memory.I.length} B, Q ${memory.Q.length} B; PDU ${serverOptions.pduLength}; ${tags.length} generated signals`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// The CLI starts every protocol's simulator through the one core contract.
startSimulator satisfies StartSimulator;

function write(mem: Uint8Array, a: S7Address, value: unknown): void {
  const bytes = encodeS7Value(a, value);
  if (a.type === 'BOOL') {
    const mask = 1 << a.bitOffset;
    mem[a.byteOffset] = bytes[0] ? (mem[a.byteOffset] as number) | mask : (mem[a.byteOffset] as number) & ~mask;
  } else mem.set(bytes, a.byteOffset);
}

/**
 * Reads a value straight from simulator memory (for tests and the CLI).
 * @example peek(sim.server, 'DB1.DBD12:REAL') // 60
 */
export function peek(server: S7Server, address: string): unknown {
  const a = parseS7Address(address);
  const mem = server.area(a.areaCode, a.dbNumber);
  if (!mem) throw new BifrostError('BIFROST_S7_OBJECT_NOT_FOUND', `${address}: no such area in the simulator`, { address });
  const v = decodeS7Value(a, mem, a.byteOffset);
  return v;
}
