/**
 * @module
 * The shape of one command file: a name and a `register` that adds the command to the program.
 * A command file imports nothing heavy at top level (no protocol package, no zod, no Ink): it
 * loads what it needs inside its action, so `bifrost --help` stays light.
 */
import type { Command } from 'commander';
import type { CliContext } from './context.js';
import type { ExitCode } from './exit-codes.js';

/** A command's action: gets the context and returns an exit code (default 0). */
// biome-ignore lint/suspicious/noConfusingVoidType: an action that returns nothing means exit 0
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<ExitCode | undefined | void>;

/** What a command file exports. */
export interface CommandModule {
  /** The command's name, as typed. */
  readonly name: string;
  /** Adds the command (with options, help text and examples) to `program`; `run` wraps the action. */
  register(program: Command, run: <A extends unknown[]>(action: Action<A>) => (...args: unknown[]) => Promise<void>): void;
}

/**
 * Help text listing examples, shown after the options by `--help`.
 * @example cmd.addHelpText('after', examples(['bifrost read modbus://127.0.0.1:5020 HR0']))
 */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
