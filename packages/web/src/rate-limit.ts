/**
 * @module
 * A fixed-window rate limiter keyed by client (IP for logins, token name for writes). Memory is
 * bounded: windows that ended are dropped on the next check, and at most `maxKeys` are tracked.
 */

/**
 * Counts hits per key in fixed windows.
 * @example
 * const rl = new RateLimiter({ max: 10, windowMs: 60_000 });
 * const r = rl.hit('127.0.0.1'); if (!r.ok) reply.header('retry-after', r.retryAfterS);
 */
export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #hits = new Map<string, { start: number; count: number }>();

  constructor(options: { max: number; windowMs: number; maxKeys?: number }) {
    this.#max = options.max;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** Counts one hit; `ok` is false when the key is over its limit in the current window. */
  hit(key: string, now: number = Date.now()): { ok: boolean; retryAfterS: number } {
    let w = this.#hits.get(key);
    if (!w || now - w.start >= this.#windowMs) {
      if (!w && this.#hits.size >= this.#maxKeys) this.#prune(now);
      w = { start: now, count: 0 };
      this.#hits.set(key, w);
    }
    w.count++;
    return { ok: w.count <= this.#max, retryAfterS: Math.max(1, Math.ceil((w.start + this.#windowMs - now) / 1000)) };
  }

  /** True when the key is over its limit in the current window, without counting a hit. */
  blocked(key: string, now: number = Date.now()): { blocked: boolean; retryAfterS: number } {
    const w = this.#hits.get(key);
    if (!w || now - w.start >= this.#windowMs) return { blocked: false, retryAfterS: 0 };
    return { blocked: w.count >= this.#max, retryAfterS: Math.max(1, Math.ceil((w.start + this.#windowMs - now) / 1000)) };
  }

  #prune(now: number): void {
    for (const [k, w] of this.#hits) if (now - w.start >= this.#windowMs) this.#hits.delete(k);
    // Still full: the oldest entries go (Map iterates in insertion order).
    for (const k of this.#hits.keys()) {
      if (this.#hits.size < this.#maxKeys) break;
      this.#hits.delete(k);
    }
  }
}
