/**
 * @module
 * What every command gets: the global flags resolved (`--json`, color), the palette, the output
 * streams, and an AbortSignal that fires on Ctrl-C. Commands write through this, never through
 * `console`, so tests and `--json` see exactly what a person sees.
 */
import type { Writable } from 'node:stream';
import { ensureStateDir, stateDirPath } from './state-dir.js';
import { colorEnabled, createPalette, type Palette } from './ui/palette.js';

/** The streams and environment the CLI runs with (the process's by default; tests pass their own). */
export interface CliIO {
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
  env: NodeJS.ProcessEnv;
}

/** The global options every command sees. */
export interface GlobalOptions {
  json?: boolean;
  color?: boolean;
  dataDir?: string;
}

/** The context a command runs in. */
export interface CliContext {
  readonly io: CliIO;
  /** `--json`: print machine-readable output only. */
  readonly json: boolean;
  /** Colors for stdout. */
  readonly palette: Palette;
  /** Colors for stderr (errors, progress). */
  readonly errPalette: Palette;
  /** Aborts on Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** True when stdin and stdout are terminals, so the command may ask questions and redraw. */
  readonly interactive: boolean;
  /** `--data-dir` as given, if it was. */
  readonly dataDirFlag: string | undefined;
  /** The per-user state folder (see state-dir.ts), created with mode 0700 on first call. */
  stateDir(): string;
  /** Writes a line to stdout. */
  out(line?: string): void;
  /** Writes a line to stderr. */
  err(line?: string): void;
  /** Writes a value as JSON to stdout (bigint as string). */
  printJson(value: unknown): void;
}

/**
 * Builds the context from the global options.
 * @example const ctx = createContext(cmd.optsWithGlobals(), processIO(), signal)
 */
export function createContext(opts: GlobalOptions, io: CliIO, signal: AbortSignal): CliContext {
  const json = opts.json === true;
  const palette = createPalette(colorEnabled({ flag: opts.color, env: io.env, isTTY: io.stdout.isTTY === true }));
  const errPalette = createPalette(colorEnabled({ flag: opts.color, env: io.env, isTTY: io.stderr.isTTY === true }));
  return {
    io,
    json,
    palette,
    errPalette,
    signal,
    interactive: io.stdin.isTTY === true && io.stdout.isTTY === true,
    dataDirFlag: opts.dataDir,
    stateDir: () => ensureStateDir(stateDirPath(opts.dataDir, io.env)),
    out: (line = '') => void io.stdout.write(`${line}\n`),
    err: (line = '') => void io.stderr.write(`${line}\n`),
    printJson: (value) => void io.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`),
  };
}

let pipeWatched = false;

/**
 * The process's own streams. A reader that goes away (`bifrost … | head`) ends the CLI quietly, as `yes | head` does.
 * @example await main(process.argv, processIO())
 */
export function processIO(): CliIO {
  if (!pipeWatched) {
    pipeWatched = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}
