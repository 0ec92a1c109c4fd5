/**
 * The store-and-forward fault suite (issue 23): the real `bifrost run` polls a Modbus simulator
 * whose counters change every 10 ms and forwards every change through its durable queue to a
 * broker that misbehaves — one that never CONNACKs, never PUBACKs, PUBACKs only some, closes
 * after N messages, reads slowly — or to Mosquitto while the gateway is SIGKILLed in a loop; the
 * queue sits on a 2 MiB tmpfs that fills, or has its segments corrupted and truncated; a second
 * gateway tries the same queue directory. Each test checks the sequence numbers (`seq`) the
 * broker or a subscriber received: none missing except what the metrics count as lost, a
 * duplicate only where QoS 1 allows it (counted), order kept. The loss table of
 * docs/reliability.md is what this suite prints.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeBroker, startFakeBroker, startMosquitto } from '@bifrost/cloud/test-fixtures';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import type { RunningModbusSimulator } from '@bifrost/modbus';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSeqs, counterSimulator, type GatewayProcess, lossTable, runGateway, writeConfig } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'bifrost-faults-'));
let sim: RunningModbusSimulator;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
let n = 0;
const dir = (name: string) => {
  const d = join(root, `${name}-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

beforeAll(async () => {
  sim = await counterSimulator();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  await sim.close();
  rmSync(root, { recursive: true, force: true });
  if (lossTable.length > 0) {
    const rows = lossTable.map((r) => `| ${r.fault} | ${r.delivered} | ${r.missing} | ${r.duplicates} | ${r.counted} |`);
    console.log(['| fault | values delivered | records missing (seq gaps) | duplicate messages | counted by the gateway |', '| --- | ---: | ---: | ---: | --- |', ...rows].join('\n'));
  }
});

async function fake(behaviour: Parameters<typeof startFakeBroker>[0] = {}, port = 0): Promise<FakeBroker> {
  const b = await startFakeBroker(behaviour, port);
  cleanups.push(() => b.close());
  return b;
}

async function gateway(config: string): Promise<GatewayProcess> {
  const g = await runGateway(config);
  cleanups.push(() => g.stop('SIGKILL'));
  return g;
}

const seqsOf = (b: FakeBroker) => b.received.map((p) => ({ seq: (JSON.parse(p.payload.toString()) as { seq: number }).seq, topic: p.topic }));
const logged = (g: GatewayProcess, code: string) => g.lines.filter((l) => l.code === code);
const sinkHealth = async (g: GatewayProcess) => (await g.health()).sinks.cloud as Record<string, number>;
const fast = { reconnectMaxDelay: '300ms', connectTimeout: '500ms', ackTimeout: '1s' };

describe('store-and-forward through faults (bifrost run)', () => {
  it('a broker that never sends CONNACK is timed out and redialed; when it answers, every value arrives in order', async () => {
    const b = await fake({ connack: false });
    const g = await gateway(writeConfig(dir('noconnack'), sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast }));
    await waitFor(() => b.connects >= 3, 15_000);
    const h = await sinkHealth(g);
    expect(h).toMatchObject({ connected: 0, healthy: 0 });
    expect(h.connectFailures).toBeGreaterThanOrEqual(2);
    b.behaviour.connack = true;
    await waitFor(() => checkSeqs(seqsOf(b)).last >= 300, 20_000);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], duplicates: 0, ordered: true });
    lossTable.push({
      fault: 'broker accepts TCP, never CONNACKs (3+ attempts), then answers',
      delivered: r.messages,
      missing: 0,
      duplicates: r.duplicates,
      counted: `connectFailures ${h.connectFailures}`,
    });
    await g.stop();
  });

  it('a broker that never PUBACKs: ack timeout closes and redials, a warning and the stalled health, then the resend (DUP) delivers all', async () => {
    const b = await fake({ puback: 'none' });
    const g = await gateway(writeConfig(dir('nopuback'), sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast }));
    await waitFor(async () => (await sinkHealth(g)).ackTimeouts >= 2, 15_000);
    const h = await sinkHealth(g);
    expect(h).toMatchObject({ published: 0, healthy: 0 });
    await g.waitLog((l) => l.code === 'BIFROST_CLOUD_ACK_TIMEOUT');
    b.behaviour.puback = 'all';
    await waitFor(async () => (await sinkHealth(g)).healthy === 1 && checkSeqs(seqsOf(b)).last >= 200, 20_000);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], ordered: true });
    expect(r.duplicates).toBeGreaterThan(0);
    // Every repeat came on a later connection with the DUP flag set.
    const first = new Set<string>();
    for (const p of b.received) {
      const key = `${(JSON.parse(p.payload.toString()) as { seq: number }).seq} ${p.topic}`;
      if (first.has(key)) expect(p.dup).toBe(true);
      first.add(key);
    }
    const end = await sinkHealth(g);
    expect(end.resent).toBeGreaterThanOrEqual(r.duplicates);
    lossTable.push({
      fault: 'broker never PUBACKs (CONNACK and PINGRESP fine), then recovers',
      delivered: r.messages,
      missing: 0,
      duplicates: r.duplicates,
      counted: `ackTimeouts ${end.ackTimeouts}, resent ${end.resent}`,
    });
    await g.stop();
  });

  it('a broker that PUBACKs only some messages: timed out, redialed, resent until all are confirmed', async () => {
    // On odd connections every third PUBLISH goes unacknowledged; even connections acknowledge all.
    const b = await fake({ puback: (k, p) => p.connection % 2 === 0 || k % 3 !== 0 });
    const g = await gateway(writeConfig(dir('somepuback'), sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast, ackTimeout: '500ms' }));
    await waitFor(() => b.connections >= 2 && checkSeqs(seqsOf(b)).last >= 300, 25_000);
    const h = await sinkHealth(g);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], ordered: true });
    expect(h.ackTimeouts).toBeGreaterThanOrEqual(1);
    lossTable.push({ fault: 'broker PUBACKs only some messages', delivered: r.messages, missing: 0, duplicates: r.duplicates, counted: `ackTimeouts ${h.ackTimeouts}, resent ${h.resent}` });
    await g.stop();
  });

  it('a broker that closes the connection after every 100 messages: the confirmed head of each batch moves the cursor; nothing lost', async () => {
    const b = await fake({ closeAfter: 100 });
    const g = await gateway(writeConfig(dir('closeafter'), sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast }));
    await waitFor(() => b.connections >= 5 && checkSeqs(seqsOf(b)).last >= 400, 25_000);
    const h = await sinkHealth(g);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], ordered: true });
    lossTable.push({ fault: 'broker closes the connection after every 100 messages', delivered: r.messages, missing: 0, duplicates: r.duplicates, counted: `reconnects ${h.reconnects}` });
    await g.stop();
  });

  it('a broker that reads slowly: the backlog waits in the queue and drains; nothing lost, no duplicate', async () => {
    const b = await fake({ readDelayMs: 30 });
    const g = await gateway(writeConfig(dir('slow'), sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast, ackTimeout: '10s' }));
    await waitFor(() => checkSeqs(seqsOf(b)).last >= 300, 20_000);
    b.behaviour.readDelayMs = 0;
    await waitFor(async () => (await sinkHealth(g)).queueDepth < 50, 15_000);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], duplicates: 0, ordered: true });
    lossTable.push({ fault: 'broker reads slowly (30 ms pause per read)', delivered: r.messages, missing: 0, duplicates: 0, counted: '-' });
    await g.stop();
  });

  it('drop-oldest at maxBytes: the gaps the subscriber sees are exactly the dropped records, logged as a summary', async () => {
    const port = await freePort();
    const g = await gateway(writeConfig(dir('dropoldest'), sim.url, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, buffer: { dir: 'queue', maxBytes: '16KB', compression: 'none' }, ...fast }));
    await waitFor(async () => (await sinkHealth(g)).queueDropped > 200, 20_000);
    const b = await fake({}, port);
    await waitFor(async () => {
      const h = await sinkHealth(g);
      return h.connected === 1 && h.queueDepth < 20;
    }, 15_000);
    const h = await sinkHealth(g);
    const r = checkSeqs(seqsOf(b));
    // Everything before the first record still queued was dropped; nothing after it is missing.
    const first = Math.min(...seqsOf(b).map((m) => m.seq));
    expect(first).toBeGreaterThan(0);
    expect(r.missing.every((s) => s < first)).toBe(true);
    expect(r.missing.length).toBe(h.queueDropped);
    expect(r.ordered).toBe(true);
    const lines = logged(g, 'BIFROST_CLOUD_QUEUE_FULL');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    // One line, then one summary per 10 s interval: not one line per dropped segment.
    expect(lines.length).toBeLessThanOrEqual(3);
    lossTable.push({
      fault: 'broker down, queue at maxBytes 16 KB (drop-oldest)',
      delivered: r.messages,
      missing: r.missing.length,
      duplicates: r.duplicates,
      counted: `dropped ${h.queueDropped} (= missing)`,
    });
    await g.stop();
  });

  it('a queue on a 2 MiB tmpfs that fills: appends are refused and counted, the log stays short, and draining frees the disk without a restart', async (ctx) => {
    const mnt = dir('tmpfs');
    try {
      // A real file system that fills up; mounting needs root (CI runs the tests as root), so skip elsewhere.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch {
      ctx.skip();
    }
    cleanups.push(() => execFileSync('umount', ['-l', mnt]));
    // Leave ~48 KB free, so the queue fills in seconds.
    const fd = openSync(join(mnt, 'filler'), 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 31; i++) writeSync(fd, chunk);
    writeSync(fd, Buffer.alloc(16 * 1024, 1));
    closeSync(fd);
    const port = await freePort();
    const g = await gateway(writeConfig(dir('diskfull'), sim.url, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, buffer: { dir: join(mnt, 'queue') }, ...fast }));
    await waitFor(async () => (await sinkHealth(g)).queueDiskFull === 1, 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    const full = await sinkHealth(g);
    expect(full.enqueueFailures).toBeGreaterThan(50);
    const b = await fake({}, port);
    // Recovered: the disk is no longer full and values appended after the recovery arrive.
    await waitFor(async () => {
      const h = await sinkHealth(g);
      return h.queueDiskFull === 0 && h.queueAppended > full.queueAppended + 200 && h.queueDepth < 50;
    }, 30_000);
    const h = await sinkHealth(g);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], ordered: true });
    // A refused append takes no sequence number: the seqs stay contiguous; the refusals are counted.
    const diskLines = logged(g, 'BIFROST_CLOUD_DISK_FULL');
    expect(diskLines.length).toBeGreaterThanOrEqual(1);
    expect(diskLines.length).toBeLessThanOrEqual(4);
    expect(h.enqueueFailures).toBeGreaterThan(diskLines.length * 10);
    lossTable.push({
      fault: 'queue on a full 2 MiB tmpfs, broker down, then up',
      delivered: r.messages,
      missing: 0,
      duplicates: r.duplicates,
      counted: `refused ${h.enqueueFailures} values at the full disk (never queued), ${diskLines.length} log lines`,
    });
    await g.stop();
  });

  it('a corrupted block and a truncated tail: only the damaged records are lost, each counted and logged', async () => {
    const d = dir('corrupt');
    const port = await freePort();
    const config = writeConfig(d, sim.url, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, buffer: { dir: 'queue', compression: 'none' }, ...fast });
    const g1 = await gateway(config);
    await waitFor(async () => (await sinkHealth(g1)).queueDepth > 300, 15_000);
    expect(await g1.stop()).toBe(0);
    const qdir = join(d, 'queue');
    const segs = readdirSync(qdir).filter((f) => f.endsWith('.seg'));
    const seg = join(qdir, segs.at(-1) as string);
    const size = statSync(seg).size;
    // Flip 16 bytes inside an early block (its CRC-32C fails), cut the last block short (a torn tail).
    const bytes = readFileSync(seg);
    for (let i = 0; i < 16; i++) bytes[200 + i] = (bytes[200 + i] as number) ^ 0xff;
    writeFileSync(seg, bytes);
    truncateSync(seg, size - 7);
    const b = await fake({}, port);
    const g2 = await gateway(config);
    await waitFor(async () => (await sinkHealth(g2)).queueDepth < 20 && checkSeqs(seqsOf(b)).last > 400, 15_000);
    const h = await sinkHealth(g2);
    const r = checkSeqs(seqsOf(b));
    expect(h.queueCorruptSkipped).toBeGreaterThan(0);
    expect(h.queueTornLost).toBeGreaterThanOrEqual(1);
    expect(h.queueLost).toBe(h.queueCorruptSkipped + h.queueTornLost);
    // A corrupt block leaves a gap in seq; a torn tail's seqs are reused by the next appends (no gap, counted).
    expect(r.missing.length).toBe(h.queueCorruptSkipped);
    expect(r.ordered).toBe(true);
    expect(logged(g2, 'BIFROST_CLOUD_CORRUPT_RECORD').length).toBeGreaterThanOrEqual(1);
    expect(logged(g2, 'BIFROST_CLOUD_TORN_TAIL').length).toBe(1);
    lossTable.push({
      fault: '16 bytes flipped in a block + last block truncated, then restart',
      delivered: r.messages,
      missing: r.missing.length,
      duplicates: r.duplicates,
      counted: `lost ${h.queueLost} (corrupt ${h.queueCorruptSkipped}, torn ${h.queueTornLost})`,
    });
    await g2.stop();
  });

  it('SIGKILL of the gateway 5 times while it drains a backlog to Mosquitto: nothing missing, duplicates only from unconfirmed batches', async () => {
    const mosq = await startMosquitto({ dir: dir('mosq') });
    cleanups.push(() => mosq.close());
    const sub = mqtt.connect(mosq.url, { clientId: 'fault-sub', clean: false, reconnectPeriod: 100 });
    cleanups.push(() => sub.endAsync(true));
    const got: Array<{ seq: number; topic: string }> = [];
    sub.on('message', (t, p) => got.push({ seq: (JSON.parse(p.toString()) as { seq: number }).seq, topic: t }));
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync('faults/#', { qos: 1 });
    const d = dir('sigkill');
    const port = await freePort();
    // A backlog first: the broker URL points nowhere for a while.
    const g0 = await gateway(writeConfig(d, sim.url, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, buffer: { dir: 'queue' }, ...fast }));
    await waitFor(async () => (await sinkHealth(g0)).queueDepth > 400, 15_000);
    await g0.stop();
    const config = writeConfig(d, sim.url, { type: 'mqtt', url: mosq.url, buffer: { dir: 'queue' }, ...fast });
    let kills = 0;
    for (let i = 0; i < 5; i++) {
      const g = await gateway(config);
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 400));
      g.child.kill('SIGKILL');
      await g.exited;
      kills++;
    }
    const g = await gateway(config);
    await waitFor(async () => (await sinkHealth(g)).queueDepth < 20 && checkSeqs(got).last > 600, 20_000);
    await g.stop();
    await new Promise((r) => setTimeout(r, 300));
    const r = checkSeqs(got);
    expect(r).toMatchObject({ missing: [], ordered: true });
    // QoS 1 allows each kill to repeat at most one unconfirmed batch (maxInflight 500 values).
    expect(r.duplicates).toBeLessThanOrEqual(kills * 500);
    lossTable.push({
      fault: `SIGKILL ×${kills} while draining a backlog to Mosquitto`,
      delivered: r.messages,
      missing: 0,
      duplicates: r.duplicates,
      counted: 'duplicates ≤ one unconfirmed window per kill',
    });
  });

  it('a second gateway on the same queue directory is refused with the directory and the PID holding it; the first keeps delivering', async () => {
    const b = await fake();
    const d = dir('twice');
    const config = writeConfig(d, sim.url, { type: 'mqtt', url: b.url, buffer: { dir: 'queue' }, ...fast });
    const g1 = await gateway(config);
    await waitFor(() => checkSeqs(seqsOf(b)).last >= 50, 15_000);
    const g2 = await runGateway(config, { waitReady: false });
    cleanups.push(() => g2.stop('SIGKILL'));
    const code = await g2.exited;
    expect(code).not.toBe(0);
    const out = `${g2.stderr()}\n${g2.lines.map((l) => JSON.stringify(l)).join('\n')}`;
    expect(out).toContain('BIFROST_CLOUD_QUEUE_LOCKED');
    expect(out).toContain(join(d, 'queue'));
    expect(out).toContain(`process ${g1.child.pid}`);
    const before = checkSeqs(seqsOf(b)).last;
    await waitFor(() => checkSeqs(seqsOf(b)).last >= before + 100, 15_000);
    const r = checkSeqs(seqsOf(b));
    expect(r).toMatchObject({ missing: [], duplicates: 0, ordered: true });
    lossTable.push({ fault: 'a second gateway started on the same queue directory', delivered: r.messages, missing: 0, duplicates: 0, counted: 'second gateway refused (BIFROST_CLOUD_QUEUE_LOCKED)' });
    await g1.stop();
  });
});
