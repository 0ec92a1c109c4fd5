/**
 * @module
 * Window accumulators. Sums and extremes are kept incrementally; the standard deviation with
 * Welford's online algorithm (Knuth TAOCP vol. 2 §4.2.2), so large offsets do not cancel; the
 * percentiles keep the window's values and interpolate between closest ranks (Hyndman & Fan 1996
 * definition 7, the default of NumPy and R).
 */
import type { Quality } from '@bifrost/core';
import type { AggregateName } from './events.js';

/**
 * True when `name` is an aggregate a window step can compute.
 * @example isAggregateName('p99.9') // true
 */
export function isAggregateName(name: unknown): name is AggregateName {
  if (typeof name !== 'string') return false;
  if (['count', 'sum', 'mean', 'min', 'max', 'first', 'last', 'stddev', 'median'].includes(name)) return true;
  const m = /^p(\d+(?:\.\d+)?)$/.exec(name);
  return m !== null && Number(m[1]) >= 0 && Number(m[1]) <= 100;
}

const QUALITY_RANK: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };

/** Which optional work an accumulator does, decided once per window step. */
export interface AccumulatorNeeds {
  stddev: boolean;
  values: boolean;
}

/**
 * Needs of a list of aggregates.
 * @example needsOf(['mean', 'p95']) // { stddev: false, values: true }
 */
export function needsOf(aggregates: readonly string[]): AccumulatorNeeds {
  return { stddev: aggregates.includes('stddev'), values: aggregates.some((a) => a === 'median' || a.startsWith('p')) };
}

/**
 * The running state of one window.
 * @example const a = new Accumulator(0, 1000, needsOf(['mean'])); a.add(10, 21.5, 'good'); a.results(['mean'])
 */
export class Accumulator {
  start: number;
  end: number;
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  first = Number.NaN;
  firstT = Number.POSITIVE_INFINITY;
  last = Number.NaN;
  lastT = Number.NEGATIVE_INFINITY;
  mean = 0;
  m2 = 0;
  values: number[] | undefined;
  quality: Quality = 'good';
  fired = false;
  revision = 0;
  readonly #stddev: boolean;

  constructor(start: number, end: number, needs: AccumulatorNeeds) {
    this.start = start;
    this.end = end;
    this.#stddev = needs.stddev;
    if (needs.values) this.values = [];
  }

  add(t: number, v: number, q: Quality): void {
    const n = ++this.count;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    // first/last by event time, so out-of-order arrivals inside a window still give the right ones
    if (t < this.firstT) {
      this.firstT = t;
      this.first = v;
    }
    if (t >= this.lastT) {
      this.lastT = t;
      this.last = v;
    }
    if (this.#stddev) {
      const d = v - this.mean;
      this.mean += d / n;
      this.m2 += d * (v - this.mean);
    }
    if (this.values !== undefined) this.values.push(v);
    if (q !== 'good' && QUALITY_RANK[q] > QUALITY_RANK[this.quality]) this.quality = q;
  }

  /** Folds `o` into this accumulator (sessions that merge); Chan et al. 1979 for the variance. */
  merge(o: Accumulator): void {
    if (o.count === 0) return;
    const n = this.count + o.count;
    const d = o.mean - this.mean;
    this.m2 += o.m2 + (d * d * this.count * o.count) / n;
    this.mean += (d * o.count) / n;
    this.count = n;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.firstT < this.firstT) {
      this.firstT = o.firstT;
      this.first = o.first;
    }
    if (o.lastT >= this.lastT) {
      this.lastT = o.lastT;
      this.last = o.last;
    }
    if (this.values !== undefined && o.values !== undefined) for (const v of o.values) this.values.push(v);
    if (QUALITY_RANK[o.quality] > QUALITY_RANK[this.quality]) this.quality = o.quality;
    this.start = Math.min(this.start, o.start);
    this.end = Math.max(this.end, o.end);
  }

  /** The value of one aggregate. */
  result(name: string, sorted: number[] | undefined): number {
    switch (name) {
      case 'count':
        return this.count;
      case 'sum':
        return this.sum;
      case 'mean':
        return this.sum / this.count;
      case 'min':
        return this.min;
      case 'max':
        return this.max;
      case 'first':
        return this.first;
      case 'last':
        return this.last;
      case 'stddev':
        // Sample standard deviation (n − 1); 0 for a single value.
        return this.count < 2 ? 0 : Math.sqrt(this.m2 / (this.count - 1));
      case 'median':
        return percentile(sorted ?? [], 50);
      default:
        return percentile(sorted ?? [], Number(name.slice(1)));
    }
  }

  /** All requested aggregates as a record. */
  results(names: readonly string[]): Record<string, number> {
    const sorted = this.values === undefined ? undefined : this.values.slice().sort((a, b) => a - b);
    const out: Record<string, number> = {};
    for (const n of names) out[n] = this.result(n, sorted);
    return out;
  }
}

/**
 * The p-th percentile of sorted values, linear between closest ranks (Hyndman & Fan definition 7).
 * @example percentile([1, 2, 3, 4], 50) // 2.5
 */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * (p / 100);
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  return a + (h - lo) * ((sorted[hi] as number) - a);
}
