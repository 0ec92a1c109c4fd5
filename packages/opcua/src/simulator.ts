/**
 * @module
 * `bifrost simulate opcua`: a Bifrost OPC UA server over a simulated plant. `Line1` carries
 * process signals (temperature, pressure, speed, a counter, a running flag) and writable
 * setpoints; `Types` has one writable variable of every Bifrost type (the driver conformance
 * suite uses it); `Bulk` has `bulkTags` LREAL variables (default 0) for benchmarks. NodeIds are
 * `ns=1;s=<device>.<tag>`, browse paths `/Objects/<device>/<tag>`.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BifrostError,
  ConfigSource,
  type DataType,
  DEFAULT_IDLE_TIMEOUT_MS,
  good,
  type RunningSimulator,
  type SimulatorOptions,
  type StartSimulator,
  seededRandom,
  type TagValue,
  type Value,
} from '@bifrost/core';
import { OpcUaServer, type OpcUaServerOptions, type ServedDevice, type TagProvider } from './server.js';

/**
 * The port `bifrost simulate opcua` listens on by default (IANA-registered for OPC UA).
 * @example await startSimulator({ port: DEFAULT_PORT })
 */
export const DEFAULT_PORT = 4840;

/** Extra settings the simulator reads from `options.config`. */
export interface OpcUaSimulatorConfig {
  /** Number of `Bulk.Tag<n>` LREAL variables (default 0). */
  bulkTags?: number;
  /** Every how many `Bulk` variables one changes at each update (default 1: all of them; 10: a tenth, as a plant where most values hold). */
  bulkEvery?: number;
  /** How often the signals change, in ms (default 500). */
  updateMs?: number;
  /** PKI directory (default `<tmp>/bifrost-opcua-sim-pki`, so the certificate stays the same across runs). */
  pkiDir?: string;
  /** Trust unknown client certificates (default true: it is a simulator). */
  acceptUnknownCertificates?: boolean;
  /** Users and passwords (default `{ operator: 'operator' }`); anonymous is allowed too. */
  users?: Record<string, string>;
  /** Users allowed to write (default everyone). */
  writeUsers?: string[];
  /** Server options passed through (security policies, limits…). */
  server?: Partial<OpcUaServerOptions>;
}

const TYPE_SAMPLES: [string, DataType, Value][] = [
  ['Bool', 'BOOL', true],
  ['SInt', 'SINT', -8],
  ['USInt', 'USINT', 200],
  ['Int', 'INT', -1234],
  ['UInt', 'UINT', 54321],
  ['DInt', 'DINT', -123456789],
  ['UDInt', 'UDINT', 4000000000],
  ['LInt', 'LINT', -9007199254740993n],
  ['ULInt', 'ULINT', 18446744073709551615n],
  ['Real', 'REAL', 3.5],
  ['LReal', 'LREAL', 1234.5678],
  ['String', 'STRING', 'Bifrost'],
  ['Bytes', 'BYTES', Uint8Array.of(0xde, 0xad, 0xbe, 0xef)],
  ['DateTime', 'DATETIME', new Date('2024-01-02T03:04:05.678Z')],
];

/**
 * The simulated plant: a TagProvider whose values move on a timer.
 * @example const server = await createOpcUaServer({ provider: new SimulatedPlant({ bulkTags: 100 }), port: 4840 })
 */
export class SimulatedPlant extends EventEmitter implements TagProvider {
  readonly #devices: ServedDevice[];
  readonly #values = new Map<string, TagValue>();
  readonly #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #tick = 0;
  readonly #bulk: number;
  readonly #bulkEvery: number;

  constructor(config: OpcUaSimulatorConfig = {}, seed = 1) {
    super();
    this.#random = seededRandom(seed);
    this.#bulk = config.bulkTags ?? 0;
    this.#bulkEvery = Math.max(1, config.bulkEvery ?? 1);
    this.#devices = [
      {
        name: 'Line1',
        description: 'Simulated production line',
        tags: [
          { name: 'Temperature', type: 'LREAL', unit: 'degC', min: 0, max: 150, description: 'Oven temperature' },
          { name: 'Pressure', type: 'REAL', unit: 'bar', min: 0, max: 10 },
          { name: 'Speed', type: 'INT', unit: 'rpm', min: 0, max: 3000 },
          { name: 'Count', type: 'UDINT', description: 'Parts produced' },
          { name: 'Running', type: 'BOOL' },
          { name: 'Setpoint', type: 'LREAL', unit: 'degC', min: 0, max: 150, writable: true },
          { name: 'Mode', type: 'STRING', writable: true },
          { name: 'Level', type: 'DINT', writable: true, description: 'Writable integer for deadband tests' },
        ],
      },
      { name: 'Types', description: 'One writable variable of every Bifrost type', tags: TYPE_SAMPLES.map(([name, type]) => ({ name, type, writable: true })) },
    ];
    if (this.#bulk > 0) this.#devices.push({ name: 'Bulk', tags: Array.from({ length: this.#bulk }, (_, i) => ({ name: `Tag${i}`, type: 'LREAL' as const })) });
    this.#set('Line1', 'Setpoint', 80);
    this.#set('Line1', 'Mode', 'auto');
    this.#set('Line1', 'Level', 0);
    this.#set('Line1', 'Count', 0);
    for (const [name, , value] of TYPE_SAMPLES) this.#set('Types', name, value);
    this.step();
  }

  #set(device: string, tag: string, value: Value): void {
    const tv = good(`${device}.${tag}`, value);
    this.#values.set(`${device}.${tag}`, tv);
    this.emit('value', device, tag, tv);
  }

  /** Advances the signals one step. */
  step(): void {
    const t = this.#tick++;
    const sp = Number(this.#values.get('Line1.Setpoint')?.value ?? 80);
    this.#set('Line1', 'Temperature', sp + 5 * Math.sin(t / 10) + this.#random() - 0.5);
    this.#set('Line1', 'Pressure', Math.fround(4 + Math.sin(t / 7) + this.#random() * 0.1));
    this.#set('Line1', 'Speed', 1500 + Math.round(200 * Math.sin(t / 5)));
    this.#set('Line1', 'Running', t % 40 < 36);
    this.#set('Line1', 'Count', (Number(this.#values.get('Line1.Count')?.value ?? 0) + 1) >>> 0);
    for (let i = 0; i < this.#bulk; i += t === 0 ? 1 : this.#bulkEvery) this.#set('Bulk', `Tag${i}`, t + i / 1000);
  }

  /** Starts moving the signals every `ms`. */
  start(ms: number): void {
    this.#timer ??= setInterval(() => this.step(), ms);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  devices(): ServedDevice[] {
    return this.#devices;
  }

  latest(device: string, tag: string): TagValue | undefined {
    return this.#values.get(`${device}.${tag}`);
  }

  async write(device: string, tag: string, value: Value): Promise<void> {
    const def = this.#devices.find((d) => d.name === device)?.tags.find((t) => t.name === tag);
    if (!def) throw new BifrostError('BIFROST_INVALID_ADDRESS', `no tag ${device}.${tag}`);
    this.#set(device, tag, value);
  }
}

function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A YAML simulator file (`bifrost simulate opcua --config plant.yaml`): bulkTags, bulkEvery, updateMs, pkiDir, users, writeUsers. */
function readSimulatorConfig(file: string): OpcUaSimulatorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `cannot read simulator config ${file}: ${(cause as Error).message}`, { cause });
  }
  const source = new ConfigSource(file, text);
  const data = source.toJS();
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw source.errorAt([], 'a map with bulkTags, updateMs, pkiDir, users or writeUsers');
  const known = ['bulkTags', 'bulkEvery', 'updateMs', 'pkiDir', 'users', 'writeUsers', 'acceptUnknownCertificates', 'server'];
  for (const [k, v] of Object.entries(data)) {
    if (!known.includes(k)) throw source.errorAt([k], `one of ${known.join(', ')}`, undefined, true);
    if ((k === 'bulkTags' || k === 'bulkEvery' || k === 'updateMs') && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) throw source.errorAt([k], 'a whole number', v);
  }
  return data as OpcUaSimulatorConfig;
}

/**
 * Starts the OPC UA simulator (`bifrost simulate opcua`).
 * @example
 * await using sim = await startSimulator({ port: 0 });
 * await using plc = await connect(sim.url);
 * (await plc.read('ns=1;s=Line1.Temperature')).value
 */
export const startSimulator: StartSimulator = async (options: SimulatorOptions = {}): Promise<RunningSimulator> => {
  const host = options.host ?? '127.0.0.1';
  const port = options.port === 0 ? await anyFreePort(host) : (options.port ?? DEFAULT_PORT);
  const config = (typeof options.config === 'string' ? readSimulatorConfig(options.config) : (options.config ?? {})) as OpcUaSimulatorConfig;
  const plant = new SimulatedPlant(config, options.seed ?? 1);
  const server = new OpcUaServer({
    provider: plant,
    host,
    port,
    pkiDir: config.pkiDir ?? join(tmpdir(), 'bifrost-opcua-sim-pki'),
    acceptUnknownCertificates: config.acceptUnknownCertificates ?? true,
    users: config.users ?? { operator: 'operator' },
    ...(config.writeUsers ? { writeUsers: config.writeUsers } : {}),
    productName: 'Bifrost OPC UA simulator',
    // Idle connections are closed as on every Bifrost simulator (issue 22.8).
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...config.server,
  });
  await server.start();
  plant.start(config.updateMs ?? 500);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      plant.stop();
      await server.close();
    })());
  const url = `opc.tcp://${host}:${port}`;
  const tagCount = plant.devices().reduce((n, d) => n + d.tags.length, 0);
  return {
    url,
    host,
    port,
    describe: () =>
      `OPC UA simulator at ${url}: ${plant
        .devices()
        .map((d) => `${d.name} (${d.tags.length} tags)`)
        .join(
          ', ',
        )}, ${tagCount} variables as ns=1;s=<device>.<tag>; security None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss (Sign, SignAndEncrypt); anonymous or user operator/operator; PKI ${server.pkiDir}`,
    close,
    [Symbol.asyncDispose]: close,
  };
};
