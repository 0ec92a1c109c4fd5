/**
 * @module
 * `AlarmManager`: the alarm states of one or more pipelines, after the ISA-18.2 alarm life cycle
 * (ANSI/ISA-18.2-2016 §11.5): an alarm is raised (active, unacknowledged), cleared when its
 * condition returns to normal, and acknowledged by a user; it leaves the list of active alarms
 * once it is both cleared and acknowledged. A raise while cleared-but-unacknowledged re-activates
 * it. Every transition is an `AlarmEvent` to the manager's listeners.
 */
import { BifrostError, channel } from '@bifrost/core';
import type { AlarmEvent, AlarmState } from './events.js';

/** `bifrost:analytics:alarm` carries every AlarmEvent (raise, clear, ack) of every manager. */
export const alarmChannel = channel('analytics', 'alarm');

/** What an alarm step tells the manager when it raises an alarm. */
export interface AlarmRaise {
  series: string;
  name: string;
  condition: 'high' | 'low';
  limit: number;
  severity: number;
  message: string;
}

/**
 * The alarm states and their raise/clear/ack events.
 * @example
 * const alarms = new AlarmManager();
 * alarms.on((e) => console.log(e.type, e.id));
 * for (const a of alarms.active()) alarms.acknowledge(a.id, 'operator1');
 */
export class AlarmManager {
  readonly #alarms = new Map<string, AlarmState>();
  readonly #listeners = new Set<(e: AlarmEvent) => void>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Subscribes to every transition; returns the unsubscribe function. */
  on(listener: (e: AlarmEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Alarms that are active or not yet acknowledged, oldest raise first. */
  active(): AlarmState[] {
    return [...this.#alarms.values()].filter((a) => a.active || !a.acknowledged).sort((a, b) => a.raisedAt - b.raisedAt);
  }

  /** Every alarm the manager has seen. */
  all(): AlarmState[] {
    return [...this.#alarms.values()].map((a) => ({ ...a }));
  }

  /** True while alarm `id` is raised and not cleared (no copy: for the alarm step's hot path). */
  isActive(id: string): boolean {
    return this.#alarms.get(id)?.active === true;
  }

  /** One alarm by id. */
  get(id: string): AlarmState | undefined {
    const a = this.#alarms.get(id);
    return a === undefined ? undefined : { ...a };
  }

  /** Raises `id` at `timestamp`; returns the raise event, or undefined when it is already active. */
  raise(id: string, info: AlarmRaise, value: number, timestamp: number): AlarmEvent | undefined {
    const prev = this.#alarms.get(id);
    if (prev?.active) return undefined;
    const a: AlarmState = { id, ...info, active: true, acknowledged: false, raisedAt: timestamp, value };
    this.#alarms.set(id, a);
    return this.#emit({ kind: 'alarm', type: 'raise', id, series: info.series, timestamp, value, alarm: { ...a } });
  }

  /** Clears `id`; returns the clear event, or undefined when it is not active. */
  clear(id: string, value: number, timestamp: number): AlarmEvent | undefined {
    const a = this.#alarms.get(id);
    if (a === undefined || !a.active) return undefined;
    a.active = false;
    a.clearedAt = timestamp;
    a.value = value;
    if (a.acknowledged) this.#alarms.delete(id);
    return this.#emit({ kind: 'alarm', type: 'clear', id, series: a.series, timestamp, value, alarm: { ...a } });
  }

  /**
   * Acknowledges `id` on behalf of `user`. Throws BIFROST_ANALYTICS_UNKNOWN_ALARM for an unknown
   * id; returns undefined when it was already acknowledged.
   * @example alarms.acknowledge('temp-stats/press1.temperature/alarm:high', 'operator1')
   */
  acknowledge(id: string, user: string, timestamp: number = this.#now()): AlarmEvent | undefined {
    const a = this.#alarms.get(id);
    if (a === undefined) throw new BifrostError('BIFROST_ANALYTICS_UNKNOWN_ALARM', `no alarm with id "${id}" (it may have been cleared and acknowledged already)`, { details: { id } });
    if (a.acknowledged) return undefined;
    a.acknowledged = true;
    a.acknowledgedAt = timestamp;
    a.acknowledgedBy = user;
    if (!a.active) this.#alarms.delete(id);
    return this.#emit({ kind: 'alarm', type: 'ack', id, series: a.series, timestamp, user, alarm: { ...a } });
  }

  #emit(e: AlarmEvent): AlarmEvent {
    if (alarmChannel.hasSubscribers) alarmChannel.publish(e);
    for (const l of this.#listeners) l(e);
    return e;
  }
}
