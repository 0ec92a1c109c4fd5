import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startModbusSimulator } from '@bifrost/modbus';
import { describe, expect, it } from 'vitest';

describe('driver: large tags, per-device limits and diagnostics', () => {
  it('reads and writes tags larger than one request in consecutive requests', async () => {
    await using sim = await startModbusSimulator({ port: await freePort(), config: { units: [{ id: 1, map: ['HR0-HR999', 'C0-C4999'] }] } });
    await using plc = await connect(sim.url);
    const words = Array.from({ length: 300 }, (_, i) => (i * 7919) & 0xffff);
    await plc.write('HR100:UINT16[300]', words); // 123 + 123 + 54 registers (FC 16 ×3)
    expect((await plc.read('HR100:UINT16[300]')).value).toEqual(words); // 125 + 125 + 50 (FC 3 ×3)
    const bits = Array.from({ length: 4500 }, (_, i) => i % 3 === 0);
    await plc.write('C10:BOOL[4500]', bits); // FC 15 ×3
    expect((await plc.read('C10:BOOL[4500]')).value).toEqual(bits); // FC 1 ×3
    expect((await plc.read('HR100:FLOAT64[4]:DCBA')).quality).toBe('good');
  });

  it('honours per-device limits and publishes each request on bifrost:modbus:request', async () => {
    await using sim = await startModbusSimulator({ port: await freePort(), config: { units: [{ id: 1, map: ['HR0-HR199'] }] } });
    const seen: { fc: number; request: { address: number; quantity: number } }[] = [];
    const onRequest = (m: unknown) => {
      seen.push(m as (typeof seen)[number]);
    };
    subscribe('bifrost:modbus:request', onRequest);
    try {
      await using plc = await connect(`${sim.url}&maxRegisters=20&maxGap=0`);
      const addresses = Array.from({ length: 50 }, (_, i) => `HR${i}`);
      addresses.push('HR60', 'HR62');
      const values = await plc.readMany(addresses);
      expect(values.every((v) => v.quality === 'good')).toBe(true);
      // 50 registers in ranges of at most 20, and HR60/HR62 not merged over a gap of 1
      expect(seen.map((s) => [s.request.address, s.request.quantity])).toEqual([
        [0, 20],
        [20, 20],
        [40, 10],
        [60, 1],
        [62, 1],
      ]);
    } finally {
      unsubscribe('bifrost:modbus:request', onRequest);
    }
  });

  it('writes a single register with FC 16 when asked (fc16=1)', async () => {
    await using sim = await startModbusSimulator({ port: await freePort() });
    const fcs: number[] = [];
    const onRequest = (m: unknown) => {
      fcs.push((m as { request: { fc: number } }).request.fc);
    };
    subscribe('bifrost:modbus:server-request', onRequest);
    try {
      await using a = await connect(sim.url);
      await a.write('HR20', 5);
      await using b = await connect(`${sim.url}&fc16=1`);
      await b.write('HR20', 6);
      expect(fcs).toEqual([6, 16]);
      expect((await a.read('HR20')).value).toBe(6);
    } finally {
      unsubscribe('bifrost:modbus:server-request', onRequest);
    }
  });
});
