/**
 * @module
 * Timeouts, abortable waits, seedable randomness and exponential backoff with full jitter
 * (AWS Architecture Blog, "Exponential Backoff and Jitter": sleep = random(0, min(cap, base·2^n))).
 */
import { setMaxListeners } from 'node:events';
import { BifrostError } from './errors/index.js';

/** Options every network operation takes. */
export interface OperationOptions {
  /** Aborts the operation; the promise rejects with BIFROST_ABORTED. */
  signal?: AbortSignal;
  /** Milliseconds before the operation fails with BIFROST_TIMEOUT. */
  timeoutMs?: number;
}

/** A function returning a float in [0, 1). */
export type RandomSource = () => number;

/**
 * A small, fast seedable PRNG (mulberry32) for repeatable jitter in tests.
 * @example const rnd = seededRandom(42); rnd() // 0.6011…
 */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Backoff policy. */
export interface BackoffOptions {
  /** First delay ceiling in ms (default 100). */
  baseMs?: number;
  /** Largest delay in ms (default 30 000). */
  maxMs?: number;
  /** Growth factor per attempt (default 2). */
  factor?: number;
  /** Random source for the jitter (default Math.random). */
  random?: RandomSource;
}

/**
 * Exponential backoff with full jitter: attempt n (from 0) waits a uniform random time in
 * [0, min(maxMs, baseMs · factor^n)].
 * @example const b = new Backoff({ baseMs: 100, maxMs: 5000 }); await sleep(b.next());
 */
export class Backoff {
  readonly #base: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #random: RandomSource;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#base = options.baseMs ?? 100;
    this.#max = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
    if (!(this.#base > 0) || !(this.#max >= this.#base) || !(this.#factor >= 1)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'backoff needs baseMs > 0, maxMs >= baseMs and factor >= 1');
  }

  /** The attempt number the next delay is for. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the delay for attempt `n`. */
  ceiling(n: number): number {
    return Math.min(this.#max, this.#base * this.#factor ** n);
  }

  /** The next delay in ms, then advances the attempt count. */
  next(): number {
    const d = Math.floor(this.#random() * this.ceiling(this.#attempt));
    this.#attempt++;
    return d;
  }

  /** Starts again from attempt 0 (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}

function abortError(signal: AbortSignal): BifrostError {
  return new BifrostError('BIFROST_ABORTED', 'operation aborted', { cause: signal.reason });
}

/**
 * Waits `ms` milliseconds; rejects with BIFROST_ABORTED if the signal aborts first.
 * @example await sleep(100, controller.signal)
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Races `work` against a timeout and an abort signal. `work` receives a signal that aborts when
 * either fires, so it can release what it holds. `also` is a second signal that aborts it (a
 * device's lifetime beside the caller's signal): `AbortSignal.any` would combine them, but on
 * Node 20 every call leaves about 40 bytes in the longer-lived signal for good (measured: 39 MB
 * more heap after a million calls), a leak at one call per poll for months.
 * @example await withTimeout((signal) => socketRequest(frame, signal), { timeoutMs: 1000, signal })
 */
export function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, options: OperationOptions & { what?: string; also?: AbortSignal | undefined } = {}): Promise<T> {
  const { signal, also, timeoutMs, what = 'operation' } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (also?.aborted) return Promise.reject(abortError(also));
  const inner = new AbortController();
  // The work may listen once per request it has in flight (an S7 poll of 10,000 variables runs
  // dozens of jobs): not a leak, and Node's warning past 10 would print to stderr.
  setMaxListeners(0, inner.signal);
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      also?.removeEventListener('abort', onAbort);
    };
    const onAbort = (ev: Event) => {
      cleanup();
      const err = abortError(ev.target as AbortSignal);
      inner.abort(err);
      reject(err);
    };
    if (timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        cleanup();
        const err = new BifrostError('BIFROST_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
        inner.abort(err);
        reject(err);
      }, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    also?.addEventListener('abort', onAbort, { once: true });
    work(inner.signal).then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e) => {
        cleanup();
        reject(e);
      },
    );
  });
}

/** Parses a duration such as `500ms`, `10s`, `5m`, `1h`, `2d`, or a bare number of ms. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `invalid duration ${input}`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/i.exec(input);
  if (!m) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `invalid duration "${input}"; expected e.g. 500ms, 10s, 5m, 1h`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const mult = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' || unit === 'min' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return n * mult;
}

/** Parses a size such as `512`, `64KB`, `10MB`, `1GB` (powers of 1024) to bytes. */
export function parseBytes(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `invalid size ${input}`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(input);
  if (!m) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `invalid size "${input}"; expected e.g. 512KB, 10MB, 1GB`);
  const unit = (m[2] ?? 'b').toLowerCase().replace('i', '');
  const pow = { b: 0, kb: 1, mb: 2, gb: 3, tb: 4 }[unit] ?? 0;
  return Math.round(Number(m[1]) * 1024 ** pow);
}
