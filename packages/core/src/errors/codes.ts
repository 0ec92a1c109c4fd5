/**
 * @module
 * The one registry of Bifrost error codes. Every `BifrostError` carries one of these codes; users
 * match on the code, never on the message. `docs/errors.md` is generated from this table
 * (`npm run docs:errors`) and a test checks that the two agree both ways.
 *
 * Each protocol or subsystem owns one block below; add codes to your own block only.
 */

/** What the registry knows of a code: a one-line summary and, where one helps, a hint to the user. */
export interface ErrorCodeInfo {
  readonly area: string;
  readonly summary: string;
  readonly hint?: string;
}

const core = {
  BIFROST_INVALID_ARGUMENT: { area: 'core', summary: 'An argument passed to an API is not valid.' },
  BIFROST_INVALID_URL: {
    area: 'core',
    summary: 'A device URL could not be parsed or has a bad option.',
    hint: 'URLs look like modbus://host:502?unit=1, s7://host?rack=0&slot=1, eip://host?path=1,0, opc.tcp://host:4840',
  },
  BIFROST_UNKNOWN_SCHEME: { area: 'core', summary: 'No driver is registered for the URL scheme.', hint: 'Known schemes: modbus, modbus+rtu, modbus+rtuovertcp, s7, eip, opc.tcp' },
  BIFROST_DRIVER_NOT_INSTALLED: {
    area: 'core',
    summary: 'The package that implements this URL scheme is not installed.',
    hint: 'Install the package named in the message, e.g. npm install @bifrost/opcua',
  },
  BIFROST_INVALID_ADDRESS: { area: 'core', summary: 'A tag address could not be parsed for this protocol.' },
  BIFROST_UNSUPPORTED_TYPE: { area: 'core', summary: 'The data type is not supported here.' },
  BIFROST_VALUE_OUT_OF_RANGE: { area: 'core', summary: 'A value does not fit the data type it is written as.' },
  BIFROST_TYPE_MISMATCH: { area: 'core', summary: 'A value has the wrong JavaScript type for the tag.' },
  BIFROST_BUFFER_TOO_SHORT: { area: 'core', summary: 'Not enough bytes to decode the requested type.' },
  BIFROST_TIMEOUT: { area: 'core', summary: 'An operation did not complete within its timeout.', hint: 'Check that the device is reachable, or raise the timeout (?timeout=ms).' },
  BIFROST_ABORTED: { area: 'core', summary: 'The operation was aborted by its AbortSignal.' },
  BIFROST_CLOSED: { area: 'core', summary: 'The device or resource is closed.' },
  BIFROST_NOT_CONNECTED: { area: 'core', summary: 'The device is not connected.' },
  BIFROST_CONNECTION_REFUSED: { area: 'core', summary: 'The device refused the connection.', hint: 'Check host, port and that the device accepts connections from this machine.' },
  BIFROST_CONNECTION_LOST: { area: 'core', summary: 'The connection closed while a request was in flight.' },
  BIFROST_FRAME_TOO_LARGE: { area: 'core', summary: 'A frame exceeded the configured maximum size.' },
  BIFROST_MALFORMED_FRAME: { area: 'core', summary: 'A received frame could not be decoded.' },
  BIFROST_NOT_SUPPORTED: { area: 'core', summary: 'The device or driver does not support this operation.' },
  BIFROST_WRITE_NOT_ALLOWED: { area: 'core', summary: 'Writes to this tag are not enabled.', hint: 'Mark the tag writable: true in the config, or pass --yes to the CLI write command.' },
  BIFROST_CONFIG_INVALID: { area: 'config', summary: 'The gateway configuration is not valid; the message names the file, line and field.' },
  BIFROST_CONFIG_YAML: { area: 'config', summary: 'The gateway configuration is not valid YAML.' },
  BIFROST_CONFIG_NOT_FOUND: { area: 'config', summary: 'The configuration file does not exist or cannot be read.' },
  BIFROST_CLI_USAGE: { area: 'cli', summary: 'The command line is not valid.', hint: 'Run bifrost <command> --help for usage and examples.' },
} as const satisfies Record<string, ErrorCodeInfo>;

// ── modbus ── (owned by packages/modbus)
const modbus = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── s7 ── (owned by packages/s7)
const s7 = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── ethernetip ── (owned by packages/ethernetip)
const ethernetip = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── opcua ── (owned by packages/opcua)
const opcua = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── analytics ── (owned by packages/analytics)
const analytics = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── cloud ── (owned by packages/cloud)
const cloud = {} as const satisfies Record<string, ErrorCodeInfo>;

// ── gateway and web ── (owned by packages/gateway and packages/web)
const gateway = {} as const satisfies Record<string, ErrorCodeInfo>;

/** Every Bifrost error code with its summary and hint. */
export const ERROR_CODES = { ...core, ...modbus, ...s7, ...ethernetip, ...opcua, ...analytics, ...cloud, ...gateway } as const;

/** A stable Bifrost error code, such as `BIFROST_TIMEOUT`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is a registered Bifrost error code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
