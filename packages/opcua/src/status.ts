/**
 * @module
 * OPC UA StatusCodes (OPC 10000-4 §7.39, values from OPC 10000-6 Annex A StatusCode.csv) turned
 * into Bifrost errors and qualities. The StatusCode's numeric value and name ride along as the
 * error's `status` and `statusName`, so a user sees `BadNodeIdUnknown`, not only a Bifrost code.
 */
import { BifrostError, type ErrorCode, type Quality } from '@bifrost/core';

/**
 * The StatusCodes Bifrost gives their own error code (value per OPC 10000-6 Annex A).
 * @example if (err.status === STATUS.BadNodeIdUnknown) …
 */
export const STATUS = {
  Good: 0x00000000,
  BadUnexpectedError: 0x80010000,
  BadCommunicationError: 0x80050000,
  BadTimeout: 0x800a0000,
  BadServiceUnsupported: 0x800b0000,
  BadShutdown: 0x800c0000,
  BadServerNotConnected: 0x800d0000,
  BadNothingToDo: 0x800f0000,
  BadTooManyOperations: 0x80100000,
  BadSecurityChecksFailed: 0x80130000,
  BadCertificateInvalid: 0x80120000,
  BadCertificateUntrusted: 0x801a0000,
  BadUserAccessDenied: 0x801f0000,
  BadIdentityTokenInvalid: 0x80200000,
  BadIdentityTokenRejected: 0x80210000,
  BadSecureChannelIdInvalid: 0x80220000,
  BadSessionIdInvalid: 0x80250000,
  BadSessionClosed: 0x80260000,
  BadNodeIdInvalid: 0x80330000,
  BadNodeIdUnknown: 0x80340000,
  BadAttributeIdInvalid: 0x80350000,
  BadNotReadable: 0x803a0000,
  BadNotWritable: 0x803b0000,
  BadOutOfRange: 0x803c0000,
  BadNotSupported: 0x803d0000,
  BadSecurityModeRejected: 0x80540000,
  BadSecurityPolicyRejected: 0x80550000,
  BadUserSignatureInvalid: 0x80570000,
  BadNoMatch: 0x806f0000,
  BadTypeMismatch: 0x80740000,
  BadMethodInvalid: 0x80750000,
  BadArgumentsMissing: 0x80760000,
  BadWaitingForInitialData: 0x80320000,
  BadConnectionClosed: 0x80ae0000,
  BadInvalidArgument: 0x80ab0000,
  BadSecureChannelClosed: 0x80860000,
} as const;

const CODE_BY_NAME: Record<string, ErrorCode> = {
  BadNodeIdUnknown: 'BIFROST_OPCUA_NODE_ID_UNKNOWN',
  BadNoMatch: 'BIFROST_OPCUA_NODE_ID_UNKNOWN',
  BadBrowseNameInvalid: 'BIFROST_OPCUA_NODE_ID_UNKNOWN',
  BadNodeIdInvalid: 'BIFROST_INVALID_ADDRESS',
  BadTypeMismatch: 'BIFROST_OPCUA_TYPE_MISMATCH',
  BadOutOfRange: 'BIFROST_VALUE_OUT_OF_RANGE',
  BadNotWritable: 'BIFROST_OPCUA_NOT_WRITABLE',
  BadUserAccessDenied: 'BIFROST_OPCUA_ACCESS_DENIED',
  BadIdentityTokenInvalid: 'BIFROST_OPCUA_BAD_CREDENTIALS',
  BadIdentityTokenRejected: 'BIFROST_OPCUA_BAD_CREDENTIALS',
  BadUserSignatureInvalid: 'BIFROST_OPCUA_BAD_CREDENTIALS',
  BadSecurityChecksFailed: 'BIFROST_OPCUA_CERTIFICATE_UNTRUSTED',
  BadCertificateUntrusted: 'BIFROST_OPCUA_CERTIFICATE_UNTRUSTED',
  BadCertificateInvalid: 'BIFROST_OPCUA_CERTIFICATE_UNTRUSTED',
  BadSecurityModeRejected: 'BIFROST_OPCUA_SECURITY',
  BadSecurityPolicyRejected: 'BIFROST_OPCUA_SECURITY',
  BadTimeout: 'BIFROST_TIMEOUT',
  BadCommunicationError: 'BIFROST_CONNECTION_LOST',
  BadConnectionClosed: 'BIFROST_CONNECTION_LOST',
  BadSecureChannelClosed: 'BIFROST_CONNECTION_LOST',
  BadServerNotConnected: 'BIFROST_NOT_CONNECTED',
  BadSessionClosed: 'BIFROST_NOT_CONNECTED',
  BadSessionIdInvalid: 'BIFROST_NOT_CONNECTED',
  BadShutdown: 'BIFROST_CONNECTION_LOST',
  BadServiceUnsupported: 'BIFROST_NOT_SUPPORTED',
  BadNotSupported: 'BIFROST_NOT_SUPPORTED',
};

const NAME_BY_VALUE = new Map<number, string>(Object.entries(STATUS).map(([k, v]) => [v, k]));

/**
 * The name of a StatusCode value when Bifrost knows it, else its hex form.
 * @example statusName(0x80340000) // 'BadNodeIdUnknown'
 */
export function statusName(value: number): string {
  const base = (value & 0xffff0000) >>> 0;
  return NAME_BY_VALUE.get(base) ?? `0x${base.toString(16).padStart(8, '0').toUpperCase()}`;
}

/**
 * Quality from a StatusCode's severity bits (OPC 10000-4 §7.39.2: 00 Good, 01 Uncertain, 10/11 Bad).
 * @example qualityOf(0x80340000) // 'bad'
 */
export function qualityOf(value: number): Quality {
  const severity = (value >>> 30) & 0b11;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

/** Where a StatusCode came from, for the error message. */
export interface StatusContext {
  device?: string;
  address?: string;
  /** What was being done: `read`, `write`, `call`, `activate session`… */
  operation?: string;
}

/**
 * The Bifrost error code for a StatusCode name.
 * @example errorCodeForStatus('BadUserAccessDenied') // 'BIFROST_OPCUA_ACCESS_DENIED'
 */
export function errorCodeForStatus(name: string): ErrorCode {
  return CODE_BY_NAME[name] ?? 'BIFROST_OPCUA_BAD_STATUS';
}

/**
 * A BifrostError for a bad StatusCode, carrying its value and name.
 * @example throw statusError(0x80340000, 'BadNodeIdUnknown', { device: 'plc', address: 'ns=2;s=X', operation: 'read' })
 */
export function statusError(value: number, name: string | undefined, ctx: StatusContext = {}, cause?: unknown): BifrostError {
  const n = name && name !== '' ? name : statusName(value);
  const where = [ctx.operation, ctx.address, ctx.device ? `on ${ctx.device}` : undefined].filter(Boolean).join(' ');
  const opts: ConstructorParameters<typeof BifrostError>[2] = { status: value >>> 0, statusName: n };
  if (ctx.device !== undefined) opts.device = ctx.device;
  if (ctx.address !== undefined) opts.address = ctx.address;
  if (cause !== undefined) opts.cause = cause;
  return new BifrostError(errorCodeForStatus(n), `${where ? `${where}: ` : ''}${n} (0x${(value >>> 0).toString(16).padStart(8, '0').toUpperCase()})`, opts);
}
