/**
 * @module
 * The batched value path (issue 16) against the per-value path it replaced, on random polls
 * (fast-check): the same values and qualities, the same deadband decisions, the same store
 * contents and the same sink payloads. The oracle below is the gateway's former `#onValue`,
 * value by value with TagValues and `exceedsDeadband`. The polls come from a device whose reads
 * follow a script (`script://`), so each run is exactly reproducible; everything after the read —
 * columns, scaling, store, deadband, sink batches — is the gateway's own, with the real store.
 */
import {
  applyScale,
  BaseDevice,
  BifrostError,
  type ConnectOptions,
  changedBeyond,
  type DeviceIdentity,
  exceedsDeadband,
  jsonValue,
  parseGatewayConfig,
  registerDriver,
  type TagValue,
  type Value,
  ValueColumns,
} from '@bifrost/core';
import { waitFor } from '@bifrost/core/test-fixtures';
import { batchRecords, defaultComponents, Gateway, type SinkBatch, type SinkRecord, type ValueBatch } from '@bifrost/gateway';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** Polls each script device answers, in order (then the last one again). */
const scripts = new Map<string, TagValue[][]>();
const reads = new Map<string, number>();

class ScriptDevice extends BaseDevice {
  readonly protocol = 'script';
  readonly #key: string;
  constructor(url: URL, options: ConnectOptions) {
    super(url, options);
    this.#key = url.hostname;
  }
  protected async doConnect(): Promise<void> {}
  protected async doDisconnect(): Promise<void> {}
  protected async doReadMany(addresses: readonly string[]): Promise<TagValue[]> {
    const polls = scripts.get(this.#key) ?? [];
    const n = reads.get(this.#key) ?? 0;
    reads.set(this.#key, n + 1);
    const poll = polls[Math.min(n, polls.length - 1)] ?? [];
    return addresses.map((a, i) => ({ ...(poll[i] as TagValue), address: a }));
  }
  protected async doWrite(): Promise<void> {}
  protected async doIdentify(): Promise<DeviceIdentity> {
    return { protocol: 'script' };
  }
}
registerDriver({ name: 'script', schemes: ['script'], connect: async (url, options = {}) => new ScriptDevice(url, options) });

type Kind = 'float' | 'int' | 'bool' | 'bigint' | 'text';
interface TagSpec {
  kind: Kind;
  deadband: number;
  scale: boolean;
  unit: boolean;
}

const error = new BifrostError('BIFROST_MODBUS_ILLEGAL_ADDRESS', 'refused', { status: 2 });
const valueFor = (kind: Kind): fc.Arbitrary<Value> =>
  kind === 'float'
    ? fc.oneof(fc.double({ min: -1000, max: 1000, noNaN: true }), fc.constantFrom(1.5, 1.5, 2, Number.NaN))
    : kind === 'int'
      ? fc.integer({ min: -5, max: 5 })
      : kind === 'bool'
        ? fc.boolean()
        : kind === 'bigint'
          ? fc.bigInt({ min: -3n, max: 3n })
          : fc.constantFrom('a', 'b', '');
const reading = (kind: Kind): fc.Arbitrary<Omit<TagValue, 'address' | 'timestamp'>> =>
  fc.oneof(
    { weight: 6, arbitrary: valueFor(kind).map((value) => ({ value, quality: 'good' as const })) },
    { weight: 1, arbitrary: valueFor(kind).map((value) => ({ value, quality: 'uncertain' as const })) },
    { weight: 1, arbitrary: fc.constant({ value: null, quality: 'bad' as const, error }) },
  );
const scenario = fc
  .array(fc.record({ kind: fc.constantFrom<Kind>('float', 'int', 'bool', 'bigint', 'text'), deadband: fc.constantFrom(0, 0, 0.5, 2), scale: fc.boolean(), unit: fc.boolean() }), {
    minLength: 1,
    maxLength: 6,
  })
  .chain((tags) =>
    fc.record({
      tags: fc.constant(tags as TagSpec[]),
      polls: fc.array(fc.tuple(...tags.map((t) => reading(t.kind))), { minLength: 1, maxLength: 6 }),
      sourceTimestamps: fc.boolean(),
    }),
  );

/** The gateway's former per-value path, value by value. */
function oracle(tags: TagSpec[], polls: TagValue[][]) {
  const store = new Map<string, { t: number[]; v: number[] }>();
  const records: SinkRecord[] = [];
  const changes: Array<[string, Value | null, string]> = [];
  const lastForwarded: (TagValue | undefined)[] = [];
  const latest: (TagValue | undefined)[] = [];
  for (const poll of polls) {
    poll.forEach((tv, i) => {
      const spec = tags[i] as TagSpec;
      let value = tv.value;
      if (spec.scale && typeof value === 'number') value = applyScale(value, { gain: 2, offset: 1 });
      const gv: TagValue & { unit?: string } = { ...tv, value };
      if (spec.unit) gv.unit = 'degC';
      const key = `dev.t${i}`;
      if (gv.quality !== 'bad' && gv.value !== null && (typeof gv.value === 'number' || typeof gv.value === 'bigint' || typeof gv.value === 'boolean')) {
        const s = store.get(key) ?? { t: [], v: [] };
        const n = typeof gv.value === 'boolean' ? (gv.value ? 1 : 0) : Number(gv.value);
        if (s.t.length === 0 || gv.timestamp > (s.t.at(-1) as number)) {
          s.t.push(gv.timestamp);
          s.v.push(n);
        }
        store.set(key, s);
      }
      if (exceedsDeadband(latest[i], gv, 0)) changes.push([`t${i}`, gv.value, gv.quality]);
      latest[i] = gv;
      if (exceedsDeadband(lastForwarded[i], gv, spec.deadband)) {
        lastForwarded[i] = gv;
        const r: SinkRecord = { device: 'dev', tag: `t${i}`, value: jsonValue(gv.value), quality: gv.quality, timestamp: gv.timestamp };
        if (gv.sourceTimestamp !== undefined) r.sourceTimestamp = gv.sourceTimestamp;
        if (gv.unit !== undefined) r.unit = gv.unit;
        if (gv.error) r.error = gv.error.toJSON();
        records.push(r);
      }
    });
  }
  return { store, records, changes, latest };
}

describe('the batched path gives what the per-value path gave', () => {
  it('changedBeyond on columns decides as exceedsDeadband on TagValues', () => {
    fc.assert(
      fc.property(fc.constantFrom<Kind>('float', 'int', 'bool', 'bigint', 'text'), fc.constantFrom(0, 0.5, 2), (kind, deadband) =>
        fc.assert(
          fc.property(reading(kind), reading(kind), (a, b) => {
            const prev = { ...a, address: 'x', timestamp: 1 } as TagValue;
            const next = { ...b, address: 'x', timestamp: 2 } as TagValue;
            const cols = new ValueColumns(2);
            cols.set(0, prev.value, prev.quality === 'good' ? 0 : prev.quality === 'uncertain' ? 1 : 2);
            cols.set(1, next.value, next.quality === 'good' ? 0 : next.quality === 'uncertain' ? 1 : 2);
            expect(changedBeyond(cols, 0, cols, 1, deadband)).toBe(exceedsDeadband(prev, next, deadband));
            expect(cols.value(1)).toEqual(next.value);
          }),
          { numRuns: 50 },
        ),
      ),
      { numRuns: 15 },
    );
  });

  it('on random polls: the same store contents, live changes and sink payloads', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ tags, polls, sourceTimestamps }) => {
        const key = `r${run++}`;
        const t0 = 1_700_000_000_000 + run * 100_000;
        const script = polls.map((poll, p) => poll.map((r) => ({ ...r, address: '', timestamp: t0 + p * 1000, ...(sourceTimestamps ? { sourceTimestamp: t0 + p * 1000 - 7 } : {}) }) as TagValue));
        scripts.set(key, script);
        reads.set(key, 0);
        const yaml = [
          'devices:',
          '  - name: dev',
          `    url: script://${key}`,
          '    pollMs: 5',
          '    deadAfter: 0',
          '    tags:',
          ...tags.map((t, i) => `      - { name: t${i}, address: "A${i}", deadband: ${t.deadband}${t.scale ? ', scale: { gain: 2, offset: 1 }' : ''}${t.unit ? ', unit: degC' : ''} }`),
        ].join('\n');
        const { config } = parseGatewayConfig(`${yaml}\n`, 'gw.yaml');
        const real = await defaultComponents();
        const batches: SinkBatch[] = [];
        const gw = new Gateway(config, {
          baseDir: '/tmp',
          components: {
            ...real,
            validate() {},
            createSink: async () => ({ name: 'rec', start: async () => {}, stop: async () => {}, metrics: () => ({}), publish: () => {}, publishBatch: (b) => void batches.push(structuredClone(b)) }),
          },
        });
        const changes: Array<[string, Value | null, string]> = [];
        gw.on('batch', (b: ValueBatch) => {
          for (let k = 0; k < b.count; k++) changes.push([b.tags[b.index[k] as number]?.name as string, b.values[k] as Value | null, ['good', 'uncertain', 'bad'][b.quality[k] as number] as string]);
        });
        // A sink is configured so that the gateway forwards; the recording one above stands in for it.
        (config.sinks as unknown[]).push({ type: 'mqtt', url: 'mqtt://127.0.0.1:1' });
        await gw.start();
        await waitFor(() => (reads.get(key) ?? 0) >= script.length, 10_000);
        await gw.stop();
        const want = oracle(tags, script.slice(0, reads.get(key)).slice(0, script.length));
        expect(batches.flatMap((b) => batchRecords(b))).toEqual(want.records);
        expect(changes).toEqual(want.changes);
        for (const [series, s] of want.store) {
          expect(gw.store?.query(series, { from: 0, to: Number.MAX_SAFE_INTEGER }), series).toEqual(s);
        }
        expect(gw.store?.series().length).toBe(want.store.size);
        // latestOf holds the last poll whole: its value, quality and the PLC's timestamp.
        want.latest.forEach((tv, i) => {
          const got = gw.latestOf('dev', `t${i}`);
          expect({ value: got?.value, quality: got?.quality, sourceTimestamp: got?.sourceTimestamp }).toEqual({ value: tv?.value, quality: tv?.quality, sourceTimestamp: tv?.sourceTimestamp });
        });
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
