import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Backoff, BifrostError, connect, type HealthEvent, HealthMonitor, registerDriver, seededRandom, sleep, withTimeout } from '@bifrost/core';
import { driverSuite, waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvDriver, startKvServer } from './kv-driver.js';

registerDriver(kvDriver);

// The conformance suite, run against the minimal KV protocol: proves the suite and BaseDevice.
driverSuite({
  name: 'kv (test protocol)',
  async start() {
    let srv = await startKvServer();
    const port = srv.port;
    return {
      url: `kv://127.0.0.1:${port}`,
      async stop() {
        for (const s of srv.sockets) s.destroy();
        await new Promise((r) => srv.server.close(r));
      },
      async restart() {
        srv = await startKvServer(port);
      },
    };
  },
  tags: [
    { address: 'a:i', type: 'DINT', write: 42 },
    { address: 'flag:b', type: 'BOOL', write: false },
    { address: 'name:s', type: 'STRING', write: 'hello' },
    { address: 'big:l', type: 'LINT', write: -5n },
  ],
  badAddress: 'nothere:i',
  invalidAddress: 'BAD ADDRESS',
  deadbandAddress: 'x:r',
});

describe('connect()', () => {
  it('an unknown scheme names the known ones', async () => {
    const e = (await connect('foo://x').catch((x) => x)) as BifrostError;
    expect(e.code).toBe('BIFROST_UNKNOWN_SCHEME');
    expect(e.message).toMatch(/modbus.*s7.*eip.*opc\.tcp/);
  });
  it('a malformed URL is BIFROST_INVALID_URL', async () => {
    expect(((await connect('not a url').catch((x) => x)) as BifrostError).code).toBe('BIFROST_INVALID_URL');
  });
  it('a refused connection is BIFROST_CONNECTION_REFUSED', async () => {
    const srv = await startKvServer();
    await new Promise((r) => srv.server.close(r));
    const e = (await connect(`kv://127.0.0.1:${srv.port}`).catch((x) => x)) as BifrostError;
    expect(e.code).toBe('BIFROST_CONNECTION_REFUSED');
  });
});

describe('BaseDevice', () => {
  let srv: Awaited<ReturnType<typeof startKvServer>>;
  beforeAll(async () => {
    srv = await startKvServer();
  });
  afterAll(async () => {
    for (const s of srv.sockets) s.destroy();
    await new Promise((r) => srv.server.close(r));
  });

  it('emits health events through connect, loss and reconnect', async () => {
    const d = await connect(`kv://127.0.0.1:${srv.port}`, { lazy: true, backoff: { baseMs: 10, maxMs: 20 } });
    const states: string[] = [];
    d.on('health', (e: HealthEvent) => states.push(e.state));
    expect((await d.read('a:i')).quality).toBe('good');
    for (const s of srv.sockets) s.destroy();
    await sleep(50);
    expect(d.health).toBe('disconnected');
    expect((await d.read('a:i')).quality).toBe('good');
    // A device starts in 'connecting', so the first event is 'connected'.
    expect(states).toEqual(['connected', 'disconnected', 'connecting', 'connected']);
    await d.close();
  });

  it('marks the device degraded while some tags fail and recovers', async () => {
    const d = await connect(`kv://127.0.0.1:${srv.port}`);
    await d.readMany(['a:i', 'nothere:i']);
    expect(d.health).toBe('degraded');
    await d.readMany(['a:i']);
    expect(d.health).toBe('connected');
    await d.close();
  });

  it('the caller abort signal rejects with BIFROST_ABORTED', async () => {
    const d = await connect(`kv://127.0.0.1:${srv.port}`);
    const ac = new AbortController();
    ac.abort();
    expect(((await d.read('a:i', { signal: ac.signal }).catch((x) => x)) as BifrostError).code).toBe('BIFROST_ABORTED');
    await d.close();
  });

  it('a lazy device to a dead port fails fast during backoff instead of hammering', async () => {
    const dead = await startKvServer();
    await new Promise((r) => dead.server.close(r));
    const d = await connect(`kv://127.0.0.1:${dead.port}`, { lazy: true, backoff: { baseMs: 5000, maxMs: 5000, random: () => 0.99 } });
    const first = await d.readMany(['a:i']);
    expect(first[0]?.error?.code).toBe('BIFROST_CONNECTION_REFUSED');
    const second = await d.readMany(['a:i']);
    expect(second[0]?.error?.code).toBe('BIFROST_NOT_CONNECTED');
    expect(second[0]?.error?.message).toMatch(/next attempt in \d+ ms/);
    await d.close();
  });
});

describe('BaseDevice.reset', () => {
  let srv: Awaited<ReturnType<typeof startKvServer>>;
  let silent: Server;
  let silentPort: number;
  const silentSockets = new Set<Socket>();
  beforeAll(async () => {
    srv = await startKvServer();
    // Accepts connections and never answers: a device whose transport is up while nothing flows.
    silent = createServer((s) => {
      silentSockets.add(s);
      s.on('close', () => silentSockets.delete(s));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of srv.sockets) s.destroy();
    await new Promise((r) => srv.server.close(r));
    for (const s of silentSockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  /** The delay a read during the backoff reports ("next attempt in N ms"). */
  async function pendingDelay(d: Awaited<ReturnType<typeof connect>>): Promise<number> {
    const [v] = await d.readMany(['a:i']);
    expect(v?.error?.code).toBe('BIFROST_NOT_CONNECTED');
    return Number(/next attempt in (\d+) ms/.exec(v?.error?.message ?? '')?.[1]);
  }

  it('closes the connection, reports disconnected with the reason, and redials after the backoff', async () => {
    const d = await connect(`kv://127.0.0.1:${srv.port}`, { backoff: { baseMs: 300, maxMs: 300, random: () => 0.5 } });
    expect((await d.read('a:i')).quality).toBe('good');
    expect(srv.sockets.size).toBe(1);
    const events: HealthEvent[] = [];
    d.on('health', (e: HealthEvent) => events.push(e));
    await d.reset?.('no answer for 5 s');
    expect(d.health).toBe('disconnected');
    expect(events[0]?.error?.code).toBe('BIFROST_CONNECTION_LOST');
    expect(events[0]?.error?.message).toMatch(/reset: no answer for 5 s/);
    // The server sees the old connection close.
    await waitFor(() => srv.sockets.size === 0);
    // Within the backoff delay a read fails fast instead of dialling.
    expect(await pendingDelay(d)).toBeGreaterThan(0);
    expect(srv.sockets.size).toBe(0);
    const v = await waitFor(async () => {
      const [r] = await d.readMany(['a:i']);
      return r?.quality === 'good' ? r : undefined;
    });
    expect(v.value).toBe(1);
    expect(srv.sockets.size).toBe(1);
    expect(events.map((e) => e.state)).toEqual(['disconnected', 'connecting', 'connected']);
    await d.close();
  });

  it('does nothing on a device that is not connected or is closed', async () => {
    const d = await connect(`kv://127.0.0.1:${srv.port}`);
    await d.close();
    await d.reset?.('late');
    expect(d.health).toBe('disconnected');
    expect(((await d.read('a:i').catch((e) => e)) as BifrostError).code).toBe('BIFROST_CLOSED');
  });

  it('keeps the backoff growing while a redialled device still does not answer, and starts over once it does', async () => {
    const backoff = { baseMs: 1000, maxMs: 8000, random: () => 0.99 };
    // A device that accepts the connection but never answers: each reset waits longer.
    const mute = await connect(`kv://127.0.0.1:${silentPort}`, { requestTimeoutMs: 50, backoff });
    await mute.reset?.('silent');
    const first = await pendingDelay(mute);
    expect(first).toBeLessThanOrEqual(990);
    await sleep(first + 20);
    const [v] = await mute.readMany(['a:i']);
    expect(v?.error?.code).toBe('BIFROST_TIMEOUT');
    expect(mute.health).toBe('degraded');
    await mute.reset?.('silent again');
    // attempt 1: ceiling 2000 ms, so more than the first delay's ceiling of 1000 ms.
    expect(await pendingDelay(mute)).toBeGreaterThan(1000);
    await mute.close();

    // A device that answers after the redial: the next reset starts from the shortest delay.
    const live = await connect(`kv://127.0.0.1:${srv.port}`, { backoff });
    await live.reset?.('first');
    await sleep((await pendingDelay(live)) + 20);
    expect((await live.read('a:i')).quality).toBe('good');
    await live.reset?.('second');
    expect(await pendingDelay(live)).toBeLessThanOrEqual(990);
    await live.close();
  }, 15_000);
});

describe('timing', () => {
  it('backoff is full jitter under an exponential ceiling with a cap', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: seededRandom(7) });
    const delays = Array.from({ length: 8 }, () => b.next());
    delays.forEach((d, n) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(1000, 100 * 2 ** n));
    });
    expect(b.ceiling(10)).toBe(1000);
    b.reset();
    expect(b.attempt).toBe(0);
  });
  it('a seeded random source repeats', () => {
    const a = seededRandom(1);
    const b = seededRandom(1);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
  it('withTimeout rejects with BIFROST_TIMEOUT and aborts the work', async () => {
    let aborted = false;
    const e = (await withTimeout(
      (s) =>
        new Promise((_, rej) =>
          s.addEventListener('abort', () => {
            aborted = true;
            rej(s.reason);
          }),
        ),
      { timeoutMs: 20, what: 'probe' },
    ).catch((x) => x)) as BifrostError;
    expect(e.code).toBe('BIFROST_TIMEOUT');
    expect(e.message).toBe('probe timed out after 20 ms');
    expect(aborted).toBe(true);
  });
  it('health refuses impossible transitions', () => {
    const h = new HealthMonitor();
    expect(h.set('degraded')).toBe(false);
    expect(h.set('connected')).toBe(true);
    expect(h.set('degraded', new BifrostError('BIFROST_TIMEOUT', 't'))).toBe(true);
    expect(h.lastError?.code).toBe('BIFROST_TIMEOUT');
  });
});
