/**
 * @module
 * A yes/no question on the terminal, for confirmations (the wizard uses @clack/prompts; a single
 * confirmation does not need to load it).
 */
import { createInterface } from 'node:readline/promises';
import type { CliContext } from '../context.js';

/**
 * Asks a yes/no question; resolves false on anything but y/yes, and on Ctrl-C.
 * @example if (!(await confirm(ctx, 'Write 42 to HR10?'))) return
 */
export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
  try {
    const answer = await rl.question(`${question} ${ctx.errPalette.dim('[y/N]')} `, { signal: ctx.signal });
    return /^y(es)?$/i.test(answer.trim());
  } catch {
    return false;
  } finally {
    rl.close();
  }
}
