// biome-ignore-all lint/suspicious/noTemplateCurlyInString: secret references are spelled ${kind:name} in plain strings
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BifrostError, containsSecret, loadGatewayConfig, loadGatewayConfigAsync, maskSecrets, resolveSecrets } from '@bifrost/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const command = new URL('./fixtures/secrets/secret-command.sh', import.meta.url).pathname;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bifrost-secrets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A gateway config with one MQTT sink whose password is `password`, plus extra top-level YAML. */
function writeConfig(name: string, password: string, extra = ''): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `devices:
  - name: plc
    url: modbus://127.0.0.1:5020
    options: { password: ${JSON.stringify(password)} }
    tags: [{ name: t, address: HR0 }]
sinks:
  - type: mqtt
    url: mqtt://127.0.0.1:1883
    username: gw
    password: ${JSON.stringify(password)}
${extra}`,
  );
  return file;
}

async function errorOf(p: Promise<unknown>): Promise<BifrostError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BifrostError);
    return e as BifrostError;
  }
  throw new Error('resolved');
}

const execSection = (mode: string, extra = '') => `secrets:
  exec:
    store:
      command: [${command}, ${mode}, exec-s3cret-value]
${extra}`;

describe('secret references', () => {
  it('resolves ${env:NAME} from the environment, in every secret field that names it', async () => {
    const file = writeConfig('env.yaml', '${env:BIFROST_TEST_PW}');
    const { config } = await loadGatewayConfigAsync(file, { env: { BIFROST_TEST_PW: 'env-s3cret-value' } });
    expect(config.sinks[0]?.password).toBe('env-s3cret-value');
    expect(config.devices[0]?.options?.password).toBe('env-s3cret-value');
    expect(maskSecrets('connect with env-s3cret-value')).toBe('connect with ***');
    const e = await errorOf(loadGatewayConfigAsync(file, { env: {} }));
    expect(e.code).toBe('BIFROST_SECRET_NOT_FOUND');
    expect(e.message).toMatch(/env\.yaml:4:\d+: devices\[0\]\.options\.password: \$\{env:BIFROST_TEST_PW\}: environment variable BIFROST_TEST_PW is not set/);
  });

  it('resolves ${file:/path} from a 0600 file (trimmed) and refuses a world-readable one', async () => {
    const secretFile = join(dir, 'mqtt.pw');
    writeFileSync(secretFile, '  file-s3cret-value\n');
    chmodSync(secretFile, 0o600);
    const file = writeConfig('file.yaml', `\${file:${secretFile}}`);
    // The synchronous loader resolves files too (bifrost monitor, bifrost read gateway.yaml…).
    expect(loadGatewayConfig(file).config.sinks[0]?.password).toBe('file-s3cret-value');
    chmodSync(secretFile, 0o644);
    const e = await errorOf(loadGatewayConfigAsync(file));
    expect(e.code).toBe('BIFROST_SECRET_INSECURE');
    expect(e.message).toContain(`devices[0].options.password: \${file:${secretFile}}`);
    expect(e.message).toMatch(/mode 0644.*chmod 600/);
    expect(e.message).not.toContain('file-s3cret-value');
    const missing = await errorOf(loadGatewayConfigAsync(writeConfig('nofile.yaml', `\${file:${join(dir, 'absent')}}`)));
    expect(missing.code).toBe('BIFROST_SECRET_NOT_FOUND');
    expect(missing.message).toMatch(/ENOENT/);
  });

  it('resolves ${credential:NAME} from $CREDENTIALS_DIRECTORY, and a key file field to the credential path', async () => {
    const creds = join(dir, 'credentials');
    mkdirSync(creds, { mode: 0o700 });
    writeFileSync(join(creds, 'mqtt-password'), 'cred-s3cret-value\n', { mode: 0o400 });
    writeFileSync(join(creds, 'tls.key'), '-----BEGIN PRIVATE KEY-----\n', { mode: 0o400 });
    const file = writeConfig('cred.yaml', '${credential:mqtt-password}', '    tls: { key: "${credential:tls.key}" }\n');
    const { config } = await loadGatewayConfigAsync(file, { env: { CREDENTIALS_DIRECTORY: creds } });
    expect(config.sinks[0]?.password).toBe('cred-s3cret-value');
    expect((config.sinks[0] as { tls?: { key?: string } }).tls?.key).toBe(join(creds, 'tls.key'));
    const e = await errorOf(loadGatewayConfigAsync(file, { env: {} }));
    expect(e.code).toBe('BIFROST_SECRET_NOT_FOUND');
    expect(e.message).toMatch(/\$CREDENTIALS_DIRECTORY is not set.*LoadCredential=/);
  });

  it('resolves ${exec:NAME} by running the configured command and picking jsonKey', async () => {
    const file = writeConfig('exec.yaml', '${exec:store}', execSection('vault', '      jsonKey: data.data.password\n      timeout: 2s\n'));
    const { config } = await loadGatewayConfigAsync(file);
    expect(config.sinks[0]?.password).toBe('exec-s3cret-value');
    expect(config.secrets?.exec.store?.timeout).toBe(2000);
    const plain = writeConfig('exec-string.yaml', '${exec:store}', execSection('string'));
    expect((await loadGatewayConfigAsync(plain)).config.sinks[0]?.password).toBe('exec-s3cret-value');
    // The synchronous loader cannot run a command: it says so rather than pass the reference on.
    expect(() => loadGatewayConfig(plain)).toThrow(/devices\[0\]\.options\.password: expected .*\$\{exec:store\} runs a command/);
  });

  it.each([
    ['hang', '      timeout: 300ms\n', 'BIFROST_SECRET_EXEC_TIMEOUT', /did not finish within 300 ms/],
    ['fail', '', 'BIFROST_SECRET_EXEC_FAILED', /exited with code 3: permission denied: token expired/],
    ['garbage', '', 'BIFROST_SECRET_EXEC_OUTPUT', /printed \d+ characters that are not JSON/],
    ['vault', '', 'BIFROST_SECRET_EXEC_OUTPUT', /printed an object, expected a non-empty string \(set jsonKey/],
    ['vault', '      jsonKey: data.password\n', 'BIFROST_SECRET_EXEC_OUTPUT', /JSON output has no data\.password/],
  ])('an exec command that does %s is a typed error naming the field', async (mode, extra, code, message) => {
    const file = writeConfig(`exec-${mode}.yaml`, '${exec:store}', execSection(mode, extra));
    const e = await errorOf(loadGatewayConfigAsync(file));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(/exec-[a-z]+\.yaml:4:\d+: devices\[0\]\.options\.password: \$\{exec:store\}: /);
    expect(e.message).toMatch(message);
    expect(e.details).toMatchObject({ field: 'devices[0].options.password', reference: '${exec:store}' });
    expect(e.message).not.toContain('exec-s3cret-value');
    // A timeout kills the command's whole process group: the script's `sleep` does not linger.
    if (mode === 'hang') expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain('sleep 31.7');
  });

  it('refuses an unknown command, a reference outside a secret field, and a command that cannot start', async () => {
    const unknown = await errorOf(loadGatewayConfigAsync(writeConfig('exec-unknown.yaml', '${exec:vault}', execSection('vault'))));
    expect(unknown.code).toBe('BIFROST_SECRET_NOT_FOUND');
    expect(unknown.message).toMatch(/no command "vault" under secrets\.exec \(configured: store\)/);
    const where = join(dir, 'not-secret.yaml');
    writeFileSync(where, 'gateway: { name: gw, site: "${env:HOME}" }\n');
    const e = await errorOf(loadGatewayConfigAsync(where));
    expect(e.code).toBe('BIFROST_CONFIG_INVALID');
    expect(e.message).toMatch(/not-secret\.yaml:1:\d+: gateway\.site: expected a plain value: \$\{env:HOME\} is a secret reference/);
    const absent = await errorOf(resolveSecrets({ password: '${exec:x}' }, { exec: { x: { command: [join(dir, 'no-such-program')] } } }));
    expect(absent.code).toBe('BIFROST_SECRET_EXEC_FAILED');
    expect(absent.message).toMatch(/password: \$\{exec:x\}: cannot run .*ENOENT/);
  });

  it('masks every resolved value and its JSON-escaped form', async () => {
    await resolveSecrets({ token: '${env:T}' }, { env: { T: 'a"quoted\\secret' } });
    expect(containsSecret(JSON.stringify({ msg: 'x a"quoted\\secret y' }))).toBe(true);
    expect(maskSecrets(JSON.stringify({ msg: 'x a"quoted\\secret y' }))).toBe('{"msg":"x *** y"}');
  });
});
