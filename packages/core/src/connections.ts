/**
 * @module
 * Connection accounting for the protocol servers (the simulators): a cap on open connections and
 * an idle timeout, so that sockets that hold a slot and never finish a request cannot lock a
 * legitimate client out. "Idle" means no complete request within the timeout: a peer that trickles
 * one byte a second is idle, since only the server's framer knows when a request is complete and
 * it calls {@link ConnectionGuard.active}. When the cap is reached, a new connection is admitted by
 * closing the connection that has been idle longest, preferring those that never completed a
 * request at all (OPC 10000-6 §7.1.2 asks the same of an OPC UA server: "close the oldest
 * SecureChannel that has no Session assigned before reaching the maximum").
 */
import type { Socket } from 'node:net';

/** Options of {@link ConnectionGuard}, shared by every Bifrost server. */
export interface ConnectionLimits {
  /** Most connections at once (default 64); at the cap a new one closes the longest-idle one. */
  maxConnections?: number;
  /** Close a connection with no complete request for this long, in ms (default 120000; 0 = never). */
  idleTimeoutMs?: number;
}

/** Why the guard closed a connection. */
export type ConnectionCloseReason = 'idle' | 'evicted';

interface Entry {
  /** When the last complete request arrived (or the connection was accepted). */
  last: number;
  /** Whether it ever completed a request. */
  served: boolean;
}

/** Default cap on open connections. */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** Default idle timeout, in ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/**
 * Counts a server's connections, closes idle ones and keeps a slot for a new one.
 * @example
 * const guard = new ConnectionGuard({ maxConnections: 64, idleTimeoutMs: 30_000 }, (s, why) => diag.publish({ why }));
 * net.createServer((socket) => {
 *   guard.admit(socket);
 *   framer.on('frame', () => guard.active(socket));
 * });
 */
export class ConnectionGuard {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly #entries = new Map<Socket, Entry>();
  readonly #onClose: ((socket: Socket, reason: ConnectionCloseReason) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(limits: ConnectionLimits = {}, onClose?: (socket: Socket, reason: ConnectionCloseReason) => void) {
    const max = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const idle = limits.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConnections must be an integer ≥ 1, got ${String(max)}`);
    if (!Number.isFinite(idle) || idle < 0) throw new RangeError(`idleTimeoutMs must be a number ≥ 0, got ${String(idle)}`);
    this.maxConnections = max;
    this.idleTimeoutMs = idle;
    this.#onClose = onClose;
  }

  /** Open connections counted. */
  get size(): number {
    return this.#entries.size;
  }

  /** The sockets counted. */
  sockets(): IterableIterator<Socket> {
    return this.#entries.keys();
  }

  /**
   * Counts a newly accepted socket; at the cap, first closes the longest-idle one. The socket leaves
   * the count by itself when it closes.
   * @example guard.admit(socket)
   */
  admit(socket: Socket): void {
    while (this.#entries.size >= this.maxConnections) {
      const victim = this.#longestIdle();
      if (!victim) break;
      this.#close(victim, 'evicted');
    }
    this.#entries.set(socket, { last: Date.now(), served: false });
    socket.once('close', () => {
      this.#entries.delete(socket);
      if (this.#entries.size === 0) this.#stopTimer();
    });
    this.#startTimer();
  }

  /**
   * Marks a complete request on `socket` (call it from the framer, not on every chunk of bytes).
   * @example guard.active(socket)
   */
  active(socket: Socket): void {
    const e = this.#entries.get(socket);
    if (e) {
      e.last = Date.now();
      e.served = true;
    }
  }

  /** Stops the idle sweep (the server is closing). */
  stop(): void {
    this.#stopTimer();
  }

  #longestIdle(): Socket | undefined {
    let victim: Socket | undefined;
    let best: Entry | undefined;
    for (const [s, e] of this.#entries) {
      // A connection that never completed a request goes before one that did; then the oldest.
      if (!best || (best.served && !e.served) || (best.served === e.served && e.last < best.last)) {
        victim = s;
        best = e;
      }
    }
    return victim;
  }

  #close(socket: Socket, reason: ConnectionCloseReason): void {
    this.#entries.delete(socket);
    this.#onClose?.(socket, reason);
    socket.destroy();
  }

  #startTimer(): void {
    if (this.#timer || this.idleTimeoutMs === 0) return;
    // Sweep four times per timeout: a connection is closed between 1 and 1.25 timeouts after its last request.
    const every = Math.max(10, Math.min(5000, Math.floor(this.idleTimeoutMs / 4)));
    this.#timer = setInterval(() => this.#sweep(), every);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const limit = Date.now() - this.idleTimeoutMs;
    for (const [s, e] of this.#entries) if (e.last <= limit) this.#close(s, 'idle');
  }
}
