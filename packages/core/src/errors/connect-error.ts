/**
 * @module
 * One classification of connection failures for every driver, so the same network fault gives
 * the same code whether the URL says modbus://, s7://, eip:// or opc.tcp://: refused, timed out,
 * host not found, network or host unreachable, TLS failure.
 */
import { BifrostError, type BifrostErrorOptions } from './bifrost-error.js';
import type { ErrorCode } from './codes.js';

// getaddrinfo(3) failures as libuv names them: ENOTFOUND (EAI_NONAME), EAI_AGAIN (the resolver
// did not answer), EAI_FAIL, EAI_NODATA.
const NOT_FOUND = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
// connect(2) ICMP / routing failures (POSIX errno).
const UNREACHABLE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
// OpenSSL verify errors as Node reports them (tls.connect `err.code`) and Node's own TLS codes.
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|EPROTO$)/;

function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('BIFROST_')) return code;
    // node-opcua and some clients only keep the errno in the message text
    const m = /\b(ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|EHOSTDOWN|ENETDOWN)\b/.exec(String((e as { message?: unknown }).message ?? ''));
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The connection failure code for a socket or connect error, or undefined when `err` is not one.
 * @example connectErrorCode(Object.assign(new Error('getaddrinfo ENOTFOUND plc'), { code: 'ENOTFOUND' })) // 'BIFROST_HOST_NOT_FOUND'
 */
export function connectErrorCode(err: unknown): ErrorCode | undefined {
  if (err instanceof BifrostError && (err.code === 'BIFROST_TIMEOUT' || err.code === 'BIFROST_CONNECT_TIMEOUT')) return 'BIFROST_CONNECT_TIMEOUT';
  const code = errnoOf(err);
  if (code === undefined) return undefined;
  if (code === 'ECONNREFUSED') return 'BIFROST_CONNECTION_REFUSED';
  if (code === 'ETIMEDOUT') return 'BIFROST_CONNECT_TIMEOUT';
  if (NOT_FOUND.has(code)) return 'BIFROST_HOST_NOT_FOUND';
  if (UNREACHABLE.has(code)) return 'BIFROST_HOST_UNREACHABLE';
  if (TLS_CODE.test(code)) return 'BIFROST_TLS_FAILED';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'BIFROST_CONNECTION_LOST';
  return undefined;
}

// Codes a lower layer may have used before the cause was classified.
const GENERIC = new Set<ErrorCode>(['BIFROST_CONNECTION_REFUSED', 'BIFROST_TIMEOUT', 'BIFROST_CONNECTION_LOST', 'BIFROST_INVALID_ARGUMENT']);

const WHAT: Partial<Record<ErrorCode, string>> = {
  BIFROST_CONNECTION_REFUSED: 'refused the connection',
  BIFROST_CONNECT_TIMEOUT: 'did not answer in time',
  BIFROST_HOST_NOT_FOUND: 'is not a host name the resolver knows',
  BIFROST_HOST_UNREACHABLE: 'cannot be reached from this machine (no route)',
  BIFROST_TLS_FAILED: 'failed the TLS handshake',
  BIFROST_CONNECTION_LOST: 'closed the connection while connecting',
};

/**
 * Turns whatever a driver's connect path caught into the BifrostError a user sees: the
 * classified connection code when the cause is a network failure (see {@link connectErrorCode}),
 * any other BifrostError as it is, and `fallback` for the rest.
 * @example catch (e) { throw connectError(e, { device: 'plc1' }) }
 */
export function connectError(err: unknown, options: BifrostErrorOptions & { device: string }, fallback: ErrorCode = 'BIFROST_CONNECTION_REFUSED'): BifrostError {
  const code = connectErrorCode(err);
  // A protocol's own refusal (S7 TSAP rejected, OPC UA certificate untrusted…) is already precise.
  if (err instanceof BifrostError && (!GENERIC.has(err.code) || code === undefined || code === err.code)) return err;
  if (code === undefined) {
    const message = err instanceof Error ? err.message : String(err);
    return new BifrostError(fallback, `cannot connect to ${options.device}: ${message}`, { ...options, cause: err });
  }
  const errno = errnoOf(err);
  const detail = err instanceof BifrostError ? `: ${err.message}` : errno ? ` (${errno})` : '';
  const status = errno !== undefined ? { status: errno } : {};
  return new BifrostError(code, `${options.device} ${WHAT[code] ?? 'failed'}${detail}`, { ...status, ...options, cause: err });
}
