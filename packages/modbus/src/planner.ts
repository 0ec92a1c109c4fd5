/**
 * @module
 * The read planner: many tag addresses in, the fewest read requests out. Tags of one table are
 * sorted and merged into ranges while the merged range stays within the per-request limit
 * (125 registers / 2000 bits, MB App Protocol §6.1–§6.4, or the device's own lower limits) and
 * the hole between two tags is at most `maxGap`. A tag larger than one request is read in
 * consecutive chunks. Pure: no I/O.
 */
import { BifrostError } from '@bifrost/core';
import { isRegisterArea, type ModbusAddress, type ModbusArea } from './address.js';
import { Limits } from './constants.js';

/** Limits of the planner; per device, since many devices accept less than the protocol allows. */
export interface PlannerOptions {
  /** Most registers per read request (1..125, default 125). */
  maxRegisters?: number;
  /** Most bits per read request (1..2000, default 2000). */
  maxBits?: number;
  /** Largest hole of unrequested registers bridged to merge two tags (default 10). */
  maxGapRegisters?: number;
  /** Largest hole of unrequested bits bridged to merge two tags (default 64). */
  maxGapBits?: number;
}

/** One tag inside a planned range. */
export interface PlannedItem {
  /** Index of the tag in the caller's list. */
  index: number;
  address: ModbusAddress;
}

/** One contiguous range of one table, read with one request or, for an oversized tag, several. */
export interface PlannedRange {
  area: ModbusArea;
  start: number;
  /** Registers or bits. */
  quantity: number;
  items: PlannedItem[];
}

/** Resolved planner limits. */
export interface PlannerLimits {
  maxRegisters: number;
  maxBits: number;
  maxGapRegisters: number;
  maxGapBits: number;
}

/**
 * Checks planner options and fills in the defaults.
 * @example resolvePlannerLimits({ maxRegisters: 64 })
 */
export function resolvePlannerLimits(options: PlannerOptions = {}): PlannerLimits {
  const l = {
    maxRegisters: options.maxRegisters ?? Limits.maxReadRegisters,
    maxBits: options.maxBits ?? Limits.maxReadBits,
    maxGapRegisters: options.maxGapRegisters ?? 10,
    maxGapBits: options.maxGapBits ?? 64,
  };
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `read planner option ${name}=${v} must be an integer from ${min} to ${max}`);
  };
  check('maxRegisters', l.maxRegisters, 1, Limits.maxReadRegisters);
  check('maxBits', l.maxBits, 1, Limits.maxReadBits);
  check('maxGapRegisters', l.maxGapRegisters, 0, Limits.maxReadRegisters);
  check('maxGapBits', l.maxGapBits, 0, Limits.maxReadBits);
  return l;
}

const AREA_ORDER: Record<ModbusArea, number> = { holdingRegisters: 0, inputRegisters: 1, coils: 2, discreteInputs: 3 };

/**
 * Plans the reads for a list of parsed addresses.
 * @example planReads([parseModbusAddress('HR0'), parseModbusAddress('HR1:FLOAT32')]) // one range: HR0, 3 registers
 */
export function planReads(addresses: readonly (ModbusAddress | undefined)[], options: PlannerOptions | PlannerLimits = {}): PlannedRange[] {
  const limits = 'maxGapBits' in options && 'maxRegisters' in options && 'maxBits' in options && 'maxGapRegisters' in options ? (options as PlannerLimits) : resolvePlannerLimits(options);
  const items: PlannedItem[] = [];
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i];
    if (a) items.push({ index: i, address: a });
  }
  items.sort((x, y) => AREA_ORDER[x.address.area] - AREA_ORDER[y.address.area] || x.address.address - y.address.address || y.address.span - x.address.span);
  const ranges: PlannedRange[] = [];
  let cur: PlannedRange | undefined;
  for (const item of items) {
    const a = item.address;
    const registers = isRegisterArea(a.area);
    const max = registers ? limits.maxRegisters : limits.maxBits;
    const gap = registers ? limits.maxGapRegisters : limits.maxGapBits;
    const end = a.address + a.span;
    if (cur && cur.area === a.area) {
      const curEnd = cur.start + cur.quantity;
      const newEnd = Math.max(curEnd, end);
      if (a.address - curEnd <= gap && newEnd - cur.start <= max) {
        cur.quantity = newEnd - cur.start;
        cur.items.push(item);
        continue;
      }
    }
    cur = { area: a.area, start: a.address, quantity: a.span, items: [item] };
    ranges.push(cur);
  }
  return ranges;
}
