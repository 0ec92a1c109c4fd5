/**
 * @module
 * Test helpers: build the CLI once if its dist is stale, and run the real `bifrost` binary as a
 * child process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const CLI_DIR = join(ROOT, 'packages/cli');
export const BIN = join(CLI_DIR, 'dist/bin.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let built = false;
/** Builds packages/cli (and what it references) when dist/bin.js is older than a source file. */
export function ensureBuilt(): void {
  if (built) return;
  let binTime = 0;
  try {
    binTime = statSync(BIN).mtimeMs;
  } catch {
    binTime = 0;
  }
  if (binTime < Math.max(newest(join(CLI_DIR, 'src')), newest(join(ROOT, 'packages/core/src')))) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', CLI_DIR], { cwd: ROOT, stdio: 'inherit' });
  }
  built = true;
}

/** The result of one CLI run. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
  nodeArgs?: string[];
}

/**
 * Runs `node dist/bin.js ...args` and collects its output. NO_COLOR/FORCE_COLOR are cleared
 * unless the test sets them.
 */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  ensureBuilt();
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '', FORCE_COLOR: '', ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
