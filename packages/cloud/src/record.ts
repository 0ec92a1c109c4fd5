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
  /**
   * Set by the MQTT sink on every JSON message: the record's sequence number in the sink's durable
   * queue (consecutive, so a consumer drops duplicates and detects gaps). A value given here is replaced.
   */
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

/**
 * One device poll's forwarded values, column by column: one queue record, and one message where
 * the sink's format allows (the gateway's `SinkBatch`, the same shape).
 */
export interface SinkBatch {
  device: string;
  /** The poll's timestamp (ms since the Unix epoch); each value has it unless sourceTimestamps says otherwise. */
  timestamp: number;
  tags: string[];
  /** JSON-safe values (core's jsonValue), one per tag. */
  values: unknown[];
  qualities: Array<Quality>;
  /** Per value where the protocol gives one (null where not); absent when no value has one. */
  sourceTimestamps?: Array<number | null>;
  /** Per value (null where the tag has none); absent when no tag has a unit. */
  units?: Array<string | null>;
  /** Per value, the error of a bad value as BifrostError.toJSON() (null where good); absent when none. */
  errors?: Array<Record<string, unknown> | null>;
}

/** What the durable queue of a sink holds: one value (a pipeline output, a library user's record) or one device poll. */
export type QueueEntry = SinkRecord | SinkBatch;

/**
 * True when a queued entry is a batch (it has the `tags` column).
 * @example if (isSinkBatch(entry)) count += entry.tags.length
 */
export function isSinkBatch(entry: QueueEntry): entry is SinkBatch {
  return Array.isArray((entry as SinkBatch).tags);
}

/**
 * Values an entry carries: the length of a batch, 1 for a record.
 * @example entryValues({ device: 'd', timestamp: 0, tags: ['a', 'b'], values: [1, 2], qualities: ['good', 'good'] }) // 2
 */
export function entryValues(entry: QueueEntry): number {
  return isSinkBatch(entry) ? entry.tags.length : 1;
}

/**
 * The per-value records of a batch, field for field what the gateway's per-value path built
 * (`device, tag, value, quality, timestamp`, then `sourceTimestamp`, `unit`, `error` where present),
 * so the per-tag format sends exactly the payloads it sent before batching.
 * @example expandBatch(batch).map((r) => JSON.stringify(r))
 */
export function expandBatch(b: SinkBatch): SinkRecord[] {
  const out: SinkRecord[] = new Array(b.tags.length);
  for (let i = 0; i < b.tags.length; i++) {
    const r: SinkRecord = { device: b.device, tag: b.tags[i] as string, value: b.values[i], quality: b.qualities[i] as Quality, timestamp: b.timestamp };
    const st = b.sourceTimestamps?.[i];
    if (st !== undefined && st !== null) r.sourceTimestamp = st;
    const unit = b.units?.[i];
    if (unit !== undefined && unit !== null) r.unit = unit;
    const error = b.errors?.[i];
    if (error !== undefined && error !== null) r.error = error;
    out[i] = r;
  }
  return out;
}

/**
 * The per-device message of a batch, in the shape of EMQX Neuron's MQTT "values-format" upload
 * (`node`, `group`, `timestamp`, `values: {tag: value}`, `errors: {tag: code}`; Neuron 2.x
 * docs, north-apps/mqtt/api): a good or uncertain value goes to `values`, a bad one to `errors`
 * with its Bifrost error code (Neuron puts its numeric error code there). A Bifrost device is polled
 * as one group, so `group` repeats the device name. Bifrost adds `seq` (the queue's sequence
 * number) and, only when needed, `uncertain` (tags whose value is uncertain), `sourceTimestamps`
 * and `units` (by tag).
 * @example JSON.stringify(deviceMessage(batch, 42)) // {"node":"press1","group":"press1","timestamp":…,"values":{"temp":21.5},"errors":{},"seq":42}
 */
export function deviceMessage(entry: QueueEntry, seq: number): Record<string, unknown> {
  const b: SinkBatch = isSinkBatch(entry) ? entry : recordAsBatch(entry);
  const values: Record<string, unknown> = {};
  const errors: Record<string, unknown> = {};
  let uncertain: string[] | undefined;
  let sourceTimestamps: Record<string, number> | undefined;
  let units: Record<string, string> | undefined;
  for (let i = 0; i < b.tags.length; i++) {
    const tag = b.tags[i] as string;
    const q = b.qualities[i];
    if (q === 'bad') {
      const e = b.errors?.[i];
      errors[tag] = typeof e?.code === 'string' ? e.code : 'BIFROST_BAD_QUALITY';
    } else {
      values[tag] = b.values[i];
      if (q === 'uncertain') (uncertain ??= []).push(tag);
    }
    const st = b.sourceTimestamps?.[i];
    if (st !== undefined && st !== null) (sourceTimestamps ??= {})[tag] = st;
    const u = b.units?.[i];
    if (u !== undefined && u !== null) (units ??= {})[tag] = u;
  }
  const m: Record<string, unknown> = { node: b.device, group: b.device, timestamp: b.timestamp, values, errors, seq };
  if (uncertain) m.uncertain = uncertain;
  if (sourceTimestamps) m.sourceTimestamps = sourceTimestamps;
  if (units) m.units = units;
  return m;
}

function recordAsBatch(r: SinkRecord): SinkBatch {
  const b: SinkBatch = { device: r.device, timestamp: r.timestamp, tags: [r.tag], values: [r.value], qualities: [r.quality] };
  if (r.sourceTimestamp !== undefined) b.sourceTimestamps = [r.sourceTimestamp];
  if (r.unit !== undefined) b.units = [r.unit];
  if (r.error !== undefined) b.errors = [r.error];
  return b;
}
