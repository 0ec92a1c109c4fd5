/**
 * @module
 * The simulator's configuration: a YAML file or object describing the controller identity, the
 * slot it sits in, the UDTs, controller and program tags, and the signals that move them. With no
 * configuration the simulator serves the default plant below.
 */
import { readFileSync } from 'node:fs';
import { BifrostError } from '@bifrost/core';
import { parse as parseYaml } from 'yaml';
import type { UdtMemberSpec } from './tag-db.js';

/** A tag declaration. */
export interface TagSpec {
  name: string;
  type: string;
  dims?: number[];
  value?: unknown;
}

/** A signal that changes a tag over time. `tag` may name an element or a member (`Motor1.Speed`). */
export interface SignalSpec {
  tag: string;
  /** counter: +1 every periodMs; sine: offset + amplitude·sin(2πt/periodS + phase); toggle: flips every periodS / 2; ramp: 0..amplitude over periodS. */
  kind: 'counter' | 'sine' | 'toggle' | 'ramp';
  periodMs?: number;
  periodS?: number;
  amplitude?: number;
  offset?: number;
  phase?: number;
}

/** The simulator configuration. */
export interface EipSimConfig {
  identity?: {
    vendorId?: number;
    deviceType?: number;
    productCode?: number;
    revision?: string;
    serialNumber?: number;
    productName?: string;
    /** The controller (project) name the Program Name object answers (default `Bifrost`). */
    controllerName?: string;
  };
  /** Backplane slot of the controller (default 0): `path=1,<slot>` reaches it. */
  slot?: number;
  /** Accept Large Forward Open (default true); false behaves like an older controller (504-byte connections). */
  largeForwardOpen?: boolean;
  udts?: Record<string, UdtMemberSpec[]>;
  tags?: TagSpec[];
  programs?: Record<string, TagSpec[]>;
  signals?: SignalSpec[];
}

/**
 * The default plant: a small Logix line with changing signals, documented in the README.
 * @example startSimulator({ config: { ...DEFAULT_CONFIG, slot: 3 } })
 */
export const DEFAULT_CONFIG: EipSimConfig = {
  identity: { vendorId: 1, deviceType: 14, productCode: 166, revision: '32.11', serialNumber: 0x00c0ffee, productName: '1756-L83E/B' },
  slot: 0,
  largeForwardOpen: true,
  udts: {
    Motor: [
      { name: 'Speed', type: 'REAL' },
      { name: 'Running', type: 'BOOL' },
      { name: 'Faults', type: 'DINT' },
    ],
  },
  tags: [
    { name: 'Counter', type: 'DINT', value: 0 },
    { name: 'Temperature', type: 'REAL', value: 20 },
    { name: 'Temperatures', type: 'REAL', dims: [10] },
    { name: 'Message', type: 'STRING', value: 'Hello from Bifrost' },
    { name: 'Running', type: 'BOOL', value: true },
    { name: 'Setpoint', type: 'REAL', value: 50 },
    { name: 'Motor1', type: 'Motor', value: { Speed: 1450, Running: true, Faults: 0 } },
    { name: 'TestBOOL', type: 'BOOL', value: false },
    { name: 'TestSINT', type: 'SINT', value: -8 },
    { name: 'TestINT', type: 'INT', value: -1600 },
    { name: 'TestDINT', type: 'DINT', value: 123456 },
    { name: 'TestLINT', type: 'LINT', value: 9007199254740993n },
    { name: 'TestUSINT', type: 'USINT', value: 200 },
    { name: 'TestUINT', type: 'UINT', value: 60000 },
    { name: 'TestUDINT', type: 'UDINT', value: 4000000000 },
    { name: 'TestULINT', type: 'ULINT', value: 18000000000000000000n },
    { name: 'TestREAL', type: 'REAL', value: 3.5 },
    { name: 'TestLREAL', type: 'LREAL', value: 2.5 },
    { name: 'TestSTRING', type: 'STRING', value: 'abc' },
    { name: 'Data', type: 'DINT', dims: [1000] },
  ],
  programs: {
    Main: [
      { name: 'X', type: 'DINT', value: 0 },
      { name: 'Step', type: 'INT', value: 1 },
    ],
  },
  signals: [
    { tag: 'Counter', kind: 'counter', periodMs: 100 },
    { tag: 'Temperature', kind: 'sine', amplitude: 5, offset: 20, periodS: 60 },
    { tag: 'Temperatures', kind: 'sine', amplitude: 10, offset: 60, periodS: 30 },
    { tag: 'Running', kind: 'toggle', periodS: 10 },
    { tag: 'Motor1.Speed', kind: 'sine', amplitude: 50, offset: 1450, periodS: 20 },
    { tag: 'Program:Main.X', kind: 'counter', periodMs: 1000 },
  ],
};

/**
 * Loads a configuration from a YAML file path or an object; none gives the default plant.
 * Throws BIFROST_CONFIG_NOT_FOUND / BIFROST_CONFIG_YAML / BIFROST_CONFIG_INVALID.
 * @example loadSimConfig('./plant.yaml')
 */
export function loadSimConfig(config?: string | Record<string, unknown>): EipSimConfig {
  if (config === undefined) return DEFAULT_CONFIG;
  let obj: unknown = config;
  if (typeof config === 'string') {
    let text: string;
    try {
      text = readFileSync(config, 'utf8');
    } catch (cause) {
      throw new BifrostError('BIFROST_CONFIG_NOT_FOUND', `cannot read EtherNet/IP simulator config ${config}`, { cause });
    }
    try {
      obj = parseYaml(text, { intAsBigInt: false });
    } catch (cause) {
      throw new BifrostError('BIFROST_CONFIG_YAML', `${config}: ${(cause as Error).message}`, { cause });
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new BifrostError('BIFROST_CONFIG_INVALID', 'the EtherNet/IP simulator config must be a mapping with tags, udts, programs, signals');
  const c = obj as EipSimConfig;
  if (c.tags !== undefined && !Array.isArray(c.tags)) throw new BifrostError('BIFROST_CONFIG_INVALID', 'tags must be a list of { name, type, dims?, value? }');
  for (const t of c.tags ?? []) {
    if (typeof t?.name !== 'string' || typeof t?.type !== 'string') throw new BifrostError('BIFROST_CONFIG_INVALID', `every tag needs a name and a type; got ${JSON.stringify(t)}`);
  }
  const cn = c.identity?.controllerName;
  if (cn !== undefined && (typeof cn !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(cn)))
    throw new BifrostError('BIFROST_CONFIG_INVALID', `identity.controllerName must be a Logix name (a letter or _, then up to 39 letters, digits or _); got ${JSON.stringify(cn)}`);
  for (const s of c.signals ?? []) {
    if (typeof s?.tag !== 'string' || !['counter', 'sine', 'toggle', 'ramp'].includes(s?.kind))
      throw new BifrostError('BIFROST_CONFIG_INVALID', `every signal needs a tag and a kind (counter, sine, toggle, ramp); got ${JSON.stringify(s)}`);
  }
  return c;
}
