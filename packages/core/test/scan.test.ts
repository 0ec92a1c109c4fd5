import { ScanScheduler, sleep } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

describe('ScanScheduler', () => {
  it('counts and skips an overrunning scan instead of piling it up', async () => {
    const s = new ScanScheduler();
    let running = 0;
    let maxRunning = 0;
    let overruns = 0;
    s.on('overrun', () => overruns++);
    s.add({
      name: 'slow',
      device: 'd1',
      periodMs: 20,
      scan: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(75);
        running--;
      },
    });
    s.start();
    await sleep(330);
    await s.stop();
    const st = s.stats('slow');
    expect(maxRunning).toBe(1);
    expect(st?.overruns).toBeGreaterThan(0);
    expect(overruns).toBeGreaterThan(0);
    // Every period is either a scan or an overrun: none is queued for later.
    expect((st?.scans ?? 0) + (st?.overruns ?? 0)).toBeGreaterThanOrEqual(10);
    expect(st?.scans).toBeLessThanOrEqual(6);
  });

  it('never overlaps two groups of the same device', async () => {
    const s = new ScanScheduler();
    let active = 0;
    let overlap = false;
    const scan = async () => {
      active++;
      if (active > 1) overlap = true;
      await sleep(8);
      active--;
    };
    s.add({ name: 'a', device: 'd1', periodMs: 10, scan });
    s.add({ name: 'b', device: 'd1', periodMs: 15, scan });
    s.start();
    await sleep(200);
    await s.stop();
    expect(overlap).toBe(false);
    expect(s.stats('a')?.scans).toBeGreaterThan(0);
    expect(s.stats('b')?.scans).toBeGreaterThan(0);
  });

  it('runs different devices independently: a stuck device does not stall another', async () => {
    const s = new ScanScheduler();
    s.add({ name: 'stuck', device: 'dead', periodMs: 10, scan: (signal) => new Promise((r) => signal.addEventListener('abort', () => r())) });
    let fast = 0;
    s.add({ name: 'ok', device: 'alive', periodMs: 10, scan: async () => void fast++ });
    s.start();
    await sleep(150);
    await s.stop();
    expect(fast).toBeGreaterThan(5);
    expect(s.stats('stuck')?.overruns).toBeGreaterThan(5);
  });

  it('counts scan errors and keeps scanning', async () => {
    const s = new ScanScheduler();
    const errors: unknown[] = [];
    s.on('scanError', (e) => errors.push(e.error));
    s.add({
      name: 'e',
      device: 'd',
      periodMs: 10,
      scan: async () => {
        throw new Error('boom');
      },
    });
    s.start();
    await sleep(100);
    await s.stop();
    expect(s.stats('e')?.errors).toBeGreaterThan(3);
    expect(errors.length).toBe(s.stats('e')?.errors);
  });

  it('refuses a period of zero', () => {
    expect(() => new ScanScheduler().add({ name: 'z', device: 'd', periodMs: 0, scan: async () => {} })).toThrow(expect.objectContaining({ code: 'BIFROST_INVALID_ARGUMENT' }));
  });
});
