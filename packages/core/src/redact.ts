/**
 * @module
 * The one redaction of Bifrost: every log line, error message, `--check` output and API answer
 * that can carry a URL or a secret field goes through {@link redact} (or its URL form
 * {@link redactUrl}), so a password written in a sink URL (`mqtt://gw2:secret@broker`) or a
 * secret field never leaves the process. What is masked:
 * - the password of a URL's userinfo (RFC 3986 §3.2.1 deprecates it; people still write it),
 * - URL query parameters that carry credentials (`password`, `token`, `key`, `sas`, `sig`, `secret`…),
 * - fields whose name says secret (core's rule in secrets.ts: `password`, `token`, `secret`,
 *   `sas`, `apiKey`…; not `key`/`keyFile`, which name where a key is),
 * - inside free text (a library's error message), every URL found there and every secret value
 *   a `${env:…}`/`${file:…}` reference resolved to (secrets.ts's `maskSecrets`).
 */

import { maskSecrets, isSecretField as secretName } from './secrets.js';

/** What a masked value reads as. */
export const REDACTED = '***';

const SECRET_PARAM = /pass|secret|token|key|sas|sig|credential|auth/i;
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/[^:@/?#\s]*):[^@/?#\s]*@/i;

/** The secret-field rule is core's one (secrets.ts: the fields whose `${…}` references resolve to a value). */
function secretField(name: PropertyKey): boolean {
  return typeof name === 'string' && secretName(name);
}

/**
 * The URL with its password and credential query parameters masked, safe for logs and answers.
 * A string that does not parse as a URL still loses a `user:password@` part.
 * @example redactUrl('mqtt://gw2:s3cret@broker:1883?token=abc') // 'mqtt://gw2:***@broker:1883?token=***'
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return text.replace(USERINFO, `$1:${REDACTED}@`);
  }
  let changed = false;
  if (u.password) {
    u.password = REDACTED;
    changed = true;
  }
  for (const k of new Set(u.searchParams.keys()))
    if (SECRET_PARAM.test(k)) {
      u.searchParams.set(k, REDACTED);
      changed = true;
    }
  // Untouched URLs keep their exact spelling (URL serialization would add a trailing slash).
  return changed ? u.toString() : text;
}

/**
 * Free text (an error message, a log line) with every URL in it redacted.
 * @example redactText('connection to mqtt://u:p@h:1883 refused') // 'connection to mqtt://u:***@h:1883 refused'
 */
export function redactText(text: string): string {
  const masked = maskSecrets(text);
  return masked.includes('://') ? masked.replace(URL_IN_TEXT, (m) => redactUrl(m)) : masked;
}

/**
 * Redacts any value: a secret field's value becomes `***`, strings lose URL passwords and
 * credential parameters, objects and arrays are copied with the same rules applied at every depth
 * (an `Error` becomes `{ name, message, code, stack }`). Cycles and depth beyond 32 are cut.
 * @example
 * redact({ url: 'mqtt://u:p@h', password: 42 }) // { url: 'mqtt://u:***@h', password: '***' }
 * redact(987654321123, 'password')              // '***'
 */
export function redact(value: unknown, field?: PropertyKey): unknown {
  return walk(value, field, 0, new WeakSet());
}

function walk(value: unknown, field: PropertyKey | undefined, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || value === undefined) return value;
  if (field !== undefined && secretField(field) && typeof value !== 'object') return REDACTED;
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object') return value;
  if (field !== undefined && secretField(field) && !Array.isArray(value)) return REDACTED;
  if (seen.has(value) || depth > 32) return '[cut]';
  if (value instanceof URL) return redactUrl(value);
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  seen.add(value);
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { name: e.name, message: redactText(e.message), ...(e.code !== undefined ? { code: e.code } : {}), ...(e.stack ? { stack: redactText(e.stack) } : {}) };
  }
  if (Array.isArray(value)) return value.map((v) => walk(v, field !== undefined && secretField(field) ? field : undefined, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = walk(v, k, depth + 1, seen);
  return out;
}
