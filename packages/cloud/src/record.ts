/**
 * @module
 * The record a sink forwards: one tag value of one device, JSON-safe so it can sit in the durable
 * queue, and the topic templates of a unified namespace (`{site}/{area}/{device}/{tag}`).
 */
import { type Quality, type TagValue, tagValueToJSON } from '@bifrost/core';

/** One value forwarded to the cloud. `value` is JSON-safe (bigint as string, bytes as hex: core's `jsonValue`). */
export interface SinkRecord {
  device: string;
  tag: string;
  value: unknown;
  quality: Quality;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  sourceTimestamp?: number;
  /** A producer's sequence number, carried through unchanged. */
  seq?: number;
  unit?: string;
  error?: Record<string, unknown>;
  [extra: string]: unknown;
}

/**
 * A record from a TagValue, with its value made JSON-safe by core's tagValueToJSON.
 * @example await sink.publish(toSinkRecord('press1', 'temperature', await plc.read('HR0:FLOAT32')))
 */
export function toSinkRecord(device: string, tag: string, tv: TagValue, extra: Record<string, unknown> = {}): SinkRecord {
  const j = tagValueToJSON(tv);
  const r: SinkRecord = { device, tag, value: j.value, quality: tv.quality, timestamp: tv.timestamp, ...extra };
  if (tv.sourceTimestamp !== undefined) r.sourceTimestamp = tv.sourceTimestamp;
  if (j.error !== undefined) r.error = j.error as Record<string, unknown>;
  return r;
}

/**
 * Fills a topic template. `{site}`, `{area}`, `{device}`, `{tag}` and any other record field are
 * replaced; MQTT wildcards `+` and `#` in values become `_` (MQTT 3.1.1 §4.7.1: a topic name must
 * not contain them); an empty level is removed so a missing `{area}` does not leave `a//b`.
 * @example renderTopic('{site}/{area}/{device}/{tag}', { site: 'plant1', area: 'press', device: 'p1', tag: 'temp' }) // 'plant1/press/p1/temp'
 */
export function renderTopic(template: string, vars: Record<string, unknown>): string {
  const filled = template.replace(/\{([A-Za-z0-9_]+)\}/g, (_, k: string) => {
    const v = vars[k];
    return v === undefined || v === null ? '' : String(v).replace(/[+#\u0000]/g, '_');
  });
  const levels = filled.split('/').filter((l) => l !== '');
  return levels.join('/') + (template.endsWith('/') ? '/' : '');
}
