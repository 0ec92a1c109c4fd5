/**
 * Cross-tests over TCP with independent implementations, each started by the test: the Bifrost
 * client against pymodbus's server (MBAP and RTU framing), and mbpoll, modbus-serial and jsmodbus
 * as clients of the Bifrost simulator.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BifrostError, connect, type Device } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { ModbusTcpClient, type RunningModbusSimulator, startModbusSimulator } from '@bifrost/modbus';
import Modbus from 'jsmodbus';
import ModbusRTU from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PYMODBUS_SERVER = fileURLToPath(new URL('./peers/pymodbus-server.py', import.meta.url));

/** Starts the pymodbus server script on a free port and waits for it to say "ready". */
export async function startPymodbus(framing: 'tcp' | 'rtu' = 'tcp'): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('/usr/bin/python3', [PYMODBUS_SERVER, String(port), framing], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('pymodbus server did not start within 20 s')), 20_000);
    proc.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus server exited with ${code}`));
    });
  });
  return { port, proc };
}

describe('Bifrost client against pymodbus server', () => {
  let py: { port: number; proc: ChildProcess };
  let plc: Device;
  beforeAll(async () => {
    py = await startPymodbus();
    plc = await connect(`modbus://127.0.0.1:${py.port}?unit=1`, { requestTimeoutMs: 2000 });
  }, 30_000);
  afterAll(async () => {
    await plc?.close();
    py?.proc.kill();
  });

  it('reads registers, coils and inputs coalesced in one batch', async () => {
    const values = await plc.readMany(['HR0', 'HR1', 'HR99', 'IR3', 'C0', 'C1', 'C2', 'DI0', 'DI1', 'DI3', 'HR4:UINT32', 'C0:BOOL[4]']);
    expect(values.map((v) => v.quality)).toEqual(Array(12).fill('good'));
    expect(values.map((v) => v.value)).toEqual([1000, 1001, 1099, 2003, true, false, true, true, false, true, (1004 << 16) + 1005, [true, false, true, false]]);
  });

  it('writes FC 6, FC 16, FC 5, FC 15 and reads them back', async () => {
    await plc.write('HR10', 4242);
    await plc.write('HR20:FLOAT32:CDAB', -12.5);
    await plc.write('C5', true);
    await plc.write('C8:BOOL[3]', [true, true, false]);
    const v = await plc.readMany(['HR10', 'HR20:FLOAT32:CDAB', 'C5', 'C8:BOOL[3]']);
    expect(v.map((x) => x.value)).toEqual([4242, -12.5, true, [true, true, false]]);
  });

  it('an unmapped address is a bad value with the exception code, the rest stay good', async () => {
    const [a, b] = await plc.readMany(['HR1', 'HR150']);
    expect(a?.quality).toBe('good');
    expect(b?.quality).toBe('bad');
    expect(b?.error?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    expect(b?.error?.status).toBe(2);
  });

  it('pipelines requests when allowed', async () => {
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: py.port, maxInFlight: 4 });
    await client.connect();
    try {
      const got = await Promise.all(Array.from({ length: 16 }, (_, i) => client.readInputRegisters(i % 10, 1)));
      expect(got.map((d) => Buffer.from(d).readUInt16BE(0))).toEqual(Array.from({ length: 16 }, (_, i) => 2000 + (i % 10)));
    } finally {
      await client.close();
    }
  });

  it('identifies the device via FC 43/14', async () => {
    const id = await plc.identify();
    expect(id).toMatchObject({ protocol: 'modbus', vendor: 'pymodbus', productCode: 'PM', firmware: '3.0.0' });
  });
});

describe('Bifrost RTU-over-TCP client against pymodbus server with its RTU framer', () => {
  let py: { port: number; proc: ChildProcess };
  beforeAll(async () => {
    py = await startPymodbus('rtu');
  }, 30_000);
  afterAll(() => {
    py?.proc.kill();
  });

  it('reads, writes, gets exceptions and identifies over RTU framing (CRC checked both ways)', async () => {
    await using plc = await connect(`modbus+rtuovertcp://127.0.0.1:${py.port}?unit=1`, { requestTimeoutMs: 2000 });
    await plc.write('HR30:INT32', -424242);
    const v = await plc.readMany(['HR0', 'HR30:INT32', 'IR9', 'C2', 'DI3', 'HR150']);
    expect(v.slice(0, 5).map((x) => x.value)).toEqual([1000, -424242, 2009, true, true]);
    expect(v[5]?.error?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    expect(await plc.identify()).toMatchObject({ vendor: 'pymodbus' });
  });
});

describe('independent clients against the Bifrost simulator', () => {
  let sim: RunningModbusSimulator;
  beforeAll(async () => {
    sim = await startModbusSimulator({ port: await freePort() });
  });
  afterAll(() => sim?.close());

  const mbpoll = async (...args: string[]) => (await run('mbpoll', ['-m', 'tcp', '-a', '1', '-0', '-1', '-p', String(sim.port), ...args, '127.0.0.1'], { timeout: 10_000 })).stdout;
  const mbpollWrite = async (...args: string[]) => {
    const values = args.splice(args.indexOf('--') + 1);
    args.pop();
    return (await run('mbpoll', ['-m', 'tcp', '-a', '1', '-0', '-1', '-p', String(sim.port), ...args, '127.0.0.1', ...values], { timeout: 10_000 })).stdout;
  };

  it('mbpoll reads holding registers, a float, coils, discrete and input registers', async () => {
    sim.units.get(1)?.setValue('holdingRegisters', 30, 'UINT', 12345);
    expect(await mbpoll('-t', '4', '-r', '30', '-c', '1')).toMatch(/\[30\]:\s+12345/);
    // mbpoll -t 4:float reads big-endian (ABCD) floats: the setpoint HR10 is 70.0.
    expect(await mbpoll('-t', '4:float', '-B', '-r', '10', '-c', '1')).toMatch(/\[10\]:\s+70(\.0+)?\b/);
    expect(await mbpoll('-t', '0', '-r', '0', '-c', '2')).toMatch(/\[0\]:\s+1[\s\S]*\[1\]:\s+0/);
    expect(await mbpoll('-t', '1', '-r', '2', '-c', '1')).toMatch(/\[2\]:\s+1/);
    expect(await mbpoll('-t', '3', '-r', '9', '-c', '1')).toMatch(/\[9\]:\s+42/);
  });

  it('mbpoll writes registers and coils that Bifrost reads back', async () => {
    await mbpollWrite('-t', '4', '-r', '40', '--', '321', '654');
    await mbpollWrite('-t', '0', '-r', '6', '--', '1');
    await using plc = await connect(sim.url);
    const v = await plc.readMany(['HR40', 'HR41', 'C6']);
    expect(v.map((x) => x.value)).toEqual([321, 654, true]);
  });

  it('mbpoll sees an exception for an unmapped address', async () => {
    const out = await mbpoll('-t', '4', '-r', '9000', '-c', '1').catch((e: { stdout?: string; stderr?: string }) => `${e.stdout}${e.stderr}`);
    expect(out).toMatch(/Illegal data address/i);
  });

  it('modbus-serial reads, writes and gets exceptions', async () => {
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port: sim.port });
    c.setID(1);
    c.setTimeout(2000);
    try {
      await c.writeRegisters(60, [1, 2, 3]);
      expect((await c.readHoldingRegisters(60, 3)).data).toEqual([1, 2, 3]);
      await c.writeRegister(63, 0xbeef);
      expect((await c.readHoldingRegisters(63, 1)).data).toEqual([0xbeef]);
      await c.writeCoil(3, true);
      expect((await c.readCoils(0, 8)).data.slice(0, 4)).toEqual([true, false, false, true]);
      expect((await c.readDiscreteInputs(2, 1)).data[0]).toBe(true);
      expect((await c.readInputRegisters(9, 1)).data).toEqual([42]);
      const err = (await c.readHoldingRegisters(9000, 1).catch((e: unknown) => e)) as { modbusCode?: number };
      expect(err.modbusCode).toBe(2);
      const id = (await c.readDeviceIdentification(1, 0)) as { data: Record<number, string> | string[] };
      expect(Object.values(id.data)).toContain('Bifrost');
    } finally {
      await new Promise((resolve) => c.close(resolve));
    }
  });

  it('jsmodbus reads and writes', async () => {
    const socket = new Socket();
    const client = new Modbus.client.TCP(socket, 1, 2000);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
      socket.connect({ host: '127.0.0.1', port: sim.port });
    });
    try {
      await client.writeMultipleRegisters(70, [7, 8]);
      const r = await client.readHoldingRegisters(70, 2);
      expect([...(r.response.body.valuesAsArray as number[])]).toEqual([7, 8]);
      await client.writeSingleCoil(4, true);
      const coils = await client.readCoils(4, 1);
      expect(coils.response.body.valuesAsArray[0]).toBe(1);
      const err = await client.readHoldingRegisters(9000, 1).catch((e: unknown) => e);
      expect((err as { response?: { body?: { code?: number } } }).response?.body?.code).toBe(2);
    } finally {
      socket.destroy();
    }
  });

  it('the simulator survives garbage and answers the next client', async () => {
    const s = new Socket();
    await new Promise<void>((resolve) => s.connect({ host: '127.0.0.1', port: sim.port }, resolve));
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.write(Buffer.from('000100070006010300000001', 'hex'));
    await closed;
    await using plc = await connect(sim.url);
    expect((await plc.read('IR9')).value).toBe(42);
    expect(await plc.readMany(['HR9000']).then((v) => v[0]?.error)).toBeInstanceOf(BifrostError);
  });
});
