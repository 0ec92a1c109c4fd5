/**
 * @module
 * Anomaly detectors, one instance per series. Each `test(t, x)` scores `x` against what came
 * before (the point itself is added afterwards), and returns a hit when the score passes the
 * threshold:
 * - `zscore`: rolling mean and sample standard deviation of the last `window` values;
 * - `mad`: robust z = 0.6745·(x − median)/MAD over the last `window` values (Iglewicz & Hoaglin
 *   1993, "How to Detect and Handle Outliers", threshold 3.5);
 * - `ewma`: EWMA control chart (Roberts 1959; NIST/SEMATECH e-Handbook §6.3.2.4): z = λx + (1−λ)z,
 *   limits μ0 ± L·σ·√(λ/(2−λ)·(1−(1−λ)^{2i}));
 * - `roc`: |Δx/Δt| scaled to `per` above `maxRate`;
 * - `westernElectric`: the four Western Electric rules (Western Electric Statistical Quality
 *   Control Handbook, 1956, §1.B): 1 point beyond 3σ; 2 of 3 beyond 2σ on one side; 4 of 5 beyond
 *   1σ on one side; 8 in a row on one side of the centre line.
 * `ewma` and `westernElectric` take the centre and σ from the options, or estimate them from the
 * first `warmup` values (which are not tested).
 */

/** A detector's verdict on one point. */
export interface AnomalyHit {
  score: number;
  rule?: number;
  rules?: number[];
  message: string;
}

/** One series' detector. */
export interface Detector {
  test(t: number, x: number): AnomalyHit | undefined;
}

/** Anomaly step options, by method. */
export type AnomalySpec =
  | { method: 'zscore'; window: number; threshold: number; minSamples: number }
  | { method: 'mad'; window: number; threshold: number; minSamples: number }
  | { method: 'ewma'; lambda: number; L: number; warmup: number; target?: number; sigma?: number }
  | { method: 'roc'; maxRate: number; per: number }
  | { method: 'westernElectric'; warmup: number; center?: number; sigma?: number; rules: number[] };

/** The threshold an anomaly event reports for a spec. */
export function thresholdOf(spec: AnomalySpec): number {
  switch (spec.method) {
    case 'zscore':
    case 'mad':
      return spec.threshold;
    case 'ewma':
      return spec.L;
    case 'roc':
      return spec.maxRate;
    case 'westernElectric':
      return 3;
  }
}

/** A fixed-capacity ring of the last values. */
class Ring {
  readonly buf: Float64Array;
  n = 0;
  #i = 0;
  constructor(size: number) {
    this.buf = new Float64Array(size);
  }
  /** Pushes `x`; returns the value it replaced, or undefined. */
  push(x: number): number | undefined {
    const old = this.n === this.buf.length ? this.buf[this.#i] : undefined;
    this.buf[this.#i] = x;
    this.#i = (this.#i + 1) % this.buf.length;
    if (this.n < this.buf.length) this.n++;
    return old;
  }
}

class ZScore implements Detector {
  readonly #ring: Ring;
  readonly #spec: Extract<AnomalySpec, { method: 'zscore' }>;
  // Sums are kept relative to the first value seen, so a large offset does not cancel precision.
  #k = Number.NaN;
  #sum = 0;
  #sq = 0;
  constructor(spec: Extract<AnomalySpec, { method: 'zscore' }>) {
    this.#spec = spec;
    this.#ring = new Ring(spec.window);
  }
  test(_t: number, x: number): AnomalyHit | undefined {
    if (Number.isNaN(this.#k)) this.#k = x;
    const n = this.#ring.n;
    let hit: AnomalyHit | undefined;
    if (n >= this.#spec.minSamples && n >= 2) {
      const mean = this.#sum / n;
      const variance = Math.max(0, (this.#sq - n * mean * mean) / (n - 1));
      const sd = Math.sqrt(variance);
      const d = x - this.#k - mean;
      const z = sd === 0 ? (d === 0 ? 0 : Math.sign(d) * Number.POSITIVE_INFINITY) : d / sd;
      if (Math.abs(z) > this.#spec.threshold) hit = { score: z, message: `z-score ${fmt(z)} beyond ±${this.#spec.threshold} (mean ${fmt(mean + this.#k)}, sd ${fmt(sd)} over ${n} values)` };
    }
    const y = x - this.#k;
    const old = this.#ring.push(y);
    this.#sum += y;
    this.#sq += y * y;
    if (old !== undefined) {
      this.#sum -= old;
      this.#sq -= old * old;
    }
    return hit;
  }
}

class Mad implements Detector {
  readonly #ring: Ring;
  readonly #spec: Extract<AnomalySpec, { method: 'mad' }>;
  /** The ring's values kept sorted, so median and MAD need no sort per point. */
  readonly #sorted: Float64Array;
  #n = 0;
  constructor(spec: Extract<AnomalySpec, { method: 'mad' }>) {
    this.#spec = spec;
    this.#ring = new Ring(spec.window);
    this.#sorted = new Float64Array(spec.window);
  }
  test(_t: number, x: number): AnomalyHit | undefined {
    const n = this.#n;
    let hit: AnomalyHit | undefined;
    if (n >= this.#spec.minSamples && n >= 1) {
      const sorted = this.#sorted.subarray(0, n);
      const med = median(sorted);
      const mad = medianAbsoluteDeviation(sorted, med);
      const d = x - med;
      const z = mad === 0 ? (d === 0 ? 0 : Math.sign(d) * Number.POSITIVE_INFINITY) : (0.6745 * d) / mad;
      if (Math.abs(z) > this.#spec.threshold) hit = { score: z, message: `robust z ${fmt(z)} beyond ±${this.#spec.threshold} (median ${fmt(med)}, MAD ${fmt(mad)})` };
    }
    const old = this.#ring.push(x);
    const s = this.#sorted;
    let len = this.#n;
    if (old !== undefined) {
      const i = lowerBound(s, len, old);
      s.copyWithin(i, i + 1, len);
      len--;
    }
    const j = lowerBound(s, len, x);
    s.copyWithin(j + 1, j, len);
    s[j] = x;
    this.#n = len + 1;
    return hit;
  }
}

function lowerBound(a: Float64Array, len: number, x: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if ((a[m] as number) < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * The median of |a[i] − med| over sorted `a`, in O(n) without sorting: the deviations below the
 * median (read leftwards) and above it (read rightwards) are each ascending, so a two-way merge
 * finds the middle ones.
 */
function medianAbsoluteDeviation(a: Float64Array, med: number): number {
  const n = a.length;
  let r = lowerBound(a, n, med); // first index with a[r] >= med
  let l = r - 1;
  const want = n >> 1; // 0-based rank of the upper middle
  let prev = 0;
  for (let k = 0; k <= want; k++) {
    const dl = l >= 0 ? med - (a[l] as number) : Number.POSITIVE_INFINITY;
    const dr = r < n ? (a[r] as number) - med : Number.POSITIVE_INFINITY;
    const d = Math.min(dl, dr);
    if (dl <= dr) l--;
    else r++;
    if (k === want - 1) prev = d;
    if (k === want) return n % 2 === 1 ? d : (prev + d) / 2;
  }
  return 0;
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? (sorted[h] as number) : ((sorted[h - 1] as number) + (sorted[h] as number)) / 2;
}

/** Estimates centre and σ from the first `warmup` values, or takes them from the spec. */
class Baseline {
  center: number | undefined;
  sigma: number | undefined;
  readonly #warmup: number;
  #n = 0;
  #mean = 0;
  #m2 = 0;
  constructor(center: number | undefined, sigma: number | undefined, warmup: number) {
    this.#warmup = warmup;
    this.center = center;
    this.sigma = sigma;
  }
  /** True when ready; otherwise learns from `x`. */
  ready(x: number, givenCenter: number | undefined, givenSigma: number | undefined): boolean {
    if (givenCenter !== undefined && givenSigma !== undefined) return true;
    if (this.#n >= this.#warmup && this.sigma !== undefined) return true;
    this.#n++;
    const d = x - this.#mean;
    this.#mean += d / this.#n;
    this.#m2 += d * (x - this.#mean);
    if (this.#n >= this.#warmup) {
      this.center = givenCenter ?? this.#mean;
      this.sigma = givenSigma ?? (this.#n > 1 ? Math.sqrt(this.#m2 / (this.#n - 1)) : 0);
    }
    return false;
  }
}

class Ewma implements Detector {
  readonly #spec: Extract<AnomalySpec, { method: 'ewma' }>;
  readonly #base: Baseline;
  #z = Number.NaN;
  #i = 0;
  constructor(spec: Extract<AnomalySpec, { method: 'ewma' }>) {
    this.#spec = spec;
    this.#base = new Baseline(spec.target, spec.sigma, spec.warmup);
  }
  test(_t: number, x: number): AnomalyHit | undefined {
    const { lambda, L, target, sigma } = this.#spec;
    if (!this.#base.ready(x, target, sigma)) return undefined;
    const mu = this.#base.center as number;
    const sd = this.#base.sigma as number;
    if (Number.isNaN(this.#z)) this.#z = mu;
    this.#z = lambda * x + (1 - lambda) * this.#z;
    this.#i++;
    const se = sd * Math.sqrt((lambda / (2 - lambda)) * (1 - (1 - lambda) ** (2 * this.#i)));
    const d = this.#z - mu;
    const score = se === 0 ? (d === 0 ? 0 : Math.sign(d) * Number.POSITIVE_INFINITY) : d / se;
    if (Math.abs(score) > L) return { score, message: `EWMA ${fmt(this.#z)} outside ${fmt(mu)} ± ${L}σ_ewma (σ_ewma ${fmt(se)})` };
    return undefined;
  }
}

class Roc implements Detector {
  readonly #spec: Extract<AnomalySpec, { method: 'roc' }>;
  #t = Number.NaN;
  #x = Number.NaN;
  constructor(spec: Extract<AnomalySpec, { method: 'roc' }>) {
    this.#spec = spec;
  }
  test(t: number, x: number): AnomalyHit | undefined {
    const pt = this.#t;
    const px = this.#x;
    // A time that does not advance cannot give a rate: the point is not tested and not kept.
    if (!(t > pt) && !Number.isNaN(pt)) return undefined;
    this.#t = t;
    this.#x = x;
    if (Number.isNaN(pt)) return undefined;
    const rate = ((x - px) / (t - pt)) * this.#spec.per;
    if (Math.abs(rate) > this.#spec.maxRate) return { score: rate, message: `rate of change ${fmt(rate)} per ${this.#spec.per} ms beyond ±${this.#spec.maxRate}` };
    return undefined;
  }
}

class WesternElectric implements Detector {
  readonly #spec: Extract<AnomalySpec, { method: 'westernElectric' }>;
  readonly #base: Baseline;
  /** Signed sigma distances of the last 8 points, newest last. */
  readonly #last: number[] = [];
  constructor(spec: Extract<AnomalySpec, { method: 'westernElectric' }>) {
    this.#spec = spec;
    this.#base = new Baseline(spec.center, spec.sigma, spec.warmup);
  }
  test(_t: number, x: number): AnomalyHit | undefined {
    if (!this.#base.ready(x, this.#spec.center, this.#spec.sigma)) return undefined;
    const c = this.#base.center as number;
    const s = this.#base.sigma as number;
    const z = s === 0 ? (x === c ? 0 : Math.sign(x - c) * Number.POSITIVE_INFINITY) : (x - c) / s;
    const last = this.#last;
    last.push(z);
    if (last.length > 8) last.shift();
    const fired: number[] = [];
    const on = this.#spec.rules;
    const side = Math.sign(z);
    const countBeyond = (k: number, limit: number) => {
      let m = 0;
      for (let i = Math.max(0, last.length - k); i < last.length; i++) if (Math.sign(last[i] as number) === side && Math.abs(last[i] as number) > limit) m++;
      return m;
    };
    if (on.includes(1) && Math.abs(z) > 3) fired.push(1);
    // Rules 2 and 3 count the current point among those beyond the line, on its side.
    if (on.includes(2) && Math.abs(z) > 2 && last.length >= 3 && countBeyond(3, 2) >= 2) fired.push(2);
    if (on.includes(3) && Math.abs(z) > 1 && last.length >= 5 && countBeyond(5, 1) >= 4) fired.push(3);
    if (on.includes(4) && side !== 0 && last.length >= 8 && last.every((v) => Math.sign(v) === side)) fired.push(4);
    if (fired.length === 0) return undefined;
    return { score: z, rule: fired[0] as number, rules: fired, message: `Western Electric rule ${fired.join(', ')} (point at ${fmt(z)}σ from centre ${fmt(c)})` };
  }
}

/**
 * A new per-series detector for a spec (the anomaly step makes one per series).
 * @example const d = createDetector({ method: 'zscore', window: 300, threshold: 3, minSamples: 300 }); d.test(t, x)
 */
export function createDetector(spec: AnomalySpec): Detector {
  switch (spec.method) {
    case 'zscore':
      return new ZScore(spec);
    case 'mad':
      return new Mad(spec);
    case 'ewma':
      return new Ewma(spec);
    case 'roc':
      return new Roc(spec);
    case 'westernElectric':
      return new WesternElectric(spec);
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : String(x);
}
