/**
 * @module
 * The documented exit codes of `bifrost` (docs/cli.md) and the mapping from an error's stable
 * code to one of them. The mapping works on the code string alone, so the error path never has
 * to load the error registry.
 */

/**
 * Every exit code `bifrost` uses (docs/cli.md).
 * @example return bad.length > 0 ? EXIT.PARTIAL : EXIT.OK
 */
export const EXIT = {
  /** Everything worked. */
  OK: 0,
  /** An error that is neither usage nor device (config, file, missing package, refused write). */
  ERROR: 1,
  /** The command line is wrong: unknown option, bad URL, bad address, bad value. */
  USAGE: 2,
  /** The device could not be reached or answered with an error (timeout, refused, protocol status). */
  DEVICE: 3,
  /** The command ran but some values came back bad. */
  PARTIAL: 4,
  /** Interrupted by Ctrl-C (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

/** One of the exit codes in {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const USAGE_CODES = new Set([
  'BIFROST_CLI_USAGE',
  'BIFROST_INVALID_ARGUMENT',
  'BIFROST_INVALID_URL',
  'BIFROST_UNKNOWN_SCHEME',
  'BIFROST_INVALID_ADDRESS',
  'BIFROST_UNSUPPORTED_TYPE',
  'BIFROST_VALUE_OUT_OF_RANGE',
  'BIFROST_TYPE_MISMATCH',
]);

const DEVICE_CODES = new Set([
  'BIFROST_TIMEOUT',
  'BIFROST_CONNECTION_REFUSED',
  'BIFROST_CONNECTION_LOST',
  'BIFROST_CONNECT_TIMEOUT',
  'BIFROST_HOST_NOT_FOUND',
  'BIFROST_HOST_UNREACHABLE',
  'BIFROST_TLS_FAILED',
  'BIFROST_NOT_CONNECTED',
  'BIFROST_CLOSED',
  'BIFROST_MALFORMED_FRAME',
  'BIFROST_FRAME_TOO_LARGE',
  'BIFROST_BUFFER_TOO_SHORT',
  'BIFROST_NOT_SUPPORTED',
]);

// Codes of a protocol's own blocks (a Modbus exception, a CIP general status, an S7 return code,
// an OPC UA StatusCode) are answers from the device: exit 3.
const PROTOCOL_PREFIX = /^BIFROST_(MODBUS|S7|EIP|CIP|ETHERNETIP|LOGIX|OPCUA)_/;

/**
 * The exit code for an error, from its `code`.
 * @example exitCodeFor(new BifrostError('BIFROST_TIMEOUT', '…')) // 3
 */
export function exitCodeFor(err: unknown): ExitCode {
  const code = errorCode(err);
  if (code === undefined) return EXIT.ERROR;
  if (code === 'BIFROST_ABORTED') return EXIT.INTERRUPTED;
  if (USAGE_CODES.has(code)) return EXIT.USAGE;
  if (DEVICE_CODES.has(code) || PROTOCOL_PREFIX.test(code)) return EXIT.DEVICE;
  return EXIT.ERROR;
}

/**
 * The `code` of a BifrostError-like value (duck-typed so this module stays free of core).
 * @example errorCode(err) // 'BIFROST_TIMEOUT'
 */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('BIFROST_') ? code : undefined;
}
