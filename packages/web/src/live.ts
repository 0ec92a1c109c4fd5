/**
 * @module
 * The live value stream behind `GET /api/stream` (WebSocket). Each client subscribes to a set of
 * `device.tag` keys; values coalesce per client in a map keyed by tag (the latest value wins) and
 * are flushed on one shared timer. A client whose socket has more than `maxBufferedBytes` unsent
 * is skipped until it drains, so a slow client costs at most one pending value per subscribed tag,
 * never a growing queue (the same policy as an OPC UA monitored item with queueSize 1 and
 * discardOldest, OPC 10000-4 §5.12.1.5).
 *
 * Messages to the client (JSON text frames):
 * - `{"type":"values","values":[[key, value, quality, timestamp, error?], …]}`
 * - `{"type":"health","device":…,"state":…}`
 * - `{"type":"alarm","pipeline":…,"event":…}` when a pipeline reports an alarm event
 * - `{"type":"error","code":…,"message":…}` for a bad client message
 * Messages from the client: `{"op":"subscribe","tags":["press1.temperature", …]}` or
 * `{"op":"subscribe","all":true}`, and `{"op":"unsubscribe","tags":[…]}`.
 */
import { BifrostError, jsonValue, QUALITIES, redactText } from '@bifrost/core';
import type { Gateway, GatewayValue, ValueBatch } from '@bifrost/gateway';

/**
 * The socket surface the hub needs (a `ws` WebSocket).
 * @example hub.add(socket satisfies StreamSocket)
 */
export interface StreamSocket {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string): void;
}

interface Client {
  socket: StreamSocket;
  all: boolean;
  keys: Set<string>;
  pending: Map<string, GatewayValue>;
  /** Health and alarm messages, bounded: only the latest per device / the last 100 alarm events. */
  events: Map<string, string>;
}

const OPEN = 1;

/**
 * Counters of the stream, for the bench and /metrics.
 * @example const { clients, delivered } = hub.stats();
 */
export interface StreamStats {
  clients: number;
  /** Values sent, summed over clients. */
  delivered: number;
  /** Values replaced in a pending map before they were sent (coalesced). */
  coalesced: number;
  /** Flushes skipped because a client's socket was still full. */
  skipped: number;
}

/**
 * Fans gateway values out to WebSocket clients, latest value per tag.
 * @example
 * const hub = new StreamHub(gateway, { intervalMs: 100, maxBufferedBytes: 1 << 20, maxTags: 10_000 });
 * hub.add(socket); hub.message(socket, '{"op":"subscribe","all":true}');
 */
export class StreamHub {
  readonly #gateway: Gateway;
  readonly #clients = new Map<StreamSocket, Client>();
  readonly #byKey = new Map<string, Set<Client>>();
  readonly #allClients = new Set<Client>();
  readonly #maxBuffered: number;
  readonly #maxTags: number;
  readonly #maxJsonDepth: number;
  /** The `device.tag` keys of the config in force, rebuilt when a reload replaces the config: a lookup per subscribed key, not a scan. */
  #known: { config: unknown; keys: Set<string> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stats: StreamStats = { clients: 0, delivered: 0, coalesced: 0, skipped: 0 };
  /** Per flush, each value is serialized once and shared by every client that receives it. */
  #fragments = new WeakMap<GatewayValue, string>();
  /**
   * One poll's changed tags: only tags some client watches become objects (the gateway makes none
   * per value), so 100,000 tags with no dashboard open cost one early return per poll.
   */
  readonly #onBatch = (b: ValueBatch) => {
    if (this.#byKey.size === 0 && this.#allClients.size === 0) return;
    for (let k = 0; k < b.count; k++) {
      const t = b.tags[b.index[k] as number];
      if (t === undefined) continue;
      const set = this.#byKey.get(t.key);
      if (set === undefined && this.#allClients.size === 0) continue;
      const v: GatewayValue = { address: t.config.address, value: b.values[k] ?? null, quality: QUALITIES[b.quality[k] as number] ?? 'bad', timestamp: b.timestamp, device: t.device, tag: t.name };
      const st = b.sourceTimestamp?.[k];
      if (st !== undefined && !Number.isNaN(st)) v.sourceTimestamp = st;
      const e = b.errors?.[k];
      if (e) v.error = e;
      if (t.config.unit !== undefined) v.unit = t.config.unit;
      if (set) for (const c of set) this.#queue(c, t.key, v);
      for (const c of this.#allClients) this.#queue(c, t.key, v);
    }
  };
  readonly #onHealth = (e: { device: string; state: string; error?: { code: string; message: string } }) => {
    const msg = JSON.stringify({ type: 'health', device: e.device, state: e.state, error: e.error ? { code: e.error.code, message: redactText(e.error.message) } : undefined });
    for (const c of this.#clients.values()) c.events.set(`health:${e.device}`, msg);
  };
  readonly #onPipeline = (e: { pipeline: string; event: unknown }) => {
    const ev = e.event as { kind?: string; type?: string } | null;
    if (!ev || !(ev.kind === 'alarm' || ev.type === 'alarm' || String(ev.kind ?? '').startsWith('alarm'))) return;
    const msg = JSON.stringify({ type: 'alarm', pipeline: e.pipeline, event: e.event }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    for (const c of this.#clients.values()) if (c.events.size < 100) c.events.set(`alarm:${c.events.size}:${Date.now()}`, msg);
  };

  constructor(gateway: Gateway, options: { intervalMs: number; maxBufferedBytes: number; maxTags: number; maxJsonDepth?: number }) {
    this.#gateway = gateway;
    this.#maxBuffered = options.maxBufferedBytes;
    this.#maxTags = options.maxTags;
    this.#maxJsonDepth = options.maxJsonDepth ?? 32;
    gateway.on('batch', this.#onBatch);
    gateway.on('health', this.#onHealth);
    gateway.on('pipeline', this.#onPipeline);
    this.#timer = setInterval(() => this.flush(), options.intervalMs);
    this.#timer.unref();
  }

  /** Counters since start. */
  stats(): StreamStats {
    return { ...this.#stats, clients: this.#clients.size };
  }

  /** Registers a connected socket (it receives nothing until it subscribes). */
  add(socket: StreamSocket): void {
    this.#clients.set(socket, { socket, all: false, keys: new Set(), pending: new Map(), events: new Map() });
  }

  /** Forgets a socket. */
  remove(socket: StreamSocket): void {
    const c = this.#clients.get(socket);
    if (!c) return;
    for (const k of c.keys) this.#unlink(c, k);
    this.#allClients.delete(c);
    this.#clients.delete(socket);
  }

  /**
   * Handles one client message; a bad one is answered with an error message, never thrown.
   * Subscribing sends the current value of each tag at once, so a page shows values without waiting for a change.
   */
  message(socket: StreamSocket, text: string): void {
    const c = this.#clients.get(socket);
    if (!c) return;
    let msg: { op?: unknown; tags?: unknown; all?: unknown };
    try {
      if (nesting(text, this.#maxJsonDepth) > this.#maxJsonDepth) throw new Error('too deep');
      msg = JSON.parse(text) as typeof msg;
      if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
    } catch {
      this.#error(c, new BifrostError('BIFROST_WEB_BAD_REQUEST', 'stream message is not a JSON object'));
      return;
    }
    const tags = msg.tags === undefined ? [] : msg.tags;
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      this.#error(c, new BifrostError('BIFROST_WEB_BAD_REQUEST', 'tags must be an array of "device.tag" strings'));
      return;
    }
    if (msg.op === 'subscribe') {
      if (msg.all === true) {
        if (this.#knownKeys().size > this.#maxTags) {
          this.#error(c, new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `a stream may subscribe at most ${this.#maxTags} tags; this gateway has ${this.#knownKeys().size}: name them`));
          return;
        }
        c.all = true;
        this.#allClients.add(c);
        for (const v of this.#gateway.latest()) this.#queue(c, `${v.device}.${v.tag}`, v);
        return;
      }
      if (c.keys.size + tags.length > this.#maxTags) {
        this.#error(c, new BifrostError('BIFROST_WEB_PAYLOAD_TOO_LARGE', `a stream may subscribe at most ${this.#maxTags} tags`));
        return;
      }
      const unknown: string[] = [];
      const known = this.#knownKeys();
      for (const key of tags as string[]) {
        if (!known.has(key)) {
          unknown.push(key);
          continue;
        }
        const dot = key.indexOf('.');
        const current = this.#gateway.latestOf(key.slice(0, dot), key.slice(dot + 1));
        if (!c.keys.has(key)) {
          c.keys.add(key);
          let set = this.#byKey.get(key);
          if (!set) this.#byKey.set(key, (set = new Set()));
          set.add(c);
        }
        if (current) this.#queue(c, key, current);
      }
      if (unknown.length > 0) this.#error(c, new BifrostError('BIFROST_GATEWAY_UNKNOWN_TAG', `unknown tags: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ' …' : ''}`));
    } else if (msg.op === 'unsubscribe') {
      if (msg.all === true) {
        c.all = false;
        this.#allClients.delete(c);
      }
      for (const key of tags as string[]) {
        c.keys.delete(key);
        c.pending.delete(key);
        this.#unlink(c, key);
      }
    } else {
      this.#error(c, new BifrostError('BIFROST_WEB_BAD_REQUEST', 'op must be "subscribe" or "unsubscribe"'));
    }
  }

  /** Sends every client its pending values (called by the timer; public for tests and the bench). */
  flush(): void {
    const fragments = this.#fragments;
    for (const c of this.#clients.values()) {
      if (c.socket.readyState !== OPEN) continue;
      if (c.pending.size === 0 && c.events.size === 0) continue;
      if (c.socket.bufferedAmount > this.#maxBuffered) {
        this.#stats.skipped++;
        continue;
      }
      for (const m of c.events.values()) c.socket.send(m);
      c.events.clear();
      if (c.pending.size === 0) continue;
      const parts: string[] = [];
      for (const [key, v] of c.pending) {
        let f = fragments.get(v);
        if (f === undefined) {
          f = fragment(key, v);
          fragments.set(v, f);
        }
        parts.push(f);
      }
      this.#stats.delivered += parts.length;
      c.pending.clear();
      c.socket.send(`{"type":"values","values":[${parts.join(',')}]}`);
    }
  }

  /** Stops listening to the gateway. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#gateway.off('batch', this.#onBatch);
    this.#gateway.off('health', this.#onHealth);
    this.#gateway.off('pipeline', this.#onPipeline);
    this.#clients.clear();
    this.#byKey.clear();
    this.#allClients.clear();
  }

  #knownKeys(): Set<string> {
    const config = this.#gateway.config;
    if (this.#known?.config !== config) this.#known = { config, keys: new Set(config.devices.flatMap((d) => d.tags.map((t) => `${d.name}.${t.name}`))) };
    return this.#known.keys;
  }

  #queue(c: Client, key: string, v: GatewayValue): void {
    const size = c.pending.size;
    c.pending.set(key, v);
    if (c.pending.size === size) this.#stats.coalesced++;
  }

  #unlink(c: Client, key: string): void {
    const set = this.#byKey.get(key);
    set?.delete(c);
    if (set?.size === 0) this.#byKey.delete(key);
  }

  #error(c: Client, e: BifrostError): void {
    if (c.socket.readyState === OPEN) c.socket.send(JSON.stringify({ type: 'error', ...e.toJSON() }));
  }
}

/** Nesting depth of a JSON text without parsing it (the same count as the server's body check). */
function nesting(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++;
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (ch === 125 || ch === 93) depth--;
  }
  return max;
}

function fragment(key: string, v: GatewayValue): string {
  const row: unknown[] = [key, jsonValue(v.value), v.quality, v.timestamp];
  if (v.error) row.push({ code: v.error.code, message: redactText(v.error.message) });
  return JSON.stringify(row);
}
