/**
 * Regression (issue 22, item 4): `url: mqtt://gw2:UrlPass-77Q@127.0.0.1:<port>` on an unreachable
 * broker printed the password at every reconnect (`connection to mqtt://gw2:UrlPass-77Q@… refused`),
 * and config errors echoed values (`password: expected a string, got 987654321123`; a bad-scheme
 * URL whole). Everything a person or a client can see goes through core's one redaction now:
 * the real `bifrost run` is grepped (stdout, stderr, every `/api/*` answer, `/metrics`, `/health`)
 * and so is `--check` on good and bad configs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, expect, it } from 'vitest';
import { runCli } from '../../../cli/test/helpers.js';
import { createToken } from '../../src/index.js';
import { type BifrostProcess, startBifrost, waitHttp } from './bifrost-process.js';

const SECRET = 'UrlPass-77Q';
const NUMBER_SECRET = '987654321123';
let gw: BifrostProcess | undefined;

afterAll(async () => {
  await gw?.stop();
});

it('never shows a sink URL password in logs, API answers, metrics or --check output', async () => {
  const web = await freePort();
  const closed = await freePort();
  const admin = createToken({ name: 'ada', role: 'admin' });
  const yaml = `gateway: { name: redact }
sinks:
  - type: mqtt
    name: up
    url: mqtt://gw2:${SECRET}@127.0.0.1:${closed}?token=${SECRET}
    buffer: { dir: ./queue }
web: { port: ${web}, tokens: tokens.yaml }
audit: { file: audit.jsonl }
`;
  gw = startBifrost({ 'gateway.yaml': yaml, 'tokens.yaml': `- ${JSON.stringify(admin.entry)}\n` });
  const base = `http://127.0.0.1:${web}`;
  await waitHttp(`${base}/health`);
  const headers = { authorization: `Bearer ${admin.token}` };
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`, { headers });
    return `${path} ${r.status} ${await r.text()}`;
  };
  // Several reconnect attempts, each once logged before the fix.
  await waitFor(async () => Number((await get('/api/sinks')).match(/"connectFailures":(\d+)/)?.[1] ?? 0) >= 3, 20_000, 200);
  const answers = [];
  for (const path of ['/api/sinks', '/api/config', '/api/devices', '/api/tags', '/api/alarms', '/api/me', '/health', '/metrics', '/api/openapi.json']) answers.push(await get(path));
  expect(answers.join('\n')).toContain('gw2:***@');
  await gw.stop();
  const { stdout, stderr } = gw.output();
  expect(stdout).toMatch(/connection to mqtt:\/\/gw2:\*\*\*@127\.0\.0\.1/);

  // --check on the good config, and on two bad ones that used to echo the secret.
  const dir = gw.dir;
  const good = await runCli(['run', join(dir, 'gateway.yaml'), '--check'], { cwd: dir });
  writeFileSync(join(dir, 'bad-password.yaml'), `sinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:${closed}\n    username: gw2\n    password: ${NUMBER_SECRET}\n`);
  const badPassword = await runCli(['run', join(dir, 'bad-password.yaml'), '--check'], { cwd: dir });
  expect(badPassword.code).not.toBe(0);
  expect(badPassword.stderr + badPassword.stdout).toMatch(/password: expected a string/);
  writeFileSync(join(dir, 'bad-scheme.yaml'), `sinks:\n  - type: mqtt\n    url: http://gw2:${SECRET}@127.0.0.1:${closed}\n`);
  const badScheme = await runCli(['run', join(dir, 'bad-scheme.yaml'), '--check'], { cwd: dir });
  expect(badScheme.code).not.toBe(0);
  expect(badScheme.stderr + badScheme.stdout).toMatch(/sinks\[0\]\.url/);
  const jsonCheck = await runCli(['--json', 'run', join(dir, 'bad-scheme.yaml'), '--check'], { cwd: dir });

  const everything = [stdout, stderr, ...answers, ...[good, badPassword, badScheme, jsonCheck].flatMap((r) => [r.stdout, r.stderr])].join('\n');
  expect(everything).not.toContain(SECRET);
  expect(everything).not.toContain(NUMBER_SECRET);
}, 60_000);
