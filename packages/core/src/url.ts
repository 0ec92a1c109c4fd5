/**
 * @module
 * Device URL helpers: parsing and typed query options, shared by every driver.
 */
import { BifrostError } from './errors/index.js';
import { redactUrl } from './redact.js';

/**
 * Parses a device URL, throwing BIFROST_INVALID_URL that names it.
 * @example parseDeviceUrl('modbus://127.0.0.1:5020?unit=1')
 */
export function parseDeviceUrl(url: string | URL): URL {
  if (url instanceof URL) return url;
  try {
    return new URL(url);
  } catch (cause) {
    throw new BifrostError('BIFROST_INVALID_URL', `"${redactUrl(url)}" is not a valid device URL`, { cause });
  }
}

/** Levenshtein distance, for did-you-mean suggestions on short names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/**
 * The closest of `candidates` to `name` (case-insensitive, at most 2 edits, or a prefix), if any.
 * @example didYouMean('unti', ['unit', 'timeout']) // 'unit'
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const n = name.toLowerCase();
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.toLowerCase() === n ? 0 : distance(n, c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && (bestD <= Math.min(2, Math.max(1, n.length - 2)) || (n.length >= 3 && best.toLowerCase().startsWith(n))) ? best : undefined;
}

/**
 * Refuses query options a driver does not know, as the config schema refuses unknown fields:
 * BIFROST_INVALID_URL naming the option, the closest known one and the list.
 * @example checkUrlOptions(new URL('modbus://h?unti=1'), ['unit', 'timeout']) // throws: did you mean unit?
 */
export function checkUrlOptions(url: URL, known: readonly string[]): void {
  for (const key of new Set(url.searchParams.keys())) {
    if (known.includes(key)) continue;
    const guess = didYouMean(key, known);
    const scheme = url.protocol.replace(/:$/, '');
    throw new BifrostError('BIFROST_INVALID_URL', `unknown URL option "${key}" for ${scheme}://${guess ? `; did you mean "${guess}"?` : ''} (${scheme} options: ${known.join(', ')})`, {
      hint: guess ? `${key}=… → ${guess}=…` : `${scheme} URL options are ${known.join(', ')}`,
      details: { option: key, known: [...known], ...(guess ? { suggestion: guess } : {}) },
    });
  }
}

/** Options of {@link queryInt}. */
export interface IntOptions {
  min?: number;
  max?: number;
}

/**
 * Reads an integer query parameter with a default and bounds.
 * @example queryInt(url, 'unit', 1, { min: 0, max: 255 })
 */
export function queryInt(url: URL, name: string, fallback: number, bounds: IntOptions = {}): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  if (!Number.isInteger(n) || n < min || n > max) throw new BifrostError('BIFROST_INVALID_URL', `URL option ${name}=${raw} must be an integer from ${min} to ${max}`);
  return n;
}

/**
 * Reads a query parameter that must be one of `choices`.
 * @example queryChoice(url, 'parity', 'none', ['none', 'even', 'odd'])
 */
export function queryChoice<T extends string>(url: URL, name: string, fallback: T, choices: readonly T[]): T {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!choices.includes(raw as T)) throw new BifrostError('BIFROST_INVALID_URL', `URL option ${name}=${raw} must be one of ${choices.join(', ')}`);
  return raw as T;
}

/**
 * Reads a boolean query parameter (`true/false/1/0/yes/no`).
 * @example queryBool(url, 'tls', false)
 */
export function queryBool(url: URL, name: string, fallback: boolean): boolean {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new BifrostError('BIFROST_INVALID_URL', `URL option ${name}=${raw} must be true or false`);
}
