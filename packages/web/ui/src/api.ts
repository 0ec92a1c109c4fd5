/**
 * @module
 * The dashboard's client of the Bifrost API: fetch with the bearer token, and the live stream
 * (WebSocket, token as the `bearer.<token>` subprotocol since browsers cannot set headers on it)
 * with reconnect and backoff.
 */

export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  name: string;
  role: Role;
  gateway?: { name: string; site?: string };
}
export interface DeviceInfo {
  name: string;
  url: string;
  pollMs: number;
  tags: number;
  health: 'connecting' | 'connected' | 'degraded' | 'disconnected';
  stats: { polls: number; errors: number; badValues: number; lastLatencyMs: number; avgLatencyMs: number; lastPollAt: number; lastError?: { code: string; message: string } };
}
export interface TagInfo {
  device: string;
  tag: string;
  key: string;
  address: string;
  writable: boolean;
  unit?: string;
  description?: string;
  min?: number;
  max?: number;
  value: unknown;
  quality: 'good' | 'uncertain' | 'bad';
  timestamp?: number;
  error?: { code: string; message: string };
}
export interface Alarm {
  id: string;
  pipeline: string;
  source: string;
  state: 'active' | 'cleared';
  acknowledged: boolean;
  acknowledgedBy?: string;
  severity?: string | number;
  message: string;
  value?: number;
  raisedAt: number;
}

/** An API answer that is not 2xx: the server's JSON error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'bifrost.token';

export const auth = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(t: string | null) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Calls the API; a network failure rejects with status 0 (the gateway is unreachable). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'the gateway is unreachable');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = (body ?? {}) as { code?: string; message?: string };
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText);
  }
  return body as T;
}

export type LiveRow = [key: string, value: unknown, quality: TagInfo['quality'], timestamp: number, error?: { code: string; message: string }];
export type StreamState = 'connecting' | 'live' | 'unreachable';

/** Opens the live stream of every tag; reconnects with exponential backoff until stopped. */
export function openStream(handlers: {
  onValues: (rows: LiveRow[]) => void;
  onHealth: (device: string, state: DeviceInfo['health']) => void;
  onAlarm: () => void;
  onState: (s: StreamState) => void;
}): () => void {
  let ws: WebSocket | undefined;
  let stopped = false;
  let delay = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connect = () => {
    if (stopped) return;
    handlers.onState('connecting');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/stream`;
    ws = new WebSocket(url, auth.token ? ['bifrost', `bearer.${auth.token}`] : ['bifrost']);
    ws.onopen = () => {
      delay = 500;
      handlers.onState('live');
      ws?.send(JSON.stringify({ op: 'subscribe', all: true }));
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as { type: string; values?: LiveRow[]; device?: string; state?: DeviceInfo['health'] };
      if (msg.type === 'values' && msg.values) handlers.onValues(msg.values);
      else if (msg.type === 'health' && msg.device && msg.state) handlers.onHealth(msg.device, msg.state);
      else if (msg.type === 'alarm') handlers.onAlarm();
    };
    ws.onclose = () => {
      if (stopped) return;
      handlers.onState('unreachable');
      // Exponential backoff with full jitter, capped at 10 s, as the drivers reconnect.
      timer = setTimeout(connect, Math.random() * delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    ws?.close();
  };
}

/** A value for display. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(5).replace(/\.?0+$/, '');
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  return String(v);
}

/** "3 s ago". */
export function ago(ts: number | undefined, now: number): string {
  if (!ts) return '—';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return new Date(ts).toLocaleTimeString();
}
