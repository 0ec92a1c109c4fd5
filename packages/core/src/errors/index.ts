/** @module Errors: one base class, one registry of codes. */
export { BifrostError, type BifrostErrorOptions, isBifrostError, toBifrostError } from './bifrost-error.js';
export { ERROR_CODES, type ErrorCode, type ErrorCodeInfo, isErrorCode } from './codes.js';
export { connectError, connectErrorCode } from './connect-error.js';
