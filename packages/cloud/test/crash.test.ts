import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningMosquitto, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { seededRandom } from '@bifrost/core';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../..');
const producer = join(here, 'fixtures/producer.mjs');
const root = mkdtempSync(join(tmpdir(), 'bifrost-crash-'));
let broker: RunningMosquitto;
let sub: MqttClient;
const LANES = 4;
const received: number[][] = Array.from({ length: LANES }, () => []);

beforeAll(async () => {
  // The child runs the built package, so build it (incremental, fast when up to date).
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b', join(repo, 'packages/cloud')], { stdio: 'pipe' });
  broker = await startMosquitto({ dir: mkdtempSync(join(root, 'mosq-')) });
  sub = await mqtt.connectAsync(broker.url, { clientId: 'crash-sub', reconnectPeriod: 100 });
  sub.on('message', (t, p) => received[Number(t.split('/')[1])]?.push((JSON.parse(p.toString()) as { seq: number }).seq));
  await sub.subscribeAsync('crash/#', { qos: 1 });
});
afterAll(async () => {
  await sub?.endAsync(true);
  await broker?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Starts the producer and resolves once it printed its ready line. */
function startProducer(dir: string, lane: number, mode: 'produce' | 'drain', onLine: (line: string) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, [producer, dir, broker.url, mode, `crash/${lane}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        onLine(line);
        if (line.startsWith('R ')) resolve(child);
        nl = buf.indexOf('\n');
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`producer exited (${code ?? signal}) before ready: ${err}`)));
  });
}

/** One producer lane: its own queue and topic, killed `kills` times, then drained. */
async function lane(n: number, kills: number, random: () => number): Promise<{ acked: number; duringStartup: number }> {
  const dir = join(root, `queue-${n}`);
  let acked = -1;
  let duringStartup = 0;
  for (let k = 0; k < kills; k++) {
    const child = await startProducer(dir, n, 'produce', (line) => {
      if (line.startsWith('A ')) acked = Math.max(acked, Number(line.slice(2)));
    });
    // Kill at a random moment: sometimes at once (mid-connect, mid-births), mostly while appending and publishing.
    const delay = random() < 0.15 ? 0 : Math.floor(random() * 100);
    if (delay === 0) duringStartup++;
    await new Promise((r) => setTimeout(r, delay));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  let drained = false;
  const last = await startProducer(dir, n, 'drain', (line) => {
    if (line === 'D') drained = true;
  });
  await new Promise((r) => last.once('exit', r));
  expect(drained).toBe(true);
  return { acked, duringStartup };
}

describe('crash test', () => {
  it('SIGKILL of producing processes 120 times at random moments loses no acknowledged record; duplicates stay within the unconfirmed window', async () => {
    const seed = Date.now() >>> 0;
    const random = seededRandom(seed);
    const KILLS_PER_LANE = 30;
    const WINDOW = 50; // the producer's maxInflight: records published but not yet confirmed when killed
    // Four producers side by side (own queue, own topic) so 120 kills fit in well under two minutes.
    const lanes = await Promise.all(Array.from({ length: LANES }, (_, n) => lane(n, KILLS_PER_LANE, random)));
    const summary: string[] = [];
    for (let n = 0; n < LANES; n++) {
      const { acked, duringStartup } = lanes[n] as { acked: number; duringStartup: number };
      const got = received[n] as number[];
      const want = Array.from({ length: acked + 1 }, (_, i) => i);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && new Set(got).size < acked + 1) await new Promise((r) => setTimeout(r, 50));
      const unique = new Set(got);
      const missing = want.filter((i) => !unique.has(i));
      const duplicates = got.length - unique.size;
      expect(acked, `seed ${seed} lane ${n}`).toBeGreaterThan(0);
      expect(missing, `seed ${seed} lane ${n}: acknowledged records missing`).toEqual([]);
      expect(duplicates, `seed ${seed} lane ${n}: ${duplicates} duplicates over ${KILLS_PER_LANE} kills`).toBeLessThanOrEqual(KILLS_PER_LANE * WINDOW);
      summary.push(`lane ${n}: ${acked + 1} acknowledged, ${unique.size} delivered, ${duplicates} duplicates, ${duringStartup} kills during startup`);
    }
    console.info(`crash test, seed ${seed}, ${LANES * KILLS_PER_LANE} kills\n${summary.join('\n')}`);
  }, 900_000);
});
