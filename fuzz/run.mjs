#!/usr/bin/env node
/**
 * @module
 * `npm run fuzz [-- --frames N --client-frames N --seed S --protocol modbus-tcp,s7]`: fuzzes each
 * protocol's simulator with mutated client frames and each client with mutated server replies
 * (see harness.mjs), prints frames tried, outcomes, crashes, hangs and RSS before/after per
 * protocol and side, writes every finding with its bytes to test-artifacts/fuzz.json, and exits 1
 * when anything crashed, hung, answered an untyped error or failed a valid request afterwards.
 * Env: FUZZ_FRAMES (default 60000), FUZZ_CLIENT_FRAMES (default 1000; OPC UA, whose client is slow to connect, takes a quarter), FUZZ_SEED (default 1),
 * FUZZ_PROTOCOLS (default all). Runs on the build (`npm run build` first).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BifrostError, connect } from '@bifrost/core';
import { fuzzClient, fuzzServer, summary } from './harness.mjs';
import { adapters } from './protocols.mjs';

const { values } = parseArgs({
  options: {
    frames: { type: 'string' },
    'client-frames': { type: 'string' },
    seed: { type: 'string' },
    protocol: { type: 'string' },
    side: { type: 'string' },
  },
});
const num = (v, fallback) => {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`expected a whole number, got ${v}`);
    process.exit(2);
  }
  return n;
};
const frames = num(values.frames ?? process.env.FUZZ_FRAMES, 60000);
const clientFrames = num(values['client-frames'] ?? process.env.FUZZ_CLIENT_FRAMES, 1000);
const seed = num(values.seed ?? process.env.FUZZ_SEED, 1);
const names = (values.protocol ?? process.env.FUZZ_PROTOCOLS ?? Object.keys(adapters).join(',')).split(',').filter(Boolean);
const sides = (values.side ?? 'server,client').split(',');
for (const n of names) {
  if (!adapters[n]) {
    console.error(`unknown protocol ${n}; expected ${Object.keys(adapters).join(', ')}`);
    process.exit(2);
  }
}

const log = (m) => console.error(`  … ${m}`);
const reports = [];
console.log(`fuzz: seed ${seed}, ${frames} frames per simulator, ${clientFrames} replies per client, protocols ${names.join(', ')}`);
for (const name of names) {
  const adapter = adapters[name];
  const common = { seed, connectDevice: connect, BifrostError, log };
  if (sides.includes('server') && frames > 0) {
    const r = await fuzzServer(adapter, { ...common, budget: frames });
    reports.push(r);
    console.log(summary(r));
  }
  if (sides.includes('client') && clientFrames > 0) {
    const r = await fuzzClient(adapter, { ...common, budget: Math.max(1, Math.round(clientFrames * (adapter.clientBudgetScale ?? 1))) });
    reports.push(r);
    console.log(summary(r));
  }
}
mkdirSync('test-artifacts', { recursive: true });
writeFileSync('test-artifacts/fuzz.json', `${JSON.stringify(reports, null, 2)}\n`);
let bad = false;
for (const r of reports) {
  for (const c of r.crashes) {
    bad = true;
    console.log(
      `CRASH ${r.protocol} ${r.side} mutant ${JSON.stringify(c.k)} (${c.how ?? ''}): ${c.inputHex ?? c.replyHex ?? ''}\n  ${(c.stderr ?? c.error ?? '').split('\n').slice(0, 6).join('\n  ')}`,
    );
  }
  for (const h of r.hangs) {
    bad = true;
    console.log(`HANG ${r.protocol} ${r.side} ${JSON.stringify(h)}`);
  }
  for (const u of r.untyped ?? []) {
    bad = true;
    console.log(`UNTYPED ${r.protocol} client mutant ${u.k} (${u.how}) ${u.op}: ${u.error.split('\n')[0]}\n  reply ${u.replyHex}`);
  }
  if (!r.validAfter) bad = true;
}
console.log(`details: test-artifacts/fuzz.json${bad ? '' : ' (no findings)'}`);
process.exit(bad ? 1 : 0);
