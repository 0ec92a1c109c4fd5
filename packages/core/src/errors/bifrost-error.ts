/**
 * @module
 * The one error base of Bifrost. Every error a Bifrost package throws or reports is a
 * `BifrostError` with a stable string `code` from the registry, the protocol's own status where
 * there is one (Modbus exception code, CIP general status, S7 return code, OPC UA StatusCode),
 * and the underlying `cause`.
 */
import { ERROR_CODES, type ErrorCode } from './codes.js';

/** Extra context an error may carry. */
export interface BifrostErrorOptions {
  /** The protocol's own numeric or named status, e.g. a Modbus exception code. */
  status?: number | string;
  /** A readable name for `status`, e.g. `ILLEGAL_DATA_ADDRESS`, `BadNodeIdUnknown`. */
  statusName?: string;
  /** The device (name or URL) the error concerns. */
  device?: string;
  /** The tag address the error concerns. */
  address?: string;
  /** What the user can do about it; defaults to the registry's hint for the code. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
  /** Any further structured detail (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * A Bifrost error with a stable `code`.
 * @example
 * try { await plc.read('HR99999') } catch (e) { if (isBifrostError(e, 'BIFROST_INVALID_ADDRESS')) … }
 */
export class BifrostError extends Error {
  override readonly name: string = 'BifrostError';
  readonly code: ErrorCode;
  readonly status?: number | string;
  readonly statusName?: string;
  readonly device?: string;
  readonly address?: string;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: BifrostErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
    if (options.statusName !== undefined) this.statusName = options.statusName;
    if (options.device !== undefined) this.device = options.device;
    if (options.address !== undefined) this.address = options.address;
    const hint = options.hint ?? (ERROR_CODES[code] as { hint?: string }).hint;
    if (hint !== undefined) this.hint = hint;
    if (options.details !== undefined) this.details = options.details;
  }

  /**
   * How `console.log(err)` / `console.error(err)` print it: one line with the code, message, status
   * and hint, and where it was thrown, instead of a stack per `cause` (three nested traces for a
   * Modbus exception). `BIFROST_DEBUG=1` prints Node's full inspection with every stack.
   */
  [Symbol.for('nodejs.util.inspect.custom')](_depth: number, options: object, inspect: (v: unknown, o: object) => string): string {
    if (process.env.BIFROST_DEBUG) return inspect(this, { ...options, customInspect: false });
    const status =
      this.statusName !== undefined ? ` [${this.statusName}${this.status !== undefined ? ` ${String(this.status)}` : ''}]` : this.status !== undefined ? ` [status ${String(this.status)}]` : '';
    const at = /\n\s+at (.*)/.exec(this.stack ?? '')?.[1];
    const hint = this.hint ? ` — hint: ${this.hint}` : '';
    return `${this.name} ${this.code}: ${this.message.replace(/\s*\n\s*/g, ' ')}${status}${hint}${at ? ` (at ${at}; BIFROST_DEBUG=1 for the stack)` : ''}`;
  }

  /** A plain, JSON-safe view of the error for APIs and `--json` output. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.status !== undefined) out.status = this.status;
    if (this.statusName !== undefined) out.statusName = this.statusName;
    if (this.device !== undefined) out.device = this.device;
    if (this.address !== undefined) out.address = this.address;
    if (this.hint !== undefined) out.hint = this.hint;
    return out;
  }
}

/**
 * True when `err` is a BifrostError (optionally with the given code).
 * @example
 * if (isBifrostError(err, 'BIFROST_TIMEOUT')) retry();
 */
export function isBifrostError(err: unknown, code?: ErrorCode): err is BifrostError {
  return err instanceof BifrostError && (code === undefined || err.code === code);
}

/**
 * Wraps any thrown value as a BifrostError, keeping a BifrostError as it is.
 * @example
 * catch (e) { throw toBifrostError(e, 'BIFROST_CONNECTION_LOST', { device: url }) }
 */
export function toBifrostError(err: unknown, fallback: ErrorCode = 'BIFROST_INVALID_ARGUMENT', options: BifrostErrorOptions = {}): BifrostError {
  if (err instanceof BifrostError) return err;
  const sys = err as NodeJS.ErrnoException | undefined;
  if (sys && typeof sys === 'object' && typeof sys.code === 'string') {
    if (sys.code === 'ECONNREFUSED') return new BifrostError('BIFROST_CONNECTION_REFUSED', `connection refused${options.device ? ` by ${options.device}` : ''}`, { ...options, cause: err });
    if (sys.code === 'ECONNRESET' || sys.code === 'EPIPE')
      return new BifrostError('BIFROST_CONNECTION_LOST', `connection lost${options.device ? ` to ${options.device}` : ''}: ${sys.code}`, { ...options, cause: err });
    if (sys.code === 'ETIMEDOUT') return new BifrostError('BIFROST_TIMEOUT', `timed out${options.device ? ` talking to ${options.device}` : ''}`, { ...options, cause: err });
    if (sys.code === 'ABORT_ERR') return new BifrostError('BIFROST_ABORTED', 'operation aborted', { ...options, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BifrostError(fallback, message, { ...options, cause: err });
}
