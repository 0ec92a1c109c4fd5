/**
 * Tokens, roles, web options and transport security: hashed tokens checked in constant time
 * (fast-check: no random string is ever accepted or makes the check throw), config errors that
 * name the field, anonymous access, CORS off by default and on for listed origins only, and TLS
 * with a certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, parseGatewayConfig } from '@bifrost/core';
import { Gateway } from '@bifrost/gateway';
import { createToken, createWebApp, hashToken, resolveWebOptions, roleAllows, startWebServer, TokenStore } from '@bifrost/web';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-sec-'));
let gw: Gateway;

beforeAll(async () => {
  const { config, source } = parseGatewayConfig(`audit: { file: ${join(dir, 'audit.jsonl')} }`, 'gw.yaml');
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
});

afterAll(async () => {
  await gw?.stop();
});

describe('tokens and roles', () => {
  it('creates a token once and stores only its SHA-256', () => {
    const { token, entry } = createToken({ name: 'alice', role: 'operator' });
    expect(token).toMatch(/^bft_[A-Za-z0-9_-]{43}$/);
    expect(entry).toEqual({ name: 'alice', role: 'operator', hash: hashToken(token) });
    expect(entry.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(entry)).not.toContain(token.slice(4));
    const store = new TokenStore([entry, createToken({ name: 'bob', role: 'viewer' }).entry]);
    expect(store.verify(token)).toEqual({ name: 'alice', role: 'operator' });
    expect(store.verify(`${token}x`)).toBeUndefined();
  });

  it('never accepts a random string, and never throws on one', () => {
    const store = new TokenStore([createToken({ name: 'alice', role: 'admin' }).entry]);
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        expect(store.verify(s)).toBeUndefined();
        expect(store.verify(`bft_${s}`)).toBeUndefined();
      }),
    );
  });

  it('orders the roles viewer < operator < admin', () => {
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
  });

  it.each([
    [{ name: 'a b', role: 'viewer' }, 'BIFROST_INVALID_ARGUMENT'],
    [{ name: 'alice', role: 'root' }, 'BIFROST_INVALID_ARGUMENT'],
  ])('refuses to create %j', (opts, code) => {
    expect(() => createToken(opts as never)).toThrow(expect.objectContaining({ code }));
  });
});

describe('web options', () => {
  it('reads a tokens file relative to the config folder', () => {
    const e = createToken({ name: 'ops', role: 'operator' }).entry;
    writeFileSync(join(dir, 'tokens.yaml'), `# bifrost tokens\n- ${JSON.stringify(e)}\n`);
    const o = resolveWebOptions({ tokens: 'tokens.yaml' }, dir);
    expect(o.tokens).toEqual([e]);
    expect(o.anonymous).toBe('none');
    expect(resolveWebOptions({}).anonymous).toBe('viewer');
  });

  it.each([
    [{ tokens: 'missing.yaml' }, 'BIFROST_CONFIG_NOT_FOUND', 'web.tokens'],
    [{ tokens: [{ name: 'x', role: 'viewer', hash: 'plain' }] }, 'BIFROST_CONFIG_INVALID', 'web.tokens.0.hash'],
    [{ tokens: [{ name: 'x', role: 'boss', hash: `sha256:${'0'.repeat(64)}` }] }, 'BIFROST_CONFIG_INVALID', 'web.tokens.0.role'],
    [{ tls: { cert: 'nope.pem', key: 'nope.key' } }, 'BIFROST_CONFIG_NOT_FOUND', 'web.tls.cert'],
    [{ cors: ['not a url'] }, 'BIFROST_CONFIG_INVALID', 'web.cors.0'],
    [{ rateLimit: { writes: { max: 0, windowMs: 1000 } } }, 'BIFROST_CONFIG_INVALID', 'web.rateLimit.writes.max'],
    [{ colour: 'blue' }, 'BIFROST_CONFIG_INVALID', 'web'],
  ])('refuses %j with %s naming %s', (input, code, field) => {
    let err: unknown;
    try {
      resolveWebOptions(input, dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BifrostError);
    expect((err as BifrostError).code).toBe(code);
    expect((err as BifrostError).message).toContain(field);
  });

  it('a malformed tokens file is a YAML error naming the file', () => {
    writeFileSync(join(dir, 'bad.yaml'), '- { name: [');
    expect(() => resolveWebOptions({ tokens: 'bad.yaml' }, dir)).toThrow(expect.objectContaining({ code: 'BIFROST_CONFIG_YAML' }));
  });
});

describe('anonymous access and CORS', () => {
  it('without tokens, a request without a token is a viewer: it reads but cannot write', async () => {
    const app = await createWebApp(gw, {});
    expect((await app.inject({ url: '/api/me' })).json()).toMatchObject({ name: 'anonymous', role: 'viewer' });
    const w = await app.inject({ method: 'POST', url: '/api/tags/a/b/write', payload: { value: 1 } });
    expect(w.statusCode).toBe(403);
    await app.close();
  });

  it('answers a preflight for a listed origin only', async () => {
    const app = await createWebApp(gw, { cors: ['https://scada.example'] });
    const ok = await app.inject({ method: 'OPTIONS', url: '/api/tags', headers: { origin: 'https://scada.example', 'access-control-request-method': 'GET' } });
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://scada.example');
    expect(ok.headers['access-control-allow-headers']).toContain('authorization');
    const other = await app.inject({ url: '/api/tags', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    await app.close();
  });
});

describe('TLS', () => {
  it('serves HTTPS with the configured certificate and refuses plain HTTP', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const web = await startWebServer(gw, { port: 0, tls: { cert: 'cert.pem', key: 'key.pem' }, baseDir: dir });
    try {
      expect(web.url).toMatch(/^https:/);
      const ca = execFileSync('cat', [join(dir, 'cert.pem')]);
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: web.port, path: '/health', ca }, (res) => {
          let s = '';
          res.on('data', (d) => {
            s += d;
          });
          res.on('end', () => resolve(s));
        });
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toHaveProperty('status');
      const plain = await fetch(`http://127.0.0.1:${web.port}/health`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(plain).not.toBe(200);
    } finally {
      await web.close();
    }
  });
});
