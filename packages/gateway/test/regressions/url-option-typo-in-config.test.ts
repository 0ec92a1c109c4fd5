/**
 * Issue 25 §7: a typo in a device URL's options (`?unti=1`) passed `bifrost run --check` and the
 * gateway, where the same typo as a YAML field is refused. validate() names file, line and option.
 */
import { parseGatewayConfig } from '@bifrost/core';
import { Gateway } from '@bifrost/gateway';
import { describe, expect, it } from 'vitest';

describe('gateway validate', () => {
  it('refuses an unknown device URL option with file, line and a did-you-mean', async () => {
    const yaml = 'devices:\n  - name: press1\n    url: modbus://127.0.0.1:5020?unti=1\n    tags:\n      - { name: t, address: HR0 }\n';
    const { config, source } = parseGatewayConfig(yaml, 'gw.yaml');
    const gw = new Gateway(config, { source });
    await expect(gw.validate()).rejects.toMatchObject({ code: 'BIFROST_CONFIG_INVALID', message: expect.stringMatching(/^gw\.yaml:3:10: devices\[0\]\.url: .*did you mean "unit"/) });
  });
});
