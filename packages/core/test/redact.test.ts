/** Core's one redaction: URLs, free text, secret fields, nested values. */
import { REDACTED, redact, redactText, redactUrl } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

describe('redact', () => {
  it.each([
    ['mqtt://gw2:UrlPass-77Q@127.0.0.1:21884', 'mqtt://gw2:***@127.0.0.1:21884'],
    ['mqtts://broker:8883/?token=abc&qos=1', 'mqtts://broker:8883/?token=***&qos=1'],
    ['wss://h/mqtt?SharedAccessSignature=x&sig=y&sas=z', 'wss://h/mqtt?SharedAccessSignature=***&sig=***&sas=***'],
    ['opc.tcp://user:pw@plc:4840/path?password=p', 'opc.tcp://user:***@plc:4840/path?password=***'],
    ['modbus://127.0.0.1:502?unit=1', 'modbus://127.0.0.1:502?unit=1'],
    ['http://gw2:UrlPass-77Q@127.0.0.1:1', 'http://gw2:***@127.0.0.1:1/'],
    ['not a url://u:p@x', 'not a url://u:p@x'],
  ])('redactUrl(%s)', (url, out) => {
    expect(redactUrl(url)).toBe(out);
  });

  it('redacts every URL in free text', () => {
    expect(redactText('connection to mqtt://gw2:UrlPass-77Q@127.0.0.1:21884 refused, then mqtt://a:b@c')).toBe('connection to mqtt://gw2:***@127.0.0.1:21884 refused, then mqtt://a:***@c');
  });

  it('walks objects, arrays and errors', () => {
    const cycle: Record<string, unknown> = { name: 'x' };
    cycle.self = cycle;
    expect(
      redact({
        sinks: [{ url: 'mqtt://u:p@h:1883', password: 987654321123, apiKey: 'k-123', passwordEnv: 'MQTT_PW', tls: { key: './tls/key.pem' } }],
        err: Object.assign(new Error('to mqtt://u:p@h failed'), { code: 'E' }),
        cycle,
      }),
    ).toMatchObject({
      // The secret-field rule is core's (secrets.ts): `key` names a key file, not a secret value.
      sinks: [{ url: 'mqtt://u:***@h:1883', password: REDACTED, apiKey: REDACTED, passwordEnv: 'MQTT_PW', tls: { key: './tls/key.pem' } }],
      err: { message: 'to mqtt://u:***@h failed', code: 'E' },
      cycle: { name: 'x', self: '[cut]' },
    });
    expect(redact(987654321123, 'password')).toBe(REDACTED);
    expect(redact(42, 'port')).toBe(42);
  });
});
