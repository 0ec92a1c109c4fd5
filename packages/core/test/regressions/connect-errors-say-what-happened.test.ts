/**
 * Issue 25 §6: a silent OPC UA host gave BIFROST_CONNECTION_REFUSED after 3.8 s (it was a
 * timeout) and `getaddrinfo ENOTFOUND` gave BIFROST_CONNECTION_REFUSED in every driver. Each
 * connection failure has its own code, the same for modbus, s7, eip and opc.tcp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { type BifrostError, connect, connectError, connectErrorCode } from '@bifrost/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let silent: Server;
let silentPort = 0;
let closedPort = 0;
const sockets = new Set<Socket>();
const pkiDir = mkdtempSync(join(tmpdir(), 'bifrost-connect-errors-'));

const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

beforeAll(async () => {
  // accepts TCP and never answers: a device that hangs, or a wrong port on a busy host
  silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  silentPort = await listen(silent);
  const closed = createServer();
  closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  rmSync(pkiDir, { recursive: true, force: true });
});

const probe: Record<string, string> = { modbus: 'HR0', s7: 'DB1.DBW0', eip: 'Counter', 'opc.tcp': 'i=2258' };

async function failure(url: string, scheme: string): Promise<BifrostError> {
  try {
    const plc = await connect(url, { pkiDir });
    try {
      const v = await plc.read(probe[scheme] as string);
      if (v.error) throw v.error;
    } finally {
      await plc.close();
    }
  } catch (e) {
    return e as BifrostError;
  }
  throw new Error(`${url} did not fail`);
}

describe.each(['modbus', 's7', 'eip', 'opc.tcp'])('%s connect failures', (scheme) => {
  const path = scheme === 'opc.tcp' ? '/bifrost' : '';
  it('a closed port is BIFROST_CONNECTION_REFUSED', async () => {
    const e = await failure(`${scheme}://127.0.0.1:${closedPort}${path}?timeout=500`, scheme);
    expect(e.code).toBe('BIFROST_CONNECTION_REFUSED');
    expect(e.message).toContain('ECONNREFUSED');
  });
  it('an unknown host is BIFROST_HOST_NOT_FOUND', async () => {
    const e = await failure(`${scheme}://no-such-host.invalid:1${path}?timeout=500`, scheme);
    expect(e.code).toBe('BIFROST_HOST_NOT_FOUND');
    expect(e.hint).toMatch(/host name/);
  });
  // Modbus/TCP has no handshake: the TCP connection is the connection, and the first request times out.
  it.skipIf(scheme === 'modbus')('a host that accepts TCP and never answers is BIFROST_CONNECT_TIMEOUT', async () => {
    const e = await failure(`${scheme}://127.0.0.1:${silentPort}${path}?timeout=500`, scheme);
    expect(e.code).toBe('BIFROST_CONNECT_TIMEOUT');
  });
});

describe('connectErrorCode', () => {
  it('classifies a real TLS handshake failure as BIFROST_TLS_FAILED', async () => {
    // a plain-TCP server where TLS was expected: OpenSSL reports ERR_SSL_WRONG_VERSION_NUMBER
    const plain = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.end('HTTP/1.0 400 Bad Request\r\n\r\n');
    });
    const port = await listen(plain);
    const err = await new Promise<Error>((resolve) => {
      const t = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: true });
      t.on('error', resolve);
    });
    plain.close();
    expect(connectErrorCode(err)).toBe('BIFROST_TLS_FAILED');
    expect(connectError(err, { device: 'plc1' }).code).toBe('BIFROST_TLS_FAILED');
  });
  it('classifies the errno of connect(2) and getaddrinfo(3) failures', () => {
    const sys = (code: string) => Object.assign(new Error(`connect ${code} 10.9.9.9:502`), { code, errno: -1, syscall: 'connect' });
    expect(connectErrorCode(sys('EHOSTUNREACH'))).toBe('BIFROST_HOST_UNREACHABLE');
    expect(connectErrorCode(sys('ENETUNREACH'))).toBe('BIFROST_HOST_UNREACHABLE');
    expect(connectErrorCode(sys('EAI_AGAIN'))).toBe('BIFROST_HOST_NOT_FOUND');
    expect(connectErrorCode(sys('ETIMEDOUT'))).toBe('BIFROST_CONNECT_TIMEOUT');
    expect(connectErrorCode(sys('CERT_HAS_EXPIRED'))).toBe('BIFROST_TLS_FAILED');
    expect(connectErrorCode(new Error('not a socket error'))).toBeUndefined();
    const codes = new Set(['EHOSTUNREACH', 'ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'CERT_HAS_EXPIRED'].map((c) => connectError(sys(c), { device: 'd' }).code));
    expect(codes.size).toBe(5);
  });
});
