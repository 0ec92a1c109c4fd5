import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableQueue } from '@bifrost/cloud';
import { afterAll, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'bifrost-torn-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Issue 23 item 5: a torn tail lost records but was counted only in `tornTails` (events), so
// appended ≠ delivered + depth + dropped + rejected + lost.
it('a torn tail counts its records in tornLost and lost, so the metrics add up', async () => {
  const dir = join(root, 'q');
  const q = await DurableQueue.open({ dir, compression: 'none' });
  await q.append([1, 2, 3].map((i) => ({ i })));
  await q.append([4, 5, 6, 7].map((i) => ({ i })));
  await q.close();
  const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
  truncateSync(seg, statSync(seg).size - 5);
  const q2 = await DurableQueue.open({ dir, compression: 'none' });
  const m = q2.metrics();
  expect(m.tornTails).toBe(1);
  expect(m.tornLost).toBe(4);
  expect(m.lost).toBe(4);
  // 7 appended by the first process = 3 recovered + 4 lost.
  expect(m.recovered + m.lost).toBe(7);
  await q2.close();
});
