/**
 * @module
 * The `bifrost` program: global flags, the command list, and the one place that turns an error
 * into a red line and an exit code. `main()` never calls `process.exit`, so tests can run it.
 */
import { Command, CommanderError } from 'commander';
import type { Action, CommandModule } from './command-module.js';
import { COMMAND_LOADERS, commandToLoad } from './commands/lazy.js';
import { type CliIO, createContext, processIO } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { fs } from './node-fs.js';
import { errorToJSON, renderError } from './render-error.js';
import { STATE_DIR_HELP } from './state-dir.js';
import { colorEnabled, createPalette, SYMBOLS } from './ui/palette.js';

/**
 * The repository's docs, linked from `--help`: the installed package ships no docs/ folder.
 * Keep in step with `homepage` in the package.json files (test/regressions/help-links-docs).
 */
export const DOCS_URL = 'https://github.com/bifrost-iot/bifrost/blob/main/docs';

/**
 * The CLI's version, from its package.json.
 * @example version() // '0.1.0'
 */
export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Builds the program with `commands` registered (`COMMANDS` from the package index for all).
 * `onExit` receives each action's exit code.
 * @example const program = buildProgram(processIO(), signal, (code) => (exitCode = code), COMMANDS)
 */
export function buildProgram(io: CliIO, signal: AbortSignal, onExit: (code: number) => void, commands: readonly CommandModule[]): Command {
  const argvColor = !process.argv.includes('--no-color');
  const helpPalette = createPalette(colorEnabled({ flag: argvColor, env: io.env, isTTY: io.stdout.isTTY === true }));
  const program = new Command('bifrost')
    .description('Bifrost: read, write, monitor and export industrial devices (Modbus, S7, EtherNet/IP, OPC UA) from the terminal.')
    .version(version(), '-V, --version', 'print the version')
    .option('--json', 'print machine-readable JSON instead of tables')
    .option('--no-color', 'no ANSI colors (also when NO_COLOR is set)')
    .option('--data-dir <dir>', 'state folder for the audit log and OPC UA certificates (default below)')
    .showSuggestionAfterError(true)
    .configureHelp({
      sortSubcommands: false,
      styleTitle: (s) => helpPalette.header(s),
      styleCommandText: (s) => helpPalette.bold(s),
      styleSubcommandText: (s) => helpPalette.success(s),
      styleOptionText: (s) => helpPalette.info(s),
    })
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => {
        const palette = createPalette(colorEnabled({ flag: argvColor, env: io.env, isTTY: io.stderr.isTTY === true }));
        const message = s
          .replace(/^error:\s*/i, '')
          .replace(/\s*\n\s*/g, ' ')
          .trim();
        write(`${palette.error(`${SYMBOLS.error} BIFROST_CLI_USAGE ${message} — hint: run bifrost <command> --help for usage and examples`)}\n`);
      },
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ bifrost simulate modbus --port 5020
  $ bifrost read modbus://127.0.0.1:5020?unit=1 HR0 HR1:FLOAT32
  $ bifrost monitor gateway.yaml --dashboard
  $ bifrost export modbus://127.0.0.1:5020 --tags HR0,HR1 --samples 100 --format parquet --out data.parquet

Exit codes: 0 ok · 1 error · 2 usage · 3 device/connection · 4 some values bad · 130 interrupted
${STATE_DIR_HELP}
Docs: ${DOCS_URL}/cli.md · error codes: ${DOCS_URL}/errors.md`,
    );

  const run =
    <A extends unknown[]>(action: Action<A>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const ctx = createContext(cmd.optsWithGlobals(), io, signal);
      try {
        const code = await action(ctx, ...(args.slice(0, -1) as A));
        onExit(code ?? EXIT.OK);
      } catch (err) {
        if (io.env.BIFROST_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
        if (ctx.json) io.stderr.write(`${JSON.stringify({ error: errorToJSON(err) })}\n`);
        else ctx.err(renderError(err, ctx.errPalette));
        onExit(signal.aborted ? EXIT.INTERRUPTED : exitCodeFor(err));
      }
    };
  for (const m of commands) m.register(program, run);
  program.commands.forEach((c) => {
    c.exitOverride();
    c.configureOutput(program.configureOutput());
    c.showSuggestionAfterError(true);
  });
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and resolves to the exit code.
 * @example process.exitCode = await main(process.argv)
 */
export async function main(argv: readonly string[], io: CliIO = processIO(), signal: AbortSignal = new AbortController().signal): Promise<number> {
  let exitCode: number = EXIT.OK;
  // `bifrost read …` registers read alone; help, completion and typos get every command.
  const only = commandToLoad(argv);
  const commands = only ? [await (COMMAND_LOADERS[only] as () => Promise<CommandModule>)()] : (await import('./commands/index.js')).COMMANDS;
  const program = buildProgram(
    io,
    signal,
    (code) => {
      exitCode = code;
    },
    commands,
  );
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
      // `bifrost` (or `bifrost pki`) without a command prints help to stderr: a usage error.
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return EXIT.USAGE;
    }
    throw err;
  }
  return exitCode;
}
