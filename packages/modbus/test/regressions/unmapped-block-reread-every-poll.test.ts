/**
 * @module
 * Regression (issues 16 and 18.5): a block of unmapped registers was re-read register by register
 * on every poll. 9,900 tags on registers the device refuses (exception 02) took 1.37 s per poll, a
 * third of it building a new BifrostError per tag per poll. Now a refused range is bisected once
 * to find the refused tags, they are merged into blocks that stay bad with the error of their first
 * refusal (no request, no new object per poll), and each block is asked again on a slow schedule
 * (`refusedRetry`, doubling): once the device answers it, its tags are read every poll again.
 * Against the real Modbus simulator, counting the requests it serves.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, GOOD, ValueColumns } from '@bifrost/core';
import { type RunningModbusSimulator, startModbusSimulator } from '@bifrost/modbus';
import { afterAll, beforeAll, expect, it } from 'vitest';

let sim: RunningModbusSimulator;
let requests = 0;
const count = () => {
  requests++;
};

beforeAll(async () => {
  sim = await startModbusSimulator({ port: 0, config: { units: [{ id: 1, map: ['HR0-HR99'], points: [{ address: 'HR7', value: 77 }] }] } });
  subscribe('bifrost:modbus:server-request', count);
});
afterAll(async () => {
  unsubscribe('bifrost:modbus:server-request', count);
  await sim?.close();
});

it('asks a refused block once, keeps its tags bad without requests or new errors, and reads it again once the device maps it', async () => {
  const plc = await connect(`${sim.url}&refusedRetry=300`);
  try {
    const addresses = Array.from({ length: 10_000 }, (_, i) => `HR${i}`);
    const cols = new ValueColumns(addresses.length);
    const read = async () => {
      requests = 0;
      if (!plc.readInto) throw new Error('the Modbus device reads into columns');
      await plc.readInto(addresses, cols);
      return requests;
    };
    const first = await read();
    expect(cols.quality[7]).toBe(GOOD);
    expect(cols.num[7]).toBe(77);
    expect(cols.quality[100]).not.toBe(GOOD);
    expect(cols.errors[100]?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    expect(cols.errors[100]?.address).toBe('HR100');
    expect(cols.errors[9999]?.address).toBe('HR9999');
    // Finding the refused tags takes many requests, once.
    expect(first).toBeGreaterThan(80);
    const before = cols.errors[5000];

    // The next polls ask only the mapped HR0-HR99 (one request), and reuse the errors.
    expect(await read()).toBe(1);
    expect(await read()).toBe(1);
    expect(cols.errors[5000]).toBe(before);
    expect(cols.quality[9999]).not.toBe(GOOD);

    // The device maps HR100-HR9999: after the retry delay the blocks are asked again, answer, and are read every poll.
    sim.units.get(1)?.map('holdingRegisters', 100, 9900);
    await new Promise((r) => setTimeout(r, 400));
    await read();
    expect(cols.quality[9999]).toBe(GOOD);
    expect(cols.quality[100]).toBe(GOOD);
    const after = await read();
    // 10,000 registers are 80 requests of at most 125.
    expect(after).toBeLessThanOrEqual(80 + 1);
    expect(cols.quality.every((q) => q === GOOD)).toBe(true);
  } finally {
    await plc.close();
  }
}, 60_000);
