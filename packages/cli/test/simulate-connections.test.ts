/**
 * `bifrost simulate --idle-timeout / --max-connections` (issue 22, item 8), on the real binary: an
 * idle connection is closed after the given time, and a bad value is a usage error.
 */
import { connect as netConnect } from 'node:net';
import { freePort } from '@bifrost/core/test-fixtures';
import { describe, expect, it } from 'vitest';
import { runCli, startSimulatorProcess } from './helpers.js';

describe('bifrost simulate connection limits', () => {
  it.each(['modbus', 's7', 'eip'])('%s: --idle-timeout closes a connection that sends nothing', async (protocol) => {
    const sim = await startSimulatorProcess(protocol, await freePort(), ['--idle-timeout', '300', '--max-connections', '4']);
    try {
      const t0 = Date.now();
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const s = netConnect({ host: '127.0.0.1', port: sim.port });
        s.on('error', () => {});
        s.resume();
        s.on('close', () => resolve(Date.now() - t0));
        setTimeout(() => reject(new Error('still open after 5 s')), 5000).unref();
      });
      expect(closedAfter).toBeGreaterThanOrEqual(250);
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  });

  it('refuses a negative --idle-timeout and a zero --max-connections as usage', async () => {
    const a = await runCli(['simulate', 'modbus', '--port', '0', '--idle-timeout', '-5']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--idle-timeout');
    const b = await runCli(['simulate', 'modbus', '--port', '0', '--max-connections', '0']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--max-connections');
  });
});
