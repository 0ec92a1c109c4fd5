/**
 * @module
 * `bifrost write <url> <address> <value>`: reads the old value, asks to confirm (`--yes` skips),
 * writes, and appends the attempt to the audit log (core's AuditLog, default
 * <state dir>/audit.jsonl, see state-dir.ts) whatever its result: ok, error, or denied when the user says no.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Value } from '@bifrost/core';
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';
import { deviceStateOptions } from '../state-dir.js';
import { formatValue } from '../ui/format.js';
import { SYMBOLS } from '../ui/palette.js';

/**
 * Reads a command-line value: `true`/`false`, numbers (integers beyond 2^53 as bigint), a JSON
 * array `[1,2,3]`, a quoted JSON string, or else the text as it is. The driver coerces it to the
 * address's type and rejects what does not fit.
 * @example parseCliValue('21.5') // 21.5
 */
export function parseCliValue(text: string): Value {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^[-+]?\d+$/.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : BigInt(t);
  }
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) || /^0x[0-9a-f]+$/i.test(t)) return Number(t);
  if (t.startsWith('[') && t.endsWith(']')) {
    try {
      const arr = JSON.parse(t) as unknown;
      if (Array.isArray(arr) && arr.every((x) => ['number', 'boolean', 'string'].includes(typeof x))) return arr as Value;
    } catch {
      // not JSON: a plain string
    }
  }
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) {
    try {
      return JSON.parse(t) as string;
    } catch {
      return t;
    }
  }
  return text;
}

/** `bifrost write`. */
export const writeCommand: CommandModule = {
  name: 'write',
  register(program, run) {
    program
      .command('write')
      .description('write one value (reads the old value, asks to confirm, records the write in the audit log)')
      .argument('<url>', 'device URL')
      .argument('<address>', 'address, e.g. HR10, HR12:FLOAT32, C3, DB1.DBD4:REAL')
      .argument('<value>', 'value: 42, 21.5, true, "text", [1,2,3]')
      .option('-y, --yes', 'write without asking')
      .option('--allow-non-finite', 'allow NaN and ±Infinity as the value of a number (refused by default)')
      .option('--audit-log <file>', 'audit log file (JSON lines; default <state dir>/audit.jsonl, see bifrost --help)')
      .option('--user <name>', 'who is writing, for the audit log (default cli:<os user>)')
      .addHelpText(
        'after',
        examples([
          'bifrost write modbus://127.0.0.1:5020?unit=1 HR10 42',
          'bifrost write modbus://127.0.0.1:5020 HR12:FLOAT32 21.5 --yes',
          'bifrost write s7://10.0.0.5 DB1.DBX0.0 true --audit-log /var/log/bifrost/audit.jsonl',
        ]),
      )
      .action(
        run(async (ctx, url: string, address: string, raw: string, opts: { yes?: boolean; allowNonFinite?: boolean; auditLog?: string; user?: string }) => {
          const core = await import('@bifrost/core');
          const value = parseCliValue(raw);
          const auditFile = opts.auditLog ?? join(ctx.stateDir(), 'audit.jsonl');
          const audit = new core.AuditLog(auditFile);
          const user = opts.user ?? `cli:${safeUser()}`;
          const device = core.redactUrl(url);
          if (!opts.yes && !ctx.interactive) {
            // A refused write is a write attempt: it is recorded too (without reading the device).
            await ensureWritable(auditFile)
              .then(() =>
                audit.append({
                  user,
                  source: 'cli',
                  device,
                  address,
                  oldValue: null,
                  newValue: value,
                  result: 'denied',
                  error: { code: 'BIFROST_WRITE_NOT_ALLOWED', message: 'no terminal to confirm on and no --yes' },
                }),
              )
              .catch(() => {});
            throw new core.BifrostError('BIFROST_WRITE_NOT_ALLOWED', `refusing to write ${address} on ${device} without confirmation (no terminal to ask on)`, {
              address,
              device,
              hint: 'pass --yes to write without asking',
            });
          }
          // Every write is recorded: a log that cannot be written stops the write before it happens.
          await ensureWritable(auditFile).catch((cause: NodeJS.ErrnoException) => {
            throw new core.BifrostError('BIFROST_CLI_USAGE', `cannot write the audit log ${auditFile}: ${cause.code ?? cause.message}; nothing was written to the device`, {
              cause,
              hint: 'pass --audit-log with a writable file',
            });
          });
          await using plc = await core.connect(url, { ...deviceStateOptions(url, ctx.stateDir), signal: ctx.signal });
          let oldValue: Value | null = null;
          try {
            oldValue = (await plc.read(address, { signal: ctx.signal })).value;
          } catch (e) {
            // A malformed address fails the same way on write: stop before asking.
            if (core.isBifrostError(e, 'BIFROST_INVALID_ADDRESS')) throw e;
            oldValue = null;
          }
          // NaN and ±Infinity reach a PLC only on purpose (a float register takes them, a process does not).
          if (!opts.allowNonFinite && (typeof oldValue === 'number' || Array.isArray(oldValue) || oldValue === null) && core.containsNonFinite(value)) {
            const err = new core.BifrostError('BIFROST_VALUE_OUT_OF_RANGE', `${raw} is not a finite number: refusing to write it to ${address} on ${device}`, {
              address,
              device,
              hint: 'pass --allow-non-finite to write NaN or ±Infinity on purpose',
            });
            await audit.append({ user, source: 'cli', device, address, oldValue, newValue: value, result: 'denied', error: { code: err.code, message: err.message } });
            throw err;
          }
          const p = ctx.errPalette;
          if (!opts.yes) {
            const { confirm } = await import('../ui/prompt.js');
            const ok = await confirm(ctx, `${p.special(SYMBOLS.special)} write ${p.bold(formatValue(value))} to ${p.bold(address)} on ${device} (now ${formatValue(oldValue)})?`);
            if (!ok) {
              await audit.append({ user, source: 'cli', device, address, oldValue, newValue: value, result: 'denied' });
              if (ctx.signal.aborted) return EXIT.INTERRUPTED;
              ctx.err(p.warning(`${SYMBOLS.warn} not written`));
              return EXIT.ERROR;
            }
          }
          try {
            await plc.write(address, value, { signal: ctx.signal });
          } catch (e) {
            const err = core.toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device, address });
            await audit.append({ user, source: 'cli', device, address, oldValue, newValue: value, result: 'error', error: { code: err.code, message: err.message } });
            throw err;
          }
          await audit.append({ user, source: 'cli', device, address, oldValue, newValue: value, result: 'ok' });
          if (ctx.json) ctx.printJson({ address, oldValue: core.jsonValue(oldValue), newValue: core.jsonValue(value), result: 'ok', auditLog: auditFile });
          else
            ctx.out(`${ctx.palette.success(SYMBOLS.ok)} ${address}: ${formatValue(oldValue)} ${SYMBOLS.arrow} ${ctx.palette.success(formatValue(value))} ${ctx.palette.dim(`(audit: ${auditFile})`)}`);
          return EXIT.OK;
        }),
      );
  },
};

/** Creates the file's folder and opens the file for appending, without writing to it. */
async function ensureWritable(file: string): Promise<void> {
  const { mkdir, open } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dirname(file), { recursive: true });
  const handle = await open(file, 'a', 0o600);
  await handle.close();
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
