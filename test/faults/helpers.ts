/**
 * @module
 * Helpers of the store-and-forward fault suite: a Modbus simulator with counters (every poll
 * changes values), a gateway config written to a temp folder, the real `bifrost run`
 * (packages/cli/bin/bifrost.js) as a child process with its JSON log lines and its /health, and
 * the check every fault test makes on the sequence numbers a subscriber received.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@bifrost/core/test-fixtures';
import { type RunningModbusSimulator, startModbusSimulator } from '@bifrost/modbus';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/bin/bifrost.js');

let built = false;
/** `bifrost run` runs the build: make sure it is current (tsc -b is incremental, ~1 s when nothing changed). */
export function ensureBuilt(): void {
  if (built) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', join(ROOT, 'packages/cli')], { cwd: ROOT, stdio: 'pipe' });
  built = true;
}

/** A Modbus simulator whose four counters change every 10 ms, so every 20 ms poll forwards values. */
export function counterSimulator(): Promise<RunningModbusSimulator> {
  return startModbusSimulator({
    port: 0,
    config: { updateMs: 10, units: [{ id: 1, points: [0, 1, 2, 3].map((i) => ({ address: `HR${i}:UINT16`, signal: 'counter', step: 1, everyS: 0.01, max: 65535 })) }] },
  });
}

/** Writes a gateway config (JSON is YAML) with one counter device and one sink; returns its path. */
export function writeConfig(dir: string, simUrl: string, sink: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const config = {
    gateway: { name: 'faults', site: 'plant' },
    devices: [{ name: 'press1', url: simUrl, pollMs: 20, tags: [0, 1, 2, 3].map((i) => ({ name: `c${i}`, address: `HR${i}:UINT16` })) }],
    sinks: [{ name: 'cloud', topic: 'faults/{device}/{tag}', ...sink }],
    metrics: { port: 0 },
    ...extra,
  };
  const path = join(dir, 'gateway.yaml');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** A running `bifrost run` child. */
export interface GatewayProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first log line matching. */
  waitLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** GET /health (the sink's counters under sinks.cloud). */
  health(): Promise<{ sinks: Record<string, Record<string, number>> }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `bifrost run <config>` and waits for its health endpoint (unless `waitReady` is false). */
export async function runGateway(config: string, options: { waitReady?: boolean } = {}): Promise<GatewayProcess> {
  ensureBuilt();
  const child = spawn(process.execPath, [BIN, 'run', config, '--log-level', 'info'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
      i = buf.indexOf('\n');
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let port = 0;
  const g: GatewayProcess = {
    child,
    lines,
    stderr: () => err,
    exited,
    async waitLog(match, timeoutMs = 15_000) {
      await waitFor(() => lines.some(match) || child.exitCode !== null, timeoutMs);
      const hit = lines.find(match);
      if (!hit) throw new Error(`bifrost run exited (${child.exitCode}) before the expected log line; stderr: ${err}; log: ${JSON.stringify(lines.slice(-5))}`);
      return hit;
    },
    async health() {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      return (await res.json()) as { sinks: Record<string, Record<string, number>> };
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.waitReady !== false) {
    const line = await g.waitLog((l) => typeof l.msg === 'string' && /health and metrics on/.test(l.msg));
    port = Number(/:(\d+)\/health/.exec(line.msg as string)?.[1]);
  }
  return g;
}

/** What a subscriber's sequence of `seq` numbers shows. */
export interface SeqReport {
  /** Distinct sequence numbers received (queue records: one per device poll on the batched path). */
  unique: number;
  /** Distinct messages received (seq and topic): values, in the per-tag format. */
  messages: number;
  /** Highest sequence number received (-1 when none). */
  last: number;
  /** Sequence numbers in [0, last] never received. */
  missing: number[];
  /** Messages received again (QoS 1 redelivery). */
  duplicates: number;
  /** True when the first receptions run in increasing order (a resend only repeats what came before). */
  ordered: boolean;
}

/**
 * Checks what a subscriber received: each message as its queue `seq` and its topic (a batched
 * poll sends several messages with one seq, one per tag). None missing in [0, last], a message
 * received twice counted as a duplicate, order kept (first receptions never go back in seq).
 * @example expect(checkSeqs(msgs)).toMatchObject({ missing: [], ordered: true })
 */
export function checkSeqs(msgs: ReadonlyArray<{ seq: number; topic: string }>): SeqReport {
  const seenMsg = new Set<string>();
  const seen = new Set<number>();
  let duplicates = 0;
  let ordered = true;
  let prev = -1;
  let last = -1;
  for (const { seq, topic } of msgs) {
    const key = `${seq} ${topic}`;
    if (seenMsg.has(key)) {
      duplicates++;
      continue;
    }
    seenMsg.add(key);
    if (seq < prev) ordered = false;
    prev = seq;
    seen.add(seq);
    if (seq > last) last = seq;
  }
  const missing: number[] = [];
  for (let i = 0; i <= last; i++) if (!seen.has(i)) missing.push(i);
  return { unique: seen.size, messages: seenMsg.size, last, missing, duplicates, ordered };
}

/** One row of the loss table docs/reliability.md prints. */
export interface LossRow {
  fault: string;
  /** Distinct messages (values, per-tag) delivered. */
  delivered: number;
  missing: number;
  duplicates: number;
  counted: string;
}

export const lossTable: LossRow[] = [];
