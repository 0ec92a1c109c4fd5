/**
 * @module
 * Regression (issue 22, item 1): a few bytes from an unauthenticated peer killed the process — the
 * OPC UA simulator and the gateway's OPC UA server (`createOpcUaServer`) alike, and a client:
 * 1. HEL followed by a chunk header of length 0xFFFFFFFF in one write ("Unhandled 'error' event …
 *    maximum chunk size exceeded": node-opcua-transport reinstalled its PacketAssembler mid-feed);
 * 2. an OPN whose request type NodeId is opaque (thrown synchronously from the message builder);
 * 3. a CreateSession whose client certificate has a broken DER length, on SecurityPolicy None (an
 *    unhandled rejection from `computeSignatureAsync`);
 * and, against the client, a server answering ACK plus `MSGF ffffffff` in one segment.
 * Each server runs in its own child process (a crash ends the process, which a test in the same
 * process could not observe); after the three inputs it must be alive and serve a fresh read.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BifrostError, connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { ACK_THEN_HUGE_CHUNK, ACK_ZERO_LIMITS, BROKEN_DER, createSession, HEL_THEN_HUGE_CHUNK, hello, openSecureChannel, openSecureChannelOpaqueType, parseOpenResponse } from './hostile-frames.js';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-hostile-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const SERVERS = {
  simulator: (port: number, pki: string) => `const { startSimulator } = await import(${JSON.stringify(dist)});
await startSimulator({ port: ${port}, config: { pkiDir: ${JSON.stringify(pki)} } });`,
  createOpcUaServer: (port: number, pki: string) => `const { createOpcUaServer, SimulatedPlant } = await import(${JSON.stringify(dist)});
await createOpcUaServer({ provider: new SimulatedPlant({}, 1), host: '127.0.0.1', port: ${port}, pkiDir: ${JSON.stringify(pki)}, acceptUnknownCertificates: true });`,
};

/** Starts a server in a child process; resolves once it listens. */
async function startChild(kind: keyof typeof SERVERS): Promise<{ child: ChildProcess; port: number; exited: () => boolean; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${SERVERS[kind](port, join(dir, kind))}\nconsole.log('READY');`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let exited = false;
  child.on('exit', () => (exited = true));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { child, port, exited: () => exited, output: () => out };
}

/** A raw TCP conversation: send, read whole chunks back. */
async function raw(port: number): Promise<{ send(b: Buffer): void; next(timeoutMs?: number): Promise<Buffer | null>; closed: Promise<void>; destroy(): void }> {
  const s: Socket = tcpConnect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  let buf = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return {
    send: (b) => s.write(b),
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (buf.length >= 8 && buf.length >= buf.readUInt32LE(4)) {
          const n = buf.readUInt32LE(4);
          const f = buf.subarray(0, n);
          buf = buf.subarray(n);
          return f;
        }
        if (s.destroyed || Date.now() > deadline) return null;
        await Promise.race([new Promise<void>((r) => waiters.push(r)), closed, new Promise((r) => setTimeout(r, 100))]);
      }
    },
    closed,
    destroy: () => s.destroy(),
  };
}

describe.each(Object.keys(SERVERS) as Array<keyof typeof SERVERS>)('the OPC UA server (%s) survives hostile bytes', (kind) => {
  it('closes only the hostile socket and serves the next client', async () => {
    const server = await startChild(kind);
    const url = `opc.tcp://127.0.0.1:${server.port}`;

    // 1. HEL + a chunk of length 0xFFFFFFFF in one write: answered ACK, then ERR, then closed.
    const a = await raw(server.port);
    a.send(HEL_THEN_HUGE_CHUNK);
    expect((await a.next())?.subarray(0, 3).toString()).toBe('ACK');
    const err = await a.next();
    expect(err?.subarray(0, 3).toString()).toBe('ERR');
    await a.closed;

    // 2. An OPN whose type NodeId is opaque: ERR and closed.
    const b = await raw(server.port);
    b.send(hello(url));
    expect((await b.next())?.subarray(0, 3).toString()).toBe('ACK');
    b.send(openSecureChannelOpaqueType());
    const answer = await b.next();
    expect(answer === null || answer.subarray(0, 3).toString() === 'ERR').toBe(true);
    await b.closed;

    // 3. A CreateSession with a broken DER client certificate: a ServiceFault (Bad_CertificateInvalid).
    const c = await raw(server.port);
    c.send(hello(url));
    expect((await c.next())?.subarray(0, 3).toString()).toBe('ACK');
    c.send(openSecureChannel());
    const opened = await c.next();
    expect(opened?.subarray(0, 3).toString()).toBe('OPN');
    const { channelId, tokenId } = parseOpenResponse(opened as Buffer);
    c.send(createSession(channelId, tokenId, BROKEN_DER));
    const fault = await c.next();
    expect(fault?.subarray(0, 3).toString()).toBe('MSG');
    // ServiceFault_Encoding_DefaultBinary is i=397; its ResponseHeader's serviceResult is Bad_CertificateInvalid (0x80120000).
    const body = (fault as Buffer).subarray(24);
    expect(body.readUInt16LE(2)).toBe(397);
    expect((fault as Buffer).includes(Buffer.from([0x00, 0x00, 0x12, 0x80]))).toBe(true);
    c.destroy();

    await new Promise((r) => setTimeout(r, 300));
    expect(server.exited(), server.output()).toBe(false);
    const plc = await connect(url, { pkiDir: join(dir, `client-${kind}`), requestTimeoutMs: 10_000 });
    try {
      const v = await plc.read('ns=1;s=Line1.Temperature');
      expect(v.quality).toBe('good');
    } finally {
      await plc.close();
    }
    expect(server.exited(), server.output()).toBe(false);
  }, 90_000);
});

describe('the OPC UA client facing a hostile server', () => {
  it.each([
    ['ACK and a chunk of length 0xFFFFFFFF in one segment', ACK_THEN_HUGE_CHUNK],
    ['an ACK whose limits are all 0', ACK_ZERO_LIMITS],
  ])(
    'gives a typed error when the server answers %s',
    async (_what, answer) => {
      const port = await freePort();
      const hostile = createServer((s) => {
        s.on('error', () => {});
        s.once('data', () => s.write(answer));
      });
      await new Promise<void>((r) => hostile.listen(port, '127.0.0.1', r));
      try {
        const attempt = connect(`opc.tcp://127.0.0.1:${port}`, { pkiDir: join(dir, 'client-hostile'), requestTimeoutMs: 3000 }).then(async (plc) => {
          try {
            return await plc.read('i=2258');
          } finally {
            await plc.close();
          }
        });
        const outcome = await attempt.then(
          (v) => v,
          (e: unknown) => e,
        );
        if (outcome instanceof Error) expect(outcome).toBeInstanceOf(BifrostError);
        else expect((outcome as { quality: string }).quality).toBe('bad');
      } finally {
        hostile.close();
      }
    },
    60_000,
  );
});
