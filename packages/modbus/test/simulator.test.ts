import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { DEFAULT_PORT, ModbusTcpClient, startModbusSimulator, startSimulator } from '@bifrost/modbus';
import { describe, expect, it } from 'vitest';

const YAML = `
updateMs: 20
units:
  - id: 1
    map: [HR0-HR19, C0-C3]
    identification: { vendorName: ACME, productCode: P-1, majorMinorRevision: '2.1', productName: Press }
    points:
      - { address: HR0:FLOAT32, signal: sine, min: 10, max: 20, periodS: 1 }
      - { address: HR2, signal: counter, step: 1, everyS: 0.05 }
      - { address: HR3:INT16, signal: ramp, min: -100, max: 100, periodS: 1 }
      - { address: HR4:FLOAT32:CDAB, signal: randomWalk, start: 5, step: 0.5, min: 4, max: 6 }
      - { address: 'HR6:STRING[6]', value: LINE-1 }
      - { address: HR9, value: 7, writable: false }
      - { address: 'C0:BOOL[4]', value: [true, false, true, true] }
      - { address: DI0, signal: square, periodS: 0.1 }
  - id: 2
    map: [IR0-IR4]
    points:
      - { address: IR0:UINT32, value: 123456 }
`;

async function rejection(p: Promise<unknown>): Promise<BifrostError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BifrostError);
  return e as BifrostError;
}

describe('simulator', () => {
  it('serves the default plant described in the README', async () => {
    expect(DEFAULT_PORT).toBe(5020);
    await using sim = await startSimulator({ port: await freePort() });
    expect(sim.describe()).toMatch(/unit 1: HR0-HR99, IR0-IR9, C0-C7, DI0-DI7/);
    await using plc = await connect(sim.url);
    const [temp, pressure, counter, setpoint, c0, di2, ir9, hr99] = await plc.readMany(['HR0:FLOAT32', 'HR2:FLOAT32', 'HR4', 'HR10:FLOAT32', 'C0', 'DI2', 'IR9', 'HR99']);
    expect(temp?.value as number).toBeGreaterThanOrEqual(60);
    expect(temp?.value as number).toBeLessThanOrEqual(80);
    expect(pressure?.value as number).toBeGreaterThanOrEqual(4);
    expect(pressure?.value as number).toBeLessThanOrEqual(6);
    expect(Number.isInteger(counter?.value)).toBe(true);
    expect([setpoint?.value, c0?.value, di2?.value, ir9?.value, hr99?.value]).toEqual([70, true, true, 42, 0]);
    // generated values are read-only; the setpoint is writable
    expect((await rejection(plc.write('HR0:FLOAT32', 1))).code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    await plc.write('HR10:FLOAT32', 75);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(75);
    expect((await plc.readMany(['HR100']))[0]?.error?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
  });

  it('loads units, signals and identification from YAML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bifrost-mb-'));
    const file = join(dir, 'sim.yaml');
    await writeFile(file, YAML);
    await using sim = await startModbusSimulator({ port: await freePort(), config: file, seed: 7 });
    await using u1 = await connect(sim.url);
    const first = await u1.readMany(['HR0:FLOAT32', 'HR2', 'HR3:INT16', 'HR4:FLOAT32:CDAB', 'HR6:STRING[6]', 'HR9', 'C0:BOOL[4]']);
    expect(first.map((v) => v.quality)).toEqual(Array(7).fill('good'));
    expect(first[4]?.value).toBe('LINE-1');
    expect(first[6]?.value).toEqual([true, false, true, true]);
    const sine = first[0]?.value as number;
    expect(sine).toBeGreaterThanOrEqual(10);
    expect(sine).toBeLessThanOrEqual(20);
    const walk = first[3]?.value as number;
    expect(walk).toBeGreaterThanOrEqual(4);
    expect(walk).toBeLessThanOrEqual(6);
    // signals move: the counter climbs, the square wave on DI0 toggles
    const c0 = first[1]?.value as number;
    await waitFor(async () => ((await u1.read('HR2')).value as number) > c0 + 2, 5000);
    const seen = new Set<unknown>();
    await waitFor(async () => {
      seen.add((await u1.read('DI0')).value);
      return seen.size === 2;
    }, 5000);
    // a fixed point marked writable: false refuses writes
    expect((await rejection(u1.write('HR9', 1))).status).toBe(2);
    expect(await u1.identify()).toMatchObject({ vendor: 'ACME', productCode: 'P-1', firmware: '2.1', product: 'Press' });

    await using u2 = await connect(sim.url.replace('unit=1', 'unit=2'));
    expect((await u2.read('IR0:UINT32')).value).toBe(123456);
    expect((await u2.readMany(['HR0']))[0]?.error?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    // unit 2 has no identification objects: FC 43 is an illegal function there
    expect(await u2.identify()).toMatchObject({ protocol: 'modbus', unitId: 2, identification: expect.stringMatching(/not supported/) });

    await using u3 = await connect(sim.url.replace('unit=1', 'unit=3'));
    const [absent] = await u3.readMany(['HR0']);
    expect(absent?.error?.code).toBe('BIFROST_MODBUS_GATEWAY');
    expect(absent?.error?.statusName).toBe('GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND');
  });

  it('serves FC 22 mask write and FC 23 read/write as the specification describes', async () => {
    await using sim = await startSimulator({ port: await freePort() });
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: sim.port });
    try {
      await client.connect();
      // §6.16 example: current 0x12, AND 0xF2, OR 0x25 → 0x17
      await client.writeSingleRegister(20, 0x12);
      await client.maskWriteRegister(20, 0x00f2, 0x0025);
      expect(Buffer.from(await client.readHoldingRegisters(20, 1)).toString('hex')).toBe('0017');
      // §6.17: the write happens before the read
      const got = await client.readWriteMultipleRegisters(30, 3, 31, [0xaaaa, 0xbbbb]);
      expect(Buffer.from(got).toString('hex')).toBe('0000aaaabbbb');
      const ids = await client.readDeviceIdentification(1);
      expect([...ids.keys()]).toEqual([0, 1, 2]);
      const one = await client.request({ fc: 43, meiType: 14, readDeviceIdCode: 4, objectId: 5 });
      expect(one).toMatchObject({ objects: [{ id: 5, value: 'plant-1' }] });
      expect((await rejection(client.readHoldingRegisters(0, 125, { unitId: 1 }).then(() => client.request({ fc: 3, address: 95, quantity: 10 })))).code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    } finally {
      await client.close();
    }
  });

  it('reports config errors naming the field, YAML errors and missing files', async () => {
    const bad = async (config: unknown) => rejection(startModbusSimulator({ port: 0, config: config as Record<string, unknown> }));
    expect((await bad({ units: [] })).code).toBe('BIFROST_CONFIG_INVALID');
    expect((await bad({ units: [{ id: 1, points: [{ address: 'HR0', signal: 'noise' }] }] })).message).toMatch(/units\[0\]\.points\[0\]\.signal/);
    expect((await bad({ units: [{ id: 1, points: [{ address: 'QQ0' }] }] })).message).toMatch(/units\[0\]\.points\[0\]\.address/);
    expect((await bad({ units: [{ id: 300 }] })).message).toMatch(/units\[0\]\.id/);
    expect((await bad({ units: [{ id: 1 }, { id: 1 }] })).message).toMatch(/defined twice/);
    expect((await bad({ units: [{ id: 1, map: ['HR5-IR9'] }] })).message).toMatch(/mixes two tables/);
    expect((await bad({ units: [{ id: 1, points: [{ address: 'HR0:INT16', value: 70000 }] }] })).message).toMatch(/does not fit/);
    const dir = await mkdtemp(join(tmpdir(), 'bifrost-mb-'));
    await writeFile(join(dir, 'broken.yaml'), 'units: [ { id: 1\n');
    expect((await rejection(startModbusSimulator({ config: join(dir, 'broken.yaml') }))).code).toBe('BIFROST_CONFIG_YAML');
    expect((await rejection(startModbusSimulator({ config: join(dir, 'missing.yaml') }))).code).toBe('BIFROST_CONFIG_NOT_FOUND');
  });

  it('closes idempotently and frees its port', async () => {
    const port = await freePort();
    const sim = await startSimulator({ port });
    await sim.close();
    await sim.close();
    const again = await startSimulator({ port });
    await again.close();
  });
});

describe('simulator signals at the edge of their types', () => {
  it('a counter on a 16-bit register wraps instead of failing, and a value out of range skips a tick without stopping the simulator', async () => {
    await using sim = await startModbusSimulator({
      port: await freePort(),
      config: {
        updateMs: 10,
        units: [
          {
            id: 1,
            points: [
              { address: 'HR0:UINT16', signal: 'counter', start: 65530, step: 1, everyS: 0.01 },
              { address: 'HR1:INT16', signal: 'ramp', min: 0, max: 100000, periodS: 0.2 },
              { address: 'HR2:UINT16', signal: 'counter', step: 1, everyS: 0.01 },
            ],
          },
        ],
      },
    });
    await using plc = await connect(sim.url);
    // the counter passes 65535 and starts again from 0
    await waitFor(async () => ((await plc.read('HR0')).value as number) < 100, 5000);
    const before = (await plc.read('HR2')).value as number;
    await waitFor(async () => ((await plc.read('HR2')).value as number) > before, 5000);
  });
});

describe('README', () => {
  it('its simulator config example is a valid config', async () => {
    const { readFile } = await import('node:fs/promises');
    const { parse } = await import('yaml');
    const { buildUnits } = await import('@bifrost/modbus');
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const { units, driven } = buildUnits(parse(block as string));
    expect([...units.keys()]).toEqual([1, 2]);
    expect(driven.length).toBe(3);
  });
});
