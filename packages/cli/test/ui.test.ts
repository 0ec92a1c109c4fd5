/**
 * @module
 * The pure pieces of the CLI: palette and color rules, tables, value formatting, limit states,
 * sparklines, exit-code mapping, the error line, the progress line and command-line values.
 */
import { BifrostError } from '@bifrost/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCliValue } from '../src/commands/write.js';
import { EXIT, exitCodeFor } from '../src/exit-codes.js';
import { renderError } from '../src/render-error.js';
import { formatAge, formatValue, limitState, sparkline } from '../src/ui/format.js';
import { colorEnabled, createPalette, stripAnsi, visibleWidth } from '../src/ui/palette.js';
import { progressLine } from '../src/ui/progress.js';
import { renderTable, truncate } from '../src/ui/table.js';

const on = createPalette(true);
const off = createPalette(false);

describe('colorEnabled', () => {
  it.each([
    ['a terminal', {}, true, undefined, true],
    ['a pipe', {}, false, undefined, false],
    ['--no-color on a terminal', {}, true, false, false],
    ['NO_COLOR on a terminal', { NO_COLOR: '1' }, true, undefined, false],
    ['empty NO_COLOR is ignored (no-color.org)', { NO_COLOR: '' }, true, undefined, true],
    ['FORCE_COLOR on a pipe', { FORCE_COLOR: '1' }, false, undefined, true],
    ['FORCE_COLOR=0 on a pipe', { FORCE_COLOR: '0' }, false, undefined, false],
    ['NO_COLOR beats FORCE_COLOR', { NO_COLOR: '1', FORCE_COLOR: '1' }, false, undefined, false],
    ['--no-color beats FORCE_COLOR', { FORCE_COLOR: '1' }, false, false, false],
    ['TERM=dumb', { TERM: 'dumb' }, true, undefined, false],
  ] as const)('%s', (_name, env, isTTY, flag, expected) => {
    expect(colorEnabled({ env: { ...env }, isTTY, ...(flag === undefined ? {} : { flag }) })).toBe(expected);
  });
});

describe('palette', () => {
  it('gives each role its color: green, yellow, red, blue, purple', () => {
    expect(on.success('x')).toBe('\u001b[32mx\u001b[39m');
    expect(on.warning('x')).toBe('\u001b[33mx\u001b[39m');
    expect(on.error('x')).toBe('\u001b[31mx\u001b[39m');
    expect(on.info('x')).toBe('\u001b[34mx\u001b[39m');
    expect(on.special('x')).toBe('\u001b[35mx\u001b[39m');
    expect(stripAnsi(on.header('x'))).toBe('x');
  });

  it('with color off passes text through', () => {
    for (const k of ['success', 'warning', 'error', 'info', 'header', 'special', 'dim', 'bold'] as const) expect(off[k]('a b')).toBe('a b');
  });

  it('visibleWidth ignores escapes', () => {
    fc.assert(fc.property(fc.string(), (s) => visibleWidth(on.error(on.bold(s))) === [...stripAnsi(s)].length));
  });
});

describe('tables', () => {
  it('aligns columns, right-aligns numbers, header first', () => {
    const lines = renderTable(
      [{ header: 'TAG' }, { header: 'VALUE', align: 'right' }],
      [
        ['HR0', '1'],
        ['temperature', '21.5'],
      ],
      off,
    );
    expect(lines).toEqual(['TAG          VALUE', 'HR0              1', 'temperature   21.5']);
  });

  it('cuts cuttable columns with … to fit the width', () => {
    const lines = renderTable([{ header: 'TAG', minWidth: 4 }, { header: 'V' }], [['a-very-long-tag-name', '1']], off, 12);
    expect(lines[1]).toBe('a-very-l…  1');
    for (const l of lines) expect(visibleWidth(l)).toBeLessThanOrEqual(12);
  });

  it('truncate never exceeds the width and keeps short text', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 40 }), (s, w) => {
        const t = truncate(s, w);
        expect(visibleWidth(t)).toBeLessThanOrEqual(w);
        if ([...s].length <= w) expect(t).toBe(s);
      }),
    );
  });
});

describe('formatValue', () => {
  it.each([
    ['integer', 42, '42'],
    ['float to 6 decimals', 21.456789123, '21.456789'],
    ['float32 noise', 71.8943099975586, '71.89431'],
    ['bigint', 9007199254740993n, '9007199254740993'],
    ['bool', true, 'true'],
    ['bytes', new Uint8Array([0xde, 0xad]), 'dead'],
    ['date', new Date(0), '1970-01-01T00:00:00.000Z'],
    ['array', [1, 2.5], '[1, 2.5]'],
    ['null', null, '—'],
    ['NaN', Number.NaN, 'NaN'],
  ] as const)('%s', (_n, v, text) => {
    expect(formatValue(v as never)).toBe(text);
  });

  it.each([
    [5, '5ms'],
    [4200, '4.2s'],
    [180_000, '3m'],
    [7_200_000, '2h'],
  ])('formatAge(%d) = %s', (ms, text) => expect(formatAge(ms)).toBe(text));
});

describe('limitState', () => {
  const g = (value: number) => ({ quality: 'good' as const, value });
  it.each([
    ['inside', g(50), { min: 0, max: 100 }, 'normal'],
    ['near max (within 10 % of the span)', g(95), { min: 0, max: 100 }, 'near'],
    ['near min', g(5), { min: 0, max: 100 }, 'near'],
    ['above max', g(101), { min: 0, max: 100 }, 'alarm'],
    ['below min', g(-1), { min: 0, max: 100 }, 'alarm'],
    ['no limits', g(1e9), {}, 'normal'],
    ['only max', g(95), { max: 100 }, 'near'],
    ['bad quality', { quality: 'bad' as const, value: null }, { min: 0, max: 100 }, 'bad'],
    ['uncertain', { quality: 'uncertain' as const, value: 50 }, { min: 0, max: 100 }, 'near'],
    ['string', { quality: 'good' as const, value: 'run' }, { min: 0, max: 1 }, 'normal'],
  ] as const)('%s', (_n, t, limits, state) => {
    expect(limitState(t, limits)).toBe(state);
  });
});

describe('sparkline', () => {
  it('maps lowest to ▁ and highest to █, one glyph per value, last `width` values', () => {
    expect(sparkline([0, 7, 14], 10)).toBe('▁▅█');
    expect(sparkline([1, 2, 3, 0, 7], 2)).toBe('▁█');
    expect(sparkline([5, 5], 5)).toBe('▄▄');
    expect(sparkline([], 5)).toBe('');
  });
  it('is never longer than the width', () => {
    fc.assert(fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true })), fc.integer({ min: 1, max: 80 }), (xs, w) => [...sparkline(xs, w)].length <= Math.min(w, xs.length)));
  });
});

describe('exit codes', () => {
  it.each([
    ['BIFROST_CLI_USAGE', EXIT.USAGE],
    ['BIFROST_INVALID_ADDRESS', EXIT.USAGE],
    ['BIFROST_INVALID_URL', EXIT.USAGE],
    ['BIFROST_TIMEOUT', EXIT.DEVICE],
    ['BIFROST_CONNECTION_REFUSED', EXIT.DEVICE],
    ['BIFROST_CONFIG_INVALID', EXIT.ERROR],
    ['BIFROST_WRITE_NOT_ALLOWED', EXIT.ERROR],
    ['BIFROST_ABORTED', EXIT.INTERRUPTED],
  ] as const)('%s → %d', (code, exit) => {
    expect(exitCodeFor(new BifrostError(code, 'x'))).toBe(exit);
  });
  it('a protocol status is a device error; anything else is 1', () => {
    expect(exitCodeFor({ code: 'BIFROST_MODBUS_ILLEGAL_ADDRESS' })).toBe(EXIT.DEVICE);
    expect(exitCodeFor({ code: 'BIFROST_S7_ACCESS_DENIED' })).toBe(EXIT.DEVICE);
    expect(exitCodeFor(new Error('bug'))).toBe(EXIT.ERROR);
    expect(exitCodeFor('text')).toBe(EXIT.ERROR);
  });
});

describe('the error line', () => {
  it('is one red line: ✖ code message [status] — hint', () => {
    const e = new BifrostError('BIFROST_TIMEOUT', 'read timed out\nafter 2000 ms', { status: 2, statusName: 'X' });
    const line = renderError(e, on);
    expect(line.startsWith('\u001b[31m')).toBe(true);
    expect(line).not.toContain('\n');
    expect(stripAnsi(line)).toBe(`✖ BIFROST_TIMEOUT read timed out after 2000 ms [X 2] — hint: ${e.hint}`);
  });
  it('a non-Bifrost error still gets a code and a hint', () => {
    expect(renderError(new TypeError('boom'), off)).toMatch(/^✖ BIFROST_INTERNAL boom — hint: This is a bug/);
  });
});

describe('progressLine', () => {
  it('shows the bar, percent, count, rate and ETA', () => {
    expect(progressLine({ done: 45, total: 100, elapsedMs: 4500, unit: 'samples', width: 20 }, off)).toBe('[█████████░░░░░░░░░░░]  45% 45/100 samples · 10.0/s · ETA 5.5s');
    expect(progressLine({ done: 0, total: 10, elapsedMs: 0, unit: 'samples', width: 4 }, off)).toBe('[░░░░]   0% 0/10 samples · 0.0/s · ETA —');
  });
});

describe('parseCliValue', () => {
  it.each([
    ['42', 42],
    ['-7', -7],
    ['21.5', 21.5],
    ['1e3', 1000],
    ['0x10', 16],
    ['true', true],
    ['false', false],
    ['9007199254740993', 9007199254740993n],
    ['[1,2,3]', [1, 2, 3]],
    ['"42"', '42'],
    ['hello', 'hello'],
    ['[not json', '[not json'],
  ] as const)('%s', (text, value) => {
    expect(parseCliValue(text)).toEqual(value);
  });
  it('any safe integer reads back as itself', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => parseCliValue(String(n)) === n));
  });
  it('never throws', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseCliValue(s);
      }),
    );
  });
});
