/**
 * The contract with the gateway runtime: `runGateway` imports this package and calls
 * `startWebServer(gateway, { ...config.web, logger, baseDir })` for a config with a `web:`
 * section; the tokens file named there resolves against the config file's folder.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningGateway, runGateway } from '@bifrost/gateway';
import { createToken } from '@bifrost/web';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';

let run: RunningGateway | undefined;

afterAll(async () => {
  await run?.stop();
});

describe('bifrost run with a web section', () => {
  it('serves the API on the configured port with the tokens file beside the config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-run-'));
    const admin = createToken({ name: 'ada', role: 'admin' });
    writeFileSync(join(dir, 'tokens.yaml'), `- ${JSON.stringify(admin.entry)}\n`);
    writeFileSync(join(dir, 'gateway.yaml'), `gateway: { name: run-test }\nweb: { port: 0, host: 127.0.0.1, tokens: tokens.yaml }\naudit: { file: audit.jsonl }\n`);
    run = await runGateway(join(dir, 'gateway.yaml'), { signals: false, logger: pino({ level: 'silent' }) });
    expect(run.httpPort).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${run.httpPort}`;
    expect((await fetch(`${base}/api/me`)).status).toBe(401);
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${admin.token}` } });
    expect(await me.json()).toMatchObject({ name: 'ada', role: 'admin', gateway: { name: 'run-test' } });
    await run.stop();
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    run = undefined;
  });
});
