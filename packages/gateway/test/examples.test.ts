/** Every config in examples/ and the demo's generated config pass full validation. */
import { readdirSync } from 'node:fs';
import { loadGatewayConfig, parseGatewayConfig } from '@bifrost/core';
import { demoConfigYaml, Gateway } from '@bifrost/gateway';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../../examples/', import.meta.url).pathname;

describe('example configs', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('there are examples', () => expect(files.length).toBeGreaterThan(1));
  it.each(files)('%s validates (devices, addresses, pipelines, sinks)', async (file) => {
    const { config, source } = loadGatewayConfig(`${dir}${file}`);
    await expect(new Gateway(config, { source }).validate()).resolves.toBeUndefined();
  });
  it("the demo's config validates", async () => {
    const yaml = demoConfigYaml(
      { modbus: 'modbus://127.0.0.1:5020?unit=1', s7: 's7://127.0.0.1:1102?rack=0&slot=1', eip: 'eip://127.0.0.1:44818?path=1,0', opcua: 'opc.tcp://127.0.0.1:4840' },
      'mqtt://127.0.0.1:1883',
      '/tmp/demo',
      8080,
    );
    const { config, source } = parseGatewayConfig(yaml, 'demo.yaml');
    expect(config.devices.map((d) => d.name)).toEqual(['modbus-press1', 's7-oven1', 'eip-conveyor1', 'opcua-boiler1']);
    await expect(new Gateway(config, { source }).validate()).resolves.toBeUndefined();
  });
});
