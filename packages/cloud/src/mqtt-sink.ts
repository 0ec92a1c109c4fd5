/**
 * @module
 * The MQTT sink: drains a durable queue to an MQTT broker (MQTT 3.1.1 or 5, via MQTT.js) and
 * advances the queue's cursor only after the broker confirmed every message of a batch (PUBACK
 * at QoS 1, MQTT 3.1.1 §4.3.2; at QoS 0 once written to the socket). A lost connection rewinds the
 * queue to the cursor and reconnects with exponential backoff and full jitter, so a record is
 * never lost and at most one unconfirmed batch (`maxInflight` values) is delivered twice; the
 * resent messages carry the DUP flag (MQTT 3.1.1 §3.3.1.1) and every JSON message carries the
 * queue's sequence number `seq`, so a consumer can drop duplicates and detect gaps. A broker that
 * keeps the connection up but stops acknowledging is timed out (`ackTimeoutMs`) and redialed.
 */
import { EventEmitter } from 'node:events';
import { Backoff, type BackoffOptions, BifrostError, channel, RepeatLimiter, type RepeatSummary, redact, redactText, redactUrl, sleep } from '@bifrost/core';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DurableQueue, type DurableQueueOptions, type QueuedRecord, type QueueMetrics } from './durable-queue.js';
import { deviceMessage, entryValues, expandBatch, isSinkBatch, type QueueEntry, renderTopic, type SinkBatch, type SinkRecord } from './record.js';
import { SparkplugEdgeNode, type SparkplugMessage, type SparkplugSample, sparkplugTopic } from './sparkplug.js';

const publishChannel = channel('cloud', 'publish');

/** TLS material as contents (PEM), not paths; `createSink` reads the files. */
export interface SinkTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Server name for SNI and certificate checking, when it differs from the URL host. */
  servername?: string;
}

/** Options of {@link MqttSink}. */
export interface MqttSinkOptions {
  /** `mqtt://host:1883`, `mqtts://host:8883`, `ws://…`, `wss://…`. */
  url: string;
  /** The queue to drain, or the options to open one (`dir` required). */
  queue: DurableQueue<QueueEntry> | DurableQueueOptions;
  /** A name for messages and metrics (default the URL host). */
  name?: string;
  clientId?: string;
  username?: string;
  /** The password; never logged. */
  password?: string | Buffer;
  /** Called at every connection attempt for a fresh password (an Azure SAS token); never logged. */
  passwordProvider?: () => string;
  tls?: SinkTlsOptions;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  /** 1 (default): the cursor moves after PUBACK. 0: after the socket write (no broker confirmation). */
  qos?: 0 | 1;
  /** Topic template (default `{site}/{area}/{device}/{tag}`, per-device `{site}/{area}/{device}`); any record field may be used. */
  topic?: string;
  /**
   * JSON messages: `per-tag` (default), one message per value as before batching; `per-device`,
   * one message per device poll with every value of it (EMQX Neuron's values-format).
   */
  format?: 'per-tag' | 'per-device';
  site?: string;
  area?: string;
  /** `json` (default) or `sparkplug` (Sparkplug B; the topic template is then not used). */
  payload?: 'json' | 'sparkplug';
  sparkplug?: { groupId: string; edgeNodeId: string };
  /** The last will (for Sparkplug, NDEATH is the will and this is ignored). */
  will?: { topic: string; payload: string; qos?: 0 | 1; retain?: boolean };
  /** Values in flight before the cursor moves (default 5,000; at least one queue record): the bound on duplicates after a crash, and on throughput (a window of 500 delivered 6,300 of 10,000 values/s from 100 devices). */
  maxInflight?: number;
  /** A QoS 1 PUBLISH not acknowledged within this closes the connection, which is redialed and the messages resent (default 30 s). */
  ackTimeoutMs?: number;
  /** Repeated warnings of one code are reported once, then as one summary per interval (default 10 s). */
  warningIntervalMs?: number;
  connectTimeoutMs?: number;
  keepaliveSec?: number;
  /** Reconnect backoff (default base 500 ms, max 10 s, full jitter). */
  backoff?: BackoffOptions;
  /** Keep records the broker rejects in `<queue dir>/rejected` (default true). */
  deadLetter?: boolean;
  /** Where topic text lives for a profile (Azure's fixed telemetry topic): overrides `topic`. */
  topicFor?: (record: SinkRecord) => string;
  /** Which profile built this sink (for messages). */
  profile?: 'mqtt' | 'aws-iot' | 'azure-iot';
}

/** A batch sent and not yet settled: the sink's sliding window. */
interface InFlight {
  records: QueuedRecord<QueueEntry>[];
  cursor: number;
  out: Outgoing[];
  confirmed: boolean[];
  done: Promise<unknown[]>;
  values: number;
}

/** Counters and state of a sink. */
export interface SinkMetrics {
  name: string;
  connected: boolean;
  /** Values the broker confirmed (a batched queue record counts its values). */
  published: number;
  /** MQTT messages sent (a per-device message or a Sparkplug DDATA carries several values). */
  messages: number;
  /** Values the broker rejected (moved to the dead-letter queue). */
  rejected: number;
  connectFailures: number;
  reconnects: number;
  /** Connections closed because a PUBLISH was not acknowledged within `ackTimeoutMs`. */
  ackTimeouts: number;
  /** Messages sent again with the DUP flag after a reconnect. */
  resent: number;
  /** Values the queue refused (disk full, reject-new at the budget, too large). */
  enqueueFailures: number;
  /** `ok`, `connecting` (never connected or redialing), `stalled` (the last connection ended in an ack timeout) or `disk-full`. */
  health: 'ok' | 'connecting' | 'stalled' | 'disk-full';
  lastError?: { code: string; message: string };
  queue: QueueMetrics | undefined;
}

/** The events of a sink. */
export interface SinkEvents {
  connect: [{ url: string }];
  disconnect: [{ url: string; error?: BifrostError }];
  /** A batch confirmed by the broker; the cursor moved to `cursor`. */
  published: [{ count: number; messages: number; cursor: number }];
  /** Records the broker refused; they were kept in the dead-letter queue. */
  rejected: [{ count: number; error: BifrostError }];
  rebirth: [];
  /** Connection, authentication, TLS or queue failures. Emitted only when someone listens. */
  error: [BifrostError];
  warning: [BifrostError];
}

interface Outgoing {
  topic: string;
  payload: string | Buffer | Uint8Array;
  /** The records acknowledged once this message is confirmed (set on the last message of an entry). */
  records: QueuedRecord<QueueEntry>[];
  /** The records whose values this message carries (dead-lettered when the broker refuses it). */
  owners: QueuedRecord<QueueEntry>[];
  /** Queue sequence number of the message's last record (for the DUP flag on a resend). */
  seq: number;
}

const AUTH_CODES: Record<number, string> = {
  4: 'BAD_USERNAME_OR_PASSWORD',
  5: 'NOT_AUTHORIZED',
  134: 'BAD_USERNAME_OR_PASSWORD',
  135: 'NOT_AUTHORIZED',
  138: 'BANNED',
  140: 'BAD_AUTHENTICATION_METHOD',
};

/**
 * Classifies an MQTT.js or socket error during connection as a Bifrost error, without secrets.
 * @example classifyConnectError(err, 'mqtts://broker:8883').code // 'BIFROST_CLOUD_TLS'
 */
export function classifyConnectError(err: unknown, rawUrl: string): BifrostError {
  if (err instanceof BifrostError) return err;
  const url = redactUrl(rawUrl);
  const e = err as { code?: string | number; message?: string };
  const msg = redactText(e?.message ?? String(err));
  if (typeof e?.code === 'number') {
    const name = AUTH_CODES[e.code];
    if (name) return new BifrostError('BIFROST_CLOUD_AUTH_FAILED', `broker ${url} refused the connection: ${msg} (CONNACK ${e.code})`, { status: e.code, statusName: name, device: url, cause: err });
    return new BifrostError('BIFROST_CONNECTION_REFUSED', `broker ${url} refused the connection: ${msg} (CONNACK ${e.code})`, { status: e.code, device: url, cause: err });
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/i.test(code) || /certificate|ssl|tls/i.test(msg))
    return new BifrostError('BIFROST_CLOUD_TLS', `TLS handshake with ${url} failed: ${msg}`, { status: code || undefined, statusName: code || undefined, device: url, cause: err });
  if (code === 'ECONNREFUSED') return new BifrostError('BIFROST_CONNECTION_REFUSED', `connection to ${url} refused (ECONNREFUSED)`, { status: code, statusName: code, device: url, cause: err });
  if (code === 'ETIMEDOUT') return new BifrostError('BIFROST_TIMEOUT', `connection to ${url} timed out`, { status: code, device: url, cause: err });
  return new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${url} failed: ${msg}`, { ...(code ? { status: code, statusName: code } : {}), device: url, cause: err });
}

function isRejection(err: unknown): boolean {
  const e = err as { code?: unknown; message?: string };
  // MQTT 5 PUBACK reason codes >= 0x80 are per-message failures (MQTT 5.0 §3.4.2.1); an invalid
  // topic is refused by MQTT.js before sending. Anything else means the connection is gone.
  return (typeof e?.code === 'number' && e.code >= 0x80) || /invalid topic/i.test(e?.message ?? '');
}

/**
 * Forwards queued records to an MQTT broker as JSON or Sparkplug B.
 * @example
 * const sink = new MqttSink({ url: 'mqtt://127.0.0.1:1883', queue: { dir: './data/queue' }, site: 'plant1', area: 'press' });
 * await sink.start();
 * await sink.publish({ device: 'press1', tag: 'temp', value: 21.5, quality: 'good', timestamp: Date.now() });
 * await sink.stop();
 */
export class MqttSink extends EventEmitter<SinkEvents> implements AsyncDisposable {
  /** The broker URL without its password (safe to show). */
  readonly url: string;
  readonly name: string;
  readonly #connectUrl: string;
  readonly #o: MqttSinkOptions;
  readonly #qos: 0 | 1;
  readonly #topic: string;
  readonly #maxInflight: number;
  readonly #backoff: Backoff;
  readonly #format: 'per-tag' | 'per-device';
  readonly #ackTimeoutMs: number;
  readonly #limiter: RepeatLimiter<BifrostError>;
  #queue: DurableQueue<QueueEntry> | undefined;
  #queueOpening: Promise<DurableQueue<QueueEntry>> | undefined;
  #ownsQueue: boolean;
  #deadLetter: DurableQueue<QueueEntry> | undefined;
  /** One past the highest queue sequence number ever sent: a message below it is a resend. */
  #sentUpTo = 0;
  #stalled = false;
  #node: SparkplugEdgeNode | undefined;
  #running: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #wake: AbortController | undefined;
  #rebirth = false;
  #connectedOnce: { promise: Promise<void>; resolve: () => void } | undefined;
  #m = {
    published: 0,
    messages: 0,
    rejected: 0,
    connectFailures: 0,
    reconnects: 0,
    ackTimeouts: 0,
    resent: 0,
    enqueueFailures: 0,
    connected: false,
    lastError: undefined as { code: string; message: string } | undefined,
  };

  constructor(options: MqttSinkOptions) {
    super();
    if (!options || typeof options.url !== 'string' || !/^(mqtts?|wss?|tcp|ssl|tls):\/\//.test(options.url))
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `MQTT sink url must be mqtt://, mqtts://, ws:// or wss://, got ${JSON.stringify(redact(options?.url))}`);
    this.#o = options;
    // `url` is what messages, events and errors show; only the connect call sees the password.
    this.url = redactUrl(options.url);
    this.#connectUrl = options.url;
    this.name = options.name ?? new URL(options.url).host;
    this.#qos = options.qos ?? 1;
    this.#format = options.format ?? 'per-tag';
    if (this.#format !== 'per-tag' && this.#format !== 'per-device')
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `MQTT sink format must be per-tag or per-device, got ${JSON.stringify(options.format)}`);
    this.#topic = options.topic ?? (this.#format === 'per-device' ? '{site}/{area}/{device}' : '{site}/{area}/{device}/{tag}');
    this.#maxInflight = Math.max(1, options.maxInflight ?? 5000);
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    if (!(this.#ackTimeoutMs > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `MQTT sink ackTimeoutMs must be positive, got ${options.ackTimeoutMs}`);
    this.#backoff = new Backoff({ baseMs: 500, maxMs: 10_000, ...options.backoff });
    this.#limiter = new RepeatLimiter<BifrostError>({ intervalMs: options.warningIntervalMs ?? 10_000, onSummary: (s) => this.#summary(s) });
    if (options.payload === 'sparkplug') {
      if (!options.sparkplug?.groupId || !options.sparkplug.edgeNodeId) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'a Sparkplug sink needs sparkplug: { groupId, edgeNodeId }');
      this.#node = new SparkplugEdgeNode(options.sparkplug);
    }
    if (options.queue instanceof DurableQueue) {
      this.#queue = options.queue;
      this.#ownsQueue = false;
    } else this.#ownsQueue = true;
  }

  /** The queue, opened on first use. */
  queue(): Promise<DurableQueue<QueueEntry>> {
    if (this.#queue) return Promise.resolve(this.#queue);
    this.#queueOpening ??= DurableQueue.open<QueueEntry>({ onWarning: (w) => this.#warn(w), ...(this.#o.queue as DurableQueueOptions) }).then((q) => {
      this.#queue = q;
      return q;
    });
    return this.#queueOpening;
  }

  /**
   * Appends records to the sink's durable queue; resolves once they are durable (not yet delivered).
   * @example await sink.publish([{ device: 'p1', tag: 'temp', value: 20, quality: 'good', timestamp: Date.now() }])
   */
  async publish(record: SinkRecord | readonly SinkRecord[]): Promise<void> {
    const q = await this.queue();
    await q.append(record);
  }

  /**
   * Appends one device poll as ONE queue record (delivered per the sink's format: a message per
   * value, one per-device message, or one Sparkplug DDATA); resolves once durable.
   * @example await sink.publishBatch({ device: 'p1', timestamp: Date.now(), tags: ['a', 'b'], values: [1, 2], qualities: ['good', 'good'] })
   */
  async publishBatch(batch: SinkBatch): Promise<void> {
    if (batch.tags.length === 0) return;
    const q = await this.queue();
    try {
      await q.append(batch);
    } catch (e) {
      // A poll larger than maxRecordBytes (10,000 values, each bad with its error, is megabytes)
      // is split into records that fit, appended together in one block: never refused whole.
      if (!(e instanceof BifrostError && e.code === 'BIFROST_CLOUD_RECORD_TOO_LARGE') || batch.tags.length < 2) throw e;
      await q.append(splitToFit(batch, q.maxRecordBytes));
    }
  }

  /**
   * Like {@link publish} / {@link publishBatch} for a producer that must not wait or fail (the
   * gateway's poll loop): resolves false when the queue refused the entry, which is counted in
   * `enqueueFailures` and the queue's `rejected`, and reported as a rate-limited `warning` (a full
   * disk refusing every append gives one line and then one summary per interval, not a flood).
   * @example void sink.enqueue(batch)
   */
  async enqueue(entry: QueueEntry): Promise<boolean> {
    try {
      if (isSinkBatch(entry)) await this.publishBatch(entry);
      else await this.publish(entry);
      return true;
    } catch (e) {
      const n = entryValues(entry);
      this.#m.enqueueFailures += n;
      const err = e instanceof BifrostError ? e : new BifrostError('BIFROST_CLOUD_QUEUE_IO', `sink ${this.name}: cannot queue ${n} value(s): ${String(e)}`, { cause: e });
      this.#warn(err, n);
      return false;
    }
  }

  /**
   * Opens the queue and starts connecting and draining in the background. Resolves once started;
   * see {@link connected} to wait for the broker.
   * @example await sink.start(); await sink.connected(5000)
   */
  async start(): Promise<void> {
    if (this.#running) return;
    const q = await this.queue();
    if (this.#o.deadLetter !== false) this.#deadLetter = await DurableQueue.open<QueueEntry>({ dir: `${q.dir}/rejected`, maxBytes: Math.max(16 * 1024, Math.floor(q.maxBytes / 8)), fsync: q.fsync });
    this.#running = new AbortController();
    let resolve!: () => void;
    this.#connectedOnce = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    this.#loop = this.#run(q, this.#running.signal);
  }

  /**
   * Resolves when the sink is connected to the broker, or rejects with BIFROST_TIMEOUT.
   * @example await sink.connected(10_000)
   */
  async connected(timeoutMs = 30_000): Promise<void> {
    if (this.#m.connected) return;
    if (!this.#connectedOnce) throw new BifrostError('BIFROST_NOT_CONNECTED', `sink ${this.name} is not started`);
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BifrostError('BIFROST_TIMEOUT', `sink ${this.name} did not connect to ${this.url} within ${timeoutMs} ms${this.#m.lastError ? `: ${this.#m.lastError.message}` : ''}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.#connectedOnce.promise, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops draining, sends the Sparkplug NDEATH, disconnects and closes the queue (if the sink
   * opened it). Undelivered records stay queued for the next start. Idempotent.
   * @example await sink.stop()
   */
  async stop(): Promise<void> {
    const running = this.#running;
    if (running) {
      this.#running = undefined;
      running.abort();
      this.#wake?.abort();
      await this.#loop;
    }
    await this.#deadLetter?.close();
    this.#deadLetter = undefined;
    this.#limiter.flush();
    if (this.#ownsQueue) {
      await this.#queue?.close();
      this.#queue = undefined;
      this.#queueOpening = undefined;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Counters and the queue's gauges.
   * @example const { published, queue } = sink.metrics()
   */
  metrics(): SinkMetrics {
    const { lastError, ...m } = this.#m;
    const queue = this.#queue?.metrics();
    const health = queue?.diskFull ? 'disk-full' : this.#stalled ? 'stalled' : m.connected ? 'ok' : 'connecting';
    return { name: this.name, ...m, health, ...(lastError ? { lastError } : {}), queue };
  }

  #error(err: BifrostError): void {
    this.#m.lastError = { code: err.code, message: err.message };
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** A warning, rate-limited per code: the first of an interval now, the rest as one summary at its end. */
  #warn(err: BifrostError, weight = warningWeight(err)): void {
    if (this.#limiter.hit(err.code, err, weight) && this.listenerCount('warning') > 0) this.emit('warning', err);
  }

  #summary(s: RepeatSummary<BifrostError>): void {
    if (this.listenerCount('warning') === 0) return;
    const e = s.last;
    this.emit(
      'warning',
      new BifrostError(
        e.code as never,
        `${e.code} repeated ${s.suppressed} more time(s) in the last ${Math.round(s.intervalMs / 1000)} s (${s.total} record(s)/value(s) in all); the last: ${e.message}`,
        {
          details: { repeated: s.suppressed, total: s.total, intervalMs: s.intervalMs },
        },
      ),
    );
  }

  async #run(q: DurableQueue<QueueEntry>, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      let client: MqttClient;
      try {
        client = await this.#connect(signal);
      } catch (e) {
        if (signal.aborted) break;
        this.#m.connectFailures++;
        this.#error(classifyConnectError(e, this.url));
        await sleep(this.#backoff.next(), signal).catch(() => {});
        continue;
      }
      if (attempt++ > 0) this.#m.reconnects++;
      this.#backoff.reset();
      this.#m.connected = true;
      this.emit('connect', { url: this.url });
      this.#connectedOnce?.resolve();
      let lostError: BifrostError | undefined;
      try {
        await this.#pump(q, client, signal);
      } catch (e) {
        lostError = e instanceof BifrostError ? e : classifyConnectError(e, this.url);
        if (lostError.code === 'BIFROST_CLOUD_ACK_TIMEOUT') this.#stalled = true;
      }
      this.#m.connected = false;
      if (signal.aborted) {
        await this.#disconnect(client);
        this.emit('disconnect', { url: this.url });
        break;
      }
      client.end(true);
      q.rewind();
      if (lostError) this.#error(lostError);
      this.emit('disconnect', lostError ? { url: this.url, error: lostError } : { url: this.url });
      await sleep(this.#backoff.next(), signal).catch(() => {});
    }
  }

  async #disconnect(client: MqttClient): Promise<void> {
    if (this.#node && client.connected) {
      // A graceful disconnect does not fire the will, so publish NDEATH ourselves (Sparkplug 3.0.0 §5.3).
      const death = this.#node.death();
      await new Promise<void>((resolve) => client.publish(death.topic, Buffer.from(death.payload), { qos: 1 }, () => resolve()));
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.end(true);
        resolve();
      }, 2000);
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  #connect(signal: AbortSignal): Promise<MqttClient> {
    const o = this.#o;
    const opts: IClientOptions = {
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: o.keepaliveSec ?? 30,
      clean: true,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet otherwise pre-builds a 2-byte Buffer for every 16-bit number (65,536 Buffer
      // objects, about 8 MB of heap) to save one allocation per packet id: a bad trade on an edge box.
      writeCache: false,
    };
    if (o.clientId !== undefined) opts.clientId = o.clientId;
    if (o.username !== undefined) opts.username = o.username;
    const password = o.passwordProvider ? o.passwordProvider() : o.password;
    if (password !== undefined) opts.password = typeof password === 'string' ? password : Buffer.from(password);
    if (o.tls) {
      if (o.tls.ca !== undefined) opts.ca = o.tls.ca;
      if (o.tls.cert !== undefined) opts.cert = o.tls.cert;
      if (o.tls.key !== undefined) opts.key = o.tls.key;
      if (o.tls.rejectUnauthorized !== undefined) opts.rejectUnauthorized = o.tls.rejectUnauthorized;
      if (o.tls.servername !== undefined) opts.servername = o.tls.servername;
    }
    if (this.#node) {
      const death = this.#node.nextDeath();
      opts.will = { topic: death.topic, payload: Buffer.from(death.payload), qos: 1, retain: false };
    } else if (o.will) opts.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos ?? 1, retain: o.will.retain ?? false };
    return new Promise<MqttClient>((resolve, reject) => {
      const client = mqtt.connect(this.#connectUrl, opts);
      let firstError: unknown;
      const done = (err?: unknown) => {
        client.removeListener('connect', onConnect);
        client.removeListener('error', onError);
        client.removeListener('close', onClose);
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(client);
        else {
          client.end(true);
          reject(err);
        }
      };
      const onConnect = () => done();
      const onError = (e: unknown) => {
        firstError ??= e;
        // CONNACK refusals and TLS failures end the attempt; the close that follows reports it.
        if (typeof (e as { code?: unknown }).code === 'number') done(e);
      };
      const onClose = () => done(firstError ?? new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.url} closed before CONNACK`, { device: this.url }));
      const onAbort = () => done(new BifrostError('BIFROST_ABORTED', 'sink stopped'));
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #pump(q: DurableQueue<QueueEntry>, client: MqttClient, signal: AbortSignal): Promise<void> {
    const lost = new AbortController();
    let lostError: BifrostError | undefined;
    const onLost = (e?: unknown) => {
      lostError ??= e === undefined ? new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.url} lost`, { device: this.url }) : classifyConnectError(e, this.url);
      lost.abort();
      this.#wake?.abort();
    };
    let cause: unknown;
    const onClose = () => onLost(cause);
    // MQTT.js also emits per-publish failures (an MQTT 5 PUBACK reason code) as 'error'; only the
    // 'close' that follows a real connection failure ends the session.
    const onError = (e: unknown) => {
      if (!isRejection(e)) cause ??= e;
    };
    client.on('close', onClose);
    client.on('error', onError);
    const onMessage = (topic: string, payload: Buffer) => {
      if (!this.#node || topic !== sparkplugTopic(this.#node.groupId, 'NCMD', this.#node.edgeNodeId)) return;
      try {
        if (this.#node.isRebirthRequest(payload)) {
          this.#rebirth = true;
          this.#wake?.abort();
        }
      } catch (e) {
        this.#warn(e as BifrostError);
      }
    };
    client.on('message', onMessage);
    const check = () => {
      if (lostError) throw lostError;
    };
    const window: InFlight[] = [];
    let inflight = 0;
    const half = Math.max(1, Math.floor(this.#maxInflight / 2));
    const settle = async (w: InFlight): Promise<void> => {
      inflight -= w.values;
      let results: unknown[];
      try {
        results = await w.done;
      } catch (e) {
        // The connection is gone (or timed out) part-way: the confirmed head of the batch is
        // delivered, so move the cursor past it. Otherwise a broker that drops the connection
        // every N messages, N below maxInflight, would never let the queue advance.
        await this.#ackPrefix(q, w.out, w.confirmed).catch(() => {});
        throw e;
      }
      check();
      const refused = new Set<QueuedRecord<QueueEntry>>();
      let refusal: unknown;
      results.forEach((r, i) => {
        if (r === undefined) return;
        if (!isRejection(r)) throw classifyConnectError(r, this.url);
        refusal ??= r;
        for (const rec of (w.out[i] as Outgoing).owners) refused.add(rec);
      });
      if (refused.size > 0) {
        const e = refusal as { code?: number; message?: string };
        const values = countValues([...refused]);
        const err = new BifrostError(
          'BIFROST_CLOUD_PUBLISH_REJECTED',
          `broker ${this.url} rejected ${values} record(s), e.g. to topic ${w.out[results.findIndex((r) => r !== undefined)]?.topic}: ${e.message}`,
          {
            ...(typeof e.code === 'number' ? { status: e.code } : {}),
            device: this.url,
            cause: refusal,
          },
        );
        // Keep what the broker refused rather than drop it: the dead-letter queue holds it for inspection or replay.
        await this.#deadLetter?.append([...refused].map((r) => r.record));
        this.#m.rejected += values;
        this.emit('rejected', { count: values, error: err });
        this.#error(err);
      }
      const delivered = w.values - countValues([...refused]);
      this.#m.published += delivered;
      this.#m.messages += w.out.length;
      // Stalled until the broker confirms again, not merely until the reconnect.
      this.#stalled = false;
      await q.ack(w.cursor);
      if (publishChannel.hasSubscribers) publishChannel.publish({ sink: this.name, count: delivered, cursor: w.cursor });
      this.emit('published', { count: delivered, messages: w.out.length, cursor: w.cursor });
    };
    try {
      if (this.#node) {
        await this.#send(client, lost.signal, [this.#subscribeNcmd(client)]);
        await this.#sendSparkplug(client, lost.signal, this.#node.births());
      }
      while (!signal.aborted) {
        check();
        if (this.#rebirth && this.#node) {
          this.#rebirth = false;
          this.emit('rebirth');
          await this.#sendSparkplug(client, lost.signal, this.#node.births());
        }
        // A sliding window: up to maxInflight values outstanding, sent in batches of about half of
        // it, so the broker is never idle while the sink waits for the previous batch's PUBACKs.
        // The cursor still moves in order, batch by batch.
        if (window.length > 0 && inflight + half > this.#maxInflight) {
          await settle(window.shift() as InFlight);
          continue;
        }
        const batch = await q.read(Math.max(1, Math.min(half, this.#maxInflight - inflight)), entryValues);
        if (batch.records.length === 0) {
          if (window.length > 0) {
            await settle(window.shift() as InFlight);
            continue;
          }
          if (batch.cursor > q.metrics().ackedSeq) await q.ack(batch.cursor);
          this.#wake = new AbortController();
          const wake = this.#wake;
          // A stop, a lost connection or a rebirth request may have come while we were busy: their wake-up went to the old controller.
          if (signal.aborted || lost.signal.aborted || this.#rebirth) continue;
          const stop = () => wake.abort();
          signal.addEventListener('abort', stop, { once: true });
          await q.waitForData(wake.signal);
          signal.removeEventListener('abort', stop);
          continue;
        }
        const out = this.#formatEntries(batch.records);
        const confirmed: boolean[] = new Array(out.length).fill(false);
        const done = this.#publishAll(client, lost.signal, out, confirmed);
        // Awaited in order by settle(); until then a rejection must not count as unhandled.
        done.catch(() => {});
        const values = countValues(batch.records);
        window.push({ records: batch.records, cursor: batch.cursor, out, confirmed, done, values });
        inflight += values;
      }
      // Stopping: let what is in flight be confirmed (or fail) so the cursor is as far as it can be.
      while (window.length > 0) await settle(window.shift() as InFlight);
    } finally {
      client.removeListener('close', onClose);
      client.removeListener('error', onError);
      client.removeListener('message', onMessage);
    }
  }

  /** Acknowledges the records of the longest run of confirmed messages at the head of a batch. */
  async #ackPrefix(q: DurableQueue<QueueEntry>, out: Outgoing[], confirmed: boolean[]): Promise<void> {
    let done: QueuedRecord<QueueEntry>[] = [];
    let messages = 0;
    for (let i = 0; i < out.length && confirmed[i]; i++) {
      const m = out[i] as Outgoing;
      if (m.records.length > 0) {
        done = done.concat(m.records);
        messages = i + 1;
      }
    }
    const last = done.at(-1);
    if (!last) return;
    const delivered = countValues(done);
    this.#m.published += delivered;
    this.#m.messages += messages;
    await q.ack(last.seq + 1);
    this.emit('published', { count: delivered, messages, cursor: last.seq + 1 });
  }

  #subscribeNcmd(client: MqttClient): Promise<unknown> {
    const node = this.#node as SparkplugEdgeNode;
    return new Promise((resolve) => client.subscribe(sparkplugTopic(node.groupId, 'NCMD', node.edgeNodeId), { qos: 1 }, (err) => resolve(err ?? undefined)));
  }

  async #send(client: MqttClient, lost: AbortSignal, work: Promise<unknown>[]): Promise<void> {
    const results = await this.#race(lost, Promise.all(work));
    const bad = results.find((r) => r !== undefined);
    if (bad !== undefined) throw classifyConnectError(bad, this.url);
    void client;
  }

  async #sendSparkplug(client: MqttClient, lost: AbortSignal, msgs: SparkplugMessage[]): Promise<void> {
    await this.#send(
      client,
      lost,
      msgs.map((m) => this.#publishOne(client, { topic: m.topic, payload: m.payload, records: [], owners: [], seq: -1 })),
    );
  }

  #race<T>(lost: AbortSignal, p: Promise<T>): Promise<T> {
    if (lost.aborted) return Promise.reject(new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.url} lost`, { device: this.url }));
    return new Promise<T>((resolve, reject) => {
      const onLost = () => reject(new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.url} lost with messages unconfirmed`, { device: this.url }));
      lost.addEventListener('abort', onLost, { once: true });
      p.then(
        (v) => {
          lost.removeEventListener('abort', onLost);
          resolve(v);
        },
        (e: unknown) => {
          lost.removeEventListener('abort', onLost);
          reject(e);
        },
      );
    });
  }

  /**
   * Publishes each message; the result per message is undefined (confirmed) or its error. A
   * broker that leaves a message unacknowledged past `ackTimeoutMs` (a half-open connection, an
   * overloaded broker) fails the batch with BIFROST_CLOUD_ACK_TIMEOUT: the caller closes the
   * connection, redials and resends from the cursor.
   */
  async #publishAll(client: MqttClient, lost: AbortSignal, out: Outgoing[], confirmed?: boolean[]): Promise<unknown[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#m.ackTimeouts++;
        reject(
          new BifrostError(
            'BIFROST_CLOUD_ACK_TIMEOUT',
            `broker ${this.url} did not acknowledge ${out.length} message(s) within ${this.#ackTimeoutMs} ms; closing the connection to redial and resend`,
            {
              device: this.url,
              details: { messages: out.length, ackTimeoutMs: this.#ackTimeoutMs },
            },
          ),
        );
      }, this.#ackTimeoutMs);
    });
    try {
      // A message at or below what an earlier connection already sent may have reached the broker:
      // flag it DUP (MQTT 3.1.1 §3.3.1.1) so the receiver knows it may be a redelivery.
      const resendBelow = this.#sentUpTo;
      for (const m of out) if (m.seq >= this.#sentUpTo) this.#sentUpTo = m.seq + 1;
      const sends = out.map((m, i) =>
        this.#publishOne(client, m, m.seq >= 0 && m.seq < resendBelow).then((r) => {
          if (r === undefined && confirmed) confirmed[i] = true;
          return r;
        }),
      );
      return await Promise.race([this.#race(lost, Promise.all(sends)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #publishOne(client: MqttClient, m: Outgoing, dup = false): Promise<unknown> {
    if (dup) this.#m.resent++;
    return new Promise((resolve) => {
      try {
        client.publish(
          m.topic,
          typeof m.payload === 'string' || Buffer.isBuffer(m.payload) ? m.payload : Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.length),
          dup && this.#qos === 1 ? { qos: 1, dup: true } : { qos: this.#qos },
          (err) => resolve(err ?? undefined),
        );
      } catch (e) {
        resolve(e);
      }
    });
  }

  #formatEntries(records: QueuedRecord<QueueEntry>[]): Outgoing[] {
    const node = this.#node;
    const o = this.#o;
    const topicOf = (r: SinkRecord) => (o.topicFor ? o.topicFor(r) : renderTopic(this.#topic, { site: o.site, area: o.area, ...r }));
    if (!node) {
      const out: Outgoing[] = [];
      for (const r of records) {
        const e = r.record;
        if (this.#format === 'per-device') {
          const b = isSinkBatch(e) ? { device: e.device, tag: undefined } : e;
          out.push({ topic: topicOf(b as SinkRecord), payload: JSON.stringify(deviceMessage(e, r.seq)), records: [r], owners: [r], seq: r.seq });
          continue;
        }
        if (!isSinkBatch(e)) {
          out.push({ topic: topicOf(e), payload: JSON.stringify({ ...e, seq: r.seq }), records: [r], owners: [r], seq: r.seq });
          continue;
        }
        // Every value of a device poll is its own message, as before batching; they share the poll's seq.
        const parts = expandBatch(e);
        for (let k = 0; k < parts.length; k++) {
          const p = parts[k] as SinkRecord;
          p.seq = r.seq;
          out.push({ topic: topicOf(p), payload: JSON.stringify(p), records: k === parts.length - 1 ? [r] : [], owners: [r], seq: r.seq });
        }
      }
      return out;
    }
    // Consecutive entries of one device share one DDATA (all changed metrics of a poll in one
    // payload), keeping the order of every tag.
    const out: Outgoing[] = [];
    let i = 0;
    while (i < records.length) {
      const device = (records[i] as QueuedRecord<QueueEntry>).record.device;
      let j = i;
      while (j < records.length && (records[j] as QueuedRecord<QueueEntry>).record.device === device) j++;
      const group = records.slice(i, j);
      const samples: SparkplugSample[] = [];
      for (const r of group) {
        const e = r.record;
        if (isSinkBatch(e))
          for (let k = 0; k < e.tags.length; k++) samples.push({ tag: e.tags[k] as string, value: e.values[k], quality: e.qualities[k] as SparkplugSample['quality'], timestamp: e.timestamp });
        else samples.push({ tag: e.tag, value: e.value, quality: e.quality, timestamp: e.timestamp });
      }
      const msgs = node.data(device, samples);
      const last = (group.at(-1) as QueuedRecord<QueueEntry>).seq;
      msgs.forEach((m, k) => {
        out.push({ topic: m.topic, payload: m.payload, records: k === msgs.length - 1 ? group : [], owners: group, seq: last });
      });
      i = j;
    }
    return out;
  }
}

function countValues(records: readonly QueuedRecord<QueueEntry>[]): number {
  let n = 0;
  for (const r of records) n += entryValues(r.record);
  return n;
}

/** How many records or values a queue warning is about (for the summary's total). */
function warningWeight(err: BifrostError): number {
  const d = err.details as Record<string, unknown> | undefined;
  for (const k of ['dropped', 'expired', 'records']) if (typeof d?.[k] === 'number') return d[k] as number;
  return 1;
}

/** The values `from`..`to` (exclusive) of a batch, as a batch of their own. */
function sliceBatch(b: SinkBatch, from: number, to: number): SinkBatch {
  const out: SinkBatch = { device: b.device, timestamp: b.timestamp, tags: b.tags.slice(from, to), values: b.values.slice(from, to), qualities: b.qualities.slice(from, to) };
  if (b.sourceTimestamps) out.sourceTimestamps = b.sourceTimestamps.slice(from, to);
  if (b.units) out.units = b.units.slice(from, to);
  if (b.errors) out.errors = b.errors.slice(from, to);
  return out;
}

/**
 * Splits a batch into consecutive parts whose JSON fits `maxBytes` (halving a part until it fits);
 * a single value that does not fit stays alone, and the queue refuses it with its own error.
 */
function splitToFit(b: SinkBatch, maxBytes: number): SinkBatch[] {
  const out: SinkBatch[] = [];
  const visit = (from: number, to: number): void => {
    const part = sliceBatch(b, from, to);
    if (to - from <= 1 || Buffer.byteLength(JSON.stringify(part)) <= maxBytes) out.push(part);
    else {
      const mid = (from + to) >> 1;
      visit(from, mid);
      visit(mid, to);
    }
  };
  visit(0, b.tags.length);
  return out;
}
