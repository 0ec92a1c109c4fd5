/**
 * @module
 * Regression: a poll of 10,000 S7 variables printed `MaxListenersExceededWarning: Possible
 * EventTarget memory leak detected. 11 abort listeners added to [AbortSignal]` on every run of
 * `bifrost run`: the read runs dozens of jobs, each listening on the operation's signal once. That
 * is no leak, and a library must not print: the operation's signal takes any number of listeners.
 */
import { connect } from '@bifrost/core';
import { startSimulator } from '@bifrost/s7';
import { expect, it } from 'vitest';

it('reads thousands of scattered variables without a process warning', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const sim = await startSimulator({ port: 0 });
  try {
    const plc = await connect(sim.url);
    try {
      // Scattered across DB1 (no merging over the gaps): many jobs in one read.
      const addresses = Array.from({ length: 3000 }, (_, i) => `DB1.DBB${(i * 37) % 1000}`);
      const values = await plc.readMany(addresses);
      expect(values.filter((v) => v.quality === 'good').length).toBeGreaterThan(0);
    } finally {
      await plc.close();
    }
  } finally {
    await sim.close();
    process.off('warning', onWarning);
  }
  await new Promise((r) => setImmediate(r));
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
}, 30_000);
