/**
 * @module
 * `TagValue`: a value with its quality and timestamps. A failed tag in a batch is a `bad` value
 * carrying its error, not a rejected batch.
 */
import type { Value } from './datatypes.js';
import { type BifrostError, toBifrostError } from './errors/index.js';

/** OPC UA's three quality classes (OPC 10000-4 §7.34 StatusCode severity). */
export type Quality = 'good' | 'uncertain' | 'bad';

/** A tag's value at a moment. Timestamps are milliseconds since the Unix epoch. */
export interface TagValue<V = Value> {
  /** The address as the caller gave it. */
  address: string;
  /** The value; `null` when quality is bad and no value could be read. */
  value: V | null;
  quality: Quality;
  /** When Bifrost received the value (gateway time). */
  timestamp: number;
  /** When the device says the value was sampled, where the protocol reports it. */
  sourceTimestamp?: number;
  /** Why the value is bad or uncertain. */
  error?: BifrostError;
}

/**
 * A good value stamped now.
 * @example good('HR0', 42)
 */
export function good<V = Value>(address: string, value: V, timestamp = Date.now(), sourceTimestamp?: number): TagValue<V> {
  const t: TagValue<V> = { address, value, quality: 'good', timestamp };
  if (sourceTimestamp !== undefined) t.sourceTimestamp = sourceTimestamp;
  return t;
}

/**
 * A bad value carrying its error.
 * @example bad('HR9999', err)
 */
export function bad<V = Value>(address: string, error: unknown, timestamp = Date.now()): TagValue<V> {
  return { address, value: null, quality: 'bad', timestamp, error: toBifrostError(error, 'BIFROST_NOT_CONNECTED', { address }) };
}

/** A JSON-safe view of a value: bigint as string, bytes as hex, Date as ISO 8601. */
export function jsonValue(v: Value | null): unknown {
  if (v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => jsonValue(x));
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/**
 * A JSON-safe view of a TagValue, as `--json` and the web API print it.
 * @example JSON.stringify(tagValueToJSON(await plc.read('HR0')))
 */
export function tagValueToJSON(t: TagValue): Record<string, unknown> {
  const out: Record<string, unknown> = { address: t.address, value: jsonValue(t.value), quality: t.quality, timestamp: new Date(t.timestamp).toISOString() };
  if (t.sourceTimestamp !== undefined) out.sourceTimestamp = new Date(t.sourceTimestamp).toISOString();
  if (t.error) out.error = t.error.toJSON();
  return out;
}

/**
 * True when `next` differs from `prev` by more than `deadband` (absolute). Non-numeric values
 * change whenever they are not equal; a quality change is always a change.
 * @example exceedsDeadband(prevTv, nextTv, 0.5)
 */
export function exceedsDeadband(prev: TagValue | undefined, next: TagValue, deadband = 0): boolean {
  if (prev === undefined || prev.quality !== next.quality) return true;
  const a = prev.value;
  const b = next.value;
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return !(Number.isNaN(a) && Number.isNaN(b));
    return deadband > 0 ? Math.abs(b - a) > deadband : a !== b;
  }
  if (typeof a === 'bigint' && typeof b === 'bigint') return deadband > 0 ? Number(b > a ? b - a : a - b) > deadband : a !== b;
  return !valuesEqual(a, b);
}

/** Deep equality of two values (arrays, bytes, dates). */
export function valuesEqual(a: Value | null, b: Value | null): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => valuesEqual(x, b[i] as Value));
  return false;
}
