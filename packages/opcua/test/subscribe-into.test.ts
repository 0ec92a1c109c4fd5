/**
 * @module
 * `OpcUaDevice.subscribeInto` against a real node-opcua server: monitored items created in several
 * CreateMonitoredItems calls (the server's MaxMonitoredItemsPerCall is small here) still land in
 * their own slots; the first report carries every slot, later ones only what changed; an unknown
 * node is a bad slot with BadNodeIdUnknown; a quiet subscription sends keep-alives; `close()`
 * stops the reports.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BAD, connect, GOOD, ValueColumns } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { OpcUaServer, SimulatedPlant } from '@bifrost/opcua';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-subinto-'));
let server: OpcUaServer | undefined;
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('writes notifications into their slots across chunked monitored items; reports changes only; keep-alives; close', async () => {
  const n = 1200;
  const plant = new SimulatedPlant({ bulkTags: n, bulkEvery: 10 }, 3);
  server = new OpcUaServer({
    provider: plant,
    host: '127.0.0.1',
    port: await freePort(),
    pkiDir: join(dir, 'server'),
    acceptUnknownCertificates: true,
    users: {},
    operationLimits: { maxMonitoredItemsPerCall: 500 },
  });
  await server.start();
  // Slot order differs from creation order of the nodes: the map must follow the slots.
  const addresses = Array.from({ length: n }, (_, k) => `ns=1;s=Bulk.Tag${n - 1 - k}`);
  addresses.splice(600, 0, 'ns=1;s=Bulk.NoSuchTag');
  await using plc = await connect(`opc.tcp://127.0.0.1:${server.port}`, { pkiDir: join(dir, 'client') });
  const cols = new ValueColumns(addresses.length);
  const reports: number[] = [];
  let keepAlives = 0;
  const expected = (slot: number) => plant.latest('Bulk', (addresses[slot] as string).slice('ns=1;s=Bulk.'.length))?.value;
  const allMatch = () => addresses.every((_, slot) => slot === 600 || (cols.quality[slot] === GOOD && cols.value(slot) === expected(slot)));
  const sub = plc.subscribeInto?.(addresses, cols, { intervalMs: 100, keepAliveMs: 200 }, { data: (count) => reports.push(count), alive: () => keepAlives++ });
  expect(sub).toBeDefined();
  await waitFor(() => reports.length > 0, 20_000);
  expect(reports[0]).toBe(addresses.length);
  expect(allMatch()).toBe(true);
  expect(cols.quality[600]).toBe(BAD);
  expect(cols.errorAt(600)?.statusName).toBe('BadNodeIdUnknown');
  // One step changes every tenth variable: 120 values, each in its own slot.
  plant.step();
  await waitFor(allMatch, 5000);
  expect(reports.slice(1).reduce((a, b) => a + b, 0)).toBe(n / 10);
  // Nothing changes: the server says it is alive.
  await waitFor(() => keepAlives >= 2, 5000);
  await sub?.close();
  const seen = reports.length;
  plant.step();
  await new Promise((r) => setTimeout(r, 500));
  expect(reports.length).toBe(seen);
}, 60_000);
