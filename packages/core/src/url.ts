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
