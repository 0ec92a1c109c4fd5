/**
 * @module
 * Test fixtures other packages reuse: a real Mosquitto broker started from a generated config on
 * a free port (plain, TLS, mutual TLS, password file, ACL, persistence), and a throwaway PKI
 * (CA, server and client certificates) made with the openssl command line.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';

export { type FakeBroker, type FakeBrokerBehaviour, type FakePublish, startFakeBroker } from './fake-broker.js';
export { type SinkSuiteOptions, type SinkSuiteSetup, sinkSuite } from './sink-suite.js';

/** Paths of a generated test PKI. */
export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by a different CA, which the broker must refuse. */
  rogueCert: string;
  rogueKey: string;
  rogueCaCert: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

function makeLeaf(dir: string, name: string, ca: string, cn: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
}

/**
 * Generates a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
 * client certificate from a second ("rogue") CA, all EC P-256, valid two days.
 * @example const pki = makeTestPki(mkdtempSync(join(tmpdir(), 'pki-')))
 */
export function makeTestPki(dir: string): TestPki {
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'server', 'ca', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', 'ca', 'bifrost-client', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'rogue', 'rogue-ca', 'bifrost-client', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    rogueCert: p('rogue.crt'),
    rogueKey: p('rogue.key'),
    rogueCaCert: p('rogue-ca.crt'),
  };
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** A directory for the config, password file and persistence. */
  dir: string;
  port?: number;
  /** Serve TLS with the server certificate of this PKI; `requireCertificate` for mutual TLS. */
  tls?: { pki: TestPki; requireCertificate?: boolean };
  /** Users and passwords; anonymous access is then refused. */
  users?: Record<string, string>;
  /** ACL file text (mosquitto.conf(5) acl_file syntax). */
  acl?: string;
  /** Keep sessions and queued messages across a restart (persistence true). */
  persistence?: boolean;
  /** Path of the mosquitto binary (default /usr/sbin/mosquitto). */
  binary?: string;
}

/** A Mosquitto broker process. */
export interface RunningMosquitto extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  /** Stops the broker (SIGTERM, so persistence is written) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  start(): Promise<void>;
  close(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts Mosquitto with a generated config on a free loopback port.
 * @example const broker = await startMosquitto({ dir, users: { gw: 'secret' } }); … await broker.close()
 */
export async function startMosquitto(o: MosquittoOptions): Promise<RunningMosquitto> {
  const port = o.port ?? (await freePort());
  // Run as root, mosquitto drops to user "mosquitto", who cannot read a private temp directory.
  const asUser = process.getuid?.() === 0 ? [`user ${userInfo().username}`] : [];
  const lines = [...asUser, `listener ${port} 127.0.0.1`, 'log_dest stderr', 'log_type error', 'max_queued_messages 1000000'];
  if (o.users) {
    const file = join(o.dir, 'passwd');
    writeFileSync(file, '');
    for (const [u, pw] of Object.entries(o.users)) execFileSync('mosquitto_passwd', ['-b', file, u, pw], { stdio: 'pipe' });
    lines.push('allow_anonymous false', `password_file ${file}`);
  } else lines.push('allow_anonymous true');
  if (o.acl !== undefined) {
    writeFileSync(join(o.dir, 'acl'), o.acl);
    lines.push(`acl_file ${join(o.dir, 'acl')}`);
  }
  if (o.tls) lines.push(`cafile ${o.tls.pki.caCert}`, `certfile ${o.tls.pki.serverCert}`, `keyfile ${o.tls.pki.serverKey}`, `require_certificate ${o.tls.requireCertificate ? 'true' : 'false'}`);
  if (o.persistence) lines.push('persistence true', `persistence_location ${o.dir}/`, 'autosave_interval 1');
  const configFile = join(o.dir, 'mosquitto.conf');
  writeFileSync(configFile, `${lines.join('\n')}\n`);
  let proc: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    stderr = '';
    const p = spawn(o.binary ?? '/usr/sbin/mosquitto', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    proc = p;
    try {
      await waitFor(async () => p.exitCode === null && (await canConnect(port)), 10_000, 20);
    } catch {
      throw new Error(`mosquitto did not start on port ${port}: ${stderr}`);
    }
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url: `${o.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, port, configFile, stop, start, close: stop, [Symbol.asyncDispose]: stop };
}
