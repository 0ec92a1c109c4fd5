/**
 * Issue 25 §2: a failed read in the README example printed as three nested stack traces
 * (`console.error(err)` of a BifrostError with a cause chain). It prints as one line with the
 * code, the message, the protocol status and the hint; BIFROST_DEBUG=1 gives the full inspection.
 */
import { inspect } from 'node:util';
import { BifrostError } from '@bifrost/core';
import { afterEach, describe, expect, it } from 'vitest';

const err = () =>
  new BifrostError('BIFROST_MODBUS_ILLEGAL_ADDRESS', 'HR100: FC 3 read of 2 at 100 (unit 1): ILLEGAL_DATA_ADDRESS', {
    status: 2,
    statusName: 'ILLEGAL_DATA_ADDRESS',
    cause: new BifrostError('BIFROST_TIMEOUT', 'inner', { cause: new Error('root') }),
  });

describe('a BifrostError printed with console.log / util.inspect', () => {
  afterEach(() => {
    delete process.env.BIFROST_DEBUG;
  });
  it('is one line with code, message, status and hint', () => {
    const text = inspect(err());
    expect(text.split('\n')).toHaveLength(1);
    expect(text).toMatch(/^BifrostError BIFROST_MODBUS_ILLEGAL_ADDRESS: HR100: .* \[ILLEGAL_DATA_ADDRESS 2\] — hint: Check the register map/);
    expect(text).toContain('BIFROST_DEBUG=1');
  });
  it('is the full inspection with every cause when BIFROST_DEBUG is set', () => {
    process.env.BIFROST_DEBUG = '1';
    const text = inspect(err());
    expect(text).toContain('[cause]');
    expect(text).toContain('root');
  });
});
