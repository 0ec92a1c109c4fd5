/**
 * @module
 * How values, qualities and ages read on a terminal.
 */
import type { Quality, TagValue, Value } from '@bifrost/core';
import type { Palette } from './palette.js';

/**
 * A value as text: floats to at most 6 decimals, bigint exact, bytes as hex, dates ISO, arrays in brackets.
 * @example formatValue(21.456789123) // '21.456789'
 */
export function formatValue(v: Value | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? String(v) : String(Number(v.toFixed(6)));
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x)).join(', ')}]`;
  return String(v);
}

/**
 * The quality word in its color: green good, yellow uncertain, red bad.
 * @example formatQuality('bad', palette)
 */
export function formatQuality(q: Quality, palette: Palette): string {
  return q === 'good' ? palette.success(q) : q === 'uncertain' ? palette.warning(q) : palette.error(q);
}

/**
 * An age such as `120ms`, `4.2s`, `3m`, `2h`.
 * @example formatAge(4200) // '4.2s'
 */
export function formatAge(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m`;
  return `${Math.floor(ms / 3_600_000)}h`;
}

/** Where a value stands against its tag's limits. */
export type LimitState = 'normal' | 'near' | 'alarm' | 'bad';

/** The limits a tag may carry (from gateway.yaml `min`/`max`). */
export interface Limits {
  min?: number;
  max?: number;
}

/** How close to a limit counts as near: this share of the min–max span (or of the limit itself when only one is set). */
export const NEAR_LIMIT_SHARE = 0.1;

/**
 * Classifies a value: bad quality → `bad`; outside min/max → `alarm`; within 10 % of the span
 * from a limit → `near`; else `normal`.
 * @example limitState({ quality: 'good', value: 95, … }, { min: 0, max: 100 }) // 'near'
 */
export function limitState(t: Pick<TagValue, 'quality' | 'value'>, limits: Limits = {}): LimitState {
  if (t.quality === 'bad') return 'bad';
  const v = typeof t.value === 'number' ? t.value : typeof t.value === 'bigint' ? Number(t.value) : undefined;
  if (v === undefined || Number.isNaN(v)) return t.quality === 'uncertain' ? 'near' : 'normal';
  const { min, max } = limits;
  if ((min !== undefined && v < min) || (max !== undefined && v > max)) return 'alarm';
  const span = min !== undefined && max !== undefined ? max - min : Math.abs(max ?? min ?? 0);
  const margin = span * NEAR_LIMIT_SHARE;
  if ((max !== undefined && v >= max - margin) || (min !== undefined && v <= min + margin)) return 'near';
  return t.quality === 'uncertain' ? 'near' : 'normal';
}

/**
 * Paints text by limit state: green normal, yellow near, red alarm or bad.
 * @example paintState('normal', palette)('21.5')
 */
export function paintState(state: LimitState, palette: Palette): (s: string) => string {
  return state === 'normal' ? palette.success : state === 'near' ? palette.warning : palette.error;
}

/** Sparkline glyphs, lowest to highest. */
const SPARKS = '▁▂▃▄▅▆▇█';

/**
 * A sparkline of the last `width` numbers.
 * @example sparkline([1, 2, 3, 2, 1], 5) // '▁▄█▄▁'
 */
export function sparkline(values: readonly number[], width: number): string {
  const xs = values.slice(-width).filter((x) => Number.isFinite(x));
  if (xs.length === 0) return '';
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return xs.map((x) => (hi === lo ? SPARKS[3] : SPARKS[Math.round(((x - lo) / (hi - lo)) * (SPARKS.length - 1))])).join('');
}
