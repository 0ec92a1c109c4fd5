/**
 * @module
 * How an error reaches a person: one red line with its code, message and hint
 * (`✖ BIFROST_TIMEOUT read timed out after 2000 ms — hint: …`), or with `--json` one JSON object
 * `{ "error": { code, message, hint, … } }`. Stacks only with `BIFROST_DEBUG=1`.
 */
import { errorCode } from './exit-codes.js';
import { type Palette, SYMBOLS } from './ui/palette.js';

/**
 * The JSON-safe view of any error, as `--json` prints it on stderr.
 * @example JSON.stringify({ error: errorToJSON(err) })
 */
export function errorToJSON(err: unknown): Record<string, unknown> {
  const e = err as { toJSON?: () => Record<string, unknown>; message?: unknown };
  if (errorCode(err) && typeof e.toJSON === 'function') return e.toJSON();
  return { code: 'BIFROST_INTERNAL', message: err instanceof Error ? err.message : String(err), hint: 'This is a bug in bifrost; run again with BIFROST_DEBUG=1 and report the stack.' };
}

/**
 * The one red line for an error.
 * @example renderError(new BifrostError('BIFROST_TIMEOUT', 'read timed out after 2000 ms'), palette)
 * // ✖ BIFROST_TIMEOUT read timed out after 2000 ms — hint: Check that the device is reachable…
 */
export function renderError(err: unknown, palette: Palette): string {
  const j = errorToJSON(err);
  const hint = typeof j.hint === 'string' && j.hint !== '' ? ` — hint: ${j.hint}` : '';
  const status = j.statusName !== undefined ? ` [${String(j.statusName)}${j.status !== undefined ? ` ${String(j.status)}` : ''}]` : j.status !== undefined ? ` [status ${String(j.status)}]` : '';
  const message = String(j.message).replace(/\s*\n\s*/g, ' ');
  return palette.error(`${SYMBOLS.error} ${String(j.code)} ${message}${status}${hint}`);
}
