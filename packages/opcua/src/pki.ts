/**
 * @module
 * The OPC UA PKI on disk (OPC 10000-12 §7.3 CertificateGroup folders, laid out as node-opcua-pki
 * does): `own/certs` and `own/private` for this application's instance certificate and key,
 * `trusted/certs` for the peers we trust, `rejected/` where an unknown peer's certificate lands,
 * `issuers/` for CA certificates. These functions return plain data for `bifrost pki
 * init|list|trust|reject` and never print. Only `pkiInit` loads node-opcua (to create the key and
 * the self-signed certificate); listing, trusting and rejecting use `node:crypto` alone.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { BifrostError } from '@bifrost/core';
import { loadNodeOpcua } from './load.js';

/**
 * The PKI directory used when none is given.
 * @example await pkiList({ dir: DEFAULT_PKI_DIR })
 */
export const DEFAULT_PKI_DIR = './data/pki';

/**
 * The application certificate file, relative to the PKI directory.
 * @example join(dir, OWN_CERTIFICATE)
 */
export const OWN_CERTIFICATE = 'own/certs/certificate.pem';
/**
 * The application private key file, relative to the PKI directory.
 * @example join(dir, OWN_PRIVATE_KEY)
 */
export const OWN_PRIVATE_KEY = 'own/private/private_key.pem';

/**
 * The application URI Bifrost uses by default; it is written into the certificate's
 * subjectAltName and must equal the ApplicationDescription's URI (OPC 10000-4 §6.1.3).
 * @example defaultApplicationUri() // 'urn:bifrost:myhost'
 */
export function defaultApplicationUri(): string {
  return `urn:bifrost:${hostname()}`;
}

/** What `pkiList` reports about one certificate. */
export interface CertificateInfo {
  /** Absolute path of the file. */
  file: string;
  /** SHA-1 thumbprint of the DER, lowercase hex (the OPC UA CertificateThumbprint). */
  thumbprint: string;
  subject: string;
  /** The application URI from the subjectAltName, if any. */
  applicationUri?: string;
  /** ISO 8601. */
  validFrom: string;
  /** ISO 8601. */
  validTo: string;
  /** True when the validity period has ended. */
  expired: boolean;
}

/** Options every PKI function takes. */
export interface PkiOptions {
  /** The PKI directory (default `./data/pki`). */
  dir?: string;
}

/** Options of {@link pkiInit}. */
export interface PkiInitOptions extends PkiOptions {
  /** Application URI to put in the certificate (default `urn:bifrost:<hostname>`). */
  applicationUri?: string;
  /** Subject common name (default `Bifrost@<hostname>`). */
  commonName?: string;
  /** Extra DNS names for the subjectAltName (the host name is always included). */
  dns?: string[];
  /** Validity in days (default 3650). */
  validityDays?: number;
  /** Replace an existing certificate (keeps the private key). */
  renew?: boolean;
}

/** The result of {@link pkiInit}. */
export interface PkiInitResult {
  dir: string;
  certificateFile: string;
  privateKeyFile: string;
  /** False when a certificate already existed and was kept. */
  created: boolean;
  certificate: CertificateInfo;
}

/** What {@link pkiList} returns. */
export interface PkiListing {
  dir: string;
  own: CertificateInfo | null;
  trusted: CertificateInfo[];
  rejected: CertificateInfo[];
  issuers: CertificateInfo[];
}

/** The result of {@link pkiTrust} and {@link pkiReject}. */
export interface PkiMoveResult {
  thumbprint: string;
  /** Where the certificate now is. */
  file: string;
  /** Where it was taken from (a rejected or trusted copy that was removed, or the input file). */
  from?: string;
  certificate: CertificateInfo;
}

function pkiError(message: string, cause?: unknown): BifrostError {
  return new BifrostError('BIFROST_OPCUA_PKI', message, cause === undefined ? {} : { cause });
}

/** Reads a certificate from PEM (the first certificate of a chain) or DER. */
function parseCertificate(bytes: Buffer, file: string): X509Certificate {
  try {
    return new X509Certificate(bytes);
  } catch (cause) {
    throw pkiError(`${file} is not a PEM or DER X.509 certificate`, cause);
  }
}

/**
 * The lowercase hex SHA-1 thumbprint of a certificate (OPC 10000-4 §7.37: CertificateThumbprint).
 * @example thumbprintOf(cert) // '3f2a…'
 */
export function thumbprintOf(cert: X509Certificate): string {
  return cert.fingerprint.replaceAll(':', '').toLowerCase();
}

function infoOf(cert: X509Certificate, file: string): CertificateInfo {
  const uri = /URI:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  const validTo = new Date(cert.validTo);
  const info: CertificateInfo = {
    file: resolve(file),
    thumbprint: thumbprintOf(cert),
    subject: cert.subject.replaceAll('\n', ', '),
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: validTo.toISOString(),
    expired: validTo.getTime() < Date.now(),
  };
  if (uri !== undefined) info.applicationUri = uri;
  return info;
}

/**
 * Describes one certificate file (PEM or DER).
 * @example const info = await certificateInfo('./data/pki/own/certs/certificate.pem')
 */
export async function certificateInfo(file: string): Promise<CertificateInfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw pkiError(`cannot read certificate ${file}`, cause);
  }
  return infoOf(parseCertificate(bytes, file), file);
}

async function listFolder(folder: string): Promise<CertificateInfo[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  const out: CertificateInfo[] = [];
  for (const name of names.sort()) {
    if (!/\.(pem|der|crt|cer)$/i.test(name)) continue;
    const file = join(folder, name);
    if (!(await stat(file)).isFile()) continue;
    try {
      out.push(infoOf(new X509Certificate(await readFile(file)), file));
    } catch {
      // A file that is not a certificate is not listed: node-opcua-pki ignores it too.
    }
  }
  return out;
}

function folders(dir: string) {
  const root = resolve(dir);
  return { root, trusted: join(root, 'trusted', 'certs'), rejected: join(root, 'rejected'), issuers: join(root, 'issuers', 'certs'), own: join(root, OWN_CERTIFICATE) };
}

/**
 * Lists the application certificate and the trusted, rejected and issuer certificates.
 * @example const { trusted, rejected } = await pkiList({ dir: './data/pki' })
 */
export async function pkiList(options: PkiOptions = {}): Promise<PkiListing> {
  const f = folders(options.dir ?? DEFAULT_PKI_DIR);
  const own = existsSync(f.own) ? await certificateInfo(f.own) : null;
  return { dir: f.root, own, trusted: await listFolder(f.trusted), rejected: await listFolder(f.rejected), issuers: await listFolder(f.issuers) };
}

/** node-opcua-pki's file name for a certificate: `<CN>[<thumbprint>].pem`. */
function idealName(cert: X509Certificate): string {
  const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? '';
  return `${cn.replace(/[^\w.@-]/g, '_')}[${thumbprintOf(cert)}].pem`;
}

async function findByThumbprint(folder: string, wanted: string): Promise<CertificateInfo[]> {
  return (await listFolder(folder)).filter((c) => c.thumbprint.startsWith(wanted));
}

async function move(options: PkiOptions & { thumbprintOrFile: string }, to: 'trusted' | 'rejected'): Promise<PkiMoveResult> {
  const f = folders(options.dir ?? DEFAULT_PKI_DIR);
  const target = to === 'trusted' ? f.trusted : f.rejected;
  const other = to === 'trusted' ? f.rejected : f.trusted;
  const input = options.thumbprintOrFile;
  let cert: X509Certificate;
  let from: string | undefined;
  if (existsSync(input) && (await stat(input)).isFile()) {
    cert = parseCertificate(await readFile(input), input);
    from = resolve(input);
  } else {
    const wanted = input.replaceAll(':', '').toLowerCase();
    if (!/^[0-9a-f]{8,40}$/.test(wanted)) throw pkiError(`"${input}" is neither a certificate file nor a thumbprint (8 to 40 hex digits)`);
    const found = [...(await findByThumbprint(other, wanted)), ...(await findByThumbprint(target, wanted))];
    const distinct = [...new Set(found.map((c) => c.thumbprint))];
    if (distinct.length === 0) throw pkiError(`no certificate with thumbprint ${wanted} in ${other}`);
    if (distinct.length > 1) throw pkiError(`thumbprint ${wanted} is ambiguous: ${distinct.join(', ')}; give more digits`);
    const first = found[0] as CertificateInfo;
    cert = parseCertificate(await readFile(first.file), first.file);
    from = first.file;
  }
  const thumbprint = thumbprintOf(cert);
  await mkdir(target, { recursive: true });
  const file = join(target, idealName(cert));
  await writeFile(file, cert.toString(), { mode: 0o644 });
  // Remove every copy from the opposite list, so the peer is never both trusted and rejected.
  for (const c of await findByThumbprint(other, thumbprint)) await rm(c.file, { force: true });
  for (const c of await findByThumbprint(target, thumbprint)) if (c.file !== file) await rm(c.file, { force: true });
  const result: PkiMoveResult = { thumbprint, file, certificate: infoOf(cert, file) };
  if (from !== undefined && from !== file) result.from = from;
  return result;
}

/**
 * Trusts a certificate given as a file (PEM or DER, e.g. one from `rejected/`) or as a thumbprint
 * of a rejected one: copies it to `trusted/certs` and removes it from `rejected/`.
 * @example await pkiTrust({ dir: './data/pki', thumbprintOrFile: './data/pki/rejected/PLC[ab12…].pem' })
 */
export function pkiTrust(options: PkiOptions & { thumbprintOrFile: string }): Promise<PkiMoveResult> {
  return move(options, 'trusted');
}

/**
 * Rejects a certificate given as a file or as a thumbprint of a trusted one: moves it to `rejected/`.
 * @example await pkiReject({ dir: './data/pki', thumbprintOrFile: 'ab12cd34' })
 */
export function pkiReject(options: PkiOptions & { thumbprintOrFile: string }): Promise<PkiMoveResult> {
  return move(options, 'rejected');
}

/**
 * Creates the PKI folders, the application's private key and its self-signed instance certificate
 * (OPC 10000-4 §6.1), keeping an existing certificate unless `renew` is set. Loads node-opcua.
 * @example const { certificateFile, certificate } = await pkiInit({ dir: './data/pki' })
 */
export async function pkiInit(options: PkiInitOptions = {}): Promise<PkiInitResult> {
  const f = folders(options.dir ?? DEFAULT_PKI_DIR);
  const ua = await loadNodeOpcua();
  const certificateFile = join(f.root, OWN_CERTIFICATE);
  const privateKeyFile = join(f.root, OWN_PRIVATE_KEY);
  const manager = new ua.OPCUACertificateManager({ rootFolder: f.root, automaticallyAcceptUnknownCertificate: false });
  try {
    await manager.initialize();
    await mkdir(join(f.root, 'rejected'), { recursive: true });
    const exists = existsSync(certificateFile);
    if (!exists || options.renew) {
      const host = hostname();
      await manager.createSelfSignedCertificate({
        applicationUri: options.applicationUri ?? defaultApplicationUri(),
        subject: `/CN=${options.commonName ?? `Bifrost@${host}`}/O=Bifrost`,
        dns: [...new Set([host, 'localhost', ...(options.dns ?? [])])],
        ip: ['127.0.0.1'],
        startDate: new Date(Date.now() - 24 * 3600_000),
        validity: options.validityDays ?? 3650,
        outputFile: certificateFile,
      });
    }
    return { dir: f.root, certificateFile, privateKeyFile, created: !exists || options.renew === true, certificate: await certificateInfo(certificateFile) };
  } catch (cause) {
    throw cause instanceof BifrostError ? cause : pkiError(`cannot initialize the PKI in ${f.root}: ${(cause as Error).message}`, cause);
  } finally {
    await manager.dispose();
  }
}
