/**
 * @module
 * The single registration list: one line per command file, in the order `--help` shows them.
 * A new command is a new file in this folder and one line here.
 */
import type { CommandModule } from '../command-module.js';
import { browseCommand } from './browse.js';
import { completionCommand } from './completion.js';
import { connectCommand } from './connect.js';
import { demoCommand } from './demo.js';
import { discoverCommand } from './discover.js';
import { exportCommand } from './export.js';
import { identifyCommand } from './identify.js';
import { monitorCommand } from './monitor.js';
import { pkiCommand } from './pki.js';
import { readCommand } from './read.js';
import { runCommand } from './run.js';
import { simulateCommand } from './simulate.js';
import { tokenCommand } from './token.js';
import { writeCommand } from './write.js';

/** Every command, in help order. */
export const COMMANDS: readonly CommandModule[] = [
  demoCommand,
  runCommand,
  readCommand,
  writeCommand,
  identifyCommand,
  browseCommand,
  monitorCommand,
  exportCommand,
  connectCommand,
  simulateCommand,
  discoverCommand,
  pkiCommand,
  tokenCommand,
  completionCommand,
];
