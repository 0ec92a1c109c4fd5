/**
 * `opcuaServer:` accepts what the gateway's OPC UA server builds, with its defaults, and refuses
 * anything else with the file, line and field (issue 17: an accepted field must do what it says).
 */
import { BifrostError, parseGatewayConfig } from '@bifrost/core';
import { describe, expect, it } from 'vitest';

const parse = (section: string) => parseGatewayConfig(`devices: []\nopcuaServer:\n${section}\n`, 'gw.yaml').config.opcuaServer;

describe('opcuaServer', () => {
  it('fills the defaults: loopback, 4840, every policy and mode, nobody writes, limits', () => {
    expect(parse('  port: 4840')).toEqual({
      host: '127.0.0.1',
      port: 4840,
      path: '',
      applicationName: 'Bifrost',
      securityPolicies: ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'],
      securityModes: ['None', 'Sign', 'SignAndEncrypt'],
      allowAnonymous: true,
      users: [],
      x509Users: false,
      writeUsers: [],
      acceptUnknownCertificates: false,
      maxSessions: 50,
      maxConnections: 100,
      maxMonitoredItems: 100_000,
      maxMessageSize: 16 * 1024 * 1024,
    });
    expect(parse('  maxMessageSize: 1MB\n  users: [{ name: scada, password: x }]\n  writeUsers: [scada]')).toMatchObject({ maxMessageSize: 1024 * 1024, users: [{ name: 'scada', password: 'x' }] });
  });

  for (const [what, section, field] of [
    ['an unknown field', '  port: 4840\n  historyServer: true', 'opcuaServer'],
    ['an unknown security policy', '  securityPolicies: [Basic128Rsa15]', 'opcuaServer.securityPolicies[0]'],
    ['port 0 (node-opcua cannot pick one)', '  port: 0', 'opcuaServer.port'],
    ['an endpoint path without a leading slash', '  path: bifrost', 'opcuaServer.path'],
    ['a user without a password', '  users: [{ name: scada }]', 'opcuaServer.users[0].password'],
  ] as const) {
    it(`refuses ${what}`, () => {
      let err: unknown;
      try {
        parse(section);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BifrostError);
      expect((err as BifrostError).code).toBe('BIFROST_CONFIG_INVALID');
      expect((err as BifrostError).message).toContain(field);
    });
  }
});
