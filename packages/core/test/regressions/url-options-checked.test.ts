/**
 * Issue 25 §7: `modbus://…?timeout=abc` silently used 2000 ms and `?unti=1` (a typo) was accepted,
 * while the same mistakes in YAML are refused; `opcua://` got a list of schemes but no suggestion.
 * Every driver refuses unknown URL options with a did-you-mean, and bad values with a typed error.
 */
import { type BifrostError, connect } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

async function failure(url: string): Promise<BifrostError> {
  try {
    const d = await connect(url, { lazy: true });
    await d.close();
  } catch (e) {
    return e as BifrostError;
  }
  throw new Error(`${url} was accepted`);
}

describe('URL options', () => {
  it.each([
    ['modbus://127.0.0.1:1?unti=1', 'unit'],
    ['modbus+rtuovertcp://127.0.0.1:1?timout=100', 'timeout'],
    ['s7://127.0.0.1:1?rak=0&slot=1', 'rack'],
    ['eip://127.0.0.1:1?pth=1,0', 'path'],
    ['opc.tcp://127.0.0.1:1?securitypolicy=None', 'securityPolicy'],
  ])('%s is refused with did you mean "%s"', async (url, guess) => {
    const e = await failure(url);
    expect(e.code).toBe('BIFROST_INVALID_URL');
    expect(e.message).toContain(`did you mean "${guess}"`);
    expect(e.details?.suggestion).toBe(guess);
  });

  it('an option nothing resembles is refused with the list of known options', async () => {
    const e = await failure('modbus://127.0.0.1:1?colour=blue');
    expect(e.code).toBe('BIFROST_INVALID_URL');
    expect(e.message).toMatch(/unknown URL option "colour".*unit, timeout/);
  });

  it.each([
    'modbus://127.0.0.1:1?timeout=abc',
    'modbus://127.0.0.1:1?unit=300',
    'modbus://127.0.0.1:1?fc16=maybe',
    's7://127.0.0.1:1?timeout=-5',
    'eip://127.0.0.1:1?timeout=1s',
    'opc.tcp://127.0.0.1:1?timeout=abc',
  ])('a bad value in %s is BIFROST_INVALID_URL naming the option', async (url) => {
    const e = await failure(url);
    expect(e.code).toBe('BIFROST_INVALID_URL');
    expect(e.message).toMatch(/URL option (timeout|unit|fc16)=/);
  });

  it('opcua:// is refused with "did you mean opc.tcp://", and the list names modbus+tcp', async () => {
    const e = await failure('opcua://127.0.0.1:4840');
    expect(e.code).toBe('BIFROST_UNKNOWN_SCHEME');
    expect(e.message).toContain('did you mean opc.tcp://');
    expect(e.message).toContain('modbus+tcp');
    expect((await failure('modbu://127.0.0.1:502')).message).toContain('did you mean modbus://');
  });

  it('known options still connect lazily', async () => {
    const d = await connect('modbus://127.0.0.1:1?unit=2&timeout=500&fc16=true', { lazy: true });
    await d.close();
  });
});
