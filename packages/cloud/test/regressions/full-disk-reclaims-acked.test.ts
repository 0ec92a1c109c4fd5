import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableQueue } from '@bifrost/cloud';
import { isBifrostError } from '@bifrost/core';
import { afterAll, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-fullreclaim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Issue 23 item 2: on a full disk the queue only reclaimed acknowledged space when the active
// segment reached segmentBytes (which, with a default budget, was larger than the disk), so after
// the drain the disk stayed 100 % full and appends kept failing; and a cursor write failing with
// ENOSPC made `ack` throw (the sink dropped its session each time).
it('on a full disk, acknowledging frees the disk without a restart and ack never throws', async (ctx) => {
  const mnt = join(root, 'tiny');
  mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch {
    ctx.skip();
  }
  try {
    const q = await DurableQueue.open<{ i: number; pad: string }>({ dir: join(mnt, 'q'), compression: 'none' });
    // The segment size follows the file system (an eighth of it), not the 1 GiB default budget.
    expect(q.segmentBytes).toBeLessThanOrEqual(32 * 1024);
    let n = 0;
    let full: unknown;
    while (!full) {
      try {
        await q.append(Array.from({ length: 10 }, () => ({ i: n++, pad: 'x'.repeat(100) })));
      } catch (e) {
        full = e;
      }
    }
    expect(isBifrostError(full, 'BIFROST_CLOUD_DISK_FULL')).toBe(true);
    expect(q.metrics().diskFull).toBe(1);
    // Drain in small steps, as a sink does; no ack may throw even while the cursor cannot be written.
    for (;;) {
      const b = await q.read(50);
      if (b.records.length === 0) break;
      await q.ack(b.cursor);
    }
    const m = q.metrics();
    expect(m.depth).toBe(0);
    expect(m.bytes).toBeLessThan(16 * 1024);
    await q.append({ i: -1, pad: '' });
    expect(q.metrics().diskFull).toBe(0);
    await q.close();
  } finally {
    execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
  }
});
