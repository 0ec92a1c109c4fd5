/**
 * @module
 * Sparkplug B (Eclipse Sparkplug 3.0.0): the protobuf payload, encoded with protobufjs from the
 * published `sparkplug_b.proto` (Eclipse Tahu), and the edge-node state machine: NBIRTH/DBIRTH
 * with metric aliases, NDATA/DDATA, NDEATH as the MQTT will carrying bdSeq, and the message
 * sequence number `seq` running 0–255 (Sparkplug 3.0.0 §6.4.21 "Sequence Number").
 */
import { createRequire } from 'node:module';
import { BifrostError } from '@bifrost/core';
import type protobufNs from 'protobufjs';

// protobufjs loads only when Sparkplug is used, so a JSON-only sink starts faster.
const require = createRequire(import.meta.url);

/**
 * `sparkplug_b.proto` as published by Eclipse Tahu (proto2, package org.eclipse.tahu.protobuf);
 * field numbers are the wire contract and must never change.
 */
export const SPARKPLUG_B_PROTO = `
syntax = "proto2";
package org.eclipse.tahu.protobuf;

enum DataType {
  Unknown = 0; Int8 = 1; Int16 = 2; Int32 = 3; Int64 = 4; UInt8 = 5; UInt16 = 6; UInt32 = 7; UInt64 = 8;
  Float = 9; Double = 10; Boolean = 11; String = 12; DateTime = 13; Text = 14; UUID = 15; DataSet = 16;
  Bytes = 17; File = 18; Template = 19; PropertySet = 20; PropertySetList = 21;
  Int8Array = 22; Int16Array = 23; Int32Array = 24; Int64Array = 25; UInt8Array = 26; UInt16Array = 27;
  UInt32Array = 28; UInt64Array = 29; FloatArray = 30; DoubleArray = 31; BooleanArray = 32;
  StringArray = 33; DateTimeArray = 34;
}

message Payload {
  message Template {
    message Parameter {
      optional string name = 1;
      optional uint32 type = 2;
      oneof value {
        uint32 int_value = 3;
        uint64 long_value = 4;
        float float_value = 5;
        double double_value = 6;
        bool boolean_value = 7;
        string string_value = 8;
        ParameterValueExtension extension_value = 9;
      }
      message ParameterValueExtension { extensions 1 to max; }
    }
    optional string version = 1;
    repeated Metric metrics = 2;
    repeated Parameter parameters = 3;
    optional string template_ref = 4;
    optional bool is_definition = 5;
    extensions 6 to max;
  }
  message DataSet {
    message DataSetValue {
      oneof value {
        uint32 int_value = 1;
        uint64 long_value = 2;
        float float_value = 3;
        double double_value = 4;
        bool boolean_value = 5;
        string string_value = 6;
        DataSetValueExtension extension_value = 7;
      }
      message DataSetValueExtension { extensions 1 to max; }
    }
    message Row {
      repeated DataSetValue elements = 1;
      extensions 2 to max;
    }
    optional uint64 num_of_columns = 1;
    repeated string columns = 2;
    repeated uint32 types = 3;
    repeated Row rows = 4;
    extensions 5 to max;
  }
  message PropertyValue {
    optional uint32 type = 1;
    optional bool is_null = 2;
    oneof value {
      uint32 int_value = 3;
      uint64 long_value = 4;
      float float_value = 5;
      double double_value = 6;
      bool boolean_value = 7;
      string string_value = 8;
      PropertySet propertyset_value = 9;
      PropertySetList propertysets_value = 10;
      PropertyValueExtension extension_value = 11;
    }
    message PropertyValueExtension { extensions 1 to max; }
  }
  message PropertySet {
    repeated string keys = 1;
    repeated PropertyValue values = 2;
    extensions 3 to max;
  }
  message PropertySetList {
    repeated PropertySet propertyset = 1;
    extensions 2 to max;
  }
  message MetaData {
    optional bool is_multi_part = 1;
    optional string content_type = 2;
    optional uint64 size = 3;
    optional uint64 seq = 4;
    optional string file_name = 5;
    optional string file_type = 6;
    optional string md5 = 7;
    optional string description = 8;
    extensions 9 to max;
  }
  message Metric {
    optional string name = 1;
    optional uint64 alias = 2;
    optional uint64 timestamp = 3;
    optional uint32 datatype = 4;
    optional bool is_historical = 5;
    optional bool is_transient = 6;
    optional bool is_null = 7;
    optional MetaData metadata = 8;
    optional PropertySet properties = 9;
    oneof value {
      uint32 int_value = 10;
      uint64 long_value = 11;
      float float_value = 12;
      double double_value = 13;
      bool boolean_value = 14;
      string string_value = 15;
      bytes bytes_value = 16;
      DataSet dataset_value = 17;
      Template template_value = 18;
      MetricValueExtension extension_value = 19;
    }
    message MetricValueExtension { extensions 1 to max; }
  }
  optional uint64 timestamp = 1;
  repeated Metric metrics = 2;
  optional uint64 seq = 3;
  optional string uuid = 4;
  optional bytes body = 5;
  extensions 6 to max;
}
`;

/** Sparkplug B DataType numbers used here (sparkplug_b.proto `enum DataType`). */
export const SparkplugDataType = { Int64: 4, UInt64: 8, Double: 10, Boolean: 11, String: 12, DateTime: 13, Bytes: 17 } as const;

/** One metric as Bifrost writes it. */
export interface SparkplugMetric {
  name?: string;
  alias?: number;
  timestamp?: number;
  datatype?: number;
  isNull?: boolean;
  value?: number | bigint | boolean | string | Uint8Array;
  /** Quality as the OPC UA-style code Ignition reads from the `Quality` property (192 good, 64 uncertain, 0 bad). */
  quality?: number;
}

/** A payload as Bifrost writes it. */
export interface SparkplugPayload {
  timestamp: number;
  seq?: number;
  metrics: SparkplugMetric[];
}

let payloadType: protobufNs.Type | undefined;
function type(): protobufNs.Type {
  const protobuf = require('protobufjs') as typeof protobufNs;
  payloadType ??= protobuf.parse(SPARKPLUG_B_PROTO, { keepCase: true }).root.lookupType('org.eclipse.tahu.protobuf.Payload');
  return payloadType;
}

function u64(v: number | bigint): string | number {
  if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) return v;
  // Sparkplug carries signed Int64 as its two's complement in the uint64 long_value field;
  // protobufjs's fromObject parses a decimal string into a 64-bit Long.
  return BigInt.asUintN(64, BigInt(typeof v === 'number' ? Math.trunc(v) : v)).toString();
}

/**
 * Encodes a Sparkplug B payload.
 * @example const bytes = encodeSparkplugPayload({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', datatype: 4, value: 0n }] })
 */
export function encodeSparkplugPayload(p: SparkplugPayload): Uint8Array {
  const T = type();
  const metrics = p.metrics.map((m) => {
    const out: Record<string, unknown> = {};
    if (m.name !== undefined) out.name = m.name;
    if (m.alias !== undefined) out.alias = u64(m.alias);
    if (m.timestamp !== undefined) out.timestamp = u64(m.timestamp);
    if (m.datatype !== undefined) out.datatype = m.datatype;
    if (m.quality !== undefined) out.properties = { keys: ['Quality'], values: [{ type: 3, int_value: m.quality }] };
    if (m.isNull || m.value === undefined) out.is_null = true;
    else {
      const v = m.value;
      if (typeof v === 'boolean') out.boolean_value = v;
      else if (typeof v === 'string') out.string_value = v;
      else if (typeof v === 'bigint') out.long_value = u64(v);
      else if (v instanceof Uint8Array) out.bytes_value = v;
      else if (m.datatype === SparkplugDataType.DateTime || m.datatype === SparkplugDataType.Int64 || m.datatype === SparkplugDataType.UInt64) out.long_value = u64(v);
      else out.double_value = v;
    }
    return out;
  });
  const msg: Record<string, unknown> = { timestamp: u64(p.timestamp), metrics };
  if (p.seq !== undefined) msg.seq = u64(p.seq);
  try {
    return T.encode(T.fromObject(msg)).finish();
  } catch (cause) {
    throw new BifrostError('BIFROST_CLOUD_SPARKPLUG', `cannot encode Sparkplug B payload: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decodes a Sparkplug B payload to plain data (64-bit fields as numbers when safe, else strings).
 * @example const p = decodeSparkplugPayload(message); p.metrics[0].name
 */
export function decodeSparkplugPayload(bytes: Uint8Array): { timestamp?: number; seq?: number; metrics: Array<Record<string, unknown>> } {
  const T = type();
  try {
    const obj = T.toObject(T.decode(bytes), { longs: Number, bytes: Buffer, defaults: false, oneofs: true }) as { timestamp?: number; seq?: number; metrics?: Array<Record<string, unknown>> };
    return { ...obj, metrics: obj.metrics ?? [] };
  } catch (cause) {
    throw new BifrostError('BIFROST_CLOUD_SPARKPLUG', `cannot decode Sparkplug B payload: ${(cause as Error).message}`, { cause });
  }
}

/** Sparkplug topic: `spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]` (Sparkplug 3.0.0 §4.1). */
export function sparkplugTopic(groupId: string, type: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD', edgeNodeId: string, deviceId?: string): string {
  return `spBv1.0/${groupId}/${type}/${edgeNodeId}${deviceId === undefined ? '' : `/${deviceId}`}`;
}

/** A metric's value as Sparkplug datatype and value, from a JSON-safe record value. */
export function sparkplugValue(value: unknown): { datatype: number; value?: SparkplugMetric['value'] } {
  if (value === null || value === undefined) return { datatype: SparkplugDataType.Double };
  if (typeof value === 'boolean') return { datatype: SparkplugDataType.Boolean, value };
  if (typeof value === 'number') return { datatype: SparkplugDataType.Double, value };
  if (typeof value === 'bigint') return { datatype: SparkplugDataType.Int64, value };
  if (typeof value === 'string') return { datatype: SparkplugDataType.String, value };
  if (value instanceof Uint8Array) return { datatype: SparkplugDataType.Bytes, value };
  return { datatype: SparkplugDataType.String, value: JSON.stringify(value) };
}

interface DeviceMetric {
  alias: number;
  datatype: number;
  last: SparkplugMetric;
}

/** A Sparkplug message ready to publish. */
export interface SparkplugMessage {
  topic: string;
  payload: Uint8Array;
  kind: 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDATA';
}

/** A value of one tag for {@link SparkplugEdgeNode.data}. */
export interface SparkplugSample {
  tag: string;
  value: unknown;
  quality: 'good' | 'uncertain' | 'bad';
  timestamp: number;
}

const QUALITY_CODE = { good: 192, uncertain: 64, bad: 0 } as const;

/**
 * The state of one Sparkplug edge node: bdSeq, seq, and the metric aliases of its devices.
 * @example
 * const node = new SparkplugEdgeNode({ groupId: 'plant1', edgeNodeId: 'gw1' });
 * const will = node.nextDeath(); // set as the MQTT will, then publish node.births()
 */
export class SparkplugEdgeNode {
  readonly groupId: string;
  readonly edgeNodeId: string;
  #bdSeq = -1;
  #seq = 0;
  #nextAlias = 1;
  #devices = new Map<string, Map<string, DeviceMetric>>();

  constructor(options: { groupId: string; edgeNodeId: string }) {
    this.groupId = options.groupId;
    this.edgeNodeId = options.edgeNodeId;
  }

  /** The current birth/death sequence number. */
  get bdSeq(): number {
    return this.#bdSeq;
  }

  #nextSeq(): number {
    const s = this.#seq;
    this.#seq = (this.#seq + 1) % 256;
    return s;
  }

  /**
   * Starts a new MQTT session: increments bdSeq (0–255) and returns the NDEATH to set as the
   * will (Sparkplug 3.0.0 §5.3: NDEATH is the will message, carrying the bdSeq of the next NBIRTH).
   */
  nextDeath(): SparkplugMessage {
    this.#bdSeq = (this.#bdSeq + 1) % 256;
    return this.death();
  }

  /** The NDEATH of the current session (same bdSeq as its NBIRTH), for a graceful disconnect. */
  death(): SparkplugMessage {
    return {
      kind: 'NDEATH',
      topic: sparkplugTopic(this.groupId, 'NDEATH', this.edgeNodeId),
      payload: encodeSparkplugPayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', datatype: SparkplugDataType.Int64, value: this.#bdSeq }] }),
    };
  }

  /** The NBIRTH (seq 0, with bdSeq and `Node Control/Rebirth`) followed by a DBIRTH per known device. */
  births(): SparkplugMessage[] {
    this.#seq = 0;
    const now = Date.now();
    const out: SparkplugMessage[] = [
      {
        kind: 'NBIRTH',
        topic: sparkplugTopic(this.groupId, 'NBIRTH', this.edgeNodeId),
        payload: encodeSparkplugPayload({
          timestamp: now,
          seq: this.#nextSeq(),
          metrics: [
            { name: 'bdSeq', datatype: SparkplugDataType.Int64, value: this.#bdSeq, timestamp: now },
            { name: 'Node Control/Rebirth', datatype: SparkplugDataType.Boolean, value: false, timestamp: now },
          ],
        }),
      },
    ];
    for (const device of this.#devices.keys()) out.push(this.#dbirth(device));
    return out;
  }

  #dbirth(device: string): SparkplugMessage {
    const metrics = [...(this.#devices.get(device) ?? new Map<string, DeviceMetric>()).entries()].map(([name, m]) => ({ ...m.last, name, alias: m.alias, datatype: m.datatype }));
    return { kind: 'DBIRTH', topic: sparkplugTopic(this.groupId, 'DBIRTH', this.edgeNodeId, device), payload: encodeSparkplugPayload({ timestamp: Date.now(), seq: this.#nextSeq(), metrics }) };
  }

  /**
   * The messages for samples of one device: a DBIRTH first when a tag is new or changed type
   * (a DBIRTH must list every metric, §6.4.14), then one DDATA carrying metrics by alias (no name).
   */
  data(device: string, samples: readonly SparkplugSample[]): SparkplugMessage[] {
    let known = this.#devices.get(device);
    if (!known) this.#devices.set(device, (known = new Map()));
    const out: SparkplugMessage[] = [];
    let metrics: SparkplugMetric[] = [];
    const flush = () => {
      if (metrics.length === 0) return;
      out.push({ kind: 'DDATA', topic: sparkplugTopic(this.groupId, 'DDATA', this.edgeNodeId, device), payload: encodeSparkplugPayload({ timestamp: Date.now(), seq: this.#nextSeq(), metrics }) });
      metrics = [];
    };
    const prepared = samples.map((s) => {
      const v = sparkplugValue(s.value);
      const metric: SparkplugMetric = { timestamp: s.timestamp, quality: QUALITY_CODE[s.quality], isNull: v.value === undefined || s.quality === 'bad' };
      if (!metric.isNull && v.value !== undefined) metric.value = v.value;
      return { tag: s.tag, datatype: v.datatype, metric };
    });
    const born = new Set<number>();
    for (let i = 0; i < prepared.length; i++) {
      if (born.has(i)) continue;
      const { tag, datatype, metric } = prepared[i] as (typeof prepared)[number];
      const m = known.get(tag);
      if (!m || m.datatype !== datatype) {
        flush();
        // Register every tag of the rest of the poll that is new (or changed type) at its first
        // occurrence, so a poll of many new tags costs one DBIRTH, not one per tag.
        const seen = new Set<string>();
        for (let j = i; j < prepared.length; j++) {
          const p = prepared[j] as (typeof prepared)[number];
          if (seen.has(p.tag)) continue;
          seen.add(p.tag);
          const k = known.get(p.tag);
          if (k && k.datatype === p.datatype) continue;
          known.set(p.tag, { alias: k?.alias ?? this.#nextAlias++, datatype: p.datatype, last: p.metric });
          born.add(j);
        }
        out.push(this.#dbirth(device));
        continue;
      }
      m.last = metric;
      // The datatype is repeated in DDATA although §6.4.6 lets it be omitted: decoders such as
      // Eclipse Tahu's JavaScript one pick the value field by datatype and read null without it.
      metrics.push({ ...metric, alias: m.alias, datatype: m.datatype });
    }
    flush();
    return out;
  }

  /**
   * True when an NCMD payload asks for a rebirth (`Node Control/Rebirth` = true, §6.4.18).
   * @example if (node.isRebirthRequest(payload)) for (const m of node.births()) publish(m)
   */
  isRebirthRequest(payload: Uint8Array): boolean {
    const p = decodeSparkplugPayload(payload);
    return p.metrics.some((m) => m.name === 'Node Control/Rebirth' && m.boolean_value === true);
  }
}
