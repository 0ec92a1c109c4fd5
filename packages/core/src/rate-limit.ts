/**
 * @module
 * One reusable limiter for repeated log lines and warnings: the first occurrence of a key is let
 * through at once, later ones within the interval are counted (with a sum of a weight, such as the
 * records each one dropped), and one summary per key is handed out when the interval ends. This is
 * how Vector's `internal_logs` rate limit reads ("… repeated N times in the last 10 s"), so a full
 * disk that refuses every append writes two lines per interval instead of one per append.
 */

/** What the limiter hands to `onSummary` at the end of an interval in which a key repeated. */
export interface RepeatSummary<T> {
  key: string;
  /** Occurrences held back during the interval (the first one was let through). */
  suppressed: number;
  /** Sum of the weights of every occurrence of the interval, the first included. */
  total: number;
  /** The last occurrence held back. */
  last: T;
  intervalMs: number;
}

/** Options of {@link RepeatLimiter}. */
export interface RepeatLimiterOptions<T> {
  /** Length of an interval (default 10 s). */
  intervalMs?: number;
  /** Called once per key and interval in which occurrences were held back. */
  onSummary: (summary: RepeatSummary<T>) => void;
}

interface Slot<T> {
  suppressed: number;
  total: number;
  last: T | undefined;
  timer: NodeJS.Timeout;
}

/**
 * Lets the first occurrence of each key through and summarizes the rest once per interval.
 * @example
 * const limit = new RepeatLimiter<Error>({ onSummary: (s) => log.warn(`${s.key} repeated ${s.suppressed} times`) });
 * if (limit.hit(err.code, err)) log.warn(err.message);
 */
export class RepeatLimiter<T> {
  readonly intervalMs: number;
  readonly #onSummary: (s: RepeatSummary<T>) => void;
  readonly #slots = new Map<string, Slot<T>>();

  constructor(options: RepeatLimiterOptions<T>) {
    this.intervalMs = Math.max(1, options.intervalMs ?? 10_000);
    this.#onSummary = options.onSummary;
  }

  /**
   * Records an occurrence of `key` with a weight (default 1). True when the caller should report
   * it now (the first of its interval), false when it was counted for the summary.
   */
  hit(key: string, item: T, weight = 1): boolean {
    const slot = this.#slots.get(key);
    if (slot) {
      slot.suppressed++;
      slot.total += weight;
      slot.last = item;
      return false;
    }
    const timer = setTimeout(() => this.#end(key), this.intervalMs);
    timer.unref();
    this.#slots.set(key, { suppressed: 0, total: weight, last: undefined, timer });
    return true;
  }

  #end(key: string): void {
    const slot = this.#slots.get(key);
    if (!slot) return;
    clearTimeout(slot.timer);
    this.#slots.delete(key);
    if (slot.suppressed > 0 && slot.last !== undefined) this.#onSummary({ key, suppressed: slot.suppressed, total: slot.total, last: slot.last, intervalMs: this.intervalMs });
  }

  /** Hands out the pending summaries now and forgets every key (at shutdown, so no count is lost). */
  flush(): void {
    for (const key of [...this.#slots.keys()]) this.#end(key);
  }
}
