/**
 * @module
 * Secret references in the gateway config: `${env:NAME}`, `${file:/path}`, `${credential:NAME}`
 * (systemd's `LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`) and `${exec:NAME}` (a command
 * configured under `secrets.exec` that prints the secret as JSON, the way Vector's `exec` secret
 * backend and Telegraf's secret stores plug in Vault, OpenBao or the AWS CLI without an SDK).
 *
 * References are resolved only in fields that hold a secret (a password, a passphrase, a device
 * key, a token…), or, in fields that hold the *path* of a key file, to that file's path; anywhere
 * else a reference is refused, so a config never carries a half-resolved value. A failure names
 * the field and the reference, never the value. Every resolved value is remembered in a
 * process-wide set so that logs, APIs and error reports can mask it with {@link maskSecrets}.
 */
import { isAbsolute, resolve } from 'node:path';
import { BifrostError } from './errors/index.js';
import { fs } from './node-fs.js';

const { readFileSync, statSync } = fs;

/** The kinds of secret reference. */
export type SecretKind = 'env' | 'file' | 'credential' | 'exec';

/** A command under `secrets.exec` that prints a secret as JSON on stdout. */
export interface ExecSecretCommand {
  /** The program and its arguments (no shell); a relative program path resolves against the config's folder. */
  command: readonly string[];
  /** How long the command may run before it is killed (default 5000 ms). */
  timeoutMs?: number;
  /** A dotted path into the printed JSON object (`data.data.password` for `vault kv get -format=json`); without it the output must be a JSON string. */
  jsonKey?: string;
}

/** Where and how references resolve. */
export interface SecretResolveOptions {
  /** The environment for `${env:…}` and `$CREDENTIALS_DIRECTORY` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Relative `${file:…}` paths and `exec` commands resolve against this folder (default cwd). */
  baseDir?: string;
  /** The commands `${exec:NAME}` may name (the config's `secrets.exec`). */
  exec?: Readonly<Record<string, ExecSecretCommand>>;
  /** Where a field path stands in the config file, for messages (`gateway.yaml:12:15: `). */
  locate?: (path: readonly PropertyKey[]) => string;
}

/** One resolved field: where, and from which reference (never the value). */
export interface ResolvedSecret {
  field: string;
  reference: string;
}

/** The largest secret read from a file or a command's output, bytes. */
const MAX_SECRET_BYTES = 64 * 1024;
const REFERENCE = /\$\{(env|file|credential|exec):([^}]*)\}/g;
/** The same without the `g` flag, for tests: a global RegExp keeps `lastIndex` between calls. */
const HAS_REFERENCE = /\$\{(env|file|credential|exec):([^}]*)\}/;
/** Fields whose value is a secret. */
const VALUE_FIELD = /(password|passphrase|^pass|secret|token|sas|devicekey|apikey|accesskey)$/i;
/** Fields whose value is the path of a secret file (a TLS or certificate private key, a password file). */
const PATH_FIELD = /^(key|keyfile|privatekey|privatekeyfile|passwordfile|devicekeyfile)$/i;

const known = new Set<string>();
let maskOrder: string[] = [];

/**
 * Remembers a secret value so {@link maskSecrets} hides it. Values shorter than 4 characters are
 * not masked (masking every `a` would garble logs); such a secret is no secret anyway.
 * @example registerSecret(password)
 */
export function registerSecret(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  known.add(value);
  // The JSON-escaped form, as a secret with quotes or backslashes appears in JSON logs.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) known.add(escaped);
  maskOrder = [...known].sort((a, b) => b.length - a.length);
}

/**
 * `text` with every secret resolved so far replaced by `***`.
 * @example log.write(maskSecrets(line))
 */
export function maskSecrets(text: string): string {
  if (maskOrder.length === 0) return text;
  let out = text;
  for (const s of maskOrder) if (out.includes(s)) out = out.replaceAll(s, '***');
  return out;
}

/**
 * True when `text` contains a secret resolved so far.
 * @example if (containsSecret(body)) throw new Error('leak')
 */
export function containsSecret(text: string): boolean {
  for (const s of maskOrder) if (text.includes(s)) return true;
  return false;
}

/**
 * True when the field `key` holds a secret (a reference there resolves to the value).
 * @example isSecretField('password') // true
 */
export function isSecretField(key: string): boolean {
  return VALUE_FIELD.test(key);
}

/**
 * True when `text` contains a secret reference.
 * @example hasSecretReference('${env:MQTT_PASSWORD}') // true
 */
export function hasSecretReference(text: string): boolean {
  return HAS_REFERENCE.test(text);
}

interface Site {
  path: PropertyKey[];
  key: string;
  text: string;
}

interface Context {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  exec: Readonly<Record<string, ExecSecretCommand>>;
  locate: (path: readonly PropertyKey[]) => string;
  site: Site;
  field: string;
  reference: string;
}

/**
 * Resolves the `${env:}`, `${file:}` and `${credential:}` references of a config's data, without
 * waiting; an `${exec:}` reference is refused (it runs a command: use {@link resolveSecrets}).
 * @example const { data } = resolveSecretsSync(yamlData, { baseDir: '/etc/bifrost' })
 */
export function resolveSecretsSync<T>(data: T, options: SecretResolveOptions = {}): { data: T; secrets: ResolvedSecret[] } {
  return substitute(data, options, (ctx, kind, name) => {
    if (kind === 'exec') throw configError(ctx, `a reference this loader can resolve: ${ctx.reference} runs a command and is resolved by \`bifrost run\` (runGateway, loadGatewayConfigAsync)`);
    return resolveLocal(ctx, kind, name);
  }) as { data: T; secrets: ResolvedSecret[] };
}

/**
 * Resolves every secret reference of a config's data: environment, files, systemd credentials
 * and configured commands (each command runs once per call, even when several fields name it).
 * @example const { data, secrets } = await resolveSecrets(yamlData, { exec: { vault: { command: ['vault', 'kv', 'get', '-format=json', 'secret/gw'], jsonKey: 'data.data.password' } } })
 */
export async function resolveSecrets<T>(data: T, options: SecretResolveOptions = {}): Promise<{ data: T; secrets: ResolvedSecret[] }> {
  // The commands run first (concurrently, once each); the substitution then picks from their outputs.
  const exec = options.exec ?? {};
  const baseDir = options.baseDir ?? process.cwd();
  const outputs = new Map<string, CommandOutput>();
  await Promise.all(
    [...execNames(data)].map(async (name) => {
      const cmd = exec[name];
      if (cmd) outputs.set(name, await runCommand(cmd, baseDir));
    }),
  );
  return substitute(data, options, (ctx, kind, name) => {
    if (kind !== 'exec') return resolveLocal(ctx, kind, name);
    const cmd = ctx.exec[name];
    if (!cmd) throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: no command "${name}" under secrets.exec (configured: ${Object.keys(ctx.exec).join(', ') || 'none'})`, details(ctx));
    const out = outputs.get(name);
    if (!out) throw new BifrostError('BIFROST_SECRET_EXEC_FAILED', `${where(ctx)}: the command did not run`, details(ctx));
    if (!out.ok) out.run(ctx);
    return pickJson(ctx, cmd, (out as { value: unknown }).value);
  }) as { data: T; secrets: ResolvedSecret[] };
}

function execNames(data: unknown): Set<string> {
  const names = new Set<string>();
  const walk = (v: unknown, top: boolean): void => {
    if (typeof v === 'string') for (const m of v.matchAll(new RegExp(REFERENCE))) if (m[1] === 'exec') names.add((m[2] as string).trim());
    if (Array.isArray(v)) for (const x of v) walk(x, false);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (!(top && k === 'secrets')) walk(x, false);
  };
  walk(data, true);
  return names;
}

function substitute(data: unknown, options: SecretResolveOptions, resolveOne: (ctx: Context, kind: SecretKind, name: string) => string): { data: unknown; secrets: ResolvedSecret[] } {
  const secrets: ResolvedSecret[] = [];
  const base = {
    env: options.env ?? process.env,
    baseDir: options.baseDir ?? process.cwd(),
    exec: options.exec ?? {},
    locate: options.locate ?? (() => ''),
  };
  const walk = (v: unknown, path: PropertyKey[]): unknown => {
    if (typeof v === 'string') {
      if (!hasSecretReference(v)) return v;
      const key = [...path].reverse().find((k): k is string => typeof k === 'string') ?? '';
      const site: Site = { path, key, text: v };
      const field = formatField(path);
      const pathField = PATH_FIELD.test(key) && !VALUE_FIELD.test(key);
      const first = v.match(/\$\{[a-z]+:[^}]*\}/)?.[0] ?? v;
      if (!VALUE_FIELD.test(key) && !pathField) {
        throw configError(
          { ...base, site, field, reference: first },
          `a plain value: ${first} is a secret reference, resolved only in fields that hold a secret (password, passphrase, deviceKey, token, secret…) or a key file's path (key, keyFile, privateKeyFile…)`,
        );
      }
      if (pathField) {
        const m = /^\$\{(file|credential):([^}]*)\}$/.exec(v.trim());
        const ctx: Context = { ...base, site, field, reference: v.trim() };
        if (!m) throw configError(ctx, `a path to a key file: use \${file:/path} or \${credential:NAME} alone in a key file field (${first} does not name a file)`);
        const kind = m[1] as 'file' | 'credential';
        const file = kind === 'file' ? secretFilePath(ctx, m[2] as string) : credentialPath(ctx, m[2] as string);
        checkFile(ctx, file);
        secrets.push({ field, reference: ctx.reference });
        return file;
      }
      const out = v.replace(REFERENCE, (reference, kind: SecretKind, name: string) => {
        const ctx: Context = { ...base, site, field, reference };
        const value = resolveOne(ctx, kind, name.trim());
        registerSecret(value);
        secrets.push({ field, reference });
        return value;
      });
      return out;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = path.length === 0 && k === 'secrets' ? x : walk(x, [...path, k]);
      return o;
    }
    return v;
  };
  return { data: walk(data, []), secrets };
}

function resolveLocal(ctx: Context, kind: 'env' | 'file' | 'credential', name: string): string {
  if (kind === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw configError(ctx, `an environment variable name in ${ctx.reference}`);
    const v = ctx.env[name];
    if (v === undefined || v === '') throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: environment variable ${name} is not set or empty`, details(ctx));
    return v;
  }
  const file = kind === 'file' ? secretFilePath(ctx, name) : credentialPath(ctx, name);
  checkFile(ctx, file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { ...details(ctx), cause });
  }
  const value = text.trim();
  if (value === '') throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: ${file} is empty`, details(ctx));
  return value;
}

function secretFilePath(ctx: Context, name: string): string {
  if (name === '') throw configError(ctx, `a file path in \${file:/path}`);
  return isAbsolute(name) ? name : resolve(ctx.baseDir, name);
}

function credentialPath(ctx: Context, name: string): string {
  if (!/^[A-Za-z0-9_.@-]+$/.test(name) || name === '.' || name === '..') throw configError(ctx, `a credential name (letters, digits, _ . @ -) in ${ctx.reference}`);
  const dir = ctx.env.CREDENTIALS_DIRECTORY;
  if (!dir)
    throw new BifrostError(
      'BIFROST_SECRET_NOT_FOUND',
      `${where(ctx)}: $CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit with LoadCredential=${name}:/path; see docs/deploy.md)`,
      details(ctx),
    );
  return resolve(dir, name);
}

/** A secret file must be a regular file no other user can read or write (as ssh refuses a private key with loose permissions). */
function checkFile(ctx: Context, file: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (cause) {
    throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { ...details(ctx), cause });
  }
  if (!st.isFile()) throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: ${file} is not a regular file`, details(ctx));
  if (st.size > MAX_SECRET_BYTES) throw new BifrostError('BIFROST_SECRET_NOT_FOUND', `${where(ctx)}: ${file} is larger than ${MAX_SECRET_BYTES} bytes: not a secret`, details(ctx));
  if ((st.mode & 0o006) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new BifrostError('BIFROST_SECRET_INSECURE', `${where(ctx)}: ${file} has mode ${mode}, readable or writable by every user: run chmod 600 ${file} (or 640 with a group)`, details(ctx));
  }
}

type CommandOutput = { ok: true; value: unknown } | { ok: false; run: (ctx: Context) => never };

/** Runs a command in its own process group, so a timeout kills the whole tree (a shell script's children too). */
async function runCommand(cmd: ExecSecretCommand, baseDir: string): Promise<CommandOutput> {
  // loaded here, not at import: child_process brings net, dgram and streams into every process that imports core (issue 25 §5)
  const { spawn } = await import('node:child_process');
  const timeoutMs = cmd.timeoutMs ?? 5000;
  const [program, ...args] = cmd.command;
  return new Promise((done) => {
    const fail = (code: 'BIFROST_SECRET_EXEC_FAILED' | 'BIFROST_SECRET_EXEC_TIMEOUT' | 'BIFROST_SECRET_EXEC_OUTPUT', message: string, cause?: unknown): void =>
      done({
        ok: false,
        run: (ctx) => {
          throw new BifrostError(code, `${where(ctx)}: ${message}`, { ...details(ctx), ...(cause === undefined ? {} : { cause }) });
        },
      });
    const program_ = program && (program.includes('/') && !isAbsolute(program) ? resolve(baseDir, program) : program);
    if (!program_) return fail('BIFROST_SECRET_EXEC_FAILED', 'the command is empty');
    const child = spawn(program_, args, { cwd: baseDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    let timedOut = false;
    let tooLarge = false;
    const killTree = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_SECRET_BYTES) {
        tooLarge = true;
        killTree();
      } else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 2000) err += b.toString('utf8');
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fail('BIFROST_SECRET_EXEC_FAILED', `cannot run ${program}: ${e.code ?? e.message}`, e);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (timedOut) return fail('BIFROST_SECRET_EXEC_TIMEOUT', `the command ${program} did not finish within ${timeoutMs} ms (secrets.exec timeout)`);
      if (tooLarge) return fail('BIFROST_SECRET_EXEC_OUTPUT', `the command ${program} printed more than ${MAX_SECRET_BYTES} bytes`);
      if (code !== 0) {
        // stderr says why (a vault permission error…); it is masked in case it echoes a known secret.
        const why = maskSecrets(err.trim().split('\n')[0] ?? '').slice(0, 200);
        return fail('BIFROST_SECRET_EXEC_FAILED', `the command ${program} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${why ? `: ${why}` : ''}`);
      }
      const text = Buffer.concat(out).toString('utf8').trim();
      try {
        done({ ok: true, value: JSON.parse(text) as unknown });
      } catch {
        // Never quote the output: it may be the secret itself, unquoted.
        fail('BIFROST_SECRET_EXEC_OUTPUT', `the command ${program} printed ${text.length} characters that are not JSON (expected a JSON string, or an object with jsonKey set)`);
      }
    });
  });
}

function pickJson(ctx: Context, cmd: ExecSecretCommand, value: unknown): string {
  let v = value;
  if (cmd.jsonKey !== undefined) {
    for (const part of cmd.jsonKey.split('.')) {
      if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) {
        throw new BifrostError('BIFROST_SECRET_EXEC_OUTPUT', `${where(ctx)}: the command's JSON output has no ${cmd.jsonKey} (secrets.exec jsonKey)`, details(ctx));
      }
      v = (v as Record<string, unknown>)[part];
    }
  }
  if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
  if (typeof v !== 'string' || v === '') {
    const what = v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : v === '' ? 'an empty string' : typeof v;
    throw new BifrostError(
      'BIFROST_SECRET_EXEC_OUTPUT',
      `${where(ctx)}: the command printed ${what}${cmd.jsonKey ? ` at ${cmd.jsonKey}` : ''}, expected a non-empty string${cmd.jsonKey ? '' : ' (set jsonKey to pick a field of an object)'}`,
      details(ctx),
    );
  }
  return v;
}

function where(ctx: Context): string {
  return `${ctx.locate(ctx.site.path)}${ctx.field}: ${ctx.reference}`;
}

function details(ctx: Context): { details: Record<string, unknown> } {
  return { details: { field: ctx.field, reference: ctx.reference } };
}

function configError(ctx: Context, expected: string): BifrostError {
  return new BifrostError('BIFROST_CONFIG_INVALID', `${ctx.locate(ctx.site.path)}${ctx.field}: expected ${expected}`, { details: { field: ctx.field, reference: ctx.reference, expected } });
}

function formatField(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s || '(root)';
}
