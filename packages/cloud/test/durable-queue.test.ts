import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_HEADER_BYTES, crc32c, DurableQueue, decodeRecords, encodeBlockHeader, encodeRecords, parseBlockAt } from '@bifrost/cloud';
import { type BifrostError, isBifrostError } from '@bifrost/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-queue-'));
let n = 0;
const freshDir = () => join(root, `q${n++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Bit-at-a-time CRC-32C, written straight from the polynomial, to check the table version. */
function crcReference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const rec = (i: number, tag = 't') => ({ device: 'press1', tag, value: i * 0.5, quality: 'good', timestamp: 1_700_000_000_000 + i, seq: i });

describe('crc32c', () => {
  // RFC 3720 §B.4 test vectors and the common "123456789" check value.
  it.each([
    ['123456789', Buffer.from('123456789'), 0xe3069283],
    ['32 zero bytes', Buffer.alloc(32, 0), 0x8a9136aa],
    ['32 0xff bytes', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['0..31 ascending', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    ['31..0 descending', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
  ])('%s', (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  it('matches the bitwise reference and chains across splits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        const at = bytes.length === 0 ? 0 : cut % bytes.length;
        expect(crc32c(bytes)).toBe(crcReference(bytes));
        expect(crc32c(bytes, crc32c(bytes, 0, 0, at), at)).toBe(crcReference(bytes));
      }),
    );
  });
});

describe('block codec', () => {
  it('encodes a block byte for byte as the layout documents', () => {
    const data = Buffer.from('{"a":1}');
    const raw = encodeRecords([data]);
    // u32 length 7, u32 CRC-32C of the data, data
    expect(raw.toString('hex')).toBe(`00000007${crcReference(data).toString(16).padStart(8, '0')}${data.toString('hex')}`);
    const head = encodeBlockHeader({ storedLength: raw.length, rawLength: raw.length, count: 1, firstSeq: 0x1_0000_0005, appendedAt: 1000, codec: 'none' }, raw);
    const fields = '42465131' + '0000000f' + '0000000f' + '00000001' + '0000000100000005' + '00000000000003e8' + '00' + '000000';
    const crc = crcReference(Buffer.concat([Buffer.from(fields.slice(8), 'hex'), raw]));
    expect(head.toString('hex')).toBe(fields + crc.toString(16).padStart(8, '0'));
    const scan = parseBlockAt(Buffer.concat([head, raw]), 0, 1 << 20);
    expect(scan).toEqual({ kind: 'ok', header: { storedLength: 15, rawLength: 15, count: 1, firstSeq: 0x1_0000_0005, appendedAt: 1000, codec: 'none' }, payloadStart: BLOCK_HEADER_BYTES, end: 55 });
  });

  it('round-trips any records', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (records) => {
        const { records: back, corrupt } = decodeRecords(encodeRecords(records), records.length);
        expect(corrupt).toBe(0);
        expect(back.map((b) => [...b])).toEqual(records.map((b) => [...b]));
      }),
    );
  });

  it('never throws on random, truncated or flipped bytes', () => {
    const good = (() => {
      const raw = encodeRecords([Buffer.from('hello'), Buffer.from('world')]);
      return Buffer.concat([encodeBlockHeader({ storedLength: raw.length, rawLength: raw.length, count: 2, firstSeq: 1, appendedAt: 2, codec: 'none' }, raw), raw]);
    })();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(255), (random, at, x) => {
        const cut = good.subarray(0, at % (good.length + 1));
        const flipped = Buffer.from(good);
        const i = at % flipped.length;
        flipped[i] = (flipped[i] as number) ^ (x | 1);
        for (const b of [Buffer.from(random), cut, flipped]) {
          const r = parseBlockAt(b, 0, 1 << 20);
          expect(['ok', 'bad', 'short']).toContain(r.kind);
          decodeRecords(b, 3);
        }
        // A single flipped bit anywhere is always caught.
        expect(parseBlockAt(flipped, 0, 1 << 20).kind).not.toBe('ok');
      }),
    );
  });
});

describe('DurableQueue', () => {
  it('appends, reads in order, acks, and redelivers only unacknowledged records after reopening', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open<ReturnType<typeof rec>>({ dir });
    const r1 = await q.append(rec(0));
    const r2 = await q.append([rec(1), rec(2), rec(3)]);
    expect(r1).toEqual({ firstSeq: 0, count: 1 });
    expect(r2).toEqual({ firstSeq: 1, count: 3 });
    const b = await q.read(2);
    expect(b.records.map((r) => r.record)).toEqual([rec(0), rec(1)]);
    expect(b.records.map((r) => r.seq)).toEqual([0, 1]);
    await q.ack(b.cursor);
    const more = await q.read(10);
    expect(more.records.map((r) => r.seq)).toEqual([2, 3]);
    expect(q.metrics()).toMatchObject({ depth: 2, appended: 4, nextSeq: 4, ackedSeq: 2 });
    await q.close();
    await q.close();
    await expect(q.append(rec(9))).rejects.toMatchObject({ code: 'BIFROST_CLOSED' });

    const q2 = await DurableQueue.open<ReturnType<typeof rec>>({ dir });
    const again = await q2.read(10);
    expect(again.records.map((r) => r.record)).toEqual([rec(2), rec(3)]);
    await q2.append(rec(4));
    expect((await q2.read(10)).records.map((r) => r.seq)).toEqual([4]);
    q2.rewind();
    expect((await q2.peek(10)).records.map((r) => r.seq)).toEqual([2, 3, 4]);
    await q2.close();
  });

  it.each(['none', 'deflate', 'brotli'] as const)('stores and reads back with compression %s', async (compression) => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir, compression, fsync: { everyMs: 20 } });
    const recs = Array.from({ length: 500 }, (_, i) => rec(i, `tag${i % 7}`));
    await q.append(recs);
    await q.close();
    const q2 = await DurableQueue.open({ dir, compression });
    expect((await q2.read(1000)).records.map((r) => r.record)).toEqual(recs);
    await q2.close();
  });

  it('group-commits concurrent appends into one block with consecutive sequence numbers', async () => {
    const q = await DurableQueue.open({ dir: freshDir() });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => q.append([rec(2 * i), rec(2 * i + 1)])));
    expect(results.map((r) => r.firstSeq)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i));
    expect((await q.read(1000)).records.map((r) => r.record.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await q.close();
  });

  it('truncates a torn tail at open and counts it', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir, compression: 'none' });
    await q.append([rec(0), rec(1)]);
    await q.append([rec(2)]);
    await q.close();
    const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
    const whole = readFileSync(seg);
    const full = statSync(seg).size;
    // Half of a third block: what a crash in the middle of write(2) leaves.
    const raw = encodeRecords([Buffer.from(JSON.stringify(rec(3)))]);
    const torn = Buffer.concat([encodeBlockHeader({ storedLength: raw.length, rawLength: raw.length, count: 1, firstSeq: 3, appendedAt: 1, codec: 'none' }, raw), raw]).subarray(0, 30);
    appendFileSync(seg, torn);
    const warnings: BifrostError[] = [];
    const q2 = await DurableQueue.open({ dir, compression: 'none', onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.code)).toEqual(['BIFROST_CLOUD_TORN_TAIL']);
    expect(statSync(seg).size).toBe(full);
    expect(readFileSync(seg).equals(whole)).toBe(true);
    expect(q2.metrics()).toMatchObject({ tornTails: 1, nextSeq: 3, depth: 3 });
    await q2.append(rec(3));
    expect((await q2.read(10)).records.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    await q2.close();
  });

  it('skips a corrupt block in the middle, counts its records, and keeps the rest', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir });
    await q.append([rec(0), rec(1)]);
    const { firstSeq } = await q.append([rec(2), rec(3), rec(4)]);
    await q.append([rec(5)]);
    await q.close();
    expect(firstSeq).toBe(2);
    const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
    const bytes = readFileSync(seg);
    const first = parseBlockAt(bytes, 0, 1 << 20);
    if (first.kind !== 'ok') throw new Error('first block should parse');
    bytes[first.end + BLOCK_HEADER_BYTES + 2] ^= 0x40; // inside the second block's payload
    writeFileSync(seg, bytes);
    const warnings: BifrostError[] = [];
    const q2 = await DurableQueue.open<ReturnType<typeof rec>>({ dir, onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.code)).toEqual(['BIFROST_CLOUD_CORRUPT_RECORD']);
    expect(warnings[0]?.message).toMatch(/CRC-32C mismatch.*skipped 3 record/);
    expect(q2.metrics()).toMatchObject({ corruptSkipped: 3, depth: 3 });
    expect((await q2.read(10)).records.map((r) => r.record.seq)).toEqual([0, 1, 5]);
    await q2.close();
  });

  it('skips a single corrupt record inside an uncompressed block', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir, compression: 'none' });
    await q.append([rec(0), rec(1), rec(2)]);
    await q.close();
    const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
    const bytes = readFileSync(seg);
    // Corrupt the record and fix the block CRC, as a bit flip before checksumming would.
    const r1 = BLOCK_HEADER_BYTES + 8 + JSON.stringify(rec(0)).length + 8 + 3;
    bytes[r1] ^= 0x01;
    const stored = bytes.subarray(BLOCK_HEADER_BYTES);
    encodeBlockHeader({ storedLength: stored.length, rawLength: stored.length, count: 3, firstSeq: 0, appendedAt: 5, codec: 'none' }, stored).copy(bytes, 0);
    writeFileSync(seg, bytes);
    const warnings: BifrostError[] = [];
    const q2 = await DurableQueue.open<ReturnType<typeof rec>>({ dir, compression: 'none', onWarning: (w) => warnings.push(w) });
    expect((await q2.read(10)).records.map((r) => r.record.seq)).toEqual([0, 2]);
    expect(q2.metrics().corruptSkipped).toBe(1);
    expect(warnings.map((w) => w.code)).toEqual(['BIFROST_CLOUD_CORRUPT_RECORD']);
    await q2.close();
  });

  it('resets a cursor that points past the end, and one that is garbage, to the oldest record', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir });
    await q.append([rec(0), rec(1), rec(2)]);
    await q.close();
    const cursor = Buffer.alloc(12);
    cursor.writeUInt32BE(0, 0);
    cursor.writeUInt32BE(1000, 4);
    cursor.writeUInt32BE(crc32c(cursor, 0, 0, 8), 8);
    writeFileSync(join(dir, 'cursor'), cursor);
    const warnings: BifrostError[] = [];
    const q2 = await DurableQueue.open({ dir, onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.code)).toEqual(['BIFROST_CLOUD_CURSOR_INVALID']);
    expect(warnings[0]?.message).toMatch(/points at record 1000, past the end of the queue \(3\)/);
    expect((await q2.read(10)).records).toHaveLength(3);
    await q2.close();
    writeFileSync(join(dir, 'cursor'), 'garbage!');
    const q3 = await DurableQueue.open({ dir, onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.code)).toEqual(['BIFROST_CLOUD_CURSOR_INVALID', 'BIFROST_CLOUD_CURSOR_INVALID']);
    expect(q3.metrics().depth).toBe(3);
    await expect(q3.ack(99)).rejects.toMatchObject({ code: 'BIFROST_INVALID_ARGUMENT' });
    await q3.close();
  });

  it('refuses an oversized record with a typed error and keeps the queue intact', async () => {
    const q = await DurableQueue.open({ dir: freshDir(), maxRecordBytes: 1024 });
    await q.append(rec(0));
    const err = await q.append([rec(1), { big: 'x'.repeat(2000) } as never]).catch((e: unknown) => e);
    expect(isBifrostError(err, 'BIFROST_CLOUD_RECORD_TOO_LARGE')).toBe(true);
    expect((err as BifrostError).message).toMatch(/record 1 is \d+ bytes, over maxRecordBytes 1024/);
    expect(q.metrics()).toMatchObject({ depth: 1, rejected: 2 });
    await q.close();
  });

  it('reject-new refuses appends at the disk budget and keeps what is queued', async () => {
    const q = await DurableQueue.open({ dir: freshDir(), maxBytes: 16 * 1024, policy: 'reject-new', compression: 'none' });
    let stored = 0;
    let err: unknown;
    for (let i = 0; i < 200 && !err; i++) {
      try {
        await q.append([rec(i), rec(i + 1000)]);
        stored += 2;
      } catch (e) {
        err = e;
      }
    }
    expect(isBifrostError(err, 'BIFROST_CLOUD_QUEUE_FULL')).toBe(true);
    expect(q.metrics()).toMatchObject({ depth: stored, rejected: 2, dropped: 0 });
    expect(q.metrics().bytes).toBeLessThanOrEqual(16 * 1024);
    // Acknowledging frees whole segments, after which appends succeed again.
    const all = await q.read(10_000);
    expect(all.records).toHaveLength(stored);
    await q.ack(all.cursor);
    await q.append(rec(5000));
    await q.close();
  });

  it('drop-oldest deletes the oldest segment at the budget and counts the dropped records', async () => {
    const dir = freshDir();
    const warnings: BifrostError[] = [];
    const q = await DurableQueue.open<ReturnType<typeof rec>>({ dir, maxBytes: 16 * 1024, policy: 'drop-oldest', compression: 'none', onWarning: (w) => warnings.push(w) });
    for (let i = 0; i < 400; i++) await q.append(rec(i));
    const m = q.metrics();
    expect(m.dropped).toBeGreaterThan(0);
    expect(m.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(m.depth + m.dropped).toBe(400);
    expect(warnings.some((w) => w.code === 'BIFROST_CLOUD_QUEUE_FULL')).toBe(true);
    const rest = await q.read(1000);
    // The newest records survive, in order, without gaps.
    expect(rest.records.map((r) => r.record.seq)).toEqual(Array.from({ length: m.depth }, (_, i) => 400 - m.depth + i));
    await q.close();
    const q2 = await DurableQueue.open({ dir, maxBytes: 16 * 1024 });
    expect(q2.metrics().depth).toBe(m.depth);
    await q2.close();
  });

  it('rolls segments and deletes the fully acknowledged ones', async () => {
    const dir = freshDir();
    const q = await DurableQueue.open({ dir, segmentBytes: 4096, compression: 'none' });
    for (let i = 0; i < 100; i++) await q.append(rec(i));
    const segs = readdirSync(dir).filter((f) => f.endsWith('.seg')).length;
    expect(segs).toBeGreaterThan(2);
    const b = await q.read(1000);
    await q.ack(b.cursor);
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg'))).toHaveLength(1);
    expect(q.metrics()).toMatchObject({ depth: 0, oldestAgeMs: 0, segments: 1 });
    await q.close();
    const q2 = await DurableQueue.open({ dir });
    expect(q2.nextSeq).toBe(100);
    expect((await q2.append(rec(100))).firstSeq).toBe(100);
    await q2.close();
  });

  it('reports depth, bytes and the age of the oldest unacknowledged record', async () => {
    const q = await DurableQueue.open({ dir: freshDir() });
    expect(q.metrics()).toMatchObject({ depth: 0, oldestAgeMs: 0 });
    await q.append([rec(0), rec(1)]);
    const m = q.metrics();
    expect(m.depth).toBe(2);
    expect(m.bytes).toBeGreaterThan(BLOCK_HEADER_BYTES);
    expect(m.oldestAgeMs).toBeGreaterThanOrEqual(0);
    await q.close();
  });

  it('keeps only unacknowledged records in memory, within cacheBytes, and reads the rest back from disk', async () => {
    // Acknowledged records leave the cache at once (the gateway used to hold 32 MB of them).
    const q = await DurableQueue.open<ReturnType<typeof rec>>({ dir: freshDir() });
    for (let i = 0; i < 10; i++) await q.append([rec(2 * i), rec(2 * i + 1)]);
    const full = q.metrics().cachedBytes;
    expect(full).toBeGreaterThan(20 * 96);
    const b = await q.read(7); // ends inside the fourth block: three blocks are fully acknowledged
    await q.ack(b.cursor);
    expect(q.metrics().cachedBytes).toBeCloseTo((full * 7) / 10, -1);
    const rest = await q.read(100);
    expect(rest.records.map((r) => r.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 7));
    await q.ack(rest.cursor);
    expect(q.metrics().cachedBytes).toBe(0);
    await q.close();

    // A small cache: the oldest unacknowledged blocks fall out of memory and come back from their segment.
    const small = await DurableQueue.open<ReturnType<typeof rec>>({ dir: freshDir(), cacheBytes: 4096 });
    for (let i = 0; i < 200; i++) await small.append(rec(i, `tag${i % 7}`));
    expect(small.metrics().cachedBytes).toBeGreaterThan(0);
    expect(small.metrics().cachedBytes).toBeLessThanOrEqual(4096);
    const all = await small.read(1000);
    expect(all.records.map((r) => r.record)).toEqual(Array.from({ length: 200 }, (_, i) => rec(i, `tag${i % 7}`)));
    await small.ack(all.cursor);
    expect(small.metrics()).toMatchObject({ depth: 0, cachedBytes: 0 });
    await small.close();
  });

  it('rejects bad options with typed errors', async () => {
    await expect(DurableQueue.open({ dir: freshDir(), policy: 'keep-all' as never })).rejects.toMatchObject({ code: 'BIFROST_INVALID_ARGUMENT' });
    await expect(DurableQueue.open({ dir: freshDir(), fsync: { everyMs: 0 } })).rejects.toMatchObject({ code: 'BIFROST_INVALID_ARGUMENT' });
    await expect(DurableQueue.open({ dir: freshDir(), maxBytes: 'lots' })).rejects.toMatchObject({ code: 'BIFROST_INVALID_ARGUMENT' });
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await expect(DurableQueue.open({ dir: join(file, 'sub') })).rejects.toMatchObject({ code: 'BIFROST_CLOUD_QUEUE_IO' });
  });

  it('random appends, acks and reopenings never lose or reorder an unacknowledged record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.record({ op: fc.constant('append' as const), k: fc.integer({ min: 1, max: 30 }) }), fc.record({ op: fc.constantFrom('ack' as const, 'reopen' as const), k: fc.nat(40) })),
          { maxLength: 25 },
        ),
        async (ops) => {
          const dir = freshDir();
          let q = await DurableQueue.open<number>({ dir, segmentBytes: 4096, fsync: { everyMs: 50 } });
          let next = 0;
          let acked = 0;
          for (const o of ops) {
            if (o.op === 'append') {
              await q.append(Array.from({ length: o.k }, (_, i) => next + i));
              next += o.k;
            } else if (o.op === 'ack') {
              q.rewind();
              const b = await q.read(o.k);
              await q.ack(b.cursor);
              acked = Math.min(next, acked + o.k);
            } else {
              await q.close();
              q = await DurableQueue.open<number>({ dir, segmentBytes: 4096 });
            }
          }
          q.rewind();
          const rest = await q.read(100_000);
          expect(rest.records.map((r) => r.record)).toEqual(Array.from({ length: next - acked }, (_, i) => acked + i));
          await q.close();
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('DurableQueue on a full disk', () => {
  it('reports BIFROST_CLOUD_DISK_FULL (ENOSPC), keeps what was queued, and leaves no torn block', async (ctx) => {
    // A 64 KiB tmpfs is a real file system that fills up; mounting needs root, so skip elsewhere.
    const mnt = join(root, 'tiny');
    const { mkdirSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch {
      ctx.skip();
    }
    try {
      const dir = join(mnt, 'q');
      const q = await DurableQueue.open<ReturnType<typeof rec>>({ dir, compression: 'none', maxBytes: '1GB' });
      let stored = 0;
      let err: unknown;
      for (let i = 0; i < 2000 && !err; i++) {
        try {
          await q.append(Array.from({ length: 10 }, (_, k) => rec(stored + k)));
          stored += 10;
        } catch (e) {
          err = e;
        }
      }
      expect(isBifrostError(err, 'BIFROST_CLOUD_DISK_FULL')).toBe(true);
      expect((err as BifrostError).status).toBe('ENOSPC');
      expect((err as BifrostError).message).toMatch(/cannot append 10 record\(s\) to .*\.seg: the disk is full \(ENOSPC\); queued data is kept/);
      expect(q.metrics()).toMatchObject({ depth: stored, rejected: 10 });
      await q.close();
      const warnings: BifrostError[] = [];
      const q2 = await DurableQueue.open<ReturnType<typeof rec>>({ dir, compression: 'none', onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([]);
      expect((await q2.read(100_000)).records.map((r) => r.record.seq)).toEqual(Array.from({ length: stored }, (_, i) => i));
      await q2.close();
    } finally {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    }
  });
});
