/** `bifrost token create` makes a token that the web API accepts with its role; the file keeps only the hash. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGatewayConfig } from '@bifrost/core';
import { Gateway } from '@bifrost/gateway';
import { createWebApp } from '@bifrost/web';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

describe('bifrost token create', () => {
  it('prints the token once, stores its hash 0600, and the API accepts it with its role', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-token-'));
    const file = join(dir, 'tokens.yaml');
    const out = JSON.parse(execFileSync(process.execPath, [BIN, '--json', 'token', 'create', '--name', 'alice', '--role', 'operator', '--file', file], { encoding: 'utf8' })) as { token: string };
    expect(out.token).toMatch(/^bft_/);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(out.token);
    expect(text).toMatch(/"hash":"sha256:[0-9a-f]{64}"/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = spawnSync(process.execPath, [BIN, 'token', 'create', '--name', 'alice', '--role', 'viewer', '--file', file], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/BIFROST_CLI_USAGE .*already has a token named "alice"/);

    const { config } = parseGatewayConfig('', 'empty.yaml');
    const gw = new Gateway(config, { baseDir: dir });
    await gw.start();
    const app = await createWebApp(gw, { tokens: file, baseDir: dir });
    const me = await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${out.token}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ name: 'alice', role: 'operator' });
    const wrong = await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${out.token}x` } });
    expect(wrong.statusCode).toBe(401);
    await app.close();
    await gw.stop();
  });
});
