/**
 * @module
 * Test helpers: build the CLI once if its dist is stale, and run the real `bifrost` binary as a
 * child process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', CLI_DIR], { cwd: ROOT, stdio: 'pipe' });
    } catch (e) {
      // A type error elsewhere in the tree still emits JavaScript (tsc -b emits on error); the
      // tests judge the behavior. Without any build there is nothing to test.
      if (!existsSync(BIN)) throw e;
    }
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

/** A `bifrost simulate` child process. */
export interface SimProcess {
  url: string;
  port: number;
  output: () => string;
  /** Sends Ctrl-C (SIGINT) and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `bifrost simulate <protocol> --port <port>` and waits for its URL line.
 * @example const sim = await startSimulatorProcess('modbus', await freePort())
 */
export function startSimulatorProcess(protocol: string, port: number, extra: string[] = []): Promise<SimProcess> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'simulate', protocol, '--port', String(port), ...extra], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`simulator did not start: ${out}`));
    }, 15_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m?.[1] && out.includes('Ctrl-C to stop')) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          port,
          output: () => out,
          stop: async () => {
            child.kill('SIGINT');
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited with ${code}: ${out}`));
    });
  });
}

/** A tmux session running one command, for driving the CLI as a person would. */
export class Tmux {
  readonly name: string;

  constructor(name: string) {
    this.name = `${name}-${process.pid}`;
  }

  /** Starts the session with a command, `width`×`height` characters. */
  start(command: string, width = 120, height = 40): void {
    ensureBuilt();
    this.kill();
    execFileSync('tmux', ['new-session', '-d', '-s', this.name, '-x', String(width), '-y', String(height), `cd ${ROOT} && ${command}; echo "[exit $?]"; sleep 60`]);
  }

  /**
   * `node dist/bin.js` as a shell command prefix, colors off. The tmux pane stands for a person's
   * terminal, so the CI markers are cleared: with CI set (as .ci/run sets it), Ink renders only
   * the final frame and a live dashboard would stay blank.
   */
  static bifrost(args: string): string {
    return `NO_COLOR=1 CI=false CONTINUOUS_INTEGRATION=false ${process.execPath} ${BIN} ${args}`;
  }

  /** The visible screen as text. */
  capture(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-t', this.name], { encoding: 'utf8' });
  }

  /** Sends keys (tmux key names such as Enter, Up, Escape, or literal text with `literal`). */
  send(keys: string, literal = false): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, ...(literal ? ['-l'] : []), keys]);
  }

  resize(width: number, height: number): void {
    execFileSync('tmux', ['resize-window', '-t', this.name, '-x', String(width), '-y', String(height)]);
  }

  /** Waits until the screen matches. */
  async waitFor(test: RegExp | ((screen: string) => boolean), timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < deadline) {
      screen = this.capture();
      if (typeof test === 'function' ? test(screen) : test.test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`screen did not match ${String(test)} within ${timeoutMs} ms:\n${screen}`);
  }

  kill(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
