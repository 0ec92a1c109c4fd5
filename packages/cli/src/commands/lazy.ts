/**
 * @module
 * Each command's file by name, loaded on demand: `bifrost read …` loads only read.ts and what it
 * needs, not the other thirteen command files (a cold start is mostly module loading; issue 25 §5).
 * The names and their order are those of COMMANDS in index.ts (test/regressions/first-hour-rough-edges).
 */
import type { CommandModule } from '../command-module.js';

/** Loaders of every command, by the name typed on the command line. */
export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<CommandModule>>> = {
  demo: async () => (await import('./demo.js')).demoCommand,
  run: async () => (await import('./run.js')).runCommand,
  read: async () => (await import('./read.js')).readCommand,
  write: async () => (await import('./write.js')).writeCommand,
  identify: async () => (await import('./identify.js')).identifyCommand,
  browse: async () => (await import('./browse.js')).browseCommand,
  monitor: async () => (await import('./monitor.js')).monitorCommand,
  export: async () => (await import('./export.js')).exportCommand,
  connect: async () => (await import('./connect.js')).connectCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  discover: async () => (await import('./discover.js')).discoverCommand,
  pki: async () => (await import('./pki.js')).pkiCommand,
  token: async () => (await import('./token.js')).tokenCommand,
  completion: async () => (await import('./completion.js')).completionCommand,
};

// Global options that take a value (the next argument is not the command).
const VALUE_OPTIONS = new Set(['--data-dir']);

/**
 * The one command `argv` runs, when registering only that command gives the same behavior:
 * not for `completion` (it describes every command), help or version of the program, or an
 * unknown name (its did-you-mean needs every name).
 * @example commandToLoad(['node', 'bifrost', '--json', 'read', 'modbus://h', 'HR0']) // 'read'
 */
export function commandToLoad(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return undefined;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) {
      if (['-h', '--help', '-V', '--version'].includes(a)) return undefined;
      continue;
    }
    return a !== 'completion' && Object.hasOwn(COMMAND_LOADERS, a) ? a : undefined;
  }
  return undefined;
}
