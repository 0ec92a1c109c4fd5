/**
 * @module
 * For the security regressions: the real `bifrost run` as a child process on a config file in a
 * temporary folder, with its stdout and stderr kept for grepping, and its web port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@bifrost/core/test-fixtures';
import { BIN, ensureBuilt, ROOT } from '../../../cli/test/helpers.js';

/** A running `bifrost run`. */
export interface BifrostProcess {
  dir: string;
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Writes `files` (name → text) to a fresh folder and starts `bifrost run gateway.yaml` there. */
export function startBifrost(files: Record<string, string>, args: string[] = []): BifrostProcess {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-websec-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const child = spawn(process.execPath, [BIN, 'run', join(dir, 'gateway.yaml'), ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    dir,
    child,
    output: () => ({ stdout, stderr }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Waits until `url` answers (any status). */
export async function waitHttp(url: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    () =>
      fetch(url)
        .then(() => true)
        .catch(() => false),
    timeoutMs,
    100,
  );
}

export { ROOT };
