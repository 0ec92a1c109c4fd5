/** @module Network helpers for tests: a free loopback port, and polling until a condition holds. */
import { createServer } from 'node:net';
import { sleep } from '../timing.js';

/**
 * A TCP port free on `host` right now.
 * @example const port = await freePort()
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes.
 * @example await waitFor(() => messages.length >= 10, 5000)
 */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
