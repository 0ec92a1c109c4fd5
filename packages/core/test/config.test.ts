import { readFileSync } from 'node:fs';
import { BifrostError, loadGatewayConfig, parseGatewayConfig } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

const fixture = (name: string) => new URL(`./fixtures/config/${name}`, import.meta.url).pathname;
const errorOf = (name: string): BifrostError => {
  try {
    loadGatewayConfig(fixture(name));
  } catch (e) {
    return e as BifrostError;
  }
  throw new Error(`${name} was accepted`);
};

describe('gateway config', () => {
  it('accepts the DESIGN.md example and applies defaults and units', () => {
    const { config } = loadGatewayConfig(fixture('good.yaml'));
    expect(config.devices[0]?.pollMs).toBe(100);
    expect(config.devices[0]?.tags[1]?.writable).toBe(true);
    expect(config.devices[0]?.tags[0]?.writable).toBe(false);
    expect(config.pipelines[0]?.from).toEqual(['press1.temperature']);
    expect(config.sinks[0]).toMatchObject({ type: 'mqtt', sparkplug: { groupId: 'plant1' } });
    expect(config.store.memory).toBe(64 * 1024 * 1024);
    expect(config.gateway.site).toBe('dallas');
  });

  // Each broken file: the code, and the file:line:column, field and expectation the message must name.
  it.each([
    ['bad-yaml.yaml', 'BIFROST_CONFIG_YAML', /bad-yaml\.yaml:\d+:\d+: invalid YAML: Missing closing "quote/],
    ['bad-poll.yaml', 'BIFROST_CONFIG_INVALID', /bad-poll\.yaml:4:13: devices\[0\]\.pollMs: expected .*duration.*got "fast"/],
    ['unknown-field.yaml', 'BIFROST_CONFIG_INVALID', /unknown-field\.yaml:7:9: devices\[0\]\.tags\[0\]\.writeable: expected no field named "writeable"/],
    ['missing-url.yaml', 'BIFROST_CONFIG_INVALID', /missing-url\.yaml:2:5: devices\[0\]\.url: expected a string/],
    ['duplicate-device.yaml', 'BIFROST_CONFIG_INVALID', /duplicate-device\.yaml:5:11: devices\[1\]\.name: expected a unique device name/],
    ['unknown-input.yaml', 'BIFROST_CONFIG_INVALID', /unknown-input\.yaml:7:22: pipelines\[0\]\.from\[1\]: expected a known device\.tag \("press2\.x" is not defined\)/],
    ['tags-not-list.yaml', 'BIFROST_CONFIG_INVALID', /tags-not-list\.yaml:4:11: devices\[0\]\.tags: expected a list, got "HR0"/],
    ['bad-memory.yaml', 'BIFROST_CONFIG_INVALID', /bad-memory\.yaml:2:11: store\.memory: expected .*size.*got "lots"/],
  ])('%s is refused with file, line, field and expectation', (name, code, message) => {
    const e = errorOf(name);
    expect(e).toBeInstanceOf(BifrostError);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    expect(e.details?.file).toContain(name);
  });

  it('a missing file is BIFROST_CONFIG_NOT_FOUND', () => {
    expect(() => loadGatewayConfig('/nonexistent/gw.yaml')).toThrow(expect.objectContaining({ code: 'BIFROST_CONFIG_NOT_FOUND' }));
  });

  it('ConfigSource.errorAt lets packages report deeper fields with lines', () => {
    const text = readFileSync(fixture('good.yaml'), 'utf8');
    const { source } = parseGatewayConfig(text, 'gw.yaml');
    const e = source.errorAt(['pipelines', 0, 'steps', 0, 'window', 'size'], 'a positive duration', '0s');
    expect(e.message).toBe('gw.yaml:13:41: pipelines[0].steps[0].window.size: expected a positive duration, got "0s"');
  });

  it('deadAfter takes a duration (0 turns it off) and refuses anything else with its line', () => {
    const doc = (v: string) => `devices:\n  - name: d\n    url: modbus://127.0.0.1:502\n    deadAfter: ${v}\n    tags: [{ name: t, address: HR0 }]\n`;
    expect(parseGatewayConfig(doc('5s'), 'gw.yaml').config.devices[0]?.deadAfter).toBe(5000);
    expect(parseGatewayConfig(doc('0'), 'gw.yaml').config.devices[0]?.deadAfter).toBe(0);
    expect(() => parseGatewayConfig(doc('soon'), 'gw.yaml')).toThrow(/gw\.yaml:4:16: devices\[0\]\.deadAfter: expected .*duration.*got "soon"/);
    expect(() => parseGatewayConfig(doc('-1'), 'gw.yaml')).toThrow(/devices\[0\]\.deadAfter/);
  });

  it('an empty file is a valid empty gateway', () => {
    const { config } = parseGatewayConfig('', 'empty.yaml');
    expect(config.devices).toEqual([]);
  });
});
