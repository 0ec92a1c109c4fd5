import { readFileSync } from 'node:fs';
import { BifrostError, ERROR_CODES, isBifrostError, toBifrostError } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

describe('error registry', () => {
  it('docs/errors.md lists exactly the registered codes', () => {
    const md = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...md.matchAll(/^\| `(BIFROST_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    const registered = new Set(Object.keys(ERROR_CODES));
    expect(
      [...registered].filter((c) => !documented.has(c)),
      'registered but not documented: run npm run docs:errors',
    ).toEqual([]);
    expect(
      [...documented].filter((c) => !registered.has(c) as boolean),
      'documented but not registered',
    ).toEqual([]);
  });

  it('every code is BIFROST_ upper snake case with a summary', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^BIFROST_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      expect(info.summary.length).toBeGreaterThan(10);
    }
  });

  it('carries code, status, cause and the registry hint', () => {
    const cause = new Error('socket');
    const e = new BifrostError('BIFROST_TIMEOUT', 'read timed out', { status: 11, cause, device: 'plc1' });
    expect(e.code).toBe('BIFROST_TIMEOUT');
    expect(e.status).toBe(11);
    expect(e.cause).toBe(cause);
    expect(e.hint).toMatch(/timeout/);
    expect(isBifrostError(e, 'BIFROST_TIMEOUT')).toBe(true);
    expect(isBifrostError(e, 'BIFROST_CLOSED')).toBe(false);
    expect(e.toJSON()).toMatchObject({ code: 'BIFROST_TIMEOUT', status: 11, device: 'plc1' });
  });

  it('maps system errors to codes', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toBifrostError(refused).code).toBe('BIFROST_CONNECTION_REFUSED');
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(toBifrostError(reset).code).toBe('BIFROST_CONNECTION_LOST');
    expect(toBifrostError('x', 'BIFROST_MALFORMED_FRAME').code).toBe('BIFROST_MALFORMED_FRAME');
  });
});
