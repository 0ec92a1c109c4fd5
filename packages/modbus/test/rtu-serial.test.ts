/**
 * Modbus RTU over a serial line, through a pseudo-terminal pair made by socat: the Bifrost
 * simulator serves one end; the Bifrost driver, mbpoll and modbus-serial talk on the other.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { connect } from '@bifrost/core';
import { driverSuite, type SuiteTag, waitFor } from '@bifrost/core/test-fixtures';
import { ModbusRtuClient, type RunningModbusSimulator, startModbusSimulator } from '@bifrost/modbus';
import ModbusRTU from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** A socat pty pair: bytes written to one end come out of the other. */
async function ptyPair(): Promise<{ a: string; b: string; proc: ChildProcess }> {
  const base = `/tmp/bifrost-mb-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const a = `${base}-a`;
  const b = `${base}-b`;
  const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  await waitFor(() => existsSync(a) && existsSync(b), 10_000);
  return { a, b, proc };
}

const serial = (path: string) => ({ path, baudRate: 19200, parity: 'even' as const });

describe('RTU through a socat pty pair', () => {
  let pair: { a: string; b: string; proc: ChildProcess };
  let sim: RunningModbusSimulator;
  beforeAll(async () => {
    pair = await ptyPair();
    sim = await startModbusSimulator({ serial: serial(pair.a) });
  }, 30_000);
  afterAll(async () => {
    await sim?.close();
    pair?.proc.kill();
  });

  it('the simulator describes itself with a modbus+rtu URL', () => {
    expect(sim.url).toBe(`modbus+rtu://${pair.a}?baud=19200&parity=even&unit=1`);
    expect(sim.describe()).toMatch(/RTU on/);
  });

  it('the Bifrost driver reads, writes and identifies over RTU', async () => {
    await using plc = await connect(`modbus+rtu://${pair.b}?baud=19200&parity=even&unit=1`, { requestTimeoutMs: 3000 });
    await plc.write('HR10:FLOAT32', 65.25);
    const v = await plc.readMany(['HR10:FLOAT32', 'IR9', 'C0', 'DI2', 'HR9000']);
    expect(v.slice(0, 4).map((x) => x.value)).toEqual([65.25, 42, true, true]);
    expect(v[4]?.error?.code).toBe('BIFROST_MODBUS_ILLEGAL_ADDRESS');
    expect((await plc.identify()).vendor).toBe('Bifrost');
  });

  it('two devices (units 1 and 9) share the line; the absent unit stays silent (BIFROST_TIMEOUT), the other keeps working', async () => {
    await using one = await connect(`modbus+rtu://${pair.b}?baud=19200&parity=even&unit=1`, { requestTimeoutMs: 3000 });
    await using other = await connect(`modbus+rtu://${pair.b}?baud=19200&parity=even&unit=9`, { requestTimeoutMs: 300 });
    const [missing, present] = await Promise.all([other.readMany(['HR0']), one.readMany(['IR9'])]);
    expect(missing[0]?.error?.code).toBe('BIFROST_TIMEOUT');
    expect(present[0]?.value).toBe(42);
    expect((await one.read('IR9')).value).toBe(42);
    const clash = await connect(`modbus+rtu://${pair.b}?baud=9600&parity=even&unit=2`).catch((e: unknown) => e);
    expect((clash as { code?: string }).code).toBe('BIFROST_INVALID_URL');
  });

  it('a broadcast write (unit 0) reaches the units without an answer; reads cannot be broadcast', async () => {
    const client = new ModbusRtuClient({ ...serial(pair.b), unitId: 0, turnaroundMs: 50 });
    await client.connect();
    try {
      await client.writeSingleRegister(48, 4321);
      const err = await client.readHoldingRegisters(48, 1).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('BIFROST_INVALID_ARGUMENT');
      expect(Buffer.from(await client.readHoldingRegisters(48, 1, { unitId: 1 })).readUInt16BE(0)).toBe(4321);
    } finally {
      await client.close();
    }
  });

  it('mbpoll (RTU) reads and writes the simulator', async () => {
    const args = ['-m', 'rtu', '-b', '19200', '-P', 'even', '-a', '1', '-0', '-1'];
    await run('mbpoll', [...args, '-t', '4', '-r', '44', pair.b, '777'], { timeout: 10_000 });
    const { stdout } = await run('mbpoll', [...args, '-t', '4', '-r', '44', '-c', '1', pair.b], { timeout: 10_000 });
    expect(stdout).toMatch(/\[44\]:\s+777/);
  });

  it('modbus-serial (RTU) reads and writes the simulator', async () => {
    const c = new ModbusRTU();
    await c.connectRTUBuffered(pair.b, { baudRate: 19200, parity: 'even' });
    c.setID(1);
    c.setTimeout(2000);
    try {
      await c.writeRegisters(46, [11, 22]);
      expect((await c.readHoldingRegisters(46, 2)).data).toEqual([11, 22]);
      expect((await c.readInputRegisters(9, 1)).data).toEqual([42]);
    } finally {
      await new Promise((resolve) => c.close(resolve));
    }
  });
});

const rtuTags: SuiteTag[] = [
  { address: 'HR0:FLOAT32', type: 'REAL' },
  { address: 'HR10:FLOAT32:CDAB', type: 'REAL', write: 12.5 },
  { address: 'HR12:INT32', type: 'DINT', write: -7 },
  { address: 'HR20:STRING[6]', type: 'STRING', write: 'rtu-ok' },
  { address: 'C2', type: 'BOOL', write: true },
  { address: 'IR1:UINT16', type: 'UINT' },
];

// socat pairs started for the suite, ended after every describe block is done.
const pairs: ChildProcess[] = [];
afterAll(() => {
  for (const p of pairs) p.kill();
});

driverSuite({
  name: 'modbus+rtu through a socat pty pair',
  async start() {
    const pair = await ptyPair();
    pairs.push(pair.proc);
    let sim = await startModbusSimulator({ serial: serial(pair.a) });
    return {
      url: `modbus+rtu://${pair.b}?baud=19200&parity=even&unit=1`,
      stop: () => sim.close(),
      async restart() {
        sim = await startModbusSimulator({ serial: serial(pair.a) });
      },
    };
  },
  tags: rtuTags,
  badAddress: 'HR9000',
  badAddressCode: 'BIFROST_MODBUS_ILLEGAL_ADDRESS',
  invalidAddress: 'HR1.99',
  deadbandAddress: 'HR50',
});
