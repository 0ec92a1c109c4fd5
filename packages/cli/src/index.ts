/**
 * @module
 * @bifrost/cli as a library: run the CLI in-process, build the program, and the pieces other
 * apps reuse (palette, exit codes, error line, export writers).
 */
export { type Action, type CommandModule, examples } from './command-module.js';
export { COMMANDS } from './commands/index.js';
export { COMMAND_LOADERS } from './commands/lazy.js';
export { type CliContext, type CliIO, createContext, type GlobalOptions, processIO } from './context.js';
export { EXIT, type ExitCode, exitCodeFor } from './exit-codes.js';
export { buildProgram, main, version } from './program.js';
export { errorToJSON, renderError } from './render-error.js';
export { colorEnabled, createPalette, type Palette, SYMBOLS, stripAnsi, visibleWidth } from './ui/palette.js';
