/**
 * The fuzz suite on a short budget (issue 22): for each protocol, a few hundred mutated client
 * frames against its simulator (in its own process) and a few dozen mutated replies from a
 * malicious server against its client. Nothing may crash or hang, every client error must be a
 * BifrostError, a valid request must succeed afterwards and the simulator's memory must stay
 * bounded. `npm run fuzz` runs the same harness on a large budget. The simulators run from the
 * build (`npm test` builds first).
 */
import { BifrostError, connect } from '@bifrost/core';
import { describe, expect, it } from 'vitest';
// The harness is plain JavaScript so that `npm run fuzz` runs it on the build without a loader.
import { fuzzClient, fuzzServer, summary } from './harness.mjs';
import { adapters } from './protocols.mjs';

const SEED = Number(process.env.FUZZ_SEED ?? 7);
const budgets: Record<string, { server: number; client: number }> = {
  'modbus-tcp': { server: 600, client: 40 },
  'modbus-rtu': { server: 600, client: 40 },
  s7: { server: 600, client: 40 },
  eip: { server: 600, client: 40 },
  opcua: { server: 250, client: 12 },
};

describe.each(Object.keys(budgets))('fuzz %s', (name) => {
  const adapter = adapters[name];
  const common = { seed: SEED, connectDevice: connect, BifrostError };

  it('the simulator survives mutated client frames and answers a valid request afterwards', { timeout: 90_000 }, async () => {
    const r = await fuzzServer(adapter, { ...common, budget: budgets[name]?.server });
    console.log(summary(r));
    expect(r.crashes).toEqual([]);
    expect(r.frames).toBe(budgets[name]?.server);
    expect(r.hangs).toEqual([]);
    expect(r.validAfter).toBe(true);
    // Bounded memory: a few hundred hostile connections leave no lasting growth beyond noise.
    expect(r.rssAfter - r.rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(r.heapAfter - r.heapBefore).toBeLessThan(16 * 1024 * 1024);
  });

  it('the client settles every operation with a value or a BifrostError under mutated replies', { timeout: 90_000 }, async () => {
    const r = await fuzzClient(adapter, { ...common, budget: budgets[name]?.client, timeoutMs: 200 });
    console.log(summary(r));
    // The unmutated replay satisfies the client, so the mutants reach past the first reply.
    expect(r.replayFailures).toEqual([]);
    expect(r.crashes).toEqual([]);
    expect(r.frames).toBe(budgets[name]?.client);
    expect(r.hangs).toEqual([]);
    expect(r.untyped).toEqual([]);
    expect(r.results.typed).toBeGreaterThan(0);
    expect(r.validAfter).toBe(true);
  });
});
