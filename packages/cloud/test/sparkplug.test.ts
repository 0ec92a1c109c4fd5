import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSparkplugPayload, encodeSparkplugPayload, MqttSink, type SinkRecord, SparkplugDataType } from '@bifrost/cloud';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { waitFor } from '@bifrost/core/test-fixtures';
import mqtt, { type MqttClient } from 'mqtt';
import * as tahu from 'sparkplug-payload';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The independent decoder: Eclipse Tahu's sparkplug-payload (its own generated protobuf code).
const sp = tahu.get('spBv1.0') as { decodePayload(b: Uint8Array): TahuPayload; encodePayload(p: unknown): Uint8Array };
interface TahuMetric {
  name?: string;
  alias?: unknown;
  type?: string;
  value?: unknown;
  isNull?: boolean;
  timestamp?: unknown;
  properties?: Record<string, { type: string; value: unknown }>;
}
interface TahuPayload {
  timestamp?: unknown;
  seq?: unknown;
  metrics?: TahuMetric[];
}
const num = (v: unknown) => (v === undefined || v === null ? undefined : Number(String(v)));

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../..');
const root = mkdtempSync(join(tmpdir(), 'bifrost-spb-'));
let broker: RunningMosquitto;
let sub: MqttClient;
const msgs: Array<{ topic: string; type: string; p: TahuPayload }> = [];

beforeAll(async () => {
  broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
  sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 100 });
  sub.on('message', (topic, payload) => msgs.push({ topic, type: topic.split('/')[2] as string, p: sp.decodePayload(payload) }));
  await sub.subscribeAsync('spBv1.0/#', { qos: 1 });
});
afterAll(async () => {
  await sub?.endAsync(true);
  await broker?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('Sparkplug B codec', () => {
  it('encodes what Eclipse Tahu decodes, and decodes what Tahu encodes', () => {
    const bytes = encodeSparkplugPayload({
      timestamp: 1_700_000_000_123,
      seq: 7,
      metrics: [
        { name: 'bdSeq', datatype: SparkplugDataType.Int64, value: 3 },
        { name: 'neg', datatype: SparkplugDataType.Int64, value: -2n },
        { name: 'temp', alias: 5, datatype: SparkplugDataType.Double, value: 21.5, quality: 192 },
        { name: 'on', datatype: SparkplugDataType.Boolean, value: true },
        { name: 's', datatype: SparkplugDataType.String, value: 'héllo' },
        { name: 'gone', datatype: SparkplugDataType.Double, isNull: true },
      ],
    });
    const t = sp.decodePayload(bytes);
    expect(num(t.timestamp)).toBe(1_700_000_000_123);
    expect(num(t.seq)).toBe(7);
    const m = t.metrics ?? [];
    expect(m.map((x) => [x.name, x.type])).toEqual([
      ['bdSeq', 'Int64'],
      ['neg', 'Int64'],
      ['temp', 'Double'],
      ['on', 'Boolean'],
      ['s', 'String'],
      ['gone', 'Double'],
    ]);
    expect(num(m[0]?.value)).toBe(3);
    expect(BigInt.asIntN(64, BigInt(String(m[1]?.value)))).toBe(-2n);
    expect([m[2]?.value, num(m[2]?.alias), m[3]?.value, m[4]?.value, m[5]?.value]).toEqual([21.5, 5, true, 'héllo', null]);
    expect(num(m[2]?.properties?.Quality?.value)).toBe(192);

    const back = decodeSparkplugPayload(sp.encodePayload({ timestamp: 5, seq: 1, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }));
    expect(back).toMatchObject({ timestamp: 5, seq: 1, metrics: [{ name: 'Node Control/Rebirth', datatype: 11, boolean_value: true }] });
  });

  it('random bytes never throw anything but a BifrostError', () => {
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(Array.from({ length: i % 40 }, (_, k) => (k * 97 + i * 31) & 0xff));
      try {
        decodeSparkplugPayload(b);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('BIFROST_CLOUD_SPARKPLUG');
      }
    }
  });
});

describe('Sparkplug B edge node against Mosquitto', () => {
  it('NBIRTH, DBIRTH with aliases, DDATA by alias, seq 0–255 wrapping, rebirth on command, NDEATH with the matching bdSeq', async () => {
    const sink = new MqttSink({ url: broker.url, queue: { dir: join(root, 'q1') }, payload: 'sparkplug', sparkplug: { groupId: 'plant1', edgeNodeId: 'gw1' }, maxInflight: 16 });
    await sink.start();
    await sink.connected(10_000);
    const records: SinkRecord[] = Array.from({ length: 300 }, (_, i) => ({
      device: i % 2 ? 'press2' : 'press1',
      tag: ['temp', 'running', 'state'][i % 3] as string,
      value: i % 3 === 0 ? i + 0.5 : i % 3 === 1 ? i % 4 === 1 : `s${i}`,
      quality: i === 9 ? 'bad' : 'good',
      timestamp: 1_700_000_000_000 + i,
    }));
    await sink.publish(records);
    // Every record arrives either in the DBIRTH that introduced its tag or in a DDATA.
    const valueCount = () => msgs.filter((m) => m.topic.includes('/gw1')).reduce((n, m) => n + (m.type === 'DDATA' ? (m.p.metrics?.length ?? 0) : 0), 0);
    await waitFor(() => valueCount() + 6 >= 300, 20_000);
    const node = msgs.filter((m) => m.topic.includes('/gw1'));
    expect(node[0]?.topic).toBe('spBv1.0/plant1/NBIRTH/gw1');
    expect(num(node[0]?.p.seq)).toBe(0);
    const birthMetrics = node[0]?.p.metrics ?? [];
    expect(birthMetrics.map((m) => m.name)).toEqual(['bdSeq', 'Node Control/Rebirth']);
    const bdSeq = num(birthMetrics[0]?.value);
    expect(birthMetrics[1]?.value).toBe(false);
    // seq runs 0,1,2,…,255,0,1,… over every message after NBIRTH (NDEATH excepted).
    const seqs = node.map((m) => num(m.p.seq));
    expect(seqs.length).toBeGreaterThan(256);
    seqs.forEach((s, i) => {
      expect(s).toBe(i % 256);
    });
    // Each device is born before its data; DDATA carries aliases only, which map to DBIRTH names.
    const aliases = new Map<number, string>();
    for (const m of node) {
      if (m.type === 'DBIRTH') for (const x of m.p.metrics ?? []) aliases.set(num(x.alias) as number, `${m.topic.split('/')[4]}/${x.name}`);
      if (m.type === 'DDATA') {
        for (const x of m.p.metrics ?? []) {
          expect(x.name ?? '').toBe('');
          expect(aliases.get(num(x.alias) as number)?.startsWith(`${m.topic.split('/')[4]}/`)).toBe(true);
        }
      }
    }
    expect(new Set(aliases.values())).toEqual(new Set(['press1/temp', 'press1/running', 'press1/state', 'press2/temp', 'press2/running', 'press2/state']));
    expect(new Set(aliases.keys()).size).toBe(6);
    // Values arrive in order per tag.
    const seen = new Map<string, unknown[]>();
    for (const m of node.filter((x) => x.type === 'DDATA'))
      for (const x of m.p.metrics ?? []) seen.set(aliases.get(num(x.alias) as number) as string, [...(seen.get(aliases.get(num(x.alias) as number) as string) ?? []), x.value]);
    const p1temp = records.filter((r) => r.device === 'press1' && r.tag === 'temp').map((r) => (r.quality === 'bad' ? null : r.value));
    expect(seen.get('press1/temp')).toEqual(p1temp.slice(1));

    // Rebirth on command: a fresh NBIRTH (seq 0, same bdSeq) and a DBIRTH per device.
    const before = msgs.length;
    await sub.publishAsync('spBv1.0/plant1/NCMD/gw1', Buffer.from(sp.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })), { qos: 1 });
    await waitFor(() => msgs.slice(before).filter((m) => m.type === 'DBIRTH').length >= 2, 10_000);
    const reborn = msgs.slice(before).filter((m) => m.type !== 'NCMD');
    expect(reborn.map((m) => m.type)).toEqual(['NBIRTH', 'DBIRTH', 'DBIRTH']);
    expect(reborn.map((m) => num(m.p.seq))).toEqual([0, 1, 2]);
    expect(num(reborn[0]?.p.metrics?.[0]?.value)).toBe(bdSeq);

    // A graceful stop publishes NDEATH with the session's bdSeq.
    await sink.stop();
    await waitFor(() => msgs.some((m) => m.type === 'NDEATH' && m.topic.endsWith('/gw1')), 10_000);
    const death = msgs.find((m) => m.type === 'NDEATH' && m.topic.endsWith('/gw1'));
    expect(death?.p.metrics?.map((m) => [m.name, num(m.value)])).toEqual([['bdSeq', bdSeq]]);
    expect(death?.p.seq).toBeUndefined();
  });

  it('the broker publishes the NDEATH will, with the bdSeq of the NBIRTH, when the edge node process is killed', async () => {
    execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b', join(repo, 'packages/cloud')], { stdio: 'pipe' });
    const child: ChildProcess = spawn(process.execPath, [join(here, 'fixtures/producer.mjs'), join(root, 'q2'), broker.url, 'sparkplug', 'willtest'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitFor(() => msgs.some((m) => m.topic === 'spBv1.0/willtest/DDATA/crashy/d1'), 20_000);
    const birth = msgs.find((m) => m.topic === 'spBv1.0/willtest/NBIRTH/crashy');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await waitFor(() => msgs.some((m) => m.topic === 'spBv1.0/willtest/NDEATH/crashy'), 10_000);
    const death = msgs.find((m) => m.topic === 'spBv1.0/willtest/NDEATH/crashy');
    expect(num(death?.p.metrics?.[0]?.value)).toBe(num(birth?.p.metrics?.find((m) => m.name === 'bdSeq')?.value));
  }, 120_000);
});
