/**
 * @module
 * `describeServer(url)`: what an OPC UA server says about itself before any session — its
 * application name and URI, product URI, and the security policies and modes its endpoints offer
 * (GetEndpoints, OPC 10000-4 §5.4.4, over an unsecured channel). Network discovery uses it; it
 * reads nothing from the address space and writes nothing. It uses a PKI of its own in the
 * temporary folder, so discovering never leaves files in the working directory.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectError, withTimeout } from '@bifrost/core';
import { loadNodeOpcua } from './load.js';
import { pkiInit } from './pki.js';

/** A server's self-description. */
export interface ServerDescription {
  endpointUrl: string;
  applicationName?: string;
  applicationUri?: string;
  productUri?: string;
  /** `Policy/Mode` pairs, e.g. `Basic256Sha256/SignAndEncrypt`. */
  securityPolicies: string[];
  /** User identity token types offered (Anonymous, UserName, Certificate). */
  userTokens: string[];
}

const MODES = ['Invalid', 'None', 'Sign', 'SignAndEncrypt'];
const TOKENS = ['Anonymous', 'UserName', 'Certificate', 'IssuedToken'];

/**
 * Asks a server for its endpoints.
 * @example (await describeServer('opc.tcp://10.0.0.9:4840')).securityPolicies
 */
export async function describeServer(endpointUrl: string, options: { timeoutMs?: number } = {}): Promise<ServerDescription> {
  const ua = await loadNodeOpcua();
  const pki = await pkiInit({ dir: join(tmpdir(), 'bifrost-discovery-pki') });
  const certificates = new ua.OPCUACertificateManager({ rootFolder: pki.dir, automaticallyAcceptUnknownCertificate: false });
  await certificates.initialize();
  const client = ua.OPCUAClient.create({
    clientCertificateManager: certificates,
    certificateFile: pki.certificateFile,
    privateKeyFile: pki.privateKeyFile,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  try {
    const endpoints = await withTimeout(
      async (signal) => {
        signal.addEventListener('abort', () => void client.disconnect().catch(() => {}), { once: true });
        await client.connect(endpointUrl);
        return client.getEndpoints();
      },
      { timeoutMs: options.timeoutMs ?? 5000, what: `GetEndpoints from ${endpointUrl}` },
    );
    const server = endpoints[0]?.server;
    const out: ServerDescription = {
      endpointUrl,
      securityPolicies: [...new Set(endpoints.map((e) => `${(e.securityPolicyUri ?? '').split('#')[1] ?? 'None'}/${MODES[e.securityMode] ?? e.securityMode}`))],
      userTokens: [...new Set(endpoints.flatMap((e) => (e.userIdentityTokens ?? []).map((t) => TOKENS[t.tokenType] ?? String(t.tokenType))))],
    };
    if (server?.applicationName?.text) out.applicationName = server.applicationName.text;
    if (server?.applicationUri) out.applicationUri = server.applicationUri;
    if (server?.productUri) out.productUri = server.productUri;
    return out;
  } catch (e) {
    throw connectError(e, { device: endpointUrl });
  } finally {
    await client.disconnect().catch(() => {});
  }
}
