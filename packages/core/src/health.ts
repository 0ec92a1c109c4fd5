/**
 * @module
 * The device health state machine. A device is `connecting` until its first connection, then
 * `connected`; `degraded` while it answers but some operations fail; `disconnected` when the
 * connection is lost or cannot be made (it goes back to `connecting` on the next attempt).
 */
import { EventEmitter } from 'node:events';
import type { BifrostError } from './errors/index.js';

/** The four health states of a device. */
export type HealthState = 'connecting' | 'connected' | 'degraded' | 'disconnected';

/** The payload of a `health` event. */
export interface HealthEvent {
  state: HealthState;
  previous: HealthState;
  at: number;
  error?: BifrostError;
}

const ALLOWED: Record<HealthState, readonly HealthState[]> = {
  connecting: ['connected', 'disconnected'],
  connected: ['degraded', 'disconnected', 'connecting'],
  degraded: ['connected', 'disconnected', 'connecting'],
  disconnected: ['connecting', 'connected'],
};

/**
 * Tracks one device's health and emits `health` events on every change of state.
 * @example const h = new HealthMonitor(); h.on('health', (e) => log(e.state)); h.set('connected');
 */
export class HealthMonitor extends EventEmitter<{ health: [HealthEvent] }> {
  #state: HealthState = 'connecting';
  #since = Date.now();
  #lastError: BifrostError | undefined;

  get state(): HealthState {
    return this.#state;
  }

  /** When the current state began (ms since epoch). */
  get since(): number {
    return this.#since;
  }

  /** The error of the last failing transition. */
  get lastError(): BifrostError | undefined {
    return this.#lastError;
  }

  /** Moves to `state`; a move the machine does not allow, or to the same state, is ignored. Returns whether it moved. */
  set(state: HealthState, error?: BifrostError): boolean {
    if (error) this.#lastError = error;
    if (state === this.#state || !ALLOWED[this.#state].includes(state)) return false;
    const previous = this.#state;
    this.#state = state;
    this.#since = Date.now();
    const ev: HealthEvent = { state, previous, at: this.#since };
    if (error) ev.error = error;
    this.emit('health', ev);
    return true;
  }
}
