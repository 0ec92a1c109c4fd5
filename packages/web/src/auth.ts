/**
 * @module
 * API tokens and roles. A token is 32 random bytes (base64url, prefixed `bft_`); only its SHA-256
 * is stored. SHA-256 without a salt is enough here because the secret has 256 bits of entropy (a
 * slow KDF such as scrypt protects low-entropy passwords, not random keys), and it keeps every
 * request's check cheap. Lookups compare digests in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BifrostError } from '@bifrost/core';

/**
 * The roles, weakest first: a viewer reads, an operator also writes tags and acknowledges alarms, an admin also reads the configuration.
 * @example ROLES.includes(role) // validate a role from user input
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;

/**
 * A role.
 * @example const role: Role = 'operator';
 */
export type Role = (typeof ROLES)[number];

/**
 * A stored token: a name (who, as written to the audit log), a role and the SHA-256 of the secret.
 * @example const entry: TokenEntry = { name: 'alice', role: 'operator', hash: 'sha256:9f86…' };
 */
export interface TokenEntry {
  name: string;
  role: Role;
  /** `sha256:<64 hex digits>`. */
  hash: string;
}

/**
 * Who a request acts as.
 * @example const who: Principal | undefined = store.verify(token);
 */
export interface Principal {
  name: string;
  role: Role;
}

const PREFIX = 'bft_';
const HASH_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * True when `role` is at least `needed`.
 * @example roleAllows('admin', 'operator') // true
 */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/**
 * The stored hash of a token.
 * @example hashToken('bft_…') // 'sha256:9f86d0…'
 */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/**
 * Creates an API token. The token is returned once: show it to the user and store only `entry`
 * (in the tokens file, or inline under `web.tokens` in gateway.yaml).
 * @example
 * const { token, entry } = createToken({ name: 'alice', role: 'operator' });
 * console.log(token);               // bft_3q2+… give this to alice
 * appendFileSync('tokens.yaml', `- ${JSON.stringify(entry)}\n`);
 */
export function createToken(options: { name: string; role: Role }): { token: string; entry: TokenEntry } {
  if (!/^[\w.@-]{1,64}$/.test(options.name)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `token name "${options.name}": use 1 to 64 letters, digits, _ . @ -`);
  if (!ROLES.includes(options.role)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `token role "${String(options.role)}": expected one of ${ROLES.join(', ')}`);
  const token = PREFIX + randomBytes(32).toString('base64url');
  return { token, entry: { name: options.name, role: options.role, hash: hashToken(token) } };
}

/**
 * The set of known tokens, checked in constant time.
 * @example
 * const store = new TokenStore([entry]);
 * store.verify(token); // { name: 'alice', role: 'operator' }
 */
export class TokenStore {
  readonly #entries: Array<{ name: string; role: Role; digest: Buffer }>;

  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries.map((e, i) => {
      if (!HASH_RE.test(e.hash))
        throw new BifrostError('BIFROST_CONFIG_INVALID', `web.tokens[${i}].hash: expected sha256:<64 hex digits> (from createToken), got ${JSON.stringify(e.hash.slice(0, 12))}…`);
      return { name: e.name, role: e.role, digest: Buffer.from(e.hash.slice(7), 'hex') };
    });
  }

  /** How many tokens are known. */
  get size(): number {
    return this.#entries.length;
  }

  /** The principal of a token, or undefined. Every entry is compared, so the time taken does not tell which one matched. */
  verify(token: string): Principal | undefined {
    if (!token.startsWith(PREFIX) || token.length > 128) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: Principal | undefined;
    for (const e of this.#entries) if (timingSafeEqual(e.digest, digest) && !found) found = { name: e.name, role: e.role };
    return found;
  }
}
