// Regression: the MQTT sink let mqtt-packet pre-build a 2-byte Buffer for every 16-bit number
// (65,536 Buffer objects, about 8 MB of the gateway's heap: bench/gateway-memory.mjs found it in a
// heap snapshot). The sink now connects with `writeCache: false`. It runs in a child process on the
// built package, because any other MQTT client in this test process would fill the cache itself.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '@bifrost/cloud/test-fixtures';
import { afterAll, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../../..');
const root = mkdtempSync(join(tmpdir(), 'bifrost-reg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const child = `
import { createRequire } from 'node:module';
import { DurableQueue } from '../../dist/durable-queue.js';
import { MqttSink } from '../../dist/mqtt-sink.js';
const [dir, url] = process.argv.slice(1); // under -e there is no script path
const sink = new MqttSink({ url, queue: await DurableQueue.open({ dir }), topic: 'cache/{tag}', qos: 1 });
await sink.start();
await sink.connected(10_000);
await sink.publish(Array.from({ length: 300 }, (_, i) => ({ device: 'd', tag: 't' + (i % 7), value: i, quality: 'good', timestamp: i })));
while (sink.metrics().queue.depth > 0) await new Promise((r) => setTimeout(r, 20));
const mqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt')).resolve('mqtt-packet');
const numbers = createRequire(mqttPacket)('./numbers.js');
console.log(JSON.stringify({ published: sink.metrics().published, cached: Object.keys(numbers.cache).length }));
await sink.stop();
`;

it('publishing at QoS 1 does not build mqtt-packet’s 65,536-entry number cache', async () => {
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b', join(repo, 'packages/cloud')], { stdio: 'pipe' });
  const broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
  try {
    // The script sits in test/regressions so its relative imports reach dist/.
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', child, join(root, 'q'), broker.url], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.stderr.on('data', (d: Buffer) => (stderr += d));
      c.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`))));
    });
    expect(JSON.parse(out)).toEqual({ published: 300, cached: 0 });
  } finally {
    await broker.close();
  }
}, 30_000);
