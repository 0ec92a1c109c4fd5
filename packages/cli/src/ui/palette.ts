/**
 * @module
 * The one color palette of the CLI. Every command colors through these roles, never through
 * picocolors directly, so the meaning of a color is the same everywhere: green success, yellow
 * warning, red error, blue information and headers, purple special/admin (writes, audit,
 * simulators). Color is off with `--no-color`, with the `NO_COLOR` environment variable
 * (https://no-color.org: any non-empty value), when `TERM=dumb`, and when the stream is not a
 * terminal; `FORCE_COLOR` (non-empty, not `0`) turns it on for pipes and tests.
 */
import pc from 'picocolors';

/** A function that colors (or, with color off, passes through) a piece of text. */
export type Paint = (text: string | number) => string;

/** The semantic color roles. */
export interface Palette {
  /** True when the palette emits ANSI escapes. */
  readonly enabled: boolean;
  /** Green: a good value, a completed action. */
  success: Paint;
  /** Yellow: near a limit, uncertain, a question to the user. */
  warning: Paint;
  /** Red: an error, an alarm, a bad value. */
  error: Paint;
  /** Blue: information. */
  info: Paint;
  /** Blue bold: table headers and section titles. */
  header: Paint;
  /** Purple: special and admin things (writes, audit log, simulators). */
  special: Paint;
  /** Dim: secondary detail such as timestamps and hints. */
  dim: Paint;
  /** Bold: emphasis without a meaning of its own. */
  bold: Paint;
}

/** What decides whether color is on. */
export interface ColorEnv {
  /** `--no-color` given (commander sets `color: false`). */
  flag?: boolean;
  /** The environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Whether the output stream is a terminal. */
  isTTY?: boolean;
}

/**
 * Decides whether to color: `--no-color` and `NO_COLOR` win, then `FORCE_COLOR`, then TTY.
 * @example colorEnabled({ flag: opts.color, isTTY: process.stdout.isTTY })
 */
export function colorEnabled({ flag, env = process.env, isTTY = false }: ColorEnv = {}): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

/**
 * The palette with color on or off.
 * @example const p = createPalette(true); console.log(p.success('✔ written'))
 */
export function createPalette(enabled: boolean): Palette {
  const c = pc.createColors(enabled);
  const wrap =
    (f: (s: string) => string): Paint =>
    (t) =>
      f(String(t));
  return {
    enabled,
    success: wrap(c.green),
    warning: wrap(c.yellow),
    error: wrap(c.red),
    info: wrap(c.blue),
    header: wrap((s) => c.bold(c.blue(s))),
    special: wrap(c.magenta),
    dim: wrap(c.dim),
    bold: wrap(c.bold),
  };
}

/**
 * Symbols used beside colors so meaning never depends on color alone.
 * @example p.success(`${SYMBOLS.ok} written`)
 */
export const SYMBOLS = { ok: '✔', warn: '▲', error: '✖', info: 'ℹ', special: '◆', arrow: '→' } as const;

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/**
 * Text without ANSI escapes.
 * @example stripAnsi('\u001b[31mred\u001b[39m') // 'red'
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * The width of text on a terminal, ignoring ANSI escapes (code points; the CLI prints no wide glyphs).
 * @example visibleWidth(p.error('✖ x')) // 3
 */
export function visibleWidth(text: string): number {
  let n = 0;
  for (const _ of stripAnsi(text)) n++;
  return n;
}
