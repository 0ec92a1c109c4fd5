/**
 * @module
 * The one conformance suite every sink runs (as core's driverSuite is for drivers): records
 * arrive complete and in order per tag, records published while the sink is stopped wait in the
 * queue and arrive after a restart, metrics add up, and stop() is idempotent.
 */
import { waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttSink } from '../mqtt-sink.js';
import type { SinkRecord } from '../record.js';

/** What a suite needs from one sink setup. */
export interface SinkSuiteSetup {
  /** A sink not yet started, draining a fresh queue. */
  sink: MqttSink;
  /** What the far side received so far, decoded to (device, tag, value). */
  received(): Array<{ device: string; tag: string; value: unknown }>;
  /** Stops whatever `setup` started (the suite stops the sink itself). */
  teardown(): Promise<void>;
}

/** Options of {@link sinkSuite}. */
export interface SinkSuiteOptions {
  name: string;
  setup(): Promise<SinkSuiteSetup>;
  /** Records per phase (default 60). */
  count?: number;
}

/**
 * Registers the sink conformance tests for one sink.
 * @example sinkSuite({ name: 'mqtt json', setup: async () => ({ sink, received: () => got, teardown: () => broker.close() }) })
 */
export function sinkSuite(o: SinkSuiteOptions): void {
  const count = o.count ?? 60;
  describe(`sink suite: ${o.name}`, () => {
    let s: SinkSuiteSetup;
    beforeAll(async () => {
      s = await o.setup();
    });
    afterAll(async () => {
      await s?.sink.stop();
      await s?.teardown();
    });
    const records = (from: number, n: number): SinkRecord[] =>
      Array.from({ length: n }, (_, i) => ({ device: `dev${(from + i) % 2}`, tag: `tag${(from + i) % 3}`, value: from + i, quality: 'good', timestamp: 1_700_000_000_000 + from + i }));
    const perTag = (rows: Array<{ device: string; tag: string; value: unknown }>) => {
      const m = new Map<string, unknown[]>();
      for (const r of rows) m.set(`${r.device}/${r.tag}`, [...(m.get(`${r.device}/${r.tag}`) ?? []), r.value]);
      return m;
    };

    it('delivers every record, in order per tag, and empties the queue', async () => {
      await s.sink.start();
      await s.sink.connected(15_000);
      await s.sink.publish(records(0, count));
      await waitFor(() => s.received().length >= count, 15_000);
      expect(perTag(s.received())).toEqual(perTag(records(0, count)));
      await waitFor(() => s.sink.metrics().queue?.depth === 0, 5000);
      expect(s.sink.metrics().published).toBe(count);
    });

    it('keeps records published while stopped and delivers them after a restart', async () => {
      await s.sink.stop();
      await s.sink.stop();
      await s.sink.publish(records(count, count));
      expect(s.sink.metrics().connected).toBe(false);
      await s.sink.start();
      await waitFor(() => s.received().length >= 2 * count, 15_000);
      expect(perTag(s.received())).toEqual(perTag(records(0, 2 * count)));
    });
  });
}
