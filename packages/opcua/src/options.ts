/**
 * @module
 * Client connection options from an `opc.tcp://` URL and `ConnectOptions`: the endpoint URL,
 * security policy and mode (OPC 10000-7 security profiles), user identity (OPC 10000-4 §7.41:
 * anonymous, user name, X.509) and the PKI directory. Pure: no node-opcua.
 */
import { BifrostError, type ConnectOptions, queryBool, queryChoice } from '@bifrost/core';
import { DEFAULT_PKI_DIR } from './pki.js';

/**
 * The security policies Bifrost offers (OPC 10000-7 §6.6 security policy facets).
 * @example for (const p of SECURITY_POLICIES) await connect(`${url}?securityPolicy=${p}`)
 */
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
/** A security policy name, or `auto` for the most secure endpoint the server offers. */
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];
/**
 * Message security modes (OPC 10000-4 §7.20).
 * @example SECURITY_MODES.includes(mode)
 */
export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
/** A message security mode. */
export type SecurityModeName = (typeof SECURITY_MODES)[number];

/** The user identity presented at ActivateSession (OPC 10000-4 §5.6.3). */
export type UserIdentity = { type: 'anonymous' } | { type: 'username'; username: string; password: string } | { type: 'certificate'; certificateFile: string; privateKeyFile: string };

/** OPC UA options a caller may pass to `connect(url, options)` besides the URL's own. */
export interface OpcUaConnectOptions extends ConnectOptions {
  /** Security policy; the URL's `securityPolicy` wins. `auto` picks the most secure endpoint. */
  securityPolicy?: SecurityPolicyName | 'auto';
  securityMode?: SecurityModeName;
  username?: string;
  password?: string;
  /** X.509 user identity: certificate (PEM) and private key (PEM) files. */
  userCertificateFile?: string;
  userPrivateKeyFile?: string;
  /** The PKI directory for this client's certificate and trust lists (default `./data/pki`). */
  pkiDir?: string;
  /** Application URI (default `urn:bifrost:<hostname>`, as `pkiInit` writes it). */
  applicationUri?: string;
  /** Trust a server certificate never seen before instead of rejecting it (default false). */
  acceptUnknownCertificate?: boolean;
  /** Session timeout in ms requested from the server (default 60 000). */
  sessionTimeoutMs?: number;
}

/** The resolved client settings. */
export interface ClientSettings {
  /** The endpoint URL without credentials or query, as sent in GetEndpoints and CreateSession. */
  endpointUrl: string;
  securityPolicy: SecurityPolicyName | 'auto';
  securityMode: SecurityModeName;
  identity: UserIdentity;
  pkiDir: string;
  applicationUri: string | undefined;
  acceptUnknownCertificate: boolean;
  sessionTimeoutMs: number;
}

/**
 * Resolves the client settings from the URL and options. Credentials may be in the URL
 * (`opc.tcp://user:pass@host:4840`) or in the options; the URL's query wins over options.
 * @example resolveSettings(new URL('opc.tcp://127.0.0.1:4840?securityPolicy=Basic256Sha256&securityMode=Sign'))
 */
export function resolveSettings(url: URL, options: OpcUaConnectOptions = {}): ClientSettings {
  if (url.protocol !== 'opc.tcp:') throw new BifrostError('BIFROST_INVALID_URL', `expected an opc.tcp:// URL, got ${url.protocol}//`);
  if (!url.hostname) throw new BifrostError('BIFROST_INVALID_URL', 'opc.tcp:// URL needs a host, e.g. opc.tcp://127.0.0.1:4840');
  const policy = queryChoice<SecurityPolicyName | 'auto'>(url, 'securityPolicy', options.securityPolicy ?? 'None', [...SECURITY_POLICIES, 'auto']);
  const modeGiven = url.searchParams.get('securityMode') ?? options.securityMode;
  // A policy without a mode means the stronger mode; a mode without a policy the recommended policy.
  let mode = queryChoice<SecurityModeName>(url, 'securityMode', options.securityMode ?? (policy === 'None' ? 'None' : 'SignAndEncrypt'), SECURITY_MODES);
  let securityPolicy = policy;
  if (modeGiven && mode !== 'None' && policy === 'None' && !url.searchParams.has('securityPolicy') && !options.securityPolicy) securityPolicy = 'Basic256Sha256';
  if (policy === 'None' && mode !== 'None' && (url.searchParams.has('securityPolicy') || options.securityPolicy)) {
    throw new BifrostError('BIFROST_INVALID_URL', `securityPolicy=None cannot be used with securityMode=${mode}`);
  }
  if (policy !== 'None' && policy !== 'auto' && mode === 'None') throw new BifrostError('BIFROST_INVALID_URL', `securityPolicy=${policy} needs securityMode=Sign or SignAndEncrypt`);
  if (policy === 'auto' && !url.searchParams.has('securityMode') && !options.securityMode) mode = 'SignAndEncrypt';

  const username = url.username ? decodeURIComponent(url.username) : options.username;
  const password = url.password ? decodeURIComponent(url.password) : options.password;
  const userCert = url.searchParams.get('userCertificate') ?? options.userCertificateFile;
  const userKey = url.searchParams.get('userPrivateKey') ?? options.userPrivateKeyFile;
  let identity: UserIdentity = { type: 'anonymous' };
  if (userCert || userKey) {
    if (!userCert || !userKey) throw new BifrostError('BIFROST_INVALID_URL', 'an X.509 user identity needs both userCertificate and userPrivateKey');
    identity = { type: 'certificate', certificateFile: userCert, privateKeyFile: userKey };
  } else if (username !== undefined && username !== '') {
    identity = { type: 'username', username, password: password ?? '' };
  }

  const endpoint = new URL(url.toString());
  endpoint.username = '';
  endpoint.password = '';
  endpoint.search = '';
  endpoint.hash = '';
  let endpointUrl = endpoint.toString();
  if (endpointUrl.endsWith('/') && url.pathname === '/') endpointUrl = endpointUrl.slice(0, -1);

  return {
    endpointUrl,
    securityPolicy,
    securityMode: mode,
    identity,
    pkiDir: url.searchParams.get('pki') ?? options.pkiDir ?? DEFAULT_PKI_DIR,
    applicationUri: options.applicationUri,
    acceptUnknownCertificate: queryBool(url, 'acceptUnknownCertificate', options.acceptUnknownCertificate ?? false),
    sessionTimeoutMs: options.sessionTimeoutMs ?? 60_000,
  };
}
