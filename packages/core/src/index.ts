/**
 * @module
 * Bifrost core: the data model, the Driver/Device contract and `connect(url)`, typed errors,
 * timeouts and backoff, the scan scheduler and the gateway config schema.
 */
export * from './audit.js';
export * from './columns.js';
export * from './config-lazy.js';
export * from './connections.js';
export * from './datatypes.js';
export * from './diagnostics.js';
export * from './driver.js';
export * from './errors/index.js';
export * from './health.js';
export * from './listen.js';
export * from './rate-limit.js';
export * from './redact.js';
export * from './registry.js';
export * from './scan.js';
export * from './secrets.js';
export * from './simulator.js';
export * from './timing.js';
export * from './url.js';
export * from './value.js';
