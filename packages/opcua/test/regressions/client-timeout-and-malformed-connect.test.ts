/**
 * @module
 * Regression (issue 22.8, OPC UA client): the client waited max(4 × timeout, 4000) ms for an
 * answer (8 s for the 2 s default, 12.9 s seen) instead of the configured timeout, and every
 * malformed reply during a connect read `BIFROST_CONNECTION_REFUSED`. Malicious TCP servers here
 * answer the Hello (OPC 10000-6 §7.1.2) with garbage, a truncated or out-of-spec Acknowledge, an
 * ERR, silence or a closed socket, or answer OpenSecureChannel with garbage; and a relay in front
 * of the simulator goes silent mid-session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, connect, type RunningSimulator } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-malformed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const frame = (type: string, body: Buffer) => Buffer.concat([Buffer.from(`${type}F`), u32(8 + body.length), body]);
const ACK = frame('ACK', Buffer.concat([u32(0), u32(65536), u32(65536), u32(0), u32(0)]));
const afterHello = (reply: Buffer | string) => (s: Socket) => s.once('data', () => s.write(reply));
const afterAck = (reply: Buffer) => (s: Socket) => {
  let n = 0;
  s.on('data', () => {
    n++;
    s.write(n === 1 ? ACK : reply);
  });
};

async function hostile(behave: (s: Socket) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    behave(s);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, url: `opc.tcp://127.0.0.1:${port}` };
}

async function connectError(behave: (s: Socket) => void): Promise<BifrostError> {
  const { server, url } = await hostile(behave);
  try {
    const e = await connect(url, { pkiDir: join(dir, 'client'), requestTimeoutMs: 500 }).then(
      async (plc) => {
        await plc.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(BifrostError);
    return e as BifrostError;
  } finally {
    server.close();
  }
}

describe('a malformed reply during connect says what happened', () => {
  const cases: [string, (s: Socket) => void, string, RegExp][] = [
    ['an HTTP answer to Hello', afterHello('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), 'BIFROST_MALFORMED_FRAME', /answered the OPC UA Hello .*"HTTP\/1\.1/],
    ['another message type instead of ACK', afterHello(frame('XYZ', Buffer.alloc(20, 1))), 'BIFROST_MALFORMED_FRAME', /"XYZ" message, not an Acknowledge/],
    ['a truncated ACK', afterHello(frame('ACK', Buffer.alloc(4))), 'BIFROST_MALFORMED_FRAME', /not a valid Acknowledge/],
    ['an ACK with buffer sizes of 1 byte', afterHello(frame('ACK', Buffer.concat([u32(0), u32(1), u32(1), u32(0), u32(0)]))), 'BIFROST_MALFORMED_FRAME', /below the 8192 bytes/],
    ['garbage in reply to OpenSecureChannel', afterAck(frame('OPN', Buffer.alloc(30, 0xee))), 'BIFROST_MALFORMED_FRAME', /answered the OpenSecureChannel request with a reply that does not decode/],
    ['a MSG in reply to OpenSecureChannel', afterAck(frame('MSG', Buffer.alloc(30, 0xee))), 'BIFROST_MALFORMED_FRAME', /OpenSecureChannel .*does not decode/],
    ['a socket closed after Hello', (s) => s.once('data', () => s.end()), 'BIFROST_CONNECTION_LOST', /closed it without answering the OPC UA Hello/],
    ['silence after Hello', () => {}, 'BIFROST_CONNECT_TIMEOUT', /did not answer the OPC UA Hello within 500 ms/],
    ['silence after ACK', afterHello(ACK), 'BIFROST_CONNECT_TIMEOUT', /did not answer the OpenSecureChannel request within 500 ms/],
  ];
  for (const [name, behave, code, message] of cases) {
    it(`${name}: ${code}`, async () => {
      const e = await connectError(behave);
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(message);
    }, 20_000);
  }

  it('an ERR answer carries its StatusCode and reason', async () => {
    const e = await connectError(afterHello(frame('ERR', Buffer.concat([u32(0x807e0000), u32(4), Buffer.from('nope')]))));
    expect(e.code).not.toBe('BIFROST_CONNECTION_REFUSED');
    expect(e.statusName).toBe('BadTcpMessageTypeInvalid');
    expect(e.message).toMatch(/refused the OPC UA connection with ERR BadTcpMessageTypeInvalid: nope/);
  }, 20_000);
});

describe('the configured timeout is the timeout of a request', () => {
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('a server that goes silent mid-session gives BIFROST_TIMEOUT after the configured timeout, not 4 × it', async () => {
    sim = await startSimulator({ port: await freePort(), config: { pkiDir: join(dir, 'sim') } });
    const target = sim.port;
    let silent = false;
    const relay = await hostile((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: target });
      upstream.on('error', () => {});
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (!silent) client.write(d);
      });
      client.on('close', () => upstream.destroy());
    });
    try {
      await using plc = await connect(relay.url, { pkiDir: join(dir, 'client'), requestTimeoutMs: 700 });
      expect((await plc.read('ns=1;s=Line1.Temperature')).quality).toBe('good');
      silent = true;
      const e = await plc.read('ns=1;s=Line1.Temperature').then(
        () => undefined,
        (err: unknown) => err as BifrostError,
      );
      expect(e?.code, e?.message).toBe('BIFROST_TIMEOUT');
      // Before the fix the read ran into the device's 4 × 700 = 2800 ms operation deadline (node-opcua's was 4000 ms).
      expect(e?.message).toMatch(/no answer within 700 ms/);
      expect(e?.details).toMatchObject({ timeoutMs: 700 });
    } finally {
      relay.server.close();
    }
  }, 60_000);
});
