/**
 * @module
 * The full-screen dashboard (`bifrost monitor --dashboard`) driven in tmux against the Modbus
 * simulator: values change, the filter and pause keys work, q quits, and a narrow terminal
 * (and a resize) still renders.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimProcess, startSimulatorProcess, Tmux } from './helpers.js';

const CONFIG = join(import.meta.dirname, 'fixtures-sim.yaml');
let sim: SimProcess;
let gateway: string;

beforeAll(async () => {
  sim = await startSimulatorProcess('modbus', await freePort(), ['--config', CONFIG]);
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-dash-'));
  gateway = join(dir, 'gateway.yaml');
  writeFileSync(
    gateway,
    `devices:
  - name: press1
    url: ${sim.url}
    tags:
      - { name: temperature, address: 'HR0:FLOAT32', unit: degC, min: 0, max: 100 }
      - { name: hot, address: 'HR0:FLOAT32', unit: degC, min: 0, max: 20 }
      - { name: counter, address: IR0 }
      - { name: wave, address: 'HR4:FLOAT32', unit: '%' }
      - { name: missing, address: HR900 }
`,
  );
});

afterAll(async () => {
  await sim.stop();
});

const value = (screen: string, tag: string): number => Number(new RegExp(`${tag}\\s+(-?[\\d.]+)`).exec(screen)?.[1]);

describe('bifrost monitor --dashboard', () => {
  it('shows device health, changing values with sparklines, alarms; filters, pauses and quits', async () => {
    const t = new Tmux('bifrost-dash');
    try {
      t.start(Tmux.bifrost(`monitor ${gateway} --dashboard --interval 100ms`), 120, 40);
      const first = await t.waitFor(/counter\s+\d+/);
      expect(first).toContain('bifrost monitor');
      expect(first).toMatch(/Devices[\s\S]*press1\s+(connected|degraded)/);
      expect(first).toMatch(/TAG\s+VALUE\s+UNIT\s+QUALITY\s+AGE\s+TREND/);
      expect(first).toMatch(/temperature\s+21\.5\s+degC\s+good/);
      expect(first).toMatch(/missing\s+—\s+bad/);
      // The values change from poll to poll, and the trend fills in.
      const before = value(first, 'counter');
      const later = await t.waitFor((s) => value(s, 'counter') > before && /counter\s+\d+\s+good\s+\S+\s+[▁▂▃▄▅▆▇█]{3,}/.test(s));
      expect(later).toMatch(/Alarms[\s\S]*hot = 21\.5 outside 0…20/);
      expect(later).toMatch(/Alarms[\s\S]*missing bad: BIFROST_MODBUS_ILLEGAL_ADDRESS/);

      // "/" filter: only matching tags remain.
      t.send('/', true);
      t.send('count', true);
      t.send('Enter');
      const filtered = await t.waitFor(/filter \[count\]/);
      expect(filtered).toMatch(/counter\s+\d+/);
      expect(filtered).not.toMatch(/temperature\s+21\.5/);
      expect(filtered).not.toMatch(/wave\s+/);

      // "p" pauses: the counter stops moving; "p" again resumes.
      t.send('p', true);
      const paused = await t.waitFor(/PAUSED/);
      const frozen = value(paused, 'counter');
      await new Promise((r) => setTimeout(r, 500));
      expect(value(t.capture(), 'counter')).toBe(frozen);
      t.send('p', true);
      await t.waitFor((s) => !s.includes('PAUSED') && value(s, 'counter') > frozen);

      // Escape clears the filter; ↓ moves the selection marker (visible without color too).
      t.send('Escape');
      const cleared = await t.waitFor(/temperature\s+21\.5/);
      expect(cleared).toMatch(/^ ›temperature /m);
      t.send('Down');
      await t.waitFor(/^ ›hot /m);

      t.send('q', true);
      await t.waitFor(/\[exit 0\]/);
    } finally {
      t.kill();
    }
  });

  it('renders in a narrow terminal and re-lays out when the terminal grows', async () => {
    const t = new Tmux('bifrost-dash-narrow');
    try {
      t.start(Tmux.bifrost(`monitor ${gateway} --dashboard --interval 100ms`), 50, 24);
      const narrow = await t.waitFor(/counter\s+\d+/);
      for (const line of narrow.split('\n')) expect([...line].length).toBeLessThanOrEqual(50);
      expect(narrow).toMatch(/temperature\s+21\.5/);
      expect(narrow).not.toContain('TREND');
      t.resize(120, 30);
      const wide = await t.waitFor(/TREND/);
      expect(wide).toMatch(/temperature\s+21\.5\s+degC\s+good/);
      t.send('q', true);
      await t.waitFor(/\[exit 0\]/);
    } finally {
      t.kill();
    }
  });
});
