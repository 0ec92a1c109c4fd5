/**
 * @module
 * The model behind `bifrost monitor` and its dashboard: polls every device at a fixed interval,
 * keeps each tag's last value, limit state and a short history for sparklines, each device's
 * health, and a list of alarm transitions. The views only render its snapshots.
 */
import { EventEmitter } from 'node:events';
import type { HealthState, TagValue } from '@bifrost/core';
import type { DeviceSet, TargetTag } from '../targets.js';
import { type LimitState, limitState } from '../ui/format.js';

/** One tag's row. */
export interface TagRow {
  name: string;
  device: string;
  address: string;
  unit?: string;
  min?: number;
  max?: number;
  last?: TagValue;
  state: LimitState;
  /** Recent numeric values, oldest first. */
  history: number[];
  /** When the value last changed (ms since epoch). */
  changedAt?: number;
}

/** One device's health. */
export interface DeviceRow {
  name: string;
  url: string;
  health: HealthState;
  polls: number;
  badValues: number;
  lastError?: string;
}

/** An alarm transition: a tag entered or left alarm/bad, or a pipeline raised or cleared an alarm. */
export interface AlarmEntry {
  at: number;
  tag: string;
  state: LimitState;
  text: string;
}

/** What the views render. */
export interface MonitorSnapshot {
  rows: readonly TagRow[];
  devices: readonly DeviceRow[];
  alarms: readonly AlarmEntry[];
  paused: boolean;
  polls: number;
  intervalMs: number;
}

/** Events of the poller. */
export interface PollerEvents {
  /** After every poll, with the values that changed. */
  update: [changed: TagRow[]];
}

const HISTORY = 60;
const ALARMS = 50;

/**
 * Polls a DeviceSet and keeps the monitor model.
 * @example const p = new Poller(set, 500); p.on('update', render); p.start(signal)
 */
export class Poller extends EventEmitter<PollerEvents> {
  readonly #set: DeviceSet;
  readonly #rows: TagRow[] = [];
  readonly #devices: DeviceRow[] = [];
  readonly #alarms: AlarmEntry[] = [];
  /** Pipeline alarm id → the state last shown, so each transition is listed once. */
  readonly #pipelineStates = new Map<string, 'active' | 'cleared'>();
  readonly intervalMs: number;
  #paused = false;
  #polls = 0;

  constructor(set: DeviceSet, intervalMs: number) {
    super();
    this.#set = set;
    this.intervalMs = intervalMs;
    for (const { target, device } of set.entries) {
      this.#devices.push({ name: target.name, url: device.name, health: device.health, polls: 0, badValues: 0 });
      for (const t of target.tags) this.#rows.push(row(t, target.name));
    }
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Pausing stops polling (the views keep the last values); resuming polls again. */
  setPaused(paused: boolean): void {
    this.#paused = paused;
  }

  snapshot(): MonitorSnapshot {
    return { rows: this.#rows, devices: this.#devices, alarms: this.#alarms, paused: this.#paused, polls: this.#polls, intervalMs: this.intervalMs };
  }

  /** Polls once. A poll that completes after `setPaused(true)` is dropped, so a paused view stays still. */
  async pollOnce(signal?: AbortSignal): Promise<TagRow[]> {
    const results = await this.#set.readAll(signal);
    if (this.#paused) return [];
    this.#polls++;
    const changed: TagRow[] = [];
    let i = 0;
    for (const { value } of results) {
      const r = this.#rows[i++] as TagRow;
      const prev = r.last;
      const moved = prev === undefined || prev.quality !== value.quality || String(prev.value) !== String(value.value);
      r.last = value;
      if (moved) {
        r.changedAt = value.timestamp;
        changed.push(r);
      }
      const num = typeof value.value === 'number' ? value.value : typeof value.value === 'boolean' ? Number(value.value) : typeof value.value === 'bigint' ? Number(value.value) : undefined;
      if (num !== undefined && value.quality !== 'bad') {
        r.history.push(num);
        if (r.history.length > HISTORY) r.history.shift();
      }
      const state = limitState(value, r);
      if ((state === 'alarm' || state === 'bad') !== (r.state === 'alarm' || r.state === 'bad') || (prev === undefined && (state === 'alarm' || state === 'bad'))) {
        const text =
          state === 'bad'
            ? `${r.name} bad: ${value.error?.code ?? 'no value'}`
            : state === 'alarm'
              ? `${r.name} = ${String(value.value)} outside ${r.min ?? '−∞'}…${r.max ?? '∞'}`
              : `${r.name} back to ${state}`;
        this.#push({ at: value.timestamp, tag: r.name, state, text });
      }
      r.state = state;
    }
    this.#pipelineTransitions();
    for (const [j, { device, target }] of this.#set.entries.entries()) {
      const d = this.#devices[j] as DeviceRow;
      d.health = device.health;
      d.polls++;
      const mine = results.filter((x) => x.target === target);
      const bad = mine.filter((x) => x.value.quality === 'bad');
      d.badValues += bad.length;
      if (bad.length > 0) d.lastError = `${bad[0]?.value.error?.code ?? 'bad'}: ${bad[0]?.value.error?.message ?? ''}`;
      else if (device.health === 'connected') delete d.lastError;
    }
    this.emit('update', changed);
    return changed;
  }

  /** Lists pipeline alarms raised or cleared since the last poll, beside the tag-limit alarms. */
  #pipelineTransitions(): void {
    const seen = new Set<string>();
    for (const a of this.#set.pipelineAlarms()) {
      seen.add(a.id);
      const shown = this.#pipelineStates.get(a.id);
      if (shown === a.state) continue;
      this.#pipelineStates.set(a.id, a.state);
      // One raised between two polls and already cleared is listed as raised, then cleared.
      const value = a.value === undefined ? '' : ` (${a.value})`;
      if (shown === undefined || a.state === 'active') this.#push({ at: a.raisedAt, tag: a.source, state: 'alarm', text: `${a.pipeline}: ${a.message}${value}` });
      if (a.state === 'cleared') this.#push({ at: a.clearedAt ?? Date.now(), tag: a.source, state: 'normal', text: `${a.pipeline}: ${a.message} cleared` });
    }
    // Acknowledged cleared alarms leave the gateway's list; forget them too.
    for (const id of this.#pipelineStates.keys()) if (!seen.has(id)) this.#pipelineStates.delete(id);
  }

  #push(entry: AlarmEntry): void {
    this.#alarms.unshift(entry);
    if (this.#alarms.length > ALARMS) this.#alarms.pop();
  }

  /**
   * Polls at a fixed rate until the signal aborts or `count` polls are done. A poll that takes
   * longer than the interval delays the next one rather than piling up.
   */
  async run(signal: AbortSignal, count = Number.POSITIVE_INFINITY): Promise<void> {
    const { sleep } = await import('@bifrost/core');
    let next = Date.now();
    let done = 0;
    while (!signal.aborted && done < count) {
      if (!this.#paused) {
        await this.pollOnce(signal).catch(() => {});
        done++;
      }
      next += this.intervalMs;
      const wait = next - Date.now();
      if (wait < 0) next = Date.now();
      if (done >= count) break;
      await sleep(Math.max(0, wait), signal).catch(() => {});
    }
  }
}

function row(t: TargetTag, device: string): TagRow {
  const r: TagRow = { name: t.name, device, address: t.address, state: 'normal', history: [] };
  if (t.unit !== undefined) r.unit = t.unit;
  if (t.min !== undefined) r.min = t.min;
  if (t.max !== undefined) r.max = t.max;
  return r;
}
