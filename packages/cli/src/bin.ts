#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * @module
 * The `bifrost` executable. The shebang gives the process a small V8 young generation
 * (`--max-semi-space-size=2`, in MB): the gateway is long-running on small edge boxes, and this
 * trades a little scavenge CPU for about 25 MB of resident memory (bench/gateway-memory.mjs).
 * The flag can only be set at process start, hence the shebang rather than code. The first Ctrl-C aborts the running command (it cleans up and exits
 * 130, or 0 for commands that run until stopped); a second one exits at once.
 */
import { main } from './program.js';

const controller = new AbortController();
let interrupts = 0;
const onSignal = (): void => {
  interrupts++;
  if (interrupts > 1) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(process.argv, undefined, controller.signal).then(
  (code) => {
    // Sockets of a closed device or a stopped simulator may still be winding down; the command is done.
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
