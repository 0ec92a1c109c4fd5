/**
 * @module
 * The scan scheduler: fixed-rate poll groups. A scan that is still running when its next period
 * comes is an overrun: it is counted and that period is skipped, never piled up. Scans of one
 * device never overlap, even across groups (they queue behind each other per device).
 */
import { EventEmitter } from 'node:events';
import { BifrostError } from './errors/index.js';

/** Statistics of one scan group. */
export interface ScanStats {
  scans: number;
  overruns: number;
  errors: number;
  lastDurationMs: number;
  maxDurationMs: number;
  lastStartedAt: number;
}

/** A poll group: run `scan` every `periodMs` for `device`. */
export interface ScanGroupOptions {
  /** Unique name, e.g. `press1@100ms`. */
  name: string;
  /** Key of the device: scans with the same key never overlap. */
  device: string;
  periodMs: number;
  scan: (signal: AbortSignal) => Promise<void>;
  /** Delay before the first scan (default 0). */
  phaseMs?: number;
}

/** Events of the scheduler. */
export interface ScanEvents {
  overrun: [{ group: string; device: string }];
  /** A scan threw. (Not named `error`: an EventEmitter throws an unheard `error` event.) */
  scanError: [{ group: string; device: string; error: unknown }];
}

interface Group extends ScanGroupOptions {
  stats: ScanStats;
  timer?: NodeJS.Timeout;
  running: boolean;
  nextAt: number;
}

/**
 * Runs poll groups at a fixed rate.
 * @example
 * const s = new ScanScheduler();
 * s.add({ name: 'fast', device: 'press1', periodMs: 100, scan: async () => poll() });
 * s.start(); … await s.stop();
 */
export class ScanScheduler extends EventEmitter<ScanEvents> {
  readonly #groups = new Map<string, Group>();
  readonly #deviceChains = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();
  #started = false;
  readonly #inflight = new Set<Promise<void>>();

  add(options: ScanGroupOptions): void {
    if (!(options.periodMs > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `scan group ${options.name}: periodMs must be > 0`);
    if (this.#groups.has(options.name)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `scan group ${options.name} exists already`);
    const g: Group = { ...options, running: false, nextAt: 0, stats: { scans: 0, overruns: 0, errors: 0, lastDurationMs: 0, maxDurationMs: 0, lastStartedAt: 0 } };
    this.#groups.set(options.name, g);
    if (this.#started) this.#arm(g, Date.now() + (g.phaseMs ?? 0));
  }

  remove(name: string): void {
    const g = this.#groups.get(name);
    if (!g) return;
    if (g.timer) clearTimeout(g.timer);
    this.#groups.delete(name);
  }

  stats(name: string): ScanStats | undefined {
    return this.#groups.get(name)?.stats;
  }

  get groups(): string[] {
    return [...this.#groups.keys()];
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const now = Date.now();
    for (const g of this.#groups.values()) this.#arm(g, now + (g.phaseMs ?? 0));
  }

  #arm(g: Group, at: number): void {
    g.nextAt = at;
    g.timer = setTimeout(() => this.#tick(g), Math.max(0, at - Date.now()));
  }

  #tick(g: Group): void {
    if (!this.#groups.has(g.name) || this.#abort.signal.aborted) return;
    // Fixed rate: the next tick is one period after this one was due, whatever this scan costs.
    let next = g.nextAt + g.periodMs;
    const now = Date.now();
    if (next <= now) {
      // The timer itself fired late by more than a period (event loop blocked): skip the missed ticks.
      const missed = Math.floor((now - next) / g.periodMs) + 1;
      g.stats.overruns += missed;
      next += missed * g.periodMs;
    }
    this.#arm(g, next);
    if (g.running) {
      g.stats.overruns++;
      this.emit('overrun', { group: g.name, device: g.device });
      return;
    }
    g.running = true;
    const prev = this.#deviceChains.get(g.device) ?? Promise.resolve();
    const run = prev.then(async () => {
      const started = Date.now();
      g.stats.lastStartedAt = started;
      try {
        await g.scan(this.#abort.signal);
      } catch (error) {
        // A scan ended by stop() is not an error of the scan.
        if (!this.#abort.signal.aborted) {
          g.stats.errors++;
          this.emit('scanError', { group: g.name, device: g.device, error });
        }
      } finally {
        const d = Date.now() - started;
        g.stats.scans++;
        g.stats.lastDurationMs = d;
        if (d > g.stats.maxDurationMs) g.stats.maxDurationMs = d;
        g.running = false;
      }
    });
    this.#deviceChains.set(g.device, run);
    this.#inflight.add(run);
    void run.finally(() => {
      this.#inflight.delete(run);
      if (this.#deviceChains.get(g.device) === run) this.#deviceChains.delete(g.device);
    });
  }

  /** Stops ticking, aborts running scans' signal and waits for them to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const g of this.#groups.values()) if (g.timer) clearTimeout(g.timer);
    await Promise.allSettled([...this.#inflight]);
  }
}
