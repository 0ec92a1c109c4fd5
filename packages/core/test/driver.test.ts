import { Backoff, BifrostError, connect, type HealthEvent, HealthMonitor, registerDriver, seededRandom, sleep, withTimeout } from '@bifrost/core';
import { driverSuite } from '@bifrost/core/test-fixtures';
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
