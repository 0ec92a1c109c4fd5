/**
 * @module
 * The Modbus simulator: a {@link ModbusServer} with units described in YAML (or an object), values
 * driven by generated signals (sine, ramp, random walk, counter, square), exceptions for unmapped
 * addresses and device identification objects. With no config it serves a small plant on unit 1
 * (see {@link DEFAULT_SIMULATOR_CONFIG} and the package README).
 */
import { BifrostError, type RunningSimulator, type SimulatorOptions, type StartSimulator, seededRandom } from '@bifrost/core';
import { AREA_PREFIX, isRegisterArea, type ModbusAddress, parseModbusAddress } from './address.js';
import { type DeviceIdentification, ModbusUnit } from './data-model.js';
import { ModbusServer } from './server.js';
import type { SerialOptions } from './transport.js';

/**
 * The simulator's default TCP port for the CLI (502 needs root).
 * @example await startSimulator({ port: DEFAULT_PORT })
 */
export const DEFAULT_PORT = 5020;

/** A generated signal. Times are in seconds. */
export type SignalConfig =
  | { signal: 'sine'; min?: number; max?: number; periodS?: number; phaseS?: number }
  | { signal: 'ramp'; min?: number; max?: number; periodS?: number }
  | { signal: 'randomWalk'; start?: number; step?: number; min?: number; max?: number }
  | { signal: 'counter'; start?: number; step?: number; everyS?: number; max?: number }
  | { signal: 'square'; periodS?: number; low?: number | boolean; high?: number | boolean };

/** One simulated point: an address with a fixed value or a signal. */
export type PointConfig = { address: string; value?: unknown; writable?: boolean } & Partial<SignalConfig>;

/** One simulated unit. */
export interface UnitConfig {
  id: number;
  /** Address ranges served with zeros, e.g. `HR0-HR99`, `C0-C7`, `IR100-IR199`. */
  map?: string[];
  points?: PointConfig[];
  identification?: DeviceIdentification;
}

/** The simulator configuration (the YAML file's shape). */
export interface ModbusSimulatorConfig {
  /** How often signals update, in ms (default 100). */
  updateMs?: number;
  units: UnitConfig[];
}

/** Options of {@link startModbusSimulator}: the common ones plus the Modbus transport. */
export interface ModbusSimulatorOptions extends SimulatorOptions {
  /** `tcp` (default) or `rtu` for RTU over TCP. */
  framing?: 'tcp' | 'rtu';
  /** Serve RTU on a serial port instead of TCP. */
  serial?: SerialOptions;
}

/** A running Modbus simulator, with access to its server and units. */
export interface RunningModbusSimulator extends RunningSimulator {
  readonly server: ModbusServer;
  readonly units: ReadonlyMap<number, ModbusUnit>;
}

/**
 * The plant served when no config is given (unit 1):
 * HR0:FLOAT32 temperature (sine 60..80 degC, 60 s), HR2:FLOAT32 pressure (random walk 4..6 bar),
 * HR4:UINT16 counter (+1 per second), HR5:UINT16 ramp 0..1000 (30 s), HR6:UINT32 uptime seconds,
 * HR8:INT16 ambient temperature ×10, HR10:FLOAT32 setpoint (writable, 70.0), HR12..HR99 free
 * (writable, zero), IR0..IR9 analog inputs (IR0 temperature ×10, IR1 pressure ×100, IR2..IR9
 * ramps and sines), C0..C7 coils (C0 motor run = on), DI0..DI7 discrete inputs (DI0 heartbeat
 * toggling every second, DI1 high-temperature alarm above 78 degC, DI2 door closed).
 * @example await startModbusSimulator({ config: { ...DEFAULT_SIMULATOR_CONFIG, updateMs: 1000 } })
 */
export const DEFAULT_SIMULATOR_CONFIG: ModbusSimulatorConfig = {
  updateMs: 100,
  units: [
    {
      id: 1,
      map: ['HR0-HR99', 'IR0-IR9', 'C0-C7', 'DI0-DI7'],
      identification: {
        vendorName: 'Bifrost',
        productCode: 'BFR-SIM-MB',
        majorMinorRevision: '0.1.0',
        vendorUrl: 'urn:bifrost:modbus-simulator',
        productName: 'Bifrost Modbus Simulator',
        modelName: 'plant-1',
        userApplicationName: 'demo plant',
      },
      points: [
        { address: 'HR0:FLOAT32', signal: 'sine', min: 60, max: 80, periodS: 60 },
        { address: 'HR2:FLOAT32', signal: 'randomWalk', start: 5, step: 0.02, min: 4, max: 6 },
        { address: 'HR4:UINT16', signal: 'counter', step: 1, everyS: 1, max: 65535 },
        { address: 'HR5:UINT16', signal: 'ramp', min: 0, max: 1000, periodS: 30 },
        { address: 'HR6:UINT32', signal: 'counter', step: 1, everyS: 1 },
        { address: 'HR8:INT16', signal: 'sine', min: 150, max: 250, periodS: 600 },
        { address: 'HR10:FLOAT32', value: 70, writable: true },
        { address: 'IR0:INT16', signal: 'sine', min: 600, max: 800, periodS: 60 },
        { address: 'IR1:UINT16', signal: 'randomWalk', start: 500, step: 2, min: 400, max: 600 },
        { address: 'IR2', signal: 'ramp', min: 0, max: 100, periodS: 10 },
        { address: 'IR3', signal: 'ramp', min: 0, max: 1000, periodS: 60 },
        { address: 'IR4', signal: 'sine', min: 0, max: 4095, periodS: 20 },
        { address: 'IR5', signal: 'sine', min: 1000, max: 2000, periodS: 45, phaseS: 10 },
        { address: 'IR6', signal: 'counter', step: 1, everyS: 0.1, max: 65535 },
        { address: 'IR7', signal: 'randomWalk', start: 2048, step: 20, min: 0, max: 4095 },
        { address: 'IR8', signal: 'square', periodS: 10, low: 0, high: 1 },
        { address: 'IR9', value: 42 },
        { address: 'C0', value: true },
        { address: 'DI0', signal: 'square', periodS: 2 },
        { address: 'DI2', value: true },
      ],
    },
  ],
};

const TYPE_MAX: Partial<Record<string, number>> = { SINT: 127, USINT: 255, INT: 32767, UINT: 65535, DINT: 2147483647, UDINT: 4294967295 };

function configError(path: string, why: string): BifrostError {
  return new BifrostError('BIFROST_CONFIG_INVALID', `Modbus simulator config: ${path}: ${why}`);
}

function num(v: unknown, path: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw configError(path, `expected a number, got ${JSON.stringify(v)}`);
  return v;
}

interface Driven {
  unit: ModbusUnit;
  address: ModbusAddress;
  next: (tS: number, dtS: number) => unknown;
}

function makeSignal(p: PointConfig, path: string, rnd: () => number, a: ModbusAddress): Driven['next'] {
  const s = p as Record<string, unknown>;
  switch (p.signal) {
    case 'sine': {
      const min = num(s.min, `${path}.min`, 0);
      const max = num(s.max, `${path}.max`, 1);
      const period = num(s.periodS, `${path}.periodS`, 60);
      const phase = num(s.phaseS, `${path}.phaseS`, 0);
      return (t) => min + ((max - min) * (1 + Math.sin((2 * Math.PI * (t + phase)) / period))) / 2;
    }
    case 'ramp': {
      const min = num(s.min, `${path}.min`, 0);
      const max = num(s.max, `${path}.max`, 100);
      const period = num(s.periodS, `${path}.periodS`, 60);
      return (t) => min + (max - min) * ((t % period) / period);
    }
    case 'randomWalk': {
      const min = num(s.min, `${path}.min`, Number.NEGATIVE_INFINITY);
      const max = num(s.max, `${path}.max`, Number.POSITIVE_INFINITY);
      const step = num(s.step, `${path}.step`, 1);
      let v = num(s.start, `${path}.start`, Number.isFinite(min) && Number.isFinite(max) ? (min + max) / 2 : 0);
      return () => {
        v = Math.min(max, Math.max(min, v + (rnd() * 2 - 1) * step));
        return v;
      };
    }
    case 'counter': {
      const start = num(s.start, `${path}.start`, 0);
      const step = num(s.step, `${path}.step`, 1);
      const every = num(s.everyS, `${path}.everyS`, 1);
      // A counter wraps at the largest value its type holds unless told otherwise.
      const max = num(s.max, `${path}.max`, TYPE_MAX[a.type] ?? 4294967295);
      return (t) => (start + Math.floor(t / every) * step) % (max + 1);
    }
    case 'square': {
      const period = num(s.periodS, `${path}.periodS`, 2);
      const low = s.low ?? false;
      const high = s.high ?? true;
      return (t) => (t % period < period / 2 ? high : low);
    }
    default:
      throw configError(`${path}.signal`, `unknown signal "${String(p.signal)}"; expected sine, ramp, randomWalk, counter or square`);
  }
}

function mapRange(unit: ModbusUnit, text: string, path: string): void {
  const m = /^\s*([A-Za-z]+\d+)\s*(?:-\s*([A-Za-z]*)(\d+))?\s*$/.exec(text);
  if (!m) throw configError(path, `"${text}" is not a range such as HR0-HR99`);
  let from: ModbusAddress;
  try {
    from = parseModbusAddress(m[1] as string);
  } catch (e) {
    throw configError(path, (e as Error).message);
  }
  const to = m[3] === undefined ? from.address : Number(m[3]);
  if (m[2] && m[2].toUpperCase() !== AREA_PREFIX[from.area] && !(m[2].toUpperCase() === 'CO' && from.area === 'coils')) throw configError(path, `"${text}" mixes two tables`);
  if (to < from.address || to > 0xffff) throw configError(path, `"${text}" is an empty or out-of-range range`);
  unit.map(from.area, from.address, to - from.address + 1);
}

/**
 * Builds the units of a config, and the generated points that drive them.
 * @example const { units } = buildUnits(DEFAULT_SIMULATOR_CONFIG)
 */
export function buildUnits(config: ModbusSimulatorConfig, seed = 1): { units: Map<number, ModbusUnit>; driven: Driven[]; updateMs: number } {
  if (!config || typeof config !== 'object' || !Array.isArray(config.units) || config.units.length === 0) throw configError('units', 'expected a list of at least one unit');
  const rnd = seededRandom(seed);
  const units = new Map<number, ModbusUnit>();
  const driven: Driven[] = [];
  config.units.forEach((u, i) => {
    const path = `units[${i}]`;
    if (!u || typeof u !== 'object') throw configError(path, 'expected an object');
    const id = num(u.id, `${path}.id`, Number.NaN);
    if (!Number.isInteger(id) || id < 1 || id > 247) throw configError(`${path}.id`, `unit id ${u.id} must be an integer from 1 to 247`);
    if (units.has(id)) throw configError(`${path}.id`, `unit ${id} is defined twice`);
    const unit = new ModbusUnit(id);
    units.set(id, unit);
    (u.map ?? []).forEach((r, j) => {
      mapRange(unit, String(r), `${path}.map[${j}]`);
    });
    if (u.identification) unit.setIdentification(u.identification);
    (u.points ?? []).forEach((p, j) => {
      const pp = `${path}.points[${j}]`;
      if (!p || typeof p.address !== 'string') throw configError(`${pp}.address`, 'expected an address such as HR0:FLOAT32');
      let a: ModbusAddress;
      try {
        a = parseModbusAddress(p.address);
      } catch (e) {
        throw configError(`${pp}.address`, (e as Error).message);
      }
      if (a.arrayLength !== undefined && p.signal !== undefined) throw configError(pp, 'a signal drives a scalar, not an array');
      const write = (v: unknown) => writePoint(unit, a, v, pp);
      if (p.signal !== undefined) {
        const next = makeSignal(p, pp, rnd, a);
        write(next(0, 0));
        driven.push({ unit, address: a, next });
        if (p.writable !== true) setReadOnly(unit, a);
      } else {
        const v = p.value ?? (a.type === 'BOOL' ? false : a.type === 'STRING' ? '' : 0);
        if (a.arrayLength !== undefined) {
          if (!Array.isArray(v) || v.length !== a.arrayLength) throw configError(`${pp}.value`, `expected an array of ${a.arrayLength} values`);
          v.forEach((x, k) => {
            writePoint(unit, { ...a, address: a.address + k * a.elementSpan }, x, pp);
          });
        } else write(v);
        if (p.writable === false) setReadOnly(unit, a);
      }
    });
  });
  const updateMs = num(config.updateMs, 'updateMs', 100);
  if (updateMs < 10) throw configError('updateMs', 'must be at least 10 ms');
  return { units, driven, updateMs };
}

function setReadOnly(unit: ModbusUnit, a: ModbusAddress): void {
  if (a.area === 'holdingRegisters' || a.area === 'coils') unit.setReadOnly(a.area, a.address, a.span);
}

function writePoint(unit: ModbusUnit, a: ModbusAddress, v: unknown, path: string): void {
  try {
    if (!isRegisterArea(a.area)) {
      unit.setValue(a.area, a.address, 'BOOL', v);
      return;
    }
    if (a.bit !== undefined) {
      const table = unit[a.area as 'holdingRegisters' | 'inputRegisters'];
      const cur = table.readUInt16BE(a.address * 2);
      table.writeUInt16BE(v ? cur | (1 << a.bit) : cur & ~(1 << a.bit), a.address * 2);
      unit.map(a.area, a.address, 1);
      return;
    }
    let value = v;
    // Generated signals are real-valued; integer registers take them rounded.
    if (typeof value === 'number' && a.type !== 'REAL' && a.type !== 'LREAL') value = Math.round(value);
    if (typeof value === 'number' && (a.type === 'LINT' || a.type === 'ULINT')) value = BigInt(value);
    if (typeof value === 'boolean' && a.type !== 'BOOL') value = value ? 1 : 0;
    const opts: { order: typeof a.order; length?: number } = { order: a.order };
    if (a.length !== undefined) opts.length = a.length;
    unit.setValue(a.area, a.address, a.type, value, opts);
  } catch (e) {
    throw configError(path, `${a.text}: ${(e as Error).message}`);
  }
}

/**
 * Reads a YAML simulator config file, naming the file and line on error.
 * @example const cfg = await loadSimulatorConfig('./plant.yaml')
 */
export async function loadSimulatorConfig(file: string): Promise<ModbusSimulatorConfig> {
  let text: string;
  try {
    // loaded here: an ES import of node:fs/promises costs every process that imports @bifrost/modbus (issue 25 §5)
    const { readFile } = await import('node:fs/promises');
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `cannot read Modbus simulator config ${file}`, { cause });
  }
  try {
    // yaml loads only here: a process that reads a PLC never pays for it (issue 25 §5)
    const { parse: parseYaml } = await import('yaml');
    return parseYaml(text) as ModbusSimulatorConfig;
  } catch (cause) {
    throw new BifrostError('BIFROST_CONFIG_YAML', `${file}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Starts a Modbus simulator: TCP by default, RTU over TCP with `framing: 'rtu'`, or RTU on a
 * serial port with `serial`.
 * @example
 * await using sim = await startModbusSimulator({ port: 0 });
 * console.log(sim.url); // modbus://127.0.0.1:40231?unit=1
 */
export async function startModbusSimulator(options: ModbusSimulatorOptions = {}): Promise<RunningModbusSimulator> {
  const config =
    options.config === undefined ? DEFAULT_SIMULATOR_CONFIG : typeof options.config === 'string' ? await loadSimulatorConfig(options.config) : (options.config as unknown as ModbusSimulatorConfig);
  const { units, driven, updateMs } = buildUnits(config, options.seed ?? 1);
  const host = options.host ?? '127.0.0.1';
  const serverOptions: ConstructorParameters<typeof ModbusServer>[0] = { units, host, port: options.port ?? 0, framing: options.framing ?? 'tcp' };
  if (options.serial) serverOptions.serial = options.serial;
  if (options.maxConnections !== undefined) serverOptions.maxConnections = options.maxConnections;
  if (options.idleTimeoutMs !== undefined) serverOptions.idleTimeoutMs = options.idleTimeoutMs;
  const server = new ModbusServer(serverOptions);
  await server.listen();
  const t0 = performance.now();
  let last = t0;
  const tick = () => {
    const now = performance.now();
    const t = (now - t0) / 1000;
    const dt = (now - last) / 1000;
    last = now;
    for (const d of driven) {
      try {
        writePoint(d.unit, d.address, d.next(t, dt), d.address.text);
      } catch {
        // A generated value outside its type (a ramp past INT16, say) skips this tick; the simulator keeps running.
      }
    }
  };
  const timer = driven.length > 0 ? setInterval(tick, updateMs) : undefined;
  timer?.unref();
  const firstUnit = units.keys().next().value as number;
  const url = options.serial
    ? `modbus+rtu://${encodeURI(options.serial.path).replace(/^\/?/, '/')}?baud=${options.serial.baudRate ?? 19200}&parity=${options.serial.parity ?? 'even'}&unit=${firstUnit}`
    : `${server.framing === 'rtu' ? 'modbus+rtuovertcp' : 'modbus'}://${host.includes(':') ? `[${host}]` : host}:${server.port}?unit=${firstUnit}`;
  let closing: Promise<void> | undefined;
  const sim: RunningModbusSimulator = {
    url,
    host,
    port: server.port,
    server,
    units,
    describe() {
      const where = options.serial ? `RTU on ${options.serial.path}` : `${server.framing === 'rtu' ? 'RTU over TCP' : 'Modbus TCP'} on ${host}:${server.port}`;
      const parts = [...units.values()].map((u) => {
        const areas = (['holdingRegisters', 'inputRegisters', 'coils', 'discreteInputs'] as const)
          .map((a) => {
            const r = u.mappedRanges(a);
            return r.length === 0 ? '' : r.map(([s, n]) => `${AREA_PREFIX[a]}${s}${n > 1 ? `-${AREA_PREFIX[a]}${s + n - 1}` : ''}`).join(' ');
          })
          .filter(Boolean)
          .join(', ');
        return `unit ${u.unitId}: ${areas}`;
      });
      return `Modbus simulator, ${where}; ${parts.join('; ')}; ${driven.length} generated signals`;
    },
    close() {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        await server.close();
      })();
      return closing;
    },
    async [Symbol.asyncDispose]() {
      await sim.close();
    },
  };
  return sim;
}

/**
 * Starts the Modbus simulator (the `bifrost simulate modbus` entry point).
 * @example const sim = await startSimulator({ port: DEFAULT_PORT })
 */
export const startSimulator: StartSimulator = (options) => startModbusSimulator(options);
