/**
 * @module
 * The `opc.tcp://` device: a node-opcua client and session behind Bifrost's Device contract.
 * Reads are Read service calls (OPC 10000-4 §5.10.2) chunked by the server's
 * MaxNodesPerRead operation limit (OPC 10000-5 §6.3.11); subscriptions are real OPC UA
 * subscriptions with monitored items (§5.12, §5.13) and DataChangeFilter deadbands (§7.22.2);
 * reconnect is Bifrost's (BaseDevice backoff), and a new session re-creates every live
 * subscription. node-opcua is loaded when the first device connects.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  BAD,
  BaseDevice,
  BifrostError,
  type BrowseNode,
  type BrowseOptions,
  type ColumnListener,
  type ColumnSubscription,
  channel,
  connectError,
  connectErrorCode,
  type DeviceIdentity,
  type Driver,
  type OperationOptions,
  openDevice,
  type SubscribeIntoOptions,
  type SubscribeOptions,
  sleep,
  type TagValue,
  toBifrostError,
  UNCERTAIN,
  type Value,
  type ValueColumns,
} from '@bifrost/core';
import type { ClientSession, ClientSubscription, DataValue, MonitoredItemNotification, NodeId, NotificationMessage, OPCUAClient, ReferenceDescription, UserIdentityInfo } from 'node-opcua';
import { type OpcUaAddress, parseAddress, validateAddress } from './address.js';
import { loadNodeOpcua, type NodeOpcua } from './load.js';
import { type ClientSettings, type OpcUaConnectOptions, resolveSettings, type SecurityModeName, type SecurityPolicyName } from './options.js';
import { defaultApplicationUri, type PkiInitResult, pkiInit, thumbprintOf } from './pki.js';
import { qualityOf, STATUS, statusError } from './status.js';
import { BuiltInType, builtInTypeName, builtInTypeOf, coreTypeOf, fromUaValue, toUaVariant } from './variant.js';

/** Options of an OPC UA `subscribe`: OPC UA monitored item parameters (OPC 10000-4 §7.21). */
export interface OpcUaSubscribeOptions extends SubscribeOptions {
  /** Publishing interval in ms (default `intervalMs`). */
  publishingIntervalMs?: number;
  /** Sampling interval in ms (default `intervalMs`; 0 = as fast as the server can). */
  samplingIntervalMs?: number;
  /** Server-side queue size per monitored item (default 1). */
  queueSize?: number;
  /** How `deadband` is measured: an absolute value, or a percent of the EURange (AnalogItem only). */
  deadbandType?: 'absolute' | 'percent';
}

/** The server's operation limits (OPC 10000-5 §6.3.11); 0 means "no limit". */
export interface OperationLimits {
  maxNodesPerRead: number;
  maxNodesPerWrite: number;
  maxNodesPerBrowse: number;
  maxMonitoredItemsPerCall: number;
}

/** What a resolved address caches: its NodeId and, once written, its type. */
interface NodeEntry {
  nodeId: NodeId;
  /** The ReadValueId of its Value attribute, built once: a bulk read allocates no request objects of its own. */
  read?: { nodeId: NodeId; attributeId: number };
  builtInType?: number;
  isArray?: boolean;
  /** The DataType is abstract (BaseDataType, Number, Integer, UInteger…): each write takes the type of the current value. */
  abstract?: boolean;
  /** The `:<TYPE>` hint of the address: the built-in type a write uses. */
  hint?: number;
}

interface LiveSubscription {
  addresses: readonly string[];
  options: OpcUaSubscribeOptions;
  queue: TagValue[];
  wake: (() => void) | undefined;
  native: ClientSubscription | undefined;
  error: BifrostError | undefined;
}

/**
 * A {@link OpcUaDevice.subscribeInto}: one OPC UA subscription whose notifications are written
 * into `out`. Everything per item is resolved when the subscription is made: `slotOf` maps a
 * monitored item's clientHandle (node-opcua numbers them 1, 2, … per subscription) to its slot.
 */
interface ColumnSub {
  addresses: readonly string[];
  out: ValueColumns;
  intervalMs: number;
  keepAliveMs: number;
  listener: ColumnListener;
  stop: AbortSignal;
  native: ClientSubscription | undefined;
  /** The PublishTime of the last notification written. */
  publishedAt: number;
  /** When to report even if some item never sent its first sample (0: not armed). */
  gateAt: number;
  slotOf: Int32Array;
  /** Until every slot has a value after a (re)subscription, nothing is reported (the first report carries every slot). */
  seen: Uint8Array;
  unseen: number;
  /** Slots written since the last report (held while `unseen` > 0). */
  written: number;
  /** Bad slots now, and the error of the last one, for the device's health. */
  bad: number;
  lastError: BifrostError | undefined;
  /** The slots hold the connection's error (nothing to mark again until a subscription is made). */
  down: boolean;
  loop: Promise<void> | undefined;
}

const requests = channel('opcua', 'request');

/** The floor of a request's timeout (node-opcua's own floor is 5 s). */
const MIN_TRANSACTION_TIMEOUT_MS = 100;

/**
 * What the connect saw on the wire, to say what happened when it fails: node-opcua reports most
 * handshake failures as "The connection may have been rejected by server" or "Connection Break".
 * Filled by a transport factory that observes node-opcua's own ClientTCP_transport.
 */
interface Handshake {
  /** The TCP connection was established. */
  tcp: boolean;
  /** HEL/ACK completed (OPC 10000-6 §7.1.3): the transport emitted `connect`. */
  acknowledged: boolean;
  /** Bytes received before and after the ACK was accepted. */
  bytesBeforeAck: number;
  bytesAfterAck: number;
  /** The first bytes received in each phase, for the message. */
  firstBeforeAck?: Buffer;
  firstAfterAck?: Buffer;
  /** The server closed the socket. */
  closedByPeer: boolean;
}

/** Chunk size when the server sets no limit: bounds one request's size (node-opcua's default max message is 16 MiB). */
const UNLIMITED_CHUNK = 20_000;

const POLICY_URI: Record<SecurityPolicyName, string> = {
  None: 'http://opcfoundation.org/UA/SecurityPolicy#None',
  Basic256Sha256: 'http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256',
  Aes128_Sha256_RsaOaep: 'http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep',
  Aes256_Sha256_RsaPss: 'http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss',
};
const MODE_NUMBER: Record<SecurityModeName, number> = { None: 1, Sign: 2, SignAndEncrypt: 3 };

/** The StatusCode name and value of a node-opcua error or StatusCode, if it has one. */
function statusOf(e: unknown): { value: number; name: string } | undefined {
  const s = e as { statusCode?: { value?: number; name?: string }; response?: { responseHeader?: { serviceResult?: { value: number; name: string } } } } | undefined;
  const sc = s?.statusCode ?? s?.response?.responseHeader?.serviceResult;
  if (sc && typeof sc.value === 'number' && sc.value !== 0) return { value: sc.value, name: sc.name ?? '' };
  const m = /\b(Bad[A-Za-z]+)\b/.exec(e instanceof Error ? e.message : String(e));
  if (m) {
    const name = m[1] as string;
    return { value: (STATUS as Record<string, number>)[name] ?? 0x80000000, name };
  }
  return undefined;
}

/**
 * An OPC UA server as a Bifrost device. Create it with `connect('opc.tcp://…')`.
 * @example
 * await using plc = await connect('opc.tcp://127.0.0.1:4840?securityPolicy=Basic256Sha256&securityMode=SignAndEncrypt');
 * const t = await plc.read('ns=1;s=Line1.Temperature');
 */
export class OpcUaDevice extends BaseDevice {
  readonly protocol = 'opcua';
  readonly #settings: ClientSettings;
  #ua: NodeOpcua | undefined;
  #client: OPCUAClient | undefined;
  #session: ClientSession | undefined;
  #limits: OperationLimits = { maxNodesPerRead: 0, maxNodesPerWrite: 0, maxNodesPerBrowse: 0, maxMonitoredItemsPerCall: 0 };
  #namespaces: string[] = [];
  readonly #nodes = new Map<string, NodeEntry | BifrostError>();
  readonly #children = new Map<string, ReferenceDescription[]>();
  readonly #subscriptions = new Set<LiveSubscription>();
  readonly #columnSubs = new Set<ColumnSub>();
  #negotiated: { securityPolicy: string; securityMode: SecurityModeName } | undefined;
  #pki: PkiInitResult | undefined;
  #preparing: Promise<void> | undefined;
  #handshake: Handshake | undefined;

  constructor(url: URL, options: OpcUaConnectOptions = {}) {
    super(url, options);
    this.#settings = resolveSettings(url, options);
  }

  /** The server's operation limits, read after each session is created. */
  get operationLimits(): OperationLimits {
    return { ...this.#limits };
  }

  /** The security policy and mode of the current secure channel. */
  get security(): { securityPolicy: string; securityMode: SecurityModeName } | undefined {
    return this.#negotiated;
  }

  // ── connection ──────────────────────────────────────────────────────────────────────────────

  /**
   * Loads node-opcua and creates the PKI once, outside the connect timeout: both are local work
   * that can take seconds on a busy machine (module load, RSA key generation), not network time.
   */
  override async ensureConnected(options: OperationOptions = {}): Promise<void> {
    this.#preparing ??= (async () => {
      this.#ua ??= await loadNodeOpcua();
      const s = this.#settings;
      this.#pki ??= await pkiInit({ dir: s.pkiDir, ...(s.applicationUri ? { applicationUri: s.applicationUri } : {}) });
    })();
    try {
      await this.#preparing;
    } catch (e) {
      this.#preparing = undefined;
      throw e;
    }
    return super.ensureConnected(options);
  }

  protected async doConnect(signal: AbortSignal): Promise<void> {
    const ua = (this.#ua ??= await loadNodeOpcua());
    const s = this.#settings;
    const pki = (this.#pki ??= await pkiInit({ dir: s.pkiDir, ...(s.applicationUri ? { applicationUri: s.applicationUri } : {}) }));
    const certificateManager = new ua.OPCUACertificateManager({ rootFolder: pki.dir, automaticallyAcceptUnknownCertificate: s.acceptUnknownCertificate });
    await certificateManager.initialize();
    let { securityPolicy, securityMode } = s;
    if (securityPolicy === 'auto') ({ securityPolicy, securityMode } = await this.#selectEndpoint(ua, signal));
    // node-opcua raises every request's timeout to at least ClientSecureChannelLayer.minTransactionTimeout
    // (5 s): with Bifrost's 2 s default a silent server was waited for 5 s (issue 22.8). The floor is
    // per process; each Bifrost client sets its own defaultTransactionTimeout, so 100 ms is only a sanity bound.
    const layer = ua.ClientSecureChannelLayer as unknown as { minTransactionTimeout: number };
    if (layer.minTransactionTimeout > MIN_TRANSACTION_TIMEOUT_MS) layer.minTransactionTimeout = MIN_TRANSACTION_TIMEOUT_MS;
    const handshake: Handshake = { tcp: false, acknowledged: false, bytesBeforeAck: 0, bytesAfterAck: 0, closedByPeer: false };
    this.#handshake = handshake;
    const client = ua.OPCUAClient.create({
      applicationName: 'Bifrost',
      applicationUri: pki.certificate.applicationUri ?? s.applicationUri ?? defaultApplicationUri(),
      clientCertificateManager: certificateManager,
      certificateFile: pki.certificateFile,
      privateKeyFile: pki.privateKeyFile,
      securityPolicy: POLICY_URI[securityPolicy] as never,
      securityMode: MODE_NUMBER[securityMode] as never,
      // Servers advertise their host name; a client that dials an IP address must still find the endpoint
      // (node-opcua then matches on security mode and policy alone).
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: s.sessionTimeoutMs,
      // Bifrost reconnects (BaseDevice backoff); node-opcua's own retry loop would hide a dead server.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 500, randomisationFactor: 0 },
      // The configured timeout is the timeout of each request (issue 22.8: it was max(4 × timeout, 4000) ms).
      transportTimeout: this.requestTimeoutMs,
      defaultTransactionTimeout: this.requestTimeoutMs,
      transportFactory: observingTransportFactory(ua, handshake),
    });
    this.#client = client;
    const abort = () => void client.disconnect().catch(() => {});
    signal.addEventListener('abort', abort, { once: true });
    try {
      try {
        // HEL/ACK and OpenSecureChannel are two round trips: a server still short of a channel after
        // two timeouts is stuck (on a reply node-opcua neither accepted nor refused), said before the outer connect timeout.
        let stuck: NodeJS.Timeout | undefined;
        await Promise.race([
          client.connect(s.endpointUrl),
          new Promise<never>((_, reject) => {
            stuck = setTimeout(() => reject(this.#handshakeError(new Error('handshake stalled'), 'connect')), this.requestTimeoutMs * 2 - 50);
            stuck.unref();
          }),
        ]).finally(() => clearTimeout(stuck));
      } catch (e) {
        throw await this.#connectError(e, certificateManager, pki.certificateFile);
      }
      client.on('connection_lost', () => {
        if (this.#client === client) this.connectionLost(new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} lost`, { device: this.name }));
      });
      client.on('close', (err) => {
        if (this.#client === client && err) this.connectionLost(err);
      });
      let session: ClientSession;
      try {
        session = await client.createSession(this.#identity(s));
      } catch (e) {
        if (/End point must exist/.test(e instanceof Error ? e.message : '')) throw await this.#connectError(e, certificateManager, pki.certificateFile);
        const st = statusOf(e);
        if (st && /Identity|UserAccessDenied|UserSignature|SecurityChecks/.test(st.name)) {
          throw new BifrostError('BIFROST_OPCUA_BAD_CREDENTIALS', `${this.name} rejected the ${s.identity.type} user identity: ${st.name}`, {
            device: this.name,
            status: st.value >>> 0,
            statusName: st.name,
            cause: e,
          });
        }
        throw st ? statusError(st.value, st.name, { device: this.name, operation: 'create session' }, e) : this.#handshakeError(e, 'CreateSession');
      }
      this.#session = session;
      session.on('session_closed', () => {
        if (this.#session === session) this.connectionLost(new BifrostError('BIFROST_CONNECTION_LOST', `session on ${this.name} closed`, { device: this.name }));
      });
      session.on('keepalive_failure', () => {
        if (this.#session === session) this.connectionLost(new BifrostError('BIFROST_CONNECTION_LOST', `keep-alive to ${this.name} failed`, { device: this.name }));
      });
      this.#negotiated = { securityPolicy, securityMode };
      await this.#readServerInfo(ua, session);
      this.#nodes.clear();
      this.#children.clear();
      for (const sub of this.#subscriptions) await this.#startNative(sub).catch((e: unknown) => this.#pushBad(sub, e));
    } catch (e) {
      if (signal.aborted) {
        const reason = toBifrostError(signal.reason, 'BIFROST_TIMEOUT', { device: this.name });
        // A handshake stuck on a reply that did not decode is a malformed reply, not a slow server.
        const seen = reason.code === 'BIFROST_TIMEOUT' ? this.#handshakeError(reason, 'connect') : reason;
        throw seen.code === 'BIFROST_MALFORMED_FRAME' ? seen : reason;
      }
      throw e;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /**
   * Says what happened when a connect failed without a StatusCode, from what the wire showed
   * ({@link Handshake}): nothing listening, silence, a closed socket, or a reply that did not decode.
   */
  #handshakeError(e: unknown, step: string): BifrostError {
    const h = this.#handshake;
    const ms = this.requestTimeoutMs;
    const head = (b: Buffer | undefined) => (b ? ` (first bytes ${b.toString('hex').replace(/(..)/g, '$1 ').trim()}: "${b.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}")` : '');
    const ctx = { device: this.name, cause: e };
    if (!h?.tcp) {
      if (e instanceof BifrostError) return e;
      return new BifrostError('BIFROST_CONNECTION_REFUSED', `connection refused by ${this.name}`, ctx);
    }
    if (!h.acknowledged) {
      // OPC 10000-6 §7.1.2.4: the server answers Hello with Acknowledge (or Error).
      if (h.bytesBeforeAck > 0)
        return new BifrostError(
          'BIFROST_MALFORMED_FRAME',
          `${this.name} answered the OPC UA Hello with ${h.bytesBeforeAck} bytes that are not a valid Acknowledge${head(h.firstBeforeAck)}; is it an OPC UA server?`,
          ctx,
        );
      if (h.closedByPeer) return new BifrostError('BIFROST_CONNECTION_LOST', `${this.name} accepted the TCP connection and closed it without answering the OPC UA Hello`, ctx);
      return new BifrostError('BIFROST_CONNECT_TIMEOUT', `${this.name} accepted the TCP connection but did not answer the OPC UA Hello within ${ms} ms`, { ...ctx, details: { timeoutMs: ms } });
    }
    const ack = ackProblem(h.firstBeforeAck);
    if (ack) return new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} answered the OPC UA Hello with ${ack}${head(h.firstBeforeAck?.subarray(0, 16))}`, ctx);
    const what = step === 'CreateSession' ? 'CreateSession' : 'OpenSecureChannel';
    if (h.bytesAfterAck > 0 && !(e instanceof BifrostError && e.code !== 'BIFROST_TIMEOUT' && e.code !== 'BIFROST_CONNECTION_REFUSED')) {
      const message = e instanceof Error ? e.message : String(e);
      if (!/Transaction has timed out/.test(message) || step !== 'CreateSession')
        return new BifrostError('BIFROST_MALFORMED_FRAME', `${this.name} answered the ${what} request with a reply that does not decode${head(h.firstAfterAck)}`, ctx);
    }
    if (h.closedByPeer) return new BifrostError('BIFROST_CONNECTION_LOST', `${this.name} closed the connection during the ${what} request`, ctx);
    if (e instanceof BifrostError && e.code !== 'BIFROST_TIMEOUT') return e;
    return new BifrostError('BIFROST_CONNECT_TIMEOUT', `${this.name} acknowledged the OPC UA Hello but did not answer the ${what} request within ${ms} ms`, { ...ctx, details: { timeoutMs: ms } });
  }

  /** GetEndpoints (OPC 10000-4 §5.4.4) over a short-lived unsecured channel. */
  async #fetchEndpoints(ua: NodeOpcua, signal: AbortSignal) {
    const pki = this.#pki as PkiInitResult;
    // Its own certificate manager: disconnecting a node-opcua client disposes the manager it was given.
    const probeCertificates = new ua.OPCUACertificateManager({ rootFolder: pki.dir, automaticallyAcceptUnknownCertificate: false });
    await probeCertificates.initialize();
    const probe = ua.OPCUAClient.create({
      clientCertificateManager: probeCertificates,
      certificateFile: pki.certificateFile,
      privateKeyFile: pki.privateKeyFile,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
    });
    const abort = () => void probe.disconnect().catch(() => {});
    signal.addEventListener('abort', abort, { once: true });
    try {
      await probe.connect(this.#settings.endpointUrl);
      return await probe.getEndpoints();
    } finally {
      signal.removeEventListener('abort', abort);
      await probe.disconnect().catch(() => {});
    }
  }

  async #selectEndpoint(ua: NodeOpcua, signal: AbortSignal) {
    // The highest securityLevel among the endpoints whose policy Bifrost supports.
    const endpoints = await this.#fetchEndpoints(ua, signal);
    const known = new Map(Object.entries(POLICY_URI).map(([k, v]) => [v, k as SecurityPolicyName]));
    const usable = endpoints.filter((e) => known.has(e.securityPolicyUri ?? '')).sort((a, b) => b.securityLevel - a.securityLevel);
    const best = usable[0];
    if (!best) throw new BifrostError('BIFROST_OPCUA_SECURITY', `${this.name} offers no endpoint with a security policy Bifrost supports`, { device: this.name });
    const mode = (['None', 'None', 'Sign', 'SignAndEncrypt'] as const)[best.securityMode] ?? 'None';
    return { securityPolicy: known.get(best.securityPolicyUri ?? '') as SecurityPolicyName, securityMode: mode as SecurityModeName };
  }

  /** "Policy/Mode" of every endpoint the server offers, for a message; empty when they cannot be fetched. */
  async #offered(ua: NodeOpcua): Promise<string[]> {
    try {
      const endpoints = await this.#fetchEndpoints(ua, AbortSignal.timeout(Math.max(this.requestTimeoutMs, 1000)));
      return [...new Set(endpoints.map((e) => `${e.securityPolicyUri?.split('#')[1]}/${['Invalid', 'None', 'Sign', 'SignAndEncrypt'][e.securityMode]}`))];
    } catch {
      return [];
    }
  }

  async #connectError(e: unknown, certificateManager: InstanceType<NodeOpcua['OPCUACertificateManager']>, ownCertificateFile: string): Promise<BifrostError> {
    if (e instanceof BifrostError) return e;
    const message = e instanceof Error ? e.message : String(e);
    const st = statusOf(e);
    const s = this.#settings;
    if (/End point must exist|Cannot find an Endpoint matching|endpoint.*not found|BadSecurityPolicyRejected|BadSecurityModeRejected/i.test(message)) {
      const offered = this.#ua ? await this.#offered(this.#ua) : [];
      const list = offered.length > 0 ? `; it offers ${offered.join(', ')}` : '';
      return new BifrostError('BIFROST_OPCUA_SECURITY', `${this.name} has no endpoint with securityPolicy=${s.securityPolicy} and securityMode=${s.securityMode}${list}`, {
        device: this.name,
        statusName: st?.name ?? 'BadSecurityPolicyRejected',
        status: (st?.value ?? STATUS.BadSecurityPolicyRejected) >>> 0,
        cause: e,
      });
    }
    // We did not trust the server: node-opcua-pki saved its certificate to our rejected/ folder.
    if (/server certificate|BadCertificateUntrusted|BadCertificateInvalid|certificate.*(untrusted|rejected)/i.test(message) && st?.name !== 'BadSecurityChecksFailed') {
      const rejected = certificateManager.rejectedFolder;
      let file = rejected;
      const client = this.#client;
      const serverCert = client?.knowsServerEndpoint
        ? client.findEndpointForSecurity(MODE_NUMBER[s.securityMode === 'None' ? 'Sign' : s.securityMode] as never, client.securityPolicy)?.serverCertificate
        : undefined;
      try {
        const names = readdirSync(rejected);
        const thumb = serverCert ? thumbprintOf(new X509Certificate(serverCert as Buffer)) : undefined;
        const hit = thumb ? names.find((f) => f.includes(thumb)) : names.map((f) => ({ f, t: statSync(join(rejected, f)).mtimeMs })).sort((a, b) => b.t - a.t)[0]?.f;
        if (hit) file = join(rejected, hit);
      } catch {
        // the folder is named instead of the file
      }
      return new BifrostError('BIFROST_OPCUA_CERTIFICATE_UNTRUSTED', `the certificate of ${this.name} is not trusted; it was saved to ${file}; trust it with: bifrost pki trust ${file}`, {
        device: this.name,
        statusName: 'BadCertificateUntrusted',
        status: STATUS.BadCertificateUntrusted >>> 0,
        hint: `bifrost pki trust ${file}`,
        details: { file },
        cause: e,
      });
    }
    // The server did not trust us. node-opcua servers answer BadSecurityChecksFailed or just close the socket
    // (OPC 10000-6 §6.7.6 lets a server close without a reason to avoid helping an attacker).
    // Nothing answered the Hello in transportTimeout (OPC 10000-6 §7.1.2.3): a silent host, not a refusal.
    if (/Timeout\(|timeout was =|timed out/i.test(message)) {
      // Once TCP is up, what the wire showed says more: silence, or a reply that does not decode.
      if (this.#handshake?.tcp) return this.#handshakeError(e, 'connect');
      return connectError(new BifrostError('BIFROST_TIMEOUT', message.replace(/\s*\n\s*/g, ' '), { cause: e }), { device: this.name });
    }
    const closedBySecureServer = s.securityMode !== 'None' && /rejected by server|disconnected by third party|socket has been disconnected/i.test(message);
    if (st?.name === 'BadSecurityChecksFailed' || /BadSecurityChecksFailed|security checks failed/i.test(message) || closedBySecureServer) {
      let thumb = '';
      try {
        thumb = thumbprintOf(new X509Certificate(readFileSync(ownCertificateFile)));
      } catch {
        // the thumbprint is a convenience in the message only
      }
      return new BifrostError(
        'BIFROST_OPCUA_CERTIFICATE_UNTRUSTED',
        `${this.name} refused the secure channel: it does not trust this client's certificate ${ownCertificateFile} (thumbprint ${thumb}); the server saved it to its rejected certificates (a Bifrost server: <pki>/rejected/); on the server run: bifrost pki trust ${thumb}`,
        {
          device: this.name,
          statusName: 'BadSecurityChecksFailed',
          status: STATUS.BadSecurityChecksFailed >>> 0,
          hint: `on the server: bifrost pki trust ${thumb}`,
          details: { file: ownCertificateFile, thumbprint: thumb },
          cause: e,
        },
      );
    }
    // An ERR message (OPC 10000-6 §7.1.2.5) carries the server's StatusCode: "ERR received BadTcp… : reason".
    const errMessage = /ERR received (Bad[A-Za-z]+)[^:]*:\s*(.*)$/s.exec(message);
    if (st && errMessage) {
      const base = statusError(st.value, st.name, { device: this.name, operation: 'connect' }, e);
      return new BifrostError(base.code, `${this.name} refused the OPC UA connection with ERR ${st.name}: ${(errMessage[2] ?? '').slice(0, 200)}`, {
        device: this.name,
        status: st.value >>> 0,
        statusName: st.name,
        cause: e,
      });
    }
    // Before TCP is up (ECONNREFUSED, ENOTFOUND, EHOSTUNREACH…), core's classifier names the cause
    // (node-opcua keeps the errno only in its message text); after, what the wire showed does.
    if (!this.#handshake?.tcp && connectErrorCode(e) !== undefined) return connectError(e, { device: this.name });
    return st ? statusError(st.value, st.name, { device: this.name, operation: 'connect' }, e) : this.#handshakeError(e, 'connect');
  }

  #identity(s: ClientSettings): UserIdentityInfo {
    const id = s.identity;
    // UserTokenType (OPC 10000-4 §7.42): 0 Anonymous, 1 UserName, 2 Certificate.
    if (id.type === 'username') return { type: 1, userName: id.username, password: id.password } as UserIdentityInfo;
    if (id.type === 'certificate') {
      if (!existsSync(id.certificateFile)) throw new BifrostError('BIFROST_OPCUA_PKI', `user certificate ${id.certificateFile} not found`, { device: this.name });
      // X509IdentityToken (OPC 10000-4 §7.41.5): the DER certificate, and the key that signs the server nonce.
      const certificateData = new X509Certificate(readFileSync(id.certificateFile)).raw;
      const privateKey = readFileSync(id.privateKeyFile, 'utf8');
      return { type: 2, certificateData, privateKey } as unknown as UserIdentityInfo;
    }
    return { type: 0 } as UserIdentityInfo;
  }

  async #readServerInfo(ua: NodeOpcua, session: ClientSession): Promise<void> {
    const V = ua.VariableIds;
    const ids = [
      V.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
      V.Server_ServerCapabilities_OperationLimits_MaxNodesPerWrite,
      V.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
      V.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
      V.Server_NamespaceArray,
    ];
    const nodes = ids.map((i) => ({ nodeId: ua.makeNodeId(i, 0), attributeId: ua.AttributeIds.Value }));
    // The limits are not known yet: a server with MaxNodesPerRead below 5 refuses the batch (BadTooManyOperations), so fall back to one by one.
    const dvs = await session.read(nodes).catch(async () => {
      const one: DataValue[] = [];
      for (const n of nodes) one.push(await session.read(n));
      return one;
    });
    const n = (i: number) => {
      const v = dvs[i]?.statusCode.value === 0 ? Number(dvs[i]?.value.value) : 0;
      return Number.isFinite(v) && v > 0 ? v : 0;
    };
    this.#limits = { maxNodesPerRead: n(0), maxNodesPerWrite: n(1), maxNodesPerBrowse: n(2), maxMonitoredItemsPerCall: n(3) };
    this.#namespaces = (dvs[4]?.value.value as string[] | undefined) ?? [];
  }

  protected async doDisconnect(): Promise<void> {
    const client = this.#client;
    const session = this.#session;
    this.#client = undefined;
    this.#session = undefined;
    for (const sub of this.#subscriptions) sub.native = undefined;
    for (const sub of this.#columnSubs) sub.native = undefined;
    if (session) await withDeadline(session.close(true), 1000).catch(() => {});
    if (client) await withDeadline(client.disconnect(), 2000).catch(() => {});
  }

  #sessionOrThrow(): { ua: NodeOpcua; session: ClientSession } {
    if (!this.#session || !this.#ua) throw new BifrostError('BIFROST_NOT_CONNECTED', `${this.name} is not connected`, { device: this.name });
    return { ua: this.#ua, session: this.#session };
  }

  /** Runs a service call, turning a dropped channel into connectionLost and node-opcua errors into Bifrost ones. */
  async #call<T>(what: string, fn: (session: ClientSession, ua: NodeOpcua) => Promise<T>, address?: string): Promise<T> {
    const { ua, session } = this.#sessionOrThrow();
    try {
      return await fn(session, ua);
    } catch (e) {
      if (e instanceof BifrostError) throw e;
      const st = statusOf(e);
      const message = e instanceof Error ? e.message : String(e);
      if (/Transaction has timed out/.test(message)) {
        // The server did not answer within the configured timeout; the channel is suspect, so reconnect (with backoff).
        const err = new BifrostError('BIFROST_TIMEOUT', `${what} on ${this.name}: no answer within ${this.requestTimeoutMs} ms`, {
          device: this.name,
          cause: e,
          details: { timeoutMs: this.requestTimeoutMs },
        });
        this.connectionLost(err);
        throw err;
      }
      if (
        /closed|disconnect|not connected|connection break|aborted|ended by server|premature|ECONNRESET|EPIPE|BadSessionIdInvalid|BadSessionClosed|BadConnectionClosed|BadSecureChannelClosed|socket has been disconnected/i.test(
          message,
        )
      ) {
        const err = new BifrostError('BIFROST_CONNECTION_LOST', `${what} on ${this.name}: ${message}`, { device: this.name, cause: e, ...(st ? { statusName: st.name, status: st.value >>> 0 } : {}) });
        this.connectionLost(err);
        throw err;
      }
      const ctx = address === undefined ? { device: this.name, operation: what } : { device: this.name, operation: what, address };
      throw st ? statusError(st.value, st.name, ctx, e) : toBifrostError(e, 'BIFROST_OPCUA_BAD_STATUS', { device: this.name });
    }
  }

  // ── addresses ───────────────────────────────────────────────────────────────────────────────

  /** Resolves addresses to NodeIds (cached); a failure is the address's error, not a rejection. */
  async #resolve(addresses: readonly string[]): Promise<(NodeEntry | BifrostError)[]> {
    const out = new Array<NodeEntry | BifrostError>(addresses.length);
    const ua = this.#ua as NodeOpcua;
    for (let i = 0; i < addresses.length; i++) {
      const a = addresses[i] as string;
      let entry = this.#nodes.get(a);
      if (entry === undefined) {
        let parsed: OpcUaAddress;
        try {
          parsed = parseAddress(a);
        } catch (e) {
          out[i] = e as BifrostError;
          continue;
        }
        entry =
          parsed.kind === 'nodeId'
            ? this.#toNodeId(ua, a, parsed)
            : await this.#resolvePath(a, parsed.segments).catch((e: unknown) => toBifrostError(e, 'BIFROST_OPCUA_NODE_ID_UNKNOWN', { address: a }));
        if (!(entry instanceof BifrostError) && parsed.type !== undefined) entry.hint = builtInTypeOf(parsed.type);
        // An unreachable server is not a property of the address: do not cache that.
        if (!(entry instanceof BifrostError) || entry.code === 'BIFROST_OPCUA_NODE_ID_UNKNOWN' || entry.code === 'BIFROST_INVALID_ADDRESS') this.#nodes.set(a, entry);
      }
      out[i] = entry;
    }
    return out;
  }

  #toNodeId(ua: NodeOpcua, text: string, a: Extract<OpcUaAddress, { kind: 'nodeId' }>): NodeEntry | BifrostError {
    let ns = a.namespace;
    if (a.namespaceUri !== undefined) {
      ns = this.#namespaces.indexOf(a.namespaceUri);
      if (ns < 0)
        return new BifrostError('BIFROST_OPCUA_NODE_ID_UNKNOWN', `namespace ${a.namespaceUri} of ${text} is not in the NamespaceArray of ${this.name}`, {
          address: text,
          device: this.name,
          statusName: 'BadNodeIdUnknown',
          status: STATUS.BadNodeIdUnknown >>> 0,
        });
    }
    const id = a.identifierType === 'b' ? Buffer.from(a.identifier as string, 'base64') : a.identifier;
    const type = { i: ua.NodeIdType.NUMERIC, s: ua.NodeIdType.STRING, g: ua.NodeIdType.GUID, b: ua.NodeIdType.BYTESTRING }[a.identifierType];
    return { nodeId: new ua.NodeId(type, id as never, ns) };
  }

  async #browseChildren(nodeId: NodeId): Promise<ReferenceDescription[]> {
    const key = nodeId.toString();
    const cached = this.#children.get(key);
    if (cached) return cached;
    const [refs] = await this.#browseMany([nodeId]);
    this.#children.set(key, refs ?? []);
    return refs ?? [];
  }

  /** Browses hierarchical forward references of many nodes, following continuation points (OPC 10000-4 §5.9.3). */
  async #browseMany(nodeIds: NodeId[]): Promise<ReferenceDescription[][]> {
    return this.#call('browse', async (session, ua) => {
      const out: ReferenceDescription[][] = [];
      const chunk = this.#limits.maxNodesPerBrowse || 1000;
      for (let i = 0; i < nodeIds.length; i += chunk) {
        const part = nodeIds.slice(i, i + chunk);
        const results = await session.browse(
          part.map((nodeId) => ({
            nodeId,
            browseDirection: ua.BrowseDirection.Forward,
            referenceTypeId: ua.makeNodeId(ua.ReferenceTypeIds.HierarchicalReferences, 0),
            includeSubtypes: true,
            nodeClassMask: ua.NodeClassMask.Object | ua.NodeClassMask.Variable | ua.NodeClassMask.Method,
            resultMask: 63,
          })),
        );
        for (const r of results) {
          const refs = [...(r.references ?? [])];
          let cp = r.continuationPoint;
          while (cp && cp.length > 0) {
            const next = await session.browseNext(cp, false);
            refs.push(...(next.references ?? []));
            cp = next.continuationPoint;
          }
          out.push(refs);
        }
      }
      return out;
    });
  }

  async #resolvePath(address: string, segments: { name: string; namespace?: number }[]): Promise<NodeEntry | BifrostError> {
    const ua = this.#ua as NodeOpcua;
    let current = ua.makeNodeId(ua.ObjectIds.RootFolder, 0);
    for (const seg of segments) {
      const refs = await this.#browseChildren(current);
      const hit = refs.find((r) => r.browseName.name === seg.name && (seg.namespace === undefined || r.browseName.namespaceIndex === seg.namespace));
      if (!hit) {
        return new BifrostError('BIFROST_OPCUA_NODE_ID_UNKNOWN', `browse path ${address}: no child "${seg.name}" under ${current.toString()} on ${this.name}`, {
          address,
          device: this.name,
          statusName: 'BadNoMatch',
          status: STATUS.BadNoMatch >>> 0,
        });
      }
      current = hit.nodeId;
    }
    return { nodeId: current };
  }

  /**
   * The NodeId an address resolves to, as a string (browse paths are resolved by browsing).
   * @example await device.resolveNodeId('/Objects/Server') // 'i=2253'
   */
  async resolveNodeId(address: string, options: OperationOptions = {}): Promise<string> {
    await this.ensureConnected(options);
    const [e] = await this.#resolve([address]);
    if (e instanceof BifrostError) throw e;
    return nodeIdText((e as NodeEntry).nodeId);
  }

  // ── read / write ────────────────────────────────────────────────────────────────────────────

  /** One Read service call per MaxNodesPerRead nodes (OPC 10000-5 §6.3.11), results in order. */
  async #readChunked(what: string, nodesToRead: { nodeId: NodeId; attributeId: number }[], address?: string): Promise<DataValue[]> {
    const chunk = this.#limits.maxNodesPerRead || UNLIMITED_CHUNK;
    if (nodesToRead.length <= chunk) {
      if (requests.hasSubscribers) requests.publish({ device: this.name, service: 'Read', nodes: nodesToRead.length });
      return this.#call(what, (session) => session.read(nodesToRead, 0), address);
    }
    const out: DataValue[] = [];
    for (let start = 0; start < nodesToRead.length; start += chunk) {
      const part = nodesToRead.slice(start, start + chunk);
      if (requests.hasSubscribers) requests.publish({ device: this.name, service: 'Read', nodes: part.length });
      const dvs = await this.#call(what, (session) => session.read(part, 0), address);
      for (const dv of dvs) out.push(dv);
    }
    return out;
  }

  protected async doReadMany(addresses: readonly string[], _signal: AbortSignal): Promise<TagValue[]> {
    const entries = await this.#resolve(addresses);
    const out = new Array<TagValue>(addresses.length);
    const index: number[] = [];
    const nodesToRead: { nodeId: NodeId; attributeId: number }[] = [];
    const now = Date.now();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as NodeEntry | BifrostError;
      if (e instanceof BifrostError) out[i] = { address: addresses[i] as string, value: null, quality: 'bad', timestamp: now, error: e };
      else {
        index.push(i);
        e.read ??= { nodeId: e.nodeId, attributeId: 13 };
        nodesToRead.push(e.read);
      }
    }
    if (nodesToRead.length === 0) return out;
    const dvs = await this.#readChunked('read', nodesToRead);
    const ts = Date.now();
    for (let k = 0; k < dvs.length; k++) {
      const i = index[k] as number;
      out[i] = this.#toTagValue(addresses[i] as string, dvs[k] as DataValue, ts);
    }
    return out;
  }

  #toTagValue(address: string, dv: DataValue, timestamp: number): TagValue {
    const code = dv.statusCode.value;
    const src = dv.sourceTimestamp ? dv.sourceTimestamp.getTime() : undefined;
    if (code === 0) {
      const t: TagValue = { address, value: fromUaValue(dv.value.dataType, dv.value.value), quality: 'good', timestamp };
      if (src !== undefined) t.sourceTimestamp = src;
      return t;
    }
    const quality = qualityOf(code);
    const error = statusError(code, dv.statusCode.name, { device: this.name, address, operation: 'read' });
    const t: TagValue = { address, value: quality === 'bad' ? null : fromUaValue(dv.value.dataType, dv.value.value), quality, timestamp, error };
    if (src !== undefined) t.sourceTimestamp = src;
    return t;
  }

  async #typeOf(address: string, entry: NodeEntry): Promise<{ builtInType: number; isArray: boolean }> {
    if (entry.builtInType !== undefined && !entry.abstract) return { builtInType: entry.hint ?? entry.builtInType, isArray: entry.isArray === true };
    if (entry.builtInType === undefined) {
      const [builtInType, rank] = await this.#call(
        'read type of',
        async (session, ua) => {
          const [dt, vr] = await session.read([
            { nodeId: entry.nodeId, attributeId: ua.AttributeIds.DataType },
            { nodeId: entry.nodeId, attributeId: ua.AttributeIds.ValueRank },
          ]);
          if (dt === undefined || dt.statusCode.value !== 0) throw Object.assign(new Error(dt?.statusCode.name ?? 'BadNodeIdUnknown'), { statusCode: dt?.statusCode });
          const dataTypeId = dt.value.value as NodeId;
          // Built-in types have ids 1..25 in namespace 0; anything else is a subtype to walk up (Duration → Double, enums → Int32).
          const b = dataTypeId.namespace === 0 && typeof dataTypeId.value === 'number' && dataTypeId.value <= 25 ? dataTypeId.value : await session.getBuiltInDataType(entry.nodeId);
          return [b as number, Number(vr?.value.value ?? -1)] as const;
        },
        address,
      );
      entry.builtInType = builtInType;
      entry.isArray = rank >= 1 || rank === 0;
      // BaseDataType (i=24, "Variant") and the abstract Number, Integer, UInteger (i=26..28) resolve to
      // Variant or Null: the DataType says nothing of the encoding (OPC 10000-3 §8.2.6, OPC 10000-5 §12.2).
      entry.abstract = builtInType === BuiltInType.Variant || builtInType === BuiltInType.Null || builtInType > BuiltInType.DiagnosticInfo;
    }
    if (entry.hint !== undefined) return { builtInType: entry.hint, isArray: entry.isArray === true };
    if (!entry.abstract) return { builtInType: entry.builtInType, isArray: entry.isArray === true };
    // As UaExpert does: write the built-in type of the value the variable holds now, read afresh on
    // each write since another client may have stored a value of another type.
    const dv = await this.#call('read value of', (session, ua) => session.read({ nodeId: entry.nodeId, attributeId: ua.AttributeIds.Value }), address);
    const current = dv.value.dataType;
    if (dv.statusCode.value !== 0 && qualityOf(dv.statusCode.value) === 'bad') throw statusError(dv.statusCode.value, dv.statusCode.name, { device: this.name, address, operation: 'read value of' });
    if (current === BuiltInType.Null || current === BuiltInType.Variant || current === undefined)
      throw new BifrostError(
        'BIFROST_OPCUA_TYPE_MISMATCH',
        `${address} on ${this.name} has an abstract DataType and holds no value to take the type from; give the type on the address, e.g. ${address}:DINT`,
        { device: this.name, address, statusName: 'BadTypeMismatch', status: STATUS.BadTypeMismatch >>> 0 },
      );
    // node-opcua: arrayType 0 = Scalar.
    return { builtInType: current, isArray: Number(dv.value.arrayType) !== 0 };
  }

  protected async doWrite(address: string, value: Value, _signal: AbortSignal): Promise<void> {
    const [entry] = await this.#resolve([address]);
    if (entry instanceof BifrostError) throw entry;
    const e = entry as NodeEntry;
    const { builtInType, isArray } = await this.#typeOf(address, e);
    let variant: ReturnType<typeof toUaVariant>;
    try {
      variant = toUaVariant(builtInType, value, isArray);
    } catch (err) {
      const be = err as BifrostError;
      if (be.code === 'BIFROST_VALUE_OUT_OF_RANGE')
        throw new BifrostError(be.code, `${address} on ${this.name}: ${be.message}`, { device: this.name, address, statusName: 'BadOutOfRange', status: STATUS.BadOutOfRange >>> 0, cause: err });
      throw new BifrostError('BIFROST_OPCUA_TYPE_MISMATCH', `${address} on ${this.name} is ${isArray ? 'an array of ' : ''}${builtInTypeName(builtInType)}: ${be.message}`, {
        device: this.name,
        address,
        statusName: 'BadTypeMismatch',
        status: STATUS.BadTypeMismatch >>> 0,
        cause: err,
      });
    }
    const ua = this.#ua as NodeOpcua;
    if (requests.hasSubscribers) requests.publish({ device: this.name, service: 'Write', nodes: 1 });
    const status = await this.#call('write', (session) => session.write({ nodeId: e.nodeId, attributeId: 13, value: { value: new ua.Variant(variant as never) } }), address);
    if (status.value !== 0) throw statusError(status.value, status.name, { device: this.name, address, operation: 'write' });
  }

  // ── identify / browse / call ────────────────────────────────────────────────────────────────

  protected async doIdentify(_signal: AbortSignal): Promise<DeviceIdentity> {
    const ua = this.#ua as NodeOpcua;
    const V = ua.VariableIds;
    const ids = [
      V.Server_ServerStatus_BuildInfo_ManufacturerName,
      V.Server_ServerStatus_BuildInfo_ProductName,
      V.Server_ServerStatus_BuildInfo_ProductUri,
      V.Server_ServerStatus_BuildInfo_SoftwareVersion,
      V.Server_ServerStatus_BuildInfo_BuildNumber,
      V.Server_ServerStatus_BuildInfo_BuildDate,
      V.Server_ServerArray,
    ];
    const dvs = await this.#readChunked(
      'identify',
      ids.map((i) => ({ nodeId: ua.makeNodeId(i, 0), attributeId: 13 })),
    );
    const v = (i: number) => (dvs[i]?.statusCode.value === 0 ? dvs[i]?.value.value : undefined);
    const out: DeviceIdentity = { protocol: 'opcua', endpointUrl: this.#settings.endpointUrl };
    const set = (k: string, x: unknown) => {
      if (x !== undefined && x !== null && x !== '') out[k] = x instanceof Date ? x.toISOString() : typeof x === 'object' ? String((x as { text?: string }).text ?? x) : String(x);
    };
    set('vendor', v(0));
    set('product', v(1));
    set('productUri', v(2));
    set('firmware', v(3));
    set('build', v(4));
    set('buildDate', v(5));
    set('applicationUri', (v(6) as string[] | undefined)?.[0]);
    if (this.#negotiated) {
      out.securityPolicy = this.#negotiated.securityPolicy;
      out.securityMode = this.#negotiated.securityMode;
    }
    return out;
  }

  /**
   * Browses the address space from a browse path or NodeId (default `/Objects`), recursively to
   * `depth` levels (default 1), reporting progress as nodes are found.
   * @example const tree = await device.browse('/Objects', { depth: 3, onProgress: (n) => bar.update(n) })
   */
  async browse(path = '/Objects', options: BrowseOptions = {}): Promise<BrowseNode[]> {
    await this.ensureConnected(options);
    const depth = options.depth ?? 1;
    if (!(depth >= 1)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `browse depth must be >= 1, got ${depth}`);
    const [start] = await this.#resolve([path]);
    if (start instanceof BifrostError) throw start;
    const ua = this.#ua as NodeOpcua;
    const visited = new Set<string>([(start as NodeEntry).nodeId.toString()]);
    const roots: BrowseNode[] = [];
    let level: { nodeId: NodeId; into: BrowseNode[]; path: string }[] = [{ nodeId: (start as NodeEntry).nodeId, into: roots, path }];
    let found = 0;
    for (let d = 0; d < depth && level.length > 0; d++) {
      options.signal?.throwIfAborted();
      const results = await this.#browseMany(level.map((l) => l.nodeId));
      const next: typeof level = [];
      const variables: { node: BrowseNode; nodeId: NodeId }[] = [];
      for (let i = 0; i < level.length; i++) {
        const parent = level[i] as (typeof level)[number];
        for (const ref of results[i] ?? []) {
          const nodeId = ref.nodeId as unknown as NodeId;
          const kind = ref.nodeClass === ua.NodeClass.Variable ? 'tag' : ref.nodeClass === ua.NodeClass.Method ? 'method' : 'folder';
          const node: BrowseNode = { name: ref.browseName.name ?? '', address: nodeIdText(nodeId), kind };
          const text = ref.displayName?.text;
          if (text && text !== node.name) node.description = text;
          parent.into.push(node);
          found++;
          const childPath = `${parent.path.replace(/\/$/, '')}/${ref.browseName.namespaceIndex ? `${ref.browseName.namespaceIndex}:` : ''}${node.name}`;
          options.onProgress?.(found, childPath);
          if (kind === 'tag') variables.push({ node, nodeId });
          const key = nodeId.toString();
          if (kind === 'folder' && !visited.has(key)) {
            visited.add(key);
            node.children = [];
            next.push({ nodeId, into: node.children, path: childPath });
          }
        }
      }
      await this.#describeVariables(variables);
      level = next;
    }
    return roots;
  }

  /** Reads DataType, ValueRank, ArrayDimensions and AccessLevel of browsed variables in one Read per chunk. */
  async #describeVariables(vars: { node: BrowseNode; nodeId: NodeId }[]): Promise<void> {
    if (vars.length === 0) return;
    const ua = this.#ua as NodeOpcua;
    const A = ua.AttributeIds;
    const attrs = [A.DataType, A.ValueRank, A.ArrayDimensions, A.AccessLevel];
    {
      const part = vars;
      const dvs = await this.#readChunked(
        'browse',
        part.flatMap((v) => attrs.map((attributeId) => ({ nodeId: v.nodeId, attributeId }))),
      );
      // DataTypes with no Bifrost equivalent (BaseDataType, Number, Duration, a vendor's enum…) are
      // shown by their BrowseName, read once per distinct DataType node.
      const named = new Map<string, { typeId: NodeId; nodes: BrowseNode[] }>();
      part.forEach((v, k) => {
        const [dt, vr, dims, access] = dvs.slice(k * attrs.length, (k + 1) * attrs.length);
        const typeId = dt?.statusCode.value === 0 ? (dt.value.value as NodeId) : undefined;
        if (typeId) {
          const builtIn = typeId.namespace === 0 && typeof typeId.value === 'number' ? coreTypeOf(typeId.value) : undefined;
          v.node.type = builtIn ?? nodeIdText(typeId);
          if (builtIn === undefined) {
            const key = typeId.toString();
            const entry = named.get(key) ?? { typeId, nodes: [] };
            entry.nodes.push(v.node);
            named.set(key, entry);
          }
        }
        const rank = Number(vr?.value.value ?? -1);
        if (rank >= 0) {
          const d = dims?.value.value as ArrayLike<number> | null | undefined;
          v.node.dimensions = d ? Array.from(d) : [0];
        }
        // AccessLevel bit 1 = CurrentWrite (OPC 10000-3 §8.57).
        if (access?.statusCode.value === 0) v.node.writable = (Number(access.value.value) & 0x02) !== 0;
      });
      if (named.size > 0) {
        const types = [...named.values()];
        const names = await this.#readChunked(
          'browse',
          types.map((t) => ({ nodeId: t.typeId, attributeId: ua.AttributeIds.BrowseName })),
        );
        types.forEach((t, k) => {
          const dv = names[k];
          const name = dv?.statusCode.value === 0 ? (dv.value.value as { name?: string } | null)?.name : undefined;
          if (name) for (const node of t.nodes) node.type = name;
        });
      }
    }
  }

  /**
   * Calls a method (OPC 10000-4 §5.11.2) with input arguments converted to the types the method
   * declares, and returns its output arguments.
   * @example const [sum] = await device.call('ns=1;s=Line1', 'ns=1;s=Line1.Add', [2, 3])
   */
  async call(objectAddress: string, methodAddress: string, args: readonly Value[] = [], options: OperationOptions = {}): Promise<(Value | null)[]> {
    await this.ensureConnected(options);
    const [obj, method] = await this.#resolve([objectAddress, methodAddress]);
    if (obj instanceof BifrostError) throw obj;
    if (method instanceof BifrostError) throw method;
    const methodId = (method as NodeEntry).nodeId;
    const ua = this.#ua as NodeOpcua;
    return this.#call(
      'call',
      async (session) => {
        const def = await session.getArgumentDefinition(methodId);
        const inputs = def.inputArguments ?? [];
        if (inputs.length !== args.length) {
          throw new BifrostError('BIFROST_INVALID_ARGUMENT', `${methodAddress} takes ${inputs.length} arguments (${inputs.map((a) => a.name).join(', ')}), got ${args.length}`, {
            device: this.name,
            address: methodAddress,
            statusName: 'BadArgumentsMissing',
            status: STATUS.BadArgumentsMissing >>> 0,
          });
        }
        const inputArguments = [];
        for (let i = 0; i < inputs.length; i++) {
          const a = inputs[i] as (typeof inputs)[number];
          const t = a.dataType;
          const builtIn = t.namespace === 0 && typeof t.value === 'number' && t.value <= 25 ? t.value : BuiltInType.Variant;
          try {
            inputArguments.push(new ua.Variant(toUaVariant(builtIn, args[i], a.valueRank >= 0) as never));
          } catch (err) {
            throw new BifrostError('BIFROST_OPCUA_TYPE_MISMATCH', `argument ${a.name} of ${methodAddress}: ${(err as Error).message}`, {
              device: this.name,
              address: methodAddress,
              statusName: 'BadTypeMismatch',
              status: STATUS.BadTypeMismatch >>> 0,
              cause: err,
            });
          }
        }
        const result = await session.call({ objectId: (obj as NodeEntry).nodeId, methodId, inputArguments });
        if (result.statusCode.value !== 0) throw statusError(result.statusCode.value, result.statusCode.name, { device: this.name, address: methodAddress, operation: 'call' });
        return (result.outputArguments ?? []).map((v) => fromUaValue(v.dataType, v.value));
      },
      methodAddress,
    );
  }

  // ── subscribe ───────────────────────────────────────────────────────────────────────────────

  /**
   * Subscribes with OPC UA monitored items: the server samples, applies the deadband and
   * publishes changes; the first batch carries every tag. Survives reconnects: the subscription is
   * created again on the new session, and a lost connection yields the tags as bad values.
   * @example for await (const batch of device.subscribe(['ns=1;s=Line1.Temperature'], { intervalMs: 100, deadband: 0.5 })) …
   */
  override async *subscribe(addresses: readonly string[], options: OpcUaSubscribeOptions = {}): AsyncIterableIterator<TagValue[]> {
    const interval = options.intervalMs ?? 1000;
    if (!(interval > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `subscribe intervalMs must be > 0, got ${interval}`);
    if (options.deadbandType === 'percent' && !((options.deadband ?? 0) >= 0 && (options.deadband ?? 0) <= 100))
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'a percent deadband is from 0 to 100');
    const stop = options.signal ? AbortSignal.any([options.signal, this.lifetimeSignal]) : this.lifetimeSignal;
    const sub: LiveSubscription = { addresses: [...addresses], options, queue: [], wake: undefined, native: undefined, error: undefined };
    const onStop = () => sub.wake?.();
    stop.addEventListener('abort', onStop, { once: true });
    this.#subscriptions.add(sub);
    try {
      try {
        await this.ensureConnected(options);
        if (!sub.native && this.isConnected) await this.#startNative(sub);
      } catch (e) {
        // Aborted while setting up: the subscription simply ends, as BaseDevice's does.
        if (stop.aborted) return;
        throw e;
      }
      while (!stop.aborted) {
        if (sub.error) throw sub.error;
        if (sub.queue.length > 0) {
          yield sub.queue.splice(0, sub.queue.length);
          continue;
        }
        if (!this.isConnected) {
          // Nobody else may be calling the device: reconnecting is this loop's job (BaseDevice applies the backoff).
          try {
            await this.ensureConnected({ signal: stop });
          } catch {
            if (stop.aborted) break;
            await sleep(Math.min(interval, 250), stop).catch(() => {});
          }
          continue;
        }
        await new Promise<void>((resolve) => {
          sub.wake = resolve;
          setTimeout(() => resolve(), Math.max(interval, 200)).unref();
        });
        sub.wake = undefined;
      }
    } finally {
      stop.removeEventListener('abort', onStop);
      this.#subscriptions.delete(sub);
      const native = sub.native;
      sub.native = undefined;
      if (native) await withDeadline(native.terminate(), 1000).catch(() => {});
    }
  }

  /** A lost connection also ends the native subscriptions: their tags turn bad until the new session re-creates them. */
  protected override connectionLost(error?: unknown): void {
    const was = this.isConnected;
    super.connectionLost(error);
    if (!was) return;
    const err = toBifrostError(error ?? new Error('connection lost'), 'BIFROST_CONNECTION_LOST', { device: this.name });
    for (const sub of this.#subscriptions) {
      sub.native = undefined;
      this.#pushBad(sub, err);
    }
    for (const sub of this.#columnSubs) this.#columnsDown(sub, err);
  }

  /** A reset drops the session too: the subscribed columns go bad with its reason, as after a lost connection. */
  override async reset(reason?: string | BifrostError): Promise<void> {
    if (this.isConnected) {
      const err = reason instanceof BifrostError ? reason : new BifrostError('BIFROST_CONNECTION_LOST', `connection to ${this.name} reset${reason ? `: ${reason}` : ''}`, { device: this.name });
      for (const sub of this.#columnSubs) this.#columnsDown(sub, err);
    }
    await super.reset(reason);
  }

  #pushBad(sub: LiveSubscription, e: unknown): void {
    const err = toBifrostError(e, 'BIFROST_OPCUA_BAD_STATUS', { device: this.name });
    const now = Date.now();
    for (const address of sub.addresses) sub.queue.push({ address, value: null, quality: 'bad', timestamp: now, error: err });
    sub.wake?.();
  }

  /** Creates the OPC UA subscription and its monitored items (chunked by MaxMonitoredItemsPerCall). */
  async #startNative(sub: LiveSubscription): Promise<void> {
    const ua = this.#ua as NodeOpcua;
    const o = sub.options;
    const interval = o.intervalMs ?? 1000;
    const entries = await this.#resolve(sub.addresses);
    const now = Date.now();
    entries.forEach((e, i) => {
      if (e instanceof BifrostError) sub.queue.push({ address: sub.addresses[i] as string, value: null, quality: 'bad', timestamp: now, error: e });
    });
    const native = await this.#call('create subscription', (session) =>
      session.createSubscription2({
        requestedPublishingInterval: o.publishingIntervalMs ?? interval,
        requestedLifetimeCount: 60,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      }),
    );
    sub.native = native;
    native.on('terminated', () => {
      if (sub.native === native) sub.native = undefined;
    });
    const deadband = o.deadband ?? 0;
    const filter =
      deadband > 0
        ? new ua.DataChangeFilter({
            trigger: ua.DataChangeTrigger.StatusValue,
            deadbandType: o.deadbandType === 'percent' ? ua.DeadbandType.Percent : ua.DeadbandType.Absolute,
            deadbandValue: deadband,
          })
        : null;
    const params = (withFilter: boolean) => ({ samplingInterval: o.samplingIntervalMs ?? interval, discardOldest: true, queueSize: o.queueSize ?? 1, filter: withFilter ? filter : null });
    const good: { i: number; nodeId: NodeId }[] = [];
    entries.forEach((e, i) => {
      if (!(e instanceof BifrostError)) good.push({ i, nodeId: (e as NodeEntry).nodeId });
    });
    const chunk = this.#limits.maxMonitoredItemsPerCall || 5000;
    const monitor = async (items: { i: number; nodeId: NodeId }[], withFilter: boolean) => {
      const group = await this.#call('create monitored items', () =>
        native.monitorItems(
          items.map((x) => ({ nodeId: x.nodeId, attributeId: 13 })),
          params(withFilter),
          ua.TimestampsToReturn.Both,
        ),
      );
      group.on('changed', (_item, dv: DataValue, index: number) => {
        if (sub.native !== native) return;
        const x = items[index];
        if (x) sub.queue.push(this.#toTagValue(sub.addresses[x.i] as string, dv, Date.now()));
        sub.wake?.();
      });
      return group;
    };
    for (let start = 0; start < good.length; start += chunk) {
      const part = good.slice(start, start + chunk);
      const group = await monitor(part, filter !== null);
      // A deadband filter is refused for non-numeric variables (BadFilterNotAllowed, OPC 10000-4 §7.22.2): monitor those without it.
      const refused: { i: number; nodeId: NodeId }[] = [];
      group.monitoredItems.forEach((m, k) => {
        const code = m.statusCode;
        if (code.value === 0) return;
        const x = part[k] as { i: number; nodeId: NodeId };
        if (filter && /Filter/.test(code.name)) refused.push(x);
        else
          sub.queue.push({
            address: sub.addresses[x.i] as string,
            value: null,
            quality: 'bad',
            timestamp: Date.now(),
            error: statusError(code.value, code.name, { device: this.name, address: sub.addresses[x.i] as string, operation: 'monitor' }),
          });
      });
      if (refused.length > 0) await monitor(refused, false);
    }
    sub.wake?.();
  }

  // ── subscribeInto (the gateway's columnar subscription) ─────────────────────────────────────

  /**
   * Subscribes with one OPC UA subscription (publishing interval and sampling interval
   * `intervalMs`, queue size 1, no filter: OPC 10000-4 §5.12, §5.13) and writes each
   * NotificationMessage into `out`: a monitored item's clientHandle finds its slot in a typed
   * array made when the items are created, so a notification makes no object, string or lookup
   * per value beyond node-opcua's own DataValues. `listener.data` is called once per message,
   * after the slots are written; the first call after each (re)subscription carries every slot
   * (the server reports each item's first sample, §5.12.1.2). A keep-alive calls `listener.alive`.
   * The subscription keeps itself made: it connects (with the device's reconnect backoff), and
   * after a lost connection or a reset every slot is bad with the connection's error and the
   * subscription is created again on the new session. An address the server refuses is a bad
   * slot with its status (BadNodeIdUnknown…). `subscribe()` is unchanged for library users.
   * @example
   * const cols = new ValueColumns(addresses.length);
   * const sub = device.subscribeInto(addresses, cols, { intervalMs: 1000 }, { data: (n) => use(cols) });
   * await sub.close();
   */
  subscribeInto(addresses: readonly string[], out: ValueColumns, options: SubscribeIntoOptions, listener: ColumnListener): ColumnSubscription {
    const interval = options.intervalMs;
    if (!(interval > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `subscribeInto intervalMs must be > 0, got ${interval}`);
    if (out.size < addresses.length) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `subscribeInto needs columns of ${addresses.length} slots, got ${out.size}`);
    const closed = new AbortController();
    const signals = [closed.signal, this.lifetimeSignal];
    if (options.signal) signals.push(options.signal);
    const n = addresses.length;
    const sub: ColumnSub = {
      addresses: [...addresses],
      out,
      intervalMs: interval,
      keepAliveMs: options.keepAliveMs ?? interval * 10,
      listener,
      stop: AbortSignal.any(signals),
      native: undefined,
      slotOf: new Int32Array(0),
      seen: new Uint8Array(n),
      unseen: n,
      written: 0,
      publishedAt: 0,
      gateAt: 0,
      bad: n,
      lastError: undefined,
      down: false,
      loop: undefined,
    };
    // Until the first notification, every slot is bad: nothing was received yet.
    out.fillBad(new BifrostError('BIFROST_NOT_CONNECTED', `no value from the subscription on ${this.name} yet`, { device: this.name }));
    this.#columnSubs.add(sub);
    sub.loop = this.#runColumns(sub);
    let closing: Promise<void> | undefined;
    return {
      close: () =>
        (closing ??= (async () => {
          closed.abort();
          await sub.loop;
        })()),
    };
  }

  /** Keeps a column subscription made: connects, subscribes, and does both again after a loss. */
  async #runColumns(sub: ColumnSub): Promise<void> {
    const { stop } = sub;
    // Connection and subscription state is looked at this often; notifications do not wait for it.
    const tick = Math.min(sub.intervalMs, 250);
    try {
      while (!stop.aborted) {
        if (!this.isConnected) {
          try {
            await this.ensureConnected({ signal: stop });
          } catch (e) {
            if (stop.aborted) break;
            this.#columnsDown(sub, e);
            await sleep(tick, stop).catch(() => {});
            continue;
          }
        }
        if (sub.native === undefined && this.isConnected) {
          try {
            await this.#startColumns(sub);
          } catch (e) {
            if (stop.aborted) break;
            this.#columnsDown(sub, e);
            // The server answered, if only to refuse: the link is alive (the gateway's deadAfter watches this).
            if (this.isConnected) sub.listener.alive?.();
            // A refusal with the connection up (BadTooManySubscriptions…) is asked again at the pace of the interval, not of the tick.
            await sleep(Math.max(sub.intervalMs, 1000), stop).catch(() => {});
            continue;
          }
        }
        // A server that never reports some item's first sample must not hold the others back for ever.
        if (sub.native !== undefined && sub.unseen > 0 && sub.gateAt > 0 && Date.now() > sub.gateAt) this.#report(sub);
        await sleep(tick, stop).catch(() => {});
      }
    } finally {
      this.#columnSubs.delete(sub);
      const native = sub.native;
      sub.native = undefined;
      if (native) await withDeadline(native.terminate(), 1000).catch(() => {});
    }
  }

  /** Creates the subscription and its monitored items (chunked by MaxMonitoredItemsPerCall, OPC 10000-5 §6.3.11). */
  async #startColumns(sub: ColumnSub): Promise<void> {
    const ua = this.#ua as NodeOpcua;
    const n = sub.addresses.length;
    sub.seen.fill(0);
    sub.unseen = n;
    sub.written = 0;
    sub.gateAt = 0;
    const entries = await this.#resolve(sub.addresses);
    const good: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = entries[i] as NodeEntry | BifrostError;
      if (e instanceof BifrostError) this.#columnBad(sub, i, e);
      else good.push(i);
    }
    // The server sends a keep-alive after MaxKeepAliveCount empty publishing intervals, and keeps
    // a subscription without Publish requests for LifetimeCount intervals, at least three keep-alives (OPC 10000-4 §5.13.2).
    const keepAlive = Math.max(1, Math.floor(sub.keepAliveMs / sub.intervalMs));
    const native = await this.#call('create subscription', (session) =>
      session.createSubscription2({
        requestedPublishingInterval: sub.intervalMs,
        requestedLifetimeCount: Math.max(60, keepAlive * 3),
        requestedMaxKeepAliveCount: keepAlive,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      }),
    );
    // node-opcua numbers the monitored items of a subscription 1, 2, … in the order they are
    // created, before each request goes out; the map is made from that order so that a
    // notification arriving with the CreateMonitoredItems response finds its slots, and checked
    // against the handles node-opcua reports once the response is in.
    sub.slotOf = new Int32Array(good.length + 1).fill(-1);
    sub.native = native;
    // Creating many items takes a while on a big server: each answer proves the link (see `alive`).
    sub.listener.alive?.();
    native.on('raw_notification', (m: NotificationMessage) => this.#onColumnNotification(sub, native, m));
    native.on('terminated', () => {
      if (sub.native !== native) return;
      sub.native = undefined;
      this.#columnsDown(sub, new BifrostError('BIFROST_CONNECTION_LOST', `the subscription on ${this.name} ended`, { device: this.name }));
    });
    try {
      const chunk = this.#limits.maxMonitoredItemsPerCall || 5000;
      for (let start = 0; start < good.length; start += chunk) {
        const part = good.slice(start, start + chunk);
        // sub.slotOf, not a local: a handle out of the predicted range grows (replaces) the array.
        for (let k = 0; k < part.length; k++) sub.slotOf[start + k + 1] = part[k] as number;
        const group = await this.#call('create monitored items', () =>
          native.monitorItems(
            part.map((i) => ({ nodeId: (entries[i] as NodeEntry).nodeId, attributeId: 13 })),
            { samplingInterval: sub.intervalMs, discardOldest: true, queueSize: 1 },
            ua.TimestampsToReturn.Both,
          ),
        );
        sub.listener.alive?.();
        const items = group.monitoredItems;
        for (let k = 0; k < items.length; k++) {
          const m = items[k] as (typeof items)[number];
          const slot = part[k] as number;
          const h = m.monitoringParameters.clientHandle;
          if (h !== start + k + 1) {
            if (sub.slotOf[start + k + 1] === slot) sub.slotOf[start + k + 1] = -1;
            if (h >= sub.slotOf.length) {
              const grown = new Int32Array(h + 1).fill(-1);
              grown.set(sub.slotOf);
              sub.slotOf = grown;
            }
            sub.slotOf[h] = slot;
          }
          const code = m.statusCode;
          if (qualityOf(code.value) === 'bad') this.#columnBad(sub, slot, statusError(code.value, code.name, { device: this.name, address: sub.addresses[slot] as string, operation: 'monitor' }));
        }
      }
    } catch (e) {
      if (sub.native === native) sub.native = undefined;
      await withDeadline(native.terminate(), 1000).catch(() => {});
      throw e;
    }
    sub.gateAt = Date.now() + 2 * sub.intervalMs + this.requestTimeoutMs;
    if (sub.unseen === 0) this.#report(sub);
  }

  /** One NotificationMessage (OPC 10000-4 §7.25): its DataChangeNotifications into the slots, then one report. */
  #onColumnNotification(sub: ColumnSub, native: ClientSubscription, m: NotificationMessage): void {
    if (sub.native !== native || sub.stop.aborted) return;
    const data = m.notificationData;
    let count = 0;
    if (data) {
      for (let d = 0; d < data.length; d++) {
        const items = (data[d] as { monitoredItems?: MonitoredItemNotification[] | null } | null)?.monitoredItems;
        if (!items) continue;
        const slotOf = sub.slotOf;
        for (let k = 0; k < items.length; k++) {
          const item = items[k] as MonitoredItemNotification;
          const h = item.clientHandle;
          const slot = h < slotOf.length ? (slotOf[h] as number) : -1;
          if (slot < 0) continue;
          this.#columnValue(sub, slot, item.value);
          count++;
        }
      }
    }
    // An empty message is a keep-alive (§5.13.1.1); a StatusChangeNotification alone says nothing of values either.
    if (count === 0) {
      sub.listener.alive?.();
      return;
    }
    const now = Date.now();
    sub.out.timestamp = now;
    sub.written += count;
    const published = m.publishTime?.getTime();
    sub.publishedAt = published !== undefined && !Number.isNaN(published) ? published : now;
    if (sub.unseen === 0) this.#report(sub);
  }

  /** Hands the written slots to the listener, and says how the device is doing. */
  #report(sub: ColumnSub): void {
    const count = sub.written;
    sub.written = 0;
    sub.gateAt = 0;
    sub.down = false;
    if (sub.unseen > 0) {
      sub.seen.fill(1);
      sub.unseen = 0;
    }
    this.reportOutcome(sub.bad === 0, sub.bad === 0 ? undefined : sub.lastError);
    sub.listener.data(count, sub.publishedAt || sub.out.timestamp);
  }

  /** A notified DataValue into its slot, as a Read's would be (see `#toTagValue`). */
  #columnValue(sub: ColumnSub, slot: number, dv: DataValue): void {
    const out = sub.out;
    const wasBad = out.quality[slot] === BAD;
    const code = dv.statusCode.value;
    if (code === 0) out.set(slot, fromUaValue(dv.value.dataType, dv.value.value));
    else {
      const quality = qualityOf(code);
      const error = statusError(code, dv.statusCode.name, { device: this.name, address: sub.addresses[slot] as string, operation: 'monitor' });
      if (quality === 'bad') {
        out.setBad(slot, error);
        sub.lastError = error;
      } else out.set(slot, fromUaValue(dv.value.dataType, dv.value.value), UNCERTAIN, error);
    }
    const src = dv.sourceTimestamp;
    if (src) out.setSourceTimestamp(slot, src.getTime());
    else if (out.sourceTimestamp !== undefined) out.setSourceTimestamp(slot, Number.NaN);
    const isBad = out.quality[slot] === BAD;
    if (wasBad !== isBad) sub.bad += isBad ? 1 : -1;
    this.#columnSeen(sub, slot);
  }

  /** A slot that is bad for good on this subscription (an address that did not resolve, an item the server refused). */
  #columnBad(sub: ColumnSub, slot: number, error: BifrostError): void {
    if (sub.out.quality[slot] !== BAD) sub.bad++;
    sub.out.setBad(slot, error);
    sub.lastError = error;
    sub.written++;
    this.#columnSeen(sub, slot);
  }

  #columnSeen(sub: ColumnSub, slot: number): void {
    if (sub.seen[slot] === 0) {
      sub.seen[slot] = 1;
      sub.unseen--;
    }
  }

  /** The connection (or the subscription) is gone: every slot bad with its error, reported at once, once. */
  #columnsDown(sub: ColumnSub, e: unknown): void {
    sub.native = undefined;
    if (sub.down || sub.stop.aborted) return;
    sub.down = true;
    const err = toBifrostError(e, 'BIFROST_NOT_CONNECTED', { device: this.name });
    sub.out.fillBad(err);
    sub.bad = sub.addresses.length;
    sub.lastError = err;
    sub.seen.fill(0);
    sub.unseen = sub.addresses.length;
    sub.written = 0;
    sub.gateAt = 0;
    sub.listener.data(sub.addresses.length, sub.out.timestamp);
  }
}

/** A NodeId in its canonical text form: namespace 0 is left out (OPC 10000-6 §5.3.1.10), as users write it. */
function nodeIdText(nodeId: NodeId): string {
  const t = nodeId.toString();
  return t.startsWith('ns=0;') ? t.slice(5) : t;
}

/**
 * What is wrong with the reply to Hello that node-opcua accepted, if anything: it must be an ACK
 * whose buffer sizes are at least 8192 bytes (OPC 10000-6 §7.1.2.4, Table 53).
 */
function ackProblem(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const type = b.subarray(0, 3).toString('latin1');
  if (type !== 'ACK') return `a "${type.replace(/[^\x20-\x7e]/g, '.')}" message, not an Acknowledge`;
  if (b.length < 20) return undefined;
  const receive = b.readUInt32LE(12);
  const send = b.readUInt32LE(16);
  if (receive < 8192 || send < 8192) return `an Acknowledge whose buffer sizes (receive ${receive}, send ${send}) are below the 8192 bytes OPC 10000-6 §7.1.2.4 requires`;
  return undefined;
}

/**
 * node-opcua's own TCP transport, observed: whether TCP connected, whether HEL/ACK completed, and
 * what bytes came in before and after, for {@link OpcUaDevice}'s connect errors.
 */
function observingTransportFactory(ua: NodeOpcua, h: Handshake) {
  type Transport = {
    _install_socket(socket: import('node:net').Socket): void;
    _on_socket_data(data: Buffer): void;
    once(event: 'connect', fn: () => void): unknown;
  };
  const Tcp = (ua as unknown as { ClientTCP_transport: new (settings: unknown) => Transport }).ClientTCP_transport;
  return {
    create(settings: unknown) {
      const t = new Tcp(settings);
      const install = t._install_socket;
      t._install_socket = function (socket) {
        socket.once('connect', () => {
          h.tcp = true;
        });
        socket.once('end', () => {
          h.closedByPeer = true;
        });
        install.call(this, socket);
      };
      const onData = t._on_socket_data;
      t._on_socket_data = function (data) {
        if (h.acknowledged) {
          h.bytesAfterAck += data.length;
          h.firstAfterAck ??= Buffer.from(data.subarray(0, 16));
        } else {
          h.bytesBeforeAck += data.length;
          h.firstBeforeAck ??= Buffer.from(data.subarray(0, 28));
        }
        onData.call(this, data);
      };
      t.once('connect', () => {
        h.acknowledged = true;
        // node-opcua arms the socket's idle timeout with the transport timeout (half of it, in
        // ClientTCP_transport.connect) and keeps it for the life of the channel, so a session
        // quieter than that was cut. Once the channel exists, requests have their own timeout
        // and the session keep-alive finds a dead server: the idle timeout is for the handshake only.
        (t as unknown as { _socket?: import('node:net').Socket | null })._socket?.setTimeout(0);
      });
      return t as never;
    },
  };
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

/**
 * The `opc.tcp` driver that `connect()` uses.
 * @example const plc = await driver.connect(new URL('opc.tcp://127.0.0.1:4840'))
 */
export const driver: Driver = {
  name: 'opcua',
  subscribesInto: true,
  schemes: ['opc.tcp'],
  urlOptions: ['securityPolicy', 'securityMode', 'userCertificate', 'userPrivateKey', 'pki', 'acceptUnknownCertificate', 'timeout'],
  async connect(url, options = {}) {
    return openDevice(new OpcUaDevice(url, options as OpcUaConnectOptions), options);
  },
  validateAddress,
};
