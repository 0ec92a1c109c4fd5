/**
 * @module
 * The driver conformance suite: one set of tests every protocol driver runs against its own
 * simulator (and, where there is one, an independent server). Call it at the top level of a
 * Vitest test file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataType, Value } from '../datatypes.js';
import type { ConnectOptions, Device } from '../driver.js';
import { BifrostError, type ErrorCode } from '../errors/index.js';
import { connect } from '../registry.js';
import { sleep } from '../timing.js';
import type { TagValue } from '../value.js';
import { waitFor } from './net.js';

/** TCP handles open in this process: a reset must close the device's own. */
function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

/** A running server the suite can stop and start again on the same address. */
export interface SuiteServer {
  /** The URL to connect to. */
  url: string;
  /** Stops the server, dropping its connections. */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()`. */
  restart(): Promise<void>;
}

/** One address of each type the driver supports. */
export interface SuiteTag {
  address: string;
  type: DataType;
  /** A value to write and read back; absent for read-only addresses. */
  write?: Value;
}

/** Options of {@link driverSuite}. */
export interface DriverSuiteOptions {
  name: string;
  start(): Promise<SuiteServer>;
  /** At least one per supported type. */
  tags: SuiteTag[];
  /** A well-formed address the device refuses (outside any mapped range, unknown tag…). */
  badAddress: string;
  /** An address the driver cannot parse. */
  invalidAddress: string;
  /** A writable numeric address for the deadband test. */
  deadbandAddress: string;
  /** The code `read(badAddress)` rejects with (default: any BifrostError). */
  badAddressCode?: ErrorCode;
  connectOptions?: ConnectOptions;
  /** How long reconnect may take after a restart (default 15 s). */
  reconnectWithinMs?: number;
}

const JS_TYPE: Record<DataType, (v: unknown) => boolean> = {
  BOOL: (v) => typeof v === 'boolean',
  SINT: Number.isInteger,
  USINT: Number.isInteger,
  INT: Number.isInteger,
  UINT: Number.isInteger,
  DINT: Number.isInteger,
  UDINT: Number.isInteger,
  LINT: (v) => typeof v === 'bigint',
  ULINT: (v) => typeof v === 'bigint',
  REAL: (v) => typeof v === 'number',
  LREAL: (v) => typeof v === 'number',
  STRING: (v) => typeof v === 'string',
  BYTES: (v) => v instanceof Uint8Array,
  DATETIME: (v) => v instanceof Date,
};

function expectSame(type: DataType, actual: unknown, expected: Value): void {
  if (type === 'REAL') expect(actual as number).toBeCloseTo(expected as number, 4);
  else expect(actual).toEqual(expected);
}

/**
 * Registers the conformance tests for one driver.
 * @example driverSuite({ name: 'modbus', start: startSim, tags: [...], badAddress: 'HR9000', invalidAddress: 'XX1', deadbandAddress: 'HR10' })
 */
export function driverSuite(options: DriverSuiteOptions): void {
  describe(`driver conformance: ${options.name}`, () => {
    let server: SuiteServer;
    let device: Device;
    const open = () => connect(server.url, { requestTimeoutMs: 1000, backoff: { baseMs: 50, maxMs: 500 }, ...options.connectOptions });

    beforeAll(async () => {
      server = await options.start();
      device = await open();
    }, 60_000);

    afterAll(async () => {
      await device?.close();
      await server?.stop();
    }, 60_000);

    it('connects and identifies the device', async () => {
      expect(device.health).toBe('connected');
      const id = await device.identify();
      expect(typeof id.protocol).toBe('string');
      expect(Object.keys(id).length).toBeGreaterThan(1);
    });

    it('reads every type with good quality and the right JavaScript type', async () => {
      for (const tag of options.tags) {
        const v = await device.read(tag.address);
        expect(v.quality, tag.address).toBe('good');
        expect(JS_TYPE[tag.type](v.value), `${tag.address} as ${tag.type}: ${String(v.value)}`).toBe(true);
        expect(v.timestamp).toBeGreaterThan(0);
      }
    });

    it('writes every writable type and reads the value back', async () => {
      for (const tag of options.tags.filter((t) => t.write !== undefined)) {
        await device.write(tag.address, tag.write as Value);
        const v = await device.read(tag.address);
        expectSame(tag.type, v.value, tag.write as Value);
      }
    });

    it('reads a batch with one bad address as good values plus one bad value', async () => {
      const addresses = [...options.tags.map((t) => t.address), options.badAddress];
      const values = await device.readMany(addresses);
      expect(values.map((v) => v.address)).toEqual(addresses);
      for (const v of values.slice(0, -1)) expect(v.quality, v.address).toBe('good');
      const last = values.at(-1) as TagValue;
      expect(last.quality).toBe('bad');
      expect(last.value).toBeNull();
      expect(last.error).toBeInstanceOf(BifrostError);
      if (options.badAddressCode) expect(last.error?.code).toBe(options.badAddressCode);
    });

    it('rejects a malformed address with BIFROST_INVALID_ADDRESS', async () => {
      const err = await device.read(options.invalidAddress).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BifrostError);
      expect((err as BifrostError).code).toBe('BIFROST_INVALID_ADDRESS');
    });

    it('subscribes and reports only changes beyond the deadband', async () => {
      const addr = options.deadbandAddress;
      await device.write(addr, 10);
      const ac = new AbortController();
      const seen: number[] = [];
      const it = device.subscribe([addr], { intervalMs: 30, deadband: 5, signal: ac.signal });
      const first = await it.next();
      seen.push(Number((first.value as TagValue[])[0]?.value));
      await device.write(addr, 12);
      await sleep(150);
      await device.write(addr, 20);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const r = await it.next();
        if (r.done) break;
        for (const v of r.value) seen.push(Number(v.value));
        if (seen.includes(20)) break;
      }
      ac.abort();
      await it.return?.(undefined);
      expect(seen).toEqual([10, 20]);
    });

    it('reconnects after the server restarts', async () => {
      const before = await device.read(options.tags[0]?.address as string);
      expect(before.quality).toBe('good');
      await server.stop();
      const down = await device.readMany([options.tags[0]?.address as string]);
      expect(down[0]?.quality).toBe('bad');
      await server.restart();
      const deadline = Date.now() + (options.reconnectWithinMs ?? 15_000);
      let last: TagValue | undefined;
      while (Date.now() < deadline) {
        [last] = await device.readMany([options.tags[0]?.address as string]);
        if (last?.quality === 'good') break;
        await sleep(100);
      }
      expect(last?.quality).toBe('good');
      expect(device.health).toBe('connected');
    }, 30_000);

    it('reset closes the transport at once and the next read redials it', async () => {
      const address = options.tags[0]?.address as string;
      const baseline = openSockets();
      const d = await open();
      try {
        expect((await d.read(address)).quality).toBe('good');
        const states: string[] = [];
        d.on('health', (e) => states.push(e.state));
        const before = openSockets();
        expect(d.reset).toBeTypeOf('function');
        await d.reset?.('conformance test');
        expect(d.health).toBe('disconnected');
        // The old transport is really closed, not left open behind the new one (when it is a TCP
        // socket of its own: a serial line shared with another device stays open for that one).
        if (before > baseline) await waitFor(() => openSockets() < before, 5000);
        const deadline = Date.now() + (options.reconnectWithinMs ?? 15_000);
        let last: TagValue | undefined;
        while (Date.now() < deadline) {
          [last] = await d.readMany([address]);
          if (last?.quality === 'good') break;
          await sleep(50);
        }
        expect(last?.quality).toBe('good');
        expect(d.health).toBe('connected');
        expect(states).toEqual(['disconnected', 'connecting', 'connected']);
        // Not connected: nothing to reset.
        await d.close();
        await d.reset?.('after close');
        expect(d.health).toBe('disconnected');
      } finally {
        await d.close();
      }
    }, 30_000);

    it('closes idempotently and refuses work afterwards', async () => {
      const d = await open();
      await d.close();
      await d.close();
      expect(d.health).toBe('disconnected');
      const err = await d.read(options.tags[0]?.address as string).catch((e: unknown) => e);
      expect((err as BifrostError).code).toBe('BIFROST_CLOSED');
    });

    it('disposes with await using', async () => {
      let ref: Device | undefined;
      {
        await using d = await open();
        ref = d;
        expect((await d.read(options.tags[0]?.address as string)).quality).toBe('good');
      }
      expect(ref?.health).toBe('disconnected');
    });
  });
}
