/**
 * @module
 * The route table and the OpenAPI 3.1 document generated from it (served at
 * `GET /api/openapi.json`). The server registers exactly these routes with these roles.
 */
import type { Role } from './auth.js';

/**
 * One API route.
 * @example const r: RouteSpec = { method: 'GET', url: '/api/me', role: 'viewer', handler: 'me', summary: 'The caller.' };
 */
export interface RouteSpec {
  method: 'GET' | 'POST';
  /** fastify path syntax (`:param`). */
  url: string;
  /** The weakest role allowed, or `public`. */
  role: Role | 'public';
  handler: string;
  summary: string;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
  websocket?: boolean;
}

/**
 * Every route of the API.
 * @example ROUTES.filter((r) => r.role === 'operator').map((r) => r.url)
 */
export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', url: '/api/openapi.json', role: 'public', handler: 'openapi', summary: 'This OpenAPI document.' },
  { method: 'GET', url: '/health', role: 'public', handler: 'health', summary: 'Gateway health: 200 when ok or degraded, 503 when every device is down.' },
  { method: 'GET', url: '/api/health', role: 'public', handler: 'health', summary: 'Same as /health.' },
  { method: 'GET', url: '/metrics', role: 'viewer', handler: 'metrics', summary: 'Prometheus metrics of devices, store, sinks and the live stream.' },
  { method: 'POST', url: '/api/login', role: 'public', handler: 'login', summary: 'Checks a token and returns who it is (rate-limited per client address).', body: { token: { type: 'string' } } },
  { method: 'GET', url: '/api/me', role: 'viewer', handler: 'me', summary: 'The caller: token name and role, and the gateway name.' },
  { method: 'GET', url: '/api/devices', role: 'viewer', handler: 'devices', summary: 'Devices with health and poll statistics.' },
  { method: 'GET', url: '/api/devices/:device', role: 'viewer', handler: 'device', summary: 'One device with health and statistics.' },
  { method: 'GET', url: '/api/tags', role: 'viewer', handler: 'tags', summary: 'Tags with metadata (address, unit, writable, limits) and latest value.', query: { device: 'only this device' } },
  { method: 'GET', url: '/api/tags/:device/:tag', role: 'viewer', handler: 'tag', summary: 'One tag with metadata and latest value.' },
  {
    method: 'POST',
    url: '/api/tags/:device/:tag/write',
    role: 'operator',
    handler: 'write',
    summary: "Writes a writable tag through the gateway's audited write path (rate-limited per user).",
    body: { value: { description: 'number, boolean, string or array, checked against the tag type and limits' } },
  },
  {
    method: 'GET',
    url: '/api/tags/:device/:tag/history',
    role: 'viewer',
    handler: 'history',
    summary: 'History of a tag from the time-series store, downsampled with LTTB to at most maxPoints.',
    query: { from: 'ms since epoch or ISO date (default to − 1 h)', to: 'ms since epoch or ISO date (default now)', maxPoints: 'integer, default 1000' },
  },
  { method: 'GET', url: '/api/series', role: 'viewer', handler: 'series', summary: 'Names of the series in the store (device.tag and pipeline outputs).' },
  {
    method: 'GET',
    url: '/api/series/:series/history',
    role: 'viewer',
    handler: 'seriesHistory',
    summary: 'History of any series (e.g. a pipeline aggregate), as the tag history route.',
    query: { from: 'ms or ISO date', to: 'ms or ISO date', maxPoints: 'integer' },
  },
  { method: 'GET', url: '/api/alarms', role: 'viewer', handler: 'alarms', summary: 'Active alarms, and cleared ones not yet acknowledged.' },
  { method: 'POST', url: '/api/alarms/:id/ack', role: 'operator', handler: 'ack', summary: 'Acknowledges an alarm as the caller.' },
  { method: 'GET', url: '/api/sinks', role: 'viewer', handler: 'sinks', summary: 'Sinks with their metrics (queued, sent, failures).' },
  { method: 'GET', url: '/api/config', role: 'admin', handler: 'config', summary: 'The configuration in force, secrets masked.' },
  {
    method: 'GET',
    url: '/api/stream',
    role: 'viewer',
    handler: 'stream',
    websocket: true,
    summary:
      'WebSocket of live values. Send {"op":"subscribe","tags":["dev.tag"]} or {"op":"subscribe","all":true}; receive {"type":"values","values":[[key,value,quality,timestamp,error?]]} (latest value per tag wins), {"type":"health"}, {"type":"alarm"}. Browsers pass the token as subprotocols ["bifrost","bearer.<token>"].',
  },
];

const ERROR = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'stable code, see docs/errors.md' },
    message: { type: 'string' },
    status: {},
    statusName: { type: 'string' },
    device: { type: 'string' },
    address: { type: 'string' },
    hint: { type: 'string' },
  },
};

/**
 * The OpenAPI 3.1 document of the API.
 * @example const doc = buildOpenApi(); Object.keys(doc.paths)
 */
export function buildOpenApi(): { openapi: string; info: Record<string, unknown>; paths: Record<string, Record<string, unknown>>; components: Record<string, unknown> } {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    for (const [name, description] of Object.entries(r.query ?? {})) params.push({ name, in: 'query', required: false, schema: { type: 'string' }, description } as never);
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: r.handler,
      parameters: params,
      'x-bifrost-role': r.role,
      responses: {
        [r.websocket ? '101' : '200']: { description: r.websocket ? 'Switching protocols' : 'OK' },
        '400': { description: 'Bad request', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        ...(r.role === 'public' ? {} : { '401': { description: 'Missing or invalid token' }, '403': { description: `Needs role ${r.role}` } }),
      },
    };
    if (r.role !== 'public') op.security = [{ bearer: [] }];
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: { type: 'object', properties: r.body, required: Object.keys(r.body) } } } };
    paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Bifrost gateway API', version: '0.1.0', description: 'Devices, tags, history, alarms and audited writes of a Bifrost gateway. Roles: viewer < operator < admin.' },
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: ERROR } },
  };
}
