import { BifrostError } from '@bifrost/core';
import { decodeHelloAnswer, encodeHello, hostsOf, parseCidr, parsePorts, planHosts } from '@bifrost/discovery';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('CIDR', () => {
  it('parses and enumerates hosts without network and broadcast addresses', () => {
    expect([...hostsOf(parseCidr('10.1.2.3/30'))]).toEqual(['10.1.2.1', '10.1.2.2']);
    expect([...hostsOf(parseCidr('127.0.0.0/28'))]).toHaveLength(14);
    expect([...hostsOf(parseCidr('192.168.0.7'))]).toEqual(['192.168.0.7']);
    expect([...hostsOf(parseCidr('10.0.0.0/31'))]).toEqual(['10.0.0.0', '10.0.0.1']);
    expect(parseCidr('192.168.1.77/24').text).toBe('192.168.1.0/24');
  });

  it.each(['10.0.0/24', '300.1.1.1/24', '10.0.0.0/33', 'ten/8', ''])('refuses the malformed range %j with a clear error', (text) => {
    expect(() => parseCidr(text)).toThrow(expect.objectContaining({ code: 'BIFROST_DISCOVERY_BAD_RANGE' }));
  });

  it('refuses ranges larger than a /16 without force', () => {
    expect(() => planHosts({ networks: ['10.0.0.0/15'] })).toThrow(expect.objectContaining({ code: 'BIFROST_DISCOVERY_RANGE_TOO_LARGE' }));
    expect(planHosts({ networks: ['10.0.0.0/16'] })).toHaveLength(65534);
  });

  it('parses ports per protocol or for all', () => {
    expect(parsePorts('modbus=5020,s7=1102,modbus=5021')).toEqual({ modbus: [5020, 5021], s7: [1102] });
    expect(parsePorts('8000', ['modbus', 'eip'])).toEqual({ modbus: [8000], eip: [8000] });
    expect(() => parsePorts('http=80')).toThrow(BifrostError);
    expect(() => parsePorts('70000')).toThrow(BifrostError);
  });
});

describe('OPC UA Hello/Acknowledge (OPC 10000-6 §7.1.2)', () => {
  it('encodes Hello as the specification lays it out', () => {
    const b = encodeHello('opc.tcp://h:4840');
    expect(b.toString('latin1', 0, 4)).toBe('HELF');
    expect(b.readUInt32LE(4)).toBe(b.length);
    expect(b.readInt32LE(28)).toBe(16);
    expect(b.toString('utf8', 32)).toBe('opc.tcp://h:4840');
  });

  it('decodes Acknowledge and Error, and waits for more bytes', () => {
    const ack = Buffer.alloc(28);
    ack.write('ACKF', 0, 'latin1');
    ack.writeUInt32LE(28, 4);
    ack.writeUInt32LE(0, 8);
    ack.writeUInt32LE(8192, 12);
    ack.writeUInt32LE(8192, 16);
    expect(decodeHelloAnswer(ack)).toEqual({ kind: 'ack', protocolVersion: 0, receiveBufferSize: 8192, sendBufferSize: 8192 });
    expect(decodeHelloAnswer(ack.subarray(0, 10))).toBeUndefined();
    const reason = Buffer.from('bad url');
    const err = Buffer.alloc(16 + reason.length);
    err.write('ERRF', 0, 'latin1');
    err.writeUInt32LE(err.length, 4);
    err.writeUInt32LE(0x80820000, 8); // BadTcpEndpointUrlInvalid
    err.writeInt32LE(reason.length, 12);
    reason.copy(err, 16);
    expect(decodeHelloAnswer(err)).toEqual({ kind: 'error', statusCode: 0x80820000, reason: 'bad url' });
  });

  it('an HTTP answer is not OPC UA', () => {
    expect(() => decodeHelloAnswer(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(expect.objectContaining({ code: 'BIFROST_MALFORMED_FRAME' }));
  });

  it('random bytes never throw anything but a BifrostError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeHelloAnswer(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(BifrostError);
        }
      }),
    );
  });
});
