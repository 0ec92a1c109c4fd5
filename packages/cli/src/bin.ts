/**
 * @module
 * The body of the `bifrost` executable (`bin/bifrost.js` is the committed launcher that npm links,
 * and carries the V8 flags in its shebang). The first Ctrl-C aborts the running command (it cleans up and exits
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
