import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Block, BlockLog } from '../src/block-log.js';

describe('BlockLog', () => {
  it('answers as an array of block objects would, while blocks are appended and whole segments leave (property)', () => {
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('push' as const), count: fc.integer({ min: 1, max: 50 }), seg: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), segment: fc.nat(3) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const log = new BlockLog<string>();
        const model: Block<string>[] = [];
        let seq = 0;
        let segment = 0;
        let offset = 0;
        let version = log.version;
        for (const o of ops) {
          if (o.kind === 'push') {
            if (o.seg) {
              segment++;
              offset = 0;
            }
            const b = { segment: `s${segment}`, offset, length: 30 + o.count, firstSeq: seq, count: o.count, appendedAt: 1000 + seq };
            log.push(b.segment, b.offset, b.length, b.firstSeq, b.count, b.appendedAt);
            model.push(b);
            seq += o.count;
            offset += b.length;
          } else {
            // A whole segment leaves, the oldest or (rarely in the queue) another.
            const names = [...new Set(model.map((b) => b.segment))];
            const name = names[o.segment % Math.max(1, names.length)];
            const from = model.findIndex((b) => b.segment === name);
            if (from < 0) continue;
            const n = model.filter((b) => b.segment === name).length;
            log.remove(from, n);
            model.splice(from, n);
            expect(log.version).not.toBe(version);
            version = log.version;
          }
          expect(log.length).toBe(model.length);
        }
        expect(Array.from({ length: log.length }, (_, i) => log.get(i))).toEqual(model);
        for (let i = 0; i < model.length; i++) {
          const b = model[i] as Block<string>;
          expect([log.segment(i), log.offset(i), log.blockLength(i), log.firstSeq(i), log.count(i), log.endSeq(i), log.appendedAt(i)]).toEqual([
            b.segment,
            b.offset,
            b.length,
            b.firstSeq,
            b.count,
            b.firstSeq + b.count,
            b.appendedAt,
          ]);
        }
        for (let s = 0; s <= seq; s += 7) {
          const want = model.findIndex((b) => b.firstSeq + b.count > s);
          expect(log.indexOf(s)).toBe(want < 0 ? model.length : want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps every block in place while blocks leave from the front as fast as they come (the window shifts down)', () => {
    const log = new BlockLog<number>();
    for (let i = 0; i < 100_000; i++) {
      log.push(0, i * 100, 100, i * 10, 10, i);
      if (log.length > 1000) log.remove(0, 500);
    }
    expect(log.length).toBeLessThanOrEqual(1000);
    expect(log.firstSeq(log.length - 1)).toBe(999_990);
    expect(log.indexOf(999_995)).toBe(log.length - 1);
  });
});
