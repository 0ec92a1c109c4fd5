/**
 * @module
 * OPC UA address parsing: NodeId string forms (OPC 10000-6 §5.3.1.10) and browse paths, as a
 * fixture table, plus property tests: every parsed address formats back to itself, and random
 * input never throws anything but a BifrostError.
 */
import { BifrostError } from '@bifrost/core';
import { formatAddress, type OpcUaAddress, parseAddress, validateAddress } from '@bifrost/opcua';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const valid: [string, string, OpcUaAddress][] = [
  ['numeric, namespace 0 (Server_ServerStatus_CurrentTime)', 'i=2258', { kind: 'nodeId', namespace: 0, identifierType: 'i', identifier: 2258 }],
  ['numeric with namespace (spec example ns=1;i=1234)', 'ns=1;i=1234', { kind: 'nodeId', namespace: 1, identifierType: 'i', identifier: 1234 }],
  ['string (spec example)', 'ns=1;s=Temperature', { kind: 'nodeId', namespace: 1, identifierType: 's', identifier: 'Temperature' }],
  ['string with dots and semicolons', 'ns=2;s=Line1.Temp;raw', { kind: 'nodeId', namespace: 2, identifierType: 's', identifier: 'Line1.Temp;raw' }],
  ['guid (spec example)', 'ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a', { kind: 'nodeId', namespace: 1, identifierType: 'g', identifier: '09087e75-8e5e-499b-954f-f2a9603db28a' }],
  ['opaque (spec example)', 'ns=1;b=M/RbKBsRVkePCePcx24oRA==', { kind: 'nodeId', namespace: 1, identifierType: 'b', identifier: 'M/RbKBsRVkePCePcx24oRA==' }],
  ['namespace URI', 'nsu=urn:bifrost:vm;s=Line1.Temp', { kind: 'nodeId', namespace: 0, namespaceUri: 'urn:bifrost:vm', identifierType: 's', identifier: 'Line1.Temp' }],
  ['largest numeric', 'ns=65535;i=4294967295', { kind: 'nodeId', namespace: 65535, identifierType: 'i', identifier: 4294967295 }],
  ['the Root folder', '/', { kind: 'path', segments: [] }],
  ['browse path', '/Objects/Line1/Temperature', { kind: 'path', segments: [{ name: 'Objects' }, { name: 'Line1' }, { name: 'Temperature' }] }],
  ['browse path with namespace indexes', '/Objects/2:Plant/2:Temp', { kind: 'path', segments: [{ name: 'Objects' }, { name: 'Plant', namespace: 2 }, { name: 'Temp', namespace: 2 }] }],
];

const invalid: [string, string][] = [
  ['empty', ''],
  ['no identifier type', 'ns=2;Temp'],
  ['namespace not a number', 'ns=x;s=Temp'],
  ['namespace above 65535', 'ns=65536;i=1'],
  ['numeric above UInt32', 'i=4294967296'],
  ['numeric not a number', 'i=12a'],
  ['empty string identifier', 'ns=1;s='],
  ['bad guid', 'g=1234'],
  ['bad base64', 'b=###'],
  ['unknown identifier type', 'x=1'],
  ['empty path segment', '/Objects//Temp'],
  ['trailing slash', '/Objects/'],
  ['empty namespace URI', 'nsu=;i=1'],
];

describe('parseAddress', () => {
  for (const [name, text, parsed] of valid) {
    it(`parses ${name}`, () => {
      expect(parseAddress(text)).toEqual(parsed);
      expect(formatAddress(parsed)).toBe(text);
    });
  }
  for (const [name, text] of invalid) {
    it(`rejects ${name} with BIFROST_INVALID_ADDRESS naming the address`, () => {
      const err = (() => {
        try {
          validateAddress(text);
        } catch (e) {
          return e;
        }
      })() as BifrostError;
      expect(err).toBeInstanceOf(BifrostError);
      expect(err.code).toBe('BIFROST_INVALID_ADDRESS');
      expect(err.message).toContain(`"${text}"`);
    });
  }
});

const nodeIdArb: fc.Arbitrary<OpcUaAddress> = fc.oneof(
  fc.record({ kind: fc.constant('nodeId' as const), namespace: fc.integer({ min: 0, max: 65535 }), identifierType: fc.constant('i' as const), identifier: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('nodeId' as const), namespace: fc.integer({ min: 0, max: 65535 }), identifierType: fc.constant('s' as const), identifier: fc.string({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('nodeId' as const), namespace: fc.integer({ min: 0, max: 65535 }), identifierType: fc.constant('g' as const), identifier: fc.uuid() }),
  fc.record({
    kind: fc.constant('nodeId' as const),
    namespace: fc.integer({ min: 0, max: 65535 }),
    identifierType: fc.constant('b' as const),
    identifier: fc.uint8Array({ minLength: 1, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64')),
  }),
  fc.record({
    kind: fc.constant('path' as const),
    segments: fc.array(
      fc
        .record({ name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_. -]{0,15}$/) }, { requiredKeys: ['name'] })
        .chain((s) => fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }).map((ns) => (ns === undefined ? s : { ...s, namespace: ns }))),
      { minLength: 1, maxLength: 6 },
    ),
  }),
);

describe('address properties', () => {
  it('formats every address back to text that parses to the same address', () => {
    fc.assert(
      fc.property(nodeIdArb, (a) => {
        expect(parseAddress(formatAddress(a))).toEqual(a);
      }),
    );
  });

  it('throws nothing but a BifrostError on random input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `ns=${s}`),
          fc.string().map((s) => `/${s}`),
          fc.string().map((s) => `i=${s}`),
        ),
        (s) => {
          try {
            parseAddress(s);
          } catch (e) {
            expect(e).toBeInstanceOf(BifrostError);
            expect((e as BifrostError).code).toBe('BIFROST_INVALID_ADDRESS');
          }
        },
      ),
    );
  });
});
