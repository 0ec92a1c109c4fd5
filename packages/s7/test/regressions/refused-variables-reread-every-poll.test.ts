/**
 * @module
 * Regression (issue 16, "the same path for every driver"): S7 variables the PLC refuses (outside
 * their DB: item return code 0x05) were asked again on every poll. Each poll read the merged block,
 * saw it fail, and read each variable of it alone, with a new error per variable: 10,000 tags, most
 * outside DB1, cost 15 % of a core at one poll a second. Now a refused variable stays bad with the
 * error of its first refusal, is not asked until its slow retry, and the rest read as one block.
 * Against the S7 simulator, counting the requests the client sends.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, GOOD, ValueColumns } from '@bifrost/core';
import { startSimulator } from '@bifrost/s7';
import { expect, it } from 'vitest';

it('asks a refused variable once, then keeps it bad with the same error and reads only the others', async () => {
  let requests = 0;
  const count = () => {
    requests++;
  };
  subscribe('bifrost:s7:request', count);
  // The default plant's DB1 holds 100 bytes: DB1.DBB0-99 answer, DB1.DBB100-999 are out of range.
  const sim = await startSimulator({ port: 0 });
  try {
    const plc = await connect(sim.url);
    try {
      const addresses = Array.from({ length: 1000 }, (_, i) => `DB1.DBB${i}`);
      const cols = new ValueColumns(addresses.length);
      const poll = async () => {
        requests = 0;
        await plc.readInto?.(addresses, cols);
        return requests;
      };
      const first = await poll();
      expect(cols.quality[99]).toBe(GOOD);
      expect(cols.errors[100]?.status).toBe(0x05);
      expect(cols.errors[999]?.address).toBe('DB1.DBB999');
      const error = cols.errors[500];
      const second = await poll();
      expect(second).toBeLessThan(first);
      expect(second).toBeLessThanOrEqual(2);
      expect(cols.quality[99]).toBe(GOOD);
      expect(cols.errors[500]).toBe(error);
    } finally {
      await plc.close();
    }
  } finally {
    await sim.close();
    unsubscribe('bifrost:s7:request', count);
  }
}, 30_000);
