// Regression: stop() hung forever when called while the Sparkplug sink was sending a rebirth —
// the stop's wake-up went to an AbortController the pump had already replaced.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSparkplugPayload, MqttSink } from '@bifrost/cloud';
import { startMosquitto } from '@bifrost/cloud/test-fixtures';
import { waitFor } from '@bifrost/core/test-fixtures';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-reg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('stop() right after a rebirth request returns', async () => {
  const broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
  const sink = new MqttSink({ url: broker.url, queue: { dir: join(root, 'q') }, payload: 'sparkplug', sparkplug: { groupId: 'g', edgeNodeId: 'e' }, maxInflight: 16 });
  await sink.start();
  await sink.connected(10_000);
  const c = await mqtt.connectAsync(broker.url);
  let births = 0;
  c.on('message', (t) => {
    if (t.includes('/DBIRTH/')) births++;
  });
  await c.subscribeAsync('spBv1.0/#', { qos: 1 });
  await sink.publish(Array.from({ length: 100 }, (_, i) => ({ device: i % 2 ? 'a' : 'b', tag: `t${i % 3}`, value: i, quality: 'good' as const, timestamp: i })));
  await waitFor(() => sink.metrics().queue?.depth === 0, 10_000);
  const before = births;
  await c.publishAsync('spBv1.0/g/NCMD/e', Buffer.from(encodeSparkplugPayload({ timestamp: 1, metrics: [{ name: 'Node Control/Rebirth', datatype: 11, value: true }] })), { qos: 1 });
  await waitFor(() => births >= before + 2, 10_000);
  await sink.stop();
  expect(sink.metrics().connected).toBe(false);
  await c.endAsync(true);
  await broker.close();
});
