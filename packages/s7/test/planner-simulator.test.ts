import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@bifrost/core';
import { ACK_HEADER_SIZE, DATA_ITEM_HEADER_SIZE, JOB_HEADER_SIZE, parseS7Address, planReads, type S7Address, startSimulator, VAR_SPEC_SIZE } from '@bifrost/s7';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const addressArb = fc
  .tuple(fc.constantFrom('DB1', 'DB2', 'M', 'I'), fc.integer({ min: 0, max: 4000 }), fc.constantFrom('X', 'B', 'W', 'D:REAL', 'B:LREAL', 'B:STRING[30]', 'B:BYTE[300]'), fc.integer({ min: 0, max: 7 }))
  .map(([area, off, kind, bit]): S7Address => {
    const prefix = area.startsWith('DB') ? `${area}.DB` : area;
    const [w, type] = kind.split(':');
    return parseS7Address(w === 'X' ? `${prefix}X${off}.${bit}` : `${prefix}${w}${off}${type ? `:${type}` : ''}`);
  });

describe('read planner', () => {
  it('fits every job and its answer in the PDU, within the item limit, and covers every variable', () => {
    fc.assert(
      fc.property(
        fc.array(addressArb, { minLength: 1, maxLength: 120 }),
        fc.constantFrom(240, 480, 960),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom<number | 'auto'>(-1, 0, 16, 200, 'auto'),
        (addrs, pduLength, maxItems, maxGap) => {
          const plan = planReads(addrs, { pduLength, maxItems, maxGap });
          for (const job of plan.jobs) {
            expect(job.length).toBeGreaterThan(0);
            expect(job.length).toBeLessThanOrEqual(maxItems);
            expect(JOB_HEADER_SIZE + 2 + VAR_SPEC_SIZE * job.length).toBeLessThanOrEqual(pduLength);
            const answer = ACK_HEADER_SIZE + 2 + job.reduce((n, p, i) => n + DATA_ITEM_HEADER_SIZE + p.length + (i < job.length - 1 ? p.length & 1 : 0), 0);
            expect(answer).toBeLessThanOrEqual(pduLength);
          }
          const covered = new Map<number, number>();
          for (const [bi, b] of plan.blocks.entries()) {
            // The pieces of a block tile it exactly.
            const pieces = plan.jobs
              .flat()
              .filter((p) => p.block === bi)
              .sort((x, y) => x.offset - y.offset);
            let at = 0;
            for (const p of pieces) {
              expect(p.offset).toBe(at);
              expect(p.spec.byteOffset).toBe(b.start + p.offset);
              at += p.length;
            }
            expect(at).toBe(b.length);
            for (const t of b.tags) {
              const a = addrs[t] as S7Address;
              covered.set(t, (covered.get(t) ?? 0) + 1);
              expect(a.areaCode).toBe(b.areaCode);
              expect(a.dbNumber).toBe(b.dbNumber);
              expect(a.byteOffset).toBeGreaterThanOrEqual(b.start);
              expect(a.byteOffset + a.byteLength).toBeLessThanOrEqual(b.start + b.length);
            }
          }
          expect([...covered.keys()].sort((x, y) => x - y)).toEqual(addrs.map((_, i) => i));
          expect([...covered.values()].every((n) => n === 1)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('merges neighbours into one item and keeps far-apart variables apart', () => {
    const plan = planReads(['DB1.DBW0', 'DB1.DBW2', 'DB1.DBD4:REAL', 'DB1.DBW1000', 'M0.0'].map(parseS7Address), { pduLength: 480, maxItems: 20, maxGap: 16 });
    expect(plan.blocks.map((b) => [b.areaCode, b.dbNumber, b.start, b.length])).toEqual([
      [0x83, 0, 0, 1],
      [0x84, 1, 0, 8],
      [0x84, 1, 1000, 2],
    ]);
    expect(plan.jobs.length).toBe(1);
  });
});

describe('simulator configuration', () => {
  it('loads DBs, areas, values and signals from YAML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's7-sim-'));
    try {
      const file = join(dir, 'plant.yaml');
      await writeFile(
        file,
        [
          'pduLength: 960',
          'identity: { orderCode: 6ES7 214-1AG40-0XB0, moduleTypeName: CPU 1214C DC/DC/DC }',
          'areas: { M: 16, I: 8, Q: 8 }',
          'dbs: { 5: 32 }',
          'tags:',
          '  - { address: DB5.DBD0:REAL, value: 21.5 }',
          "  - { address: 'DB5.DBB4:STRING[8]', value: LINE-1 }",
          '  - { address: DB5.DBD14:DINT, signal: counter, step: 10 }',
          '  - { address: Q0.3, value: true }',
        ].join('\n'),
      );
      await using sim = await startSimulator({ port: 0, config: file });
      expect(sim.describe()).toContain('DB5 32 B');
      await using plc = await connect(sim.url);
      const [temp, name, count, q] = await plc.readMany(['DB5.DBD0:REAL', 'DB5.DBB4:STRING[8]', 'DB5.DBD14:DINT', 'Q0.3']);
      expect(temp?.value).toBe(21.5);
      expect(name?.value).toBe('LINE-1');
      expect(count?.value as number).toBeGreaterThanOrEqual(10);
      expect((count?.value as number) % 10).toBe(0);
      expect(q?.value).toBe(true);
      expect(await plc.identify()).toMatchObject({ orderCode: '6ES7 214-1AG40-0XB0', product: 'CPU 1214C DC/DC/DC', pduLength: 960 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the culprit of a bad config', async () => {
    await expect(startSimulator({ port: 0, config: { dbs: { 1: 8 }, tags: [{ address: 'DB1.DBD6:REAL', value: 1 }] } })).rejects.toMatchObject({
      code: 'BIFROST_CONFIG_INVALID',
      message: expect.stringContaining('tags[0].address DB1.DBD6:REAL lies outside'),
    });
    await expect(startSimulator({ port: 0, config: { tags: [{ address: 'DB3.DBW0' }] } })).rejects.toMatchObject({ message: expect.stringContaining('DB3 is not declared') });
    await expect(startSimulator({ port: 0, config: { dbs: { 1: 8 }, tags: [{ address: 'DB1.DBW0:INT', value: 'many' }] } })).rejects.toMatchObject({
      code: 'BIFROST_CONFIG_INVALID',
      message: expect.stringContaining('tags[0].value'),
    });
    await expect(startSimulator({ port: 0, config: '/nonexistent/plant.yaml' })).rejects.toMatchObject({ code: 'BIFROST_CONFIG_NOT_FOUND' });
  });

  it('refuses a field it does not know instead of simulating something else (points, updateMs were ignored: nothing changed)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's7-sim-keys-'));
    try {
      const file = join(dir, 'plant.yaml');
      await writeFile(file, 'updateMs: 1000\ndbs: { 1: 20 }\ntags:\n  - { address: "DB1.DBW0:INT", signal: counter }\n');
      await expect(startSimulator({ port: 0, config: file })).rejects.toMatchObject({
        code: 'BIFROST_CONFIG_INVALID',
        message: expect.stringMatching(/plant\.yaml: unknown field updateMs; known: .*tickMs/),
      });
      await expect(startSimulator({ port: 0, config: { dbs: { 1: 20 }, points: [] } as never })).rejects.toMatchObject({ message: expect.stringContaining('unknown field points') });
      await expect(startSimulator({ port: 0, config: { dbs: { 1: 20 }, tags: [{ address: 'DB1.DBW0:INT', singal: 'counter' }] } as never })).rejects.toMatchObject({
        message: expect.stringContaining('unknown field tags[0].singal (did you mean tags[0].signal?)'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves the default plant with changing signals', async () => {
    await using sim = await startSimulator({ port: 0 });
    await using plc = await connect(sim.url);
    const first = await plc.read('DB1.DBD8:DINT');
    await new Promise((r) => setTimeout(r, 350));
    const later = await plc.read('DB1.DBD8:DINT');
    expect(later.value as number).toBeGreaterThan(first.value as number);
    const values = await plc.readMany(['DB1.DBD0:REAL', 'DB1.DBD12:REAL', 'DB1.DBB20:STRING[20]', 'DB1.DBB50:DATE_AND_TIME', 'MW10', 'IW2:INT', 'Q0.0']);
    expect(values.every((v) => v.quality === 'good')).toBe(true);
    expect(values[0]?.value as number).toBeGreaterThanOrEqual(55);
    expect(values[0]?.value as number).toBeLessThanOrEqual(65);
    expect(values[1]?.value).toBe(60);
    expect(values[2]?.value).toBe('BATCH-0001');
    expect(values[3]?.value).toBeInstanceOf(Date);
  });
});
