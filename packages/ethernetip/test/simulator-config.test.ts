import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startEipSimulator } from '@bifrost/ethernetip';
import { describe, expect, it } from 'vitest';

const YAML = `
identity: { productName: 1769-L33ER/A, revision: "33.11", serialNumber: 4660 }
slot: 2
udts:
  Valve: [ { name: Open, type: BOOL }, { name: Closed, type: BOOL }, { name: Position, type: REAL }, { name: Counts, type: INT, length: 4 } ]
  Line: [ { name: Speed, type: LREAL }, { name: Inlet, type: Valve } ]
tags:
  - { name: Speed, type: REAL, value: 1.5 }
  - { name: Levels, type: INT, dims: [20], value: [1, 2, 3] }
  - { name: Line1, type: Line, value: { Speed: 2.5, Inlet: { Open: true, Position: 42, Counts: [1, 2, 3, 4] } } }
  - { name: Ramp, type: DINT }
programs:
  Filler: [ { name: Step, type: DINT, value: 7 } ]
signals:
  - { tag: Ramp, kind: ramp, amplitude: 1000, periodS: 1 }
`;

describe('simulator from a YAML config', () => {
  it('serves the configured identity, slot, nested UDTs, arrays and programs, and browse shows them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-eip-'));
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, YAML);
    const port = await freePort();
    await using sim = await startEipSimulator({ port, config: file });
    expect(sim.url).toBe(`eip://127.0.0.1:${port}?path=1,2`);
    expect(sim.describe()).toContain('1769-L33ER/A');
    await using plc = await connect(sim.url);
    expect(await plc.identify()).toMatchObject({ product: '1769-L33ER/A', firmware: '33.11', serial: '00001234', vendor: 'Rockwell Automation/Allen-Bradley' });
    const r = await plc.readMany(['Speed', 'Levels{3}', 'Line1.Speed', 'Line1.Inlet.Open', 'Line1.Inlet.Closed', 'Line1.Inlet.Position', 'Line1.Inlet.Counts[3]', 'Program:Filler.Step']);
    expect(r.map((v) => v.value)).toEqual([1.5, [1, 2, 3], 2.5, true, false, 42, 4, 7]);
    await plc.write('Line1.Inlet.Closed', true);
    await plc.write('Line1.Inlet.Counts[0]', -9);
    expect((await plc.readMany(['Line1.Inlet.Closed', 'Line1.Inlet.Open', 'Line1.Inlet.Counts[0]'])).map((v) => v.value)).toEqual([true, true, -9]);
    const tree = await plc.browse?.('/');
    const line = tree?.find((n) => n.name === 'Line1');
    expect(line).toMatchObject({ kind: 'struct', type: 'Line' });
    expect(line?.children?.map((c) => [c.name, c.type])).toEqual([
      ['Speed', 'LREAL'],
      ['Inlet', 'Valve'],
    ]);
    expect(line?.children?.[1]?.children?.map((c) => [c.address, c.type, c.dimensions])).toEqual([
      ['Line1.Inlet.Open', 'BOOL', undefined],
      ['Line1.Inlet.Closed', 'BOOL', undefined],
      ['Line1.Inlet.Position', 'REAL', undefined],
      ['Line1.Inlet.Counts', 'INT', [4]],
    ]);
    expect(tree?.find((n) => n.name === 'Levels')).toMatchObject({ type: 'INT', dimensions: [20] });
    const filler = await plc.browse?.('Program:Filler');
    expect(filler?.map((n) => n.address)).toEqual(['Program:Filler.Step']);
    await using bySlot = await connect(`eip://127.0.0.1:${port}?slot=2`);
    expect((await bySlot.read('Speed')).value).toBe(1.5);
    // path=1,0 is an empty slot in this rack.
    const wrong = await connect(`eip://127.0.0.1:${port}?path=1,0`).catch((e: unknown) => e);
    expect((wrong as BifrostError).code).toBe('BIFROST_EIP_ROUTE_FAILED');
  });

  it('a bad config names the problem', async () => {
    const bad = async (config: Record<string, unknown>) => {
      const e = await startEipSimulator({ port: 0, config }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BifrostError);
      return e as BifrostError;
    };
    expect((await bad({ tags: [{ name: 'A', type: 'NOPE' }] })).message).toContain('NOPE');
    expect((await bad({ tags: [{ name: 'A' }] })).code).toBe('BIFROST_CONFIG_INVALID');
    expect((await bad({ tags: [{ name: 'A', type: 'DINT' }], signals: [{ tag: 'B', kind: 'sine' }] })).message).toContain('B');
    expect((await bad({ tags: [{ name: 'A', type: 'SINT', value: 1000 }] })).message).toContain('A');
    const missing = await startEipSimulator({ port: 0, config: '/nonexistent/plant.yaml' }).catch((x: unknown) => x);
    expect((missing as BifrostError).code).toBe('BIFROST_CONFIG_NOT_FOUND');
  });
});
