/**
 * @module
 * @bifrost/web: the REST + WebSocket API and the dashboard of a Bifrost gateway.
 * `startWebServer(gateway, options)` is what `bifrost run` calls for a config with a `web:` section.
 */
export { createToken, hashToken, type Principal, ROLES, type Role, roleAllows, type TokenEntry, TokenStore } from './auth.js';
export { StreamHub, type StreamSocket, type StreamStats } from './live.js';
export { buildOpenApi, ROUTES, type RouteSpec } from './openapi.js';
export { resolveWebOptions, type WebOptions, type WebOptionsInput, webOptionsSchema } from './options.js';
export { RateLimiter } from './rate-limit.js';
export { checkWebOptions, createWebApp, httpStatusOf, type StartWebOptions, startWebServer } from './server.js';
