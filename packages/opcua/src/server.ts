/**
 * @module
 * The gateway's OPC UA server role: Bifrost tags exposed as an address space (OPC 10000-3), a
 * folder per device under Objects, a variable per tag (an AnalogItem with EngineeringUnits and
 * EURange when the tag has a unit or a range, OPC 10000-8 §5.3.2). Values come from a
 * {@link TagProvider} the gateway implements; a client's write goes through to the device only
 * for a writable tag, and every attempt is audit-logged (who, what, old, new, result).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  type AuditLog,
  type AuditRecord,
  addressInUseError,
  BifrostError,
  ConnectionGuard,
  channels,
  type DataType,
  isNumericType,
  type Quality,
  type TagValue,
  toBifrostError,
  type Value,
} from '@bifrost/core';
import type { DataValue, OPCUAServer, UAVariable } from 'node-opcua';
import { type FastReadStats, installFastRead, installFastSampling } from './fast-read.js';
import { loadNodeOpcua, type NodeOpcua } from './load.js';
import { SECURITY_MODES, SECURITY_POLICIES, type SecurityModeName, type SecurityPolicyName } from './options.js';
import { DEFAULT_PKI_DIR, pkiInit } from './pki.js';
import { bigIntToWords, builtInTypeOf, fromUaValue } from './variant.js';

/** A tag the server exposes. */
export interface ServedTag {
  /** Tag name, unique within its device; the NodeId is `ns=1;s=<device>.<tag>`. */
  name: string;
  type: DataType;
  /** Engineering unit, e.g. `degC`, `bar`, `%`, `kW`, `rpm`. */
  unit?: string;
  /** EURange low (OPC 10000-8 §5.3.2). */
  min?: number;
  /** EURange high. */
  max?: number;
  /** Clients may write it (default false: the variable is read-only, and a write gets BadNotWritable). */
  writable?: boolean;
  description?: string;
  /**
   * An array of this many elements of `type` (ValueRank 1, ArrayDimensions [n]); absent for a
   * scalar. Numbers and booleans only: not LINT, ULINT, STRING, BYTES or DATETIME.
   */
  arrayLength?: number;
  /** Raw history for a variable added with {@link OpcUaServer.addVariable}. */
  history?: (range: { from: number; to: number }) => { t: number[]; v: number[] } | undefined;
}

/** A device the server exposes as a folder. */
export interface ServedDevice {
  name: string;
  description?: string;
  tags: ServedTag[];
}

/**
 * Where the server's values come from: the gateway implements it over its devices. Small on
 * purpose: a list of devices and tags, the latest value of each, a write, and a `value` event.
 * @example
 * const provider: TagProvider = {
 *   devices: () => [{ name: 'press1', tags: [{ name: 'temperature', type: 'REAL', unit: 'degC' }] }],
 *   latest: (device, tag) => cache.get(`${device}.${tag}`),
 *   write: async (device, tag, value, user) => gateway.write(device, tag, value, { user }),
 *   on: (event, listener) => emitter.on(event, listener),
 * };
 */
export interface TagProvider {
  /** The devices and tags to expose; read once when the server starts. */
  devices(): ServedDevice[];
  /** The latest value of a tag, or undefined before the first scan. */
  latest(device: string, tag: string): TagValue | undefined;
  /** Writes a tag on its device; rejects with a BifrostError when the device refuses. */
  write(device: string, tag: string, value: Value, user: string): Promise<void>;
  /** Reports each new value; the server forwards it to OPC UA subscribers. */
  on(event: 'value', listener: (device: string, tag: string, value: TagValue) => void): unknown;
  /** Removes a listener (called when the server stops). */
  off?(event: 'value', listener: (device: string, tag: string, value: TagValue) => void): unknown;
  /**
   * Raw history of a tag in [from, to] (ms since epoch), oldest first; when present, every numeric
   * variable is historizing and answers HistoryRead (OPC 10000-11).
   */
  history?(device: string, tag: string, range: { from: number; to: number }): { t: number[]; v: number[] } | undefined;
}

/** Options of {@link OpcUaServer}. */
export interface OpcUaServerOptions {
  provider: TagProvider;
  /** Interface to bind (default 0.0.0.0). */
  host?: string;
  /** TCP port (default 4840; 0 is not supported by node-opcua: pick a free one). */
  port?: number;
  /** Path of the endpoint URL, e.g. `/bifrost` (default none). */
  resourcePath?: string;
  /** Host name written into the endpoint URLs (default: `host`, else the machine's name). */
  hostname?: string;
  /** PKI directory (default `./data/pki`); created with `pkiInit` on first start. */
  pkiDir?: string;
  applicationUri?: string;
  /** Security policies offered (default all four). */
  securityPolicies?: SecurityPolicyName[];
  /** Security modes offered (default None, Sign and SignAndEncrypt). */
  securityModes?: SecurityModeName[];
  /** Allow anonymous sessions (default true). */
  allowAnonymous?: boolean;
  /** Accept X.509 user tokens whose certificate is trusted in `<pki>/users/` (default true); the user is the certificate's CN. */
  allowX509Users?: boolean;
  /** User names and passwords, or a function that checks them. */
  users?: Record<string, string> | ((username: string, password: string) => boolean | Promise<boolean>);
  /** Users allowed to write (default: every user, anonymous included). Others get BadUserAccessDenied. */
  writeUsers?: string[];
  /** Trust every client certificate never seen before (default false: it lands in `<pki>/rejected/`). */
  acceptUnknownCertificates?: boolean;
  /** Appends a record for every write attempt. */
  audit?: Pick<AuditLog, 'append'>;
  /**
   * The provider's `write` audits every attempt it receives (the gateway's one audited write path):
   * the server then audits only the attempts it refuses itself (user without write rights), and
   * sends writes to read-only tags to the provider too, which refuses and audits them.
   */
  providerAudits?: boolean;
  /** ApplicationName of the server (default `Bifrost`). */
  applicationName?: string;
  /** Most sessions at once (default 50); one more gets BadTooManySessions. */
  maxSessions?: number;
  /** Most monitored items in the server (default 100,000); more get BadTooManyMonitoredItems. */
  maxMonitoredItems?: number;
  /** Largest message in bytes, both ways (default 16 MiB; OPC 10000-6 §7.1.2.3 MaxMessageSize). */
  maxMessageSize?: number;
  /** Operation limits announced to clients (OPC 10000-5 §6.3.11); 0 = no limit. */
  operationLimits?: { maxNodesPerRead?: number; maxNodesPerWrite?: number; maxNodesPerBrowse?: number; maxMonitoredItemsPerCall?: number };
  /** BuildInfo ProductName (default `Bifrost OPC UA server`). */
  productName?: string;
  /** Most connections per endpoint (default 100); at the cap a new connection closes the longest-idle one, those that never completed a request first. */
  maxConnections?: number;
  /**
   * Close a connection that completed no request for this long, in ms (default 0 = never; the
   * simulator uses 120000). node-opcua closes a connection that sends no HEL within its own timeout,
   * but not one that stops after HEL/ACK or after opening its channel.
   */
  idleTimeoutMs?: number;
  /**
   * Answer plain Value reads of the served variables on the fast Read path (default true): the same
   * answers as node-opcua's own path, several times cheaper per value (see `fast-read.ts`).
   */
  fastRead?: boolean;
}

/** Events of {@link OpcUaServer}. */
export interface OpcUaServerEvents {
  /** Every write attempt, after it completed or was refused. */
  write: [AuditRecord];
  /** A problem outside any request (an acknowledge hook that threw); the server keeps running. */
  warning: [BifrostError];
}

const POLICY_URI: Record<SecurityPolicyName, string> = {
  None: 'http://opcfoundation.org/UA/SecurityPolicy#None',
  Basic256Sha256: 'http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256',
  Aes128_Sha256_RsaOaep: 'http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep',
  Aes256_Sha256_RsaPss: 'http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss',
};
const MODE_NUMBER: Record<SecurityModeName, number> = { None: 1, Sign: 2, SignAndEncrypt: 3 };

/** Engineering units the UNECE code list knows (OPC 10000-8 §5.6.3), by the spellings met in configs. */
const UNITS: Record<string, string> = {
  degC: 'degree_celsius',
  '°C': 'degree_celsius',
  C: 'degree_celsius',
  degF: 'degree_fahrenheit',
  K: 'kelvin',
  bar: 'bar',
  Pa: 'pascal',
  kPa: 'kilo_pascal',
  '%': 'percent',
  kW: 'kilowatt',
  W: 'watt',
  kWh: 'kilowatt_hour',
  A: 'ampere',
  V: 'volt',
  Hz: 'hertz',
  rpm: 'revolutions_per_minute',
  m: 'meter',
  mm: 'millimeter',
  s: 'second',
  ms: 'millisecond',
  kg: 'kilogram',
  'm3/h': 'cubic_meter_per_hour',
  'l/min': 'litre_per_minute',
};

/** An alarm condition, as {@link OpcUaServer.addAlarm} returns it. */
export interface AlarmHandle {
  readonly __alarmHandle: never;
}

interface AlarmCondition {
  setEnabledState(on: boolean): void;
  on(event: 'acknowledged', fn: (eventId: unknown, comment: { text?: string } | null) => void): void;
  acknowledge?: unknown;
  currentBranch(): { getAckedState(): boolean; setAckedState(on: boolean): void };
  activeState: { getValue(): boolean; setValue(on: boolean): void };
  raiseNewCondition(info: { message: string; severity: number; quality: unknown; retain: boolean }): void;
}

/** A served variable, as {@link OpcUaServer.handle} returns it. */
export interface TagHandle {
  readonly __tagHandle: never;
}

interface TagNode {
  device: string;
  tag: ServedTag;
  variable: UAVariable;
  dataValue: DataValue;
}

/**
 * A Bifrost OPC UA server over a {@link TagProvider}.
 * @example
 * const server = await createOpcUaServer({ provider, port: 4840, users: { operator: 'secret' }, writeUsers: ['operator'] });
 * console.log(server.endpointUrl);
 * await server.close();
 */
export class OpcUaServer extends EventEmitter<OpcUaServerEvents> implements AsyncDisposable {
  readonly #options: OpcUaServerOptions;
  #ua: NodeOpcua | undefined;
  #server: OPCUAServer | undefined;
  readonly #tags = new Map<string, TagNode>();
  readonly #user = new AsyncLocalStorage<string>();
  #onValue: ((device: string, tag: string, value: TagValue) => void) | undefined;
  #closing: Promise<void> | undefined;
  #pkiDir: string;
  #building: OPCUAServer | undefined;
  readonly #alarms = new Map<string, unknown>();
  readonly #notifiers = new Set<string>();
  #idle: ConnectionGuard | undefined;
  #fastRead: FastReadStats | undefined;

  constructor(options: OpcUaServerOptions) {
    super();
    if (!options?.provider) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'OpcUaServer needs a provider');
    this.#options = options;
    this.#pkiDir = options.pkiDir ?? DEFAULT_PKI_DIR;
  }

  /** The endpoint URL clients connect to, e.g. `opc.tcp://127.0.0.1:4840`. */
  get endpointUrl(): string {
    const host = this.#options.hostname ?? advertised(this.#options.host);
    return `opc.tcp://${host}:${this.port}${this.#options.resourcePath ?? ''}`;
  }

  get port(): number {
    return this.#options.port ?? 4840;
  }

  /** The PKI directory: its `rejected/` folder is where an untrusted client's certificate lands. */
  get pkiDir(): string {
    return this.#pkiDir;
  }

  /** Values read on the fast Read path and ReadValueIds left to node-opcua's, since start (undefined with `fastRead: false`). */
  get fastReadStats(): FastReadStats | undefined {
    return this.#fastRead ? { ...this.#fastRead } : undefined;
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.#server?.currentSessionCount ?? 0;
  }

  /** Loads node-opcua, creates the PKI if needed, builds the address space and starts listening. */
  async start(): Promise<void> {
    if (this.#server) return;
    const ua = (this.#ua ??= await loadNodeOpcua());
    const o = this.#options;
    const pki = await pkiInit({ dir: this.#pkiDir, ...(o.applicationUri ? { applicationUri: o.applicationUri } : {}) });
    this.#pkiDir = pki.dir;
    const serverCertificateManager = new ua.OPCUACertificateManager({ rootFolder: pki.dir, automaticallyAcceptUnknownCertificate: o.acceptUnknownCertificates ?? false });
    // X.509 user tokens are checked against their own trust list (OPC 10000-12 §7.3.2 UserTokens group).
    const userPki = join(pki.dir, 'users');
    await mkdir(userPki, { recursive: true });
    const userCertificateManager = new ua.OPCUACertificateManager({ rootFolder: userPki, automaticallyAcceptUnknownCertificate: false });
    if (o.allowX509Users === false) {
      // No X.509 user identities at all, whatever lies in the users/ trust list.
      (userCertificateManager as unknown as { checkCertificate: () => Promise<unknown> }).checkCertificate = async () => ua.StatusCodes.BadIdentityTokenRejected;
    }
    const policies = o.securityPolicies ?? [...SECURITY_POLICIES];
    const modes = o.securityModes ?? [...SECURITY_MODES];
    for (const p of policies) if (!SECURITY_POLICIES.includes(p)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `unknown security policy ${p}; expected one of ${SECURITY_POLICIES.join(', ')}`);
    const users = o.users;
    const check = typeof users === 'function' ? users : users ? (u: string, p: string) => Object.hasOwn(users, u) && users[u] === p : undefined;
    const limits = o.operationLimits ?? {};
    const server = new ua.OPCUAServer({
      port: this.port,
      ...(o.host ? { host: o.host } : {}),
      // Endpoint URLs carry a host name clients can reach: never the wildcard address that is bound.
      hostname: o.hostname ?? advertised(o.host),
      ...(o.resourcePath ? { resourcePath: o.resourcePath } : {}),
      nodeset_filename: [ua.nodesets.standard],
      serverInfo: {
        applicationUri: pki.certificate.applicationUri ?? o.applicationUri,
        productUri: 'urn:bifrost:opcua-server',
        applicationName: { text: o.applicationName ?? 'Bifrost', locale: 'en' },
      },
      buildInfo: { productName: o.productName ?? 'Bifrost OPC UA server', manufacturerName: 'Bifrost', softwareVersion: '0.1.0', buildNumber: '1', productUri: 'urn:bifrost:opcua-server' },
      serverCertificateManager,
      userCertificateManager,
      certificateFile: pki.certificateFile,
      privateKeyFile: pki.privateKeyFile,
      securityPolicies: policies.map((p) => POLICY_URI[p]) as never,
      securityModes: modes.map((m) => MODE_NUMBER[m]) as never,
      allowAnonymous: o.allowAnonymous ?? true,
      ...(check
        ? {
            userManager: {
              isValidUserAsync: (u: string, p: string, done: (err: Error | null, ok?: boolean) => void) => {
                Promise.resolve()
                  .then(() => check(u, p))
                  .then(
                    (ok) => done(null, Boolean(ok)),
                    () => done(null, false),
                  );
              },
            },
          }
        : {}),
      serverCapabilities: {
        maxSessions: o.maxSessions ?? 50,
        maxMonitoredItems: o.maxMonitoredItems ?? 100_000,
        maxMonitoredItemsPerSubscription: o.maxMonitoredItems ?? 100_000,
        operationLimits: {
          maxNodesPerRead: limits.maxNodesPerRead ?? 0,
          maxNodesPerWrite: limits.maxNodesPerWrite ?? 0,
          maxNodesPerBrowse: limits.maxNodesPerBrowse ?? 0,
          maxMonitoredItemsPerCall: limits.maxMonitoredItemsPerCall ?? 0,
        },
      },
      disableDiscovery: true,
      // One more than our own cap: the guard installed after start evicts first (see #guardConnections).
      maxConnectionsPerEndpoint: (o.maxConnections ?? 100) + 1,
      // node-opcua's HEL timeout (default 30 s): never longer than the idle timeout.
      ...(o.idleTimeoutMs ? { timeout: Math.min(30_000, o.idleTimeoutMs) } : {}),
      // OPC 10000-6 §7.1.2.3: the server answers Hello with its own limits, whatever the client asked for.
      transportSettings: {
        adjustTransportLimits: (hello: { receiveBufferSize: number; sendBufferSize: number; maxMessageSize: number; maxChunkCount: number }) => {
          const max = o.maxMessageSize ?? 16 * 1024 * 1024;
          const maxMessageSize = hello.maxMessageSize === 0 ? max : Math.min(hello.maxMessageSize, max);
          // A chunk is never larger than a message (§7.1.2.3): the buffer sizes follow the message size down.
          return {
            ...hello,
            maxMessageSize,
            receiveBufferSize: Math.max(8192, Math.min(hello.receiveBufferSize, maxMessageSize)),
            sendBufferSize: Math.max(8192, Math.min(hello.sendBufferSize, maxMessageSize)),
          };
        },
      },
    } as never);
    try {
      await server.initialize();
      this.#building = server;
      this.#build(ua, server);
      if (o.fastRead !== false) {
        const own = server.engine.addressSpace?.getOwnNamespace().index;
        const STRING = ua.NodeIdType.STRING;
        // A served variable's NodeId is ns=<own>;s=<key of #tags>.
        this.#fastRead = installFastRead(ua, server, (id) => (id.namespace === own && id.identifierType === STRING ? this.#tags.get(id.value as string) : undefined));
      }
      await server.start();
      this.#guardConnections(server, o.maxConnections ?? 100, o.idleTimeoutMs ?? 0);
    } catch (e) {
      await server.shutdown(0).catch(() => {});
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw addressInUseError(e, { server: 'OPC UA server', field: 'opcuaServer.port', host: this.#options.host ?? '0.0.0.0', port: this.port });
      throw toBifrostError(e, 'BIFROST_INVALID_ARGUMENT');
    }
    this.#building = undefined;
    this.#server = server;
  }

  #build(ua: NodeOpcua, server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'node-opcua created no address space');
    const o = this.#options;
    // The server's own namespace is index 1 (OPC 10000-5 §8.2.5 NamespaceArray), so NodeIds read ns=1;s=<device>.<tag>.
    const ns = addressSpace.getOwnNamespace();
    const objects = addressSpace.rootFolder.objects;
    for (const device of o.provider.devices()) {
      const folder = ns.addFolder(objects, { browseName: device.name, nodeId: `s=${device.name}`, ...(device.description ? { description: device.description } : {}) });
      for (const tag of device.tags) {
        const key = `${device.name}.${tag.name}`;
        if (this.#tags.has(key)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `tag ${key} is defined twice`);
        const builtIn = builtInTypeOf(tag.type);
        const n = tag.arrayLength;
        if (n !== undefined && (!Number.isInteger(n) || n < 1 || !isArrayElementType(tag.type)))
          throw new BifrostError('BIFROST_INVALID_ARGUMENT', `tag ${key}: an array of ${n} ${tag.type} cannot be served (numbers and booleans, at least one)`);
        const dataValue = new ua.DataValue({
          value: variantOf(ua, builtIn, tag, null),
          statusCode: ua.StatusCodes.BadWaitingForInitialData,
        });
        const node: TagNode = { device: device.name, tag, variable: undefined as unknown as UAVariable, dataValue };
        const binding = {
          timestamped_get: () => node.dataValue,
          timestamped_set: (dv: DataValue) => this.#write(ua, node, dv),
        };
        // The store keeps numbers, not arrays: an array has no history.
        const historizing = o.provider.history !== undefined && isNumericType(tag.type) && n === undefined;
        const access = `CurrentRead${tag.writable ? ' | CurrentWrite' : ''}${historizing ? ' | HistoryRead' : ''}`;
        const common = {
          componentOf: folder,
          browseName: tag.name,
          nodeId: `s=${key}`,
          dataType: ua.DataType[builtIn] as string,
          accessLevel: access,
          userAccessLevel: access,
          minimumSamplingInterval: 10,
          ...(n !== undefined ? { valueRank: 1, arrayDimensions: [n] } : {}),
          ...(historizing ? { historizing: true } : {}),
          ...(tag.description ? { description: tag.description } : {}),
          value: binding,
        };
        const analog = isNumericType(tag.type) && (tag.unit !== undefined || tag.min !== undefined || tag.max !== undefined);
        const variable = analog
          ? ns.addAnalogDataItem({
              ...common,
              engineeringUnitsRange: { low: tag.min ?? -1e9, high: tag.max ?? 1e9 },
              ...(tag.unit ? { engineeringUnits: euInformation(ua, tag.unit) } : {}),
            } as never)
          : ns.addVariable(common as never);
        // Carry the session's user into the setter: node-opcua calls it inside writeValue, without the context.
        // A read-only tag never reaches the setter (the stack answers BadNotWritable), so its attempt is audited here.
        const original = variable.writeValue.bind(variable) as (...args: unknown[]) => unknown;
        (variable as unknown as { writeValue: (...args: unknown[]) => unknown }).writeValue = (...args: unknown[]) => {
          const ctx = args[0] as { getUserName?: () => string } | null;
          const user = ctx?.getUserName?.() || 'anonymous';
          if (!tag.writable && o.providerAudits) {
            const dv = args[1] as DataValue | undefined;
            // The provider refuses a read-only tag and audits the attempt (the stack answers BadNotWritable).
            void Promise.resolve()
              .then(() => o.provider.write(device.name, tag.name, (dv ? fromUaValue(dv.value.dataType, dv.value.value) : null) as Value, user))
              .catch(() => {});
          } else if (!tag.writable) {
            const dv = args[1] as DataValue | undefined;
            const record = this.#recordFor(node, user, dv ? (fromUaValue(dv.value.dataType, dv.value.value) as Value) : null);
            record.result = 'denied';
            record.error = { code: 'BIFROST_WRITE_NOT_ALLOWED', message: `${record.address} is not writable` };
            void this.#report(record);
          }
          return this.#user.run(user, () => original(...args));
        };
        node.variable = variable as unknown as UAVariable;
        synchronousRead(node.variable);
        if (this.#options.fastRead !== false) installFastSampling(ua, node.variable);
        if (historizing) installHistory(ua, variable as unknown as UAVariable, (range) => o.provider.history?.(device.name, tag.name, range));
        this.#tags.set(key, node);
        const first = o.provider.latest(device.name, tag.name);
        if (first) this.#update(ua, node, first);
      }
    }
    this.#onValue = (device, tag, value) => {
      const node = this.#tags.get(`${device}.${tag}`);
      if (node) this.#update(ua, node, value);
    };
    o.provider.on('value', this.#onValue);
  }

  /**
   * The handle of a served tag, to update it without a lookup by name (the gateway resolves each
   * tag once per start).
   * @example const h = server.handle('press1', 'temperature'); server.update(h, value)
   */
  handle(device: string, tag: string): TagHandle | undefined {
    return this.#tags.get(`${device}.${tag}`) as TagHandle | undefined;
  }

  /**
   * Sets a served variable's value, quality (as a StatusCode) and timestamps, and notifies its
   * monitored items.
   * @example server.update(server.handle('press1', 'temperature'), { address: 'HR0', value: 21.5, quality: 'good', timestamp: Date.now() })
   */
  update(handle: TagHandle | undefined, tv: TagValue): void {
    const ua = this.#ua;
    if (handle && ua && this.#server) this.#set(ua, handle as unknown as TagNode, tv.value, tv.quality, tv.timestamp, tv.sourceTimestamp, tv.error);
  }

  /**
   * {@link update} from the columns of a batch, without a TagValue per value.
   * @example server.set(h, 21.5, 'good', Date.now())
   */
  set(handle: TagHandle | undefined, value: Value | null, quality: Quality, timestamp: number, sourceTimestamp?: number, error?: BifrostError): void {
    const ua = this.#ua;
    if (handle && ua && this.#server) this.#set(ua, handle as unknown as TagNode, value, quality, timestamp, sourceTimestamp, error);
  }

  /**
   * Adds a read-only variable at run time under a folder path from Objects (folders created as
   * needed), e.g. a device's health or a pipeline output; returns its handle.
   * @example const h = server.addVariable(['Pipelines', 'temp-stats'], { name: 'mean', type: 'LREAL' })
   */
  addVariable(folders: readonly string[], tag: ServedTag, nodeId?: string): TagHandle | undefined {
    const ua = this.#ua;
    const server = this.#server ?? this.#building;
    const addressSpace = server?.engine.addressSpace;
    if (!ua || !addressSpace) return undefined;
    const ns = addressSpace.getOwnNamespace();
    const parent = this.#folder(folders) as Parameters<typeof ns.addFolder>[0];
    const path = [...folders];
    const key = nodeId ?? `${path.join('.')}.${tag.name}`;
    const known = this.#tags.get(key);
    if (known) return known as unknown as TagHandle;
    const builtIn = builtInTypeOf(tag.type);
    const node: TagNode = {
      device: path.join('.'),
      tag,
      variable: undefined as unknown as UAVariable,
      dataValue: new ua.DataValue({
        value: new ua.Variant({ dataType: builtIn, arrayType: ua.VariantArrayType.Scalar, value: defaultOf(tag.type) as never }),
        statusCode: ua.StatusCodes.BadWaitingForInitialData,
      }),
    };
    const historizing = tag.history !== undefined && isNumericType(tag.type);
    const access = `CurrentRead${historizing ? ' | HistoryRead' : ''}`;
    const variable = ns.addVariable({
      componentOf: parent,
      browseName: tag.name,
      nodeId: `s=${key}`,
      dataType: ua.DataType[builtIn] as string,
      accessLevel: access,
      userAccessLevel: access,
      minimumSamplingInterval: 10,
      ...(historizing ? { historizing: true } : {}),
      ...(tag.description ? { description: tag.description } : {}),
      value: { timestamped_get: () => node.dataValue },
    } as never);
    node.variable = variable as unknown as UAVariable;
    synchronousRead(node.variable);
    if (this.#options.fastRead !== false) installFastSampling(ua, node.variable);
    if (historizing && tag.history) installHistory(ua, node.variable, tag.history);
    this.#tags.set(key, node);
    return node as unknown as TagHandle;
  }

  /** The folder at a path from Objects, created as needed. */
  #folder(folders: readonly string[]): unknown {
    const addressSpace = (this.#server ?? this.#building)?.engine.addressSpace;
    if (!addressSpace) throw new BifrostError('BIFROST_NOT_CONNECTED', 'the OPC UA server is not running');
    const ns = addressSpace.getOwnNamespace();
    let parent = addressSpace.rootFolder.objects as unknown as Parameters<typeof ns.addFolder>[0];
    const path: string[] = [];
    for (const f of folders) {
      path.push(f);
      const id = `s=${path.join('.')}`;
      const existing = addressSpace.findNode(`ns=${ns.index};${id}`);
      parent = (existing ?? ns.addFolder(parent, { browseName: f, nodeId: id })) as unknown as Parameters<typeof ns.addFolder>[0];
    }
    return parent;
  }

  /**
   * Adds an alarm as an AlarmConditionType instance (OPC 10000-9 §5.8) under a folder path, its
   * events notified through the Server object; `onAcknowledge` is called with the session's user
   * when a client calls Acknowledge (OPC 10000-9 §5.7.3).
   * @example const a = server.addAlarm(['Pipelines', 'p'], { id: 'p:hi', message: 'high', severity: 700 }, (user) => gw.acknowledgeAlarm('p:hi', user))
   */
  addAlarm(folders: readonly string[], alarm: { id: string; message: string; severity: number; source?: TagHandle }, onAcknowledge: (user: string, comment: string) => void): AlarmHandle | undefined {
    const ua = this.#ua;
    const addressSpace = this.#server?.engine.addressSpace;
    if (!ua || !addressSpace) return undefined;
    const known = this.#alarms.get(alarm.id);
    if (known) return known as unknown as AlarmHandle;
    const ns = addressSpace.getOwnNamespace();
    // Alarms need an event notifier chain up to the Server object (OPC 10000-9 §4.10).
    const folder = this.#folder(folders) as { nodeId: unknown; setEventNotifier?(n: number): void };
    const server = addressSpace.rootFolder.objects.server as unknown as { addReference(r: { referenceType: string; nodeId: unknown }): void };
    if (!this.#notifiers.has(folders.join('.'))) {
      // EventNotifier SubscribeToEvents (OPC 10000-3 §5.4), and Server HasNotifier → folder, so the Server object sees its events.
      folder.setEventNotifier?.(1);
      server.addReference({ referenceType: 'HasNotifier', nodeId: folder.nodeId });
      this.#notifiers.add(folders.join('.'));
    }
    const source = alarm.source ? (alarm.source as unknown as TagNode).variable : null;
    // The source is an event source of the folder (HasEventSource), the folder a notifier of the Server:
    // the hierarchy OPC 10000-9 §4.10 asks for, through which node-opcua routes the condition's events.
    if (source && !this.#notifiers.has(`${folders.join('.')}>${source.nodeId.toString()}`)) {
      (folder as unknown as { addReference(r: { referenceType: string; nodeId: unknown }): void }).addReference({ referenceType: 'HasEventSource', nodeId: source.nodeId });
      this.#notifiers.add(`${folders.join('.')}>${source.nodeId.toString()}`);
    }
    const condition = (
      ns as unknown as {
        instantiateAlarmCondition(type: string, options: Record<string, unknown>): AlarmCondition;
      }
    ).instantiateAlarmCondition('AlarmConditionType', {
      componentOf: folder,
      conditionSource: source ?? addressSpace.rootFolder.objects.server,
      browseName: alarm.id,
      nodeId: `s=${folders.join('.')}.${alarm.id}`,
      conditionName: alarm.id,
      inputNode: source ?? null,
    });
    condition.setEnabledState(true);
    // The session's user is known to the Acknowledge method (its context), not to the `acknowledged`
    // event node-opcua raises: wrap the method node's implementation to carry it (OPC 10000-9 §5.7.3).
    let caller = 'anonymous';
    const method = condition.acknowledge as unknown as { _asyncExecutionFunction?: (this: unknown, args: unknown, context: { getUserName?: () => string }, cb: unknown) => unknown } | undefined;
    const implementation = method?._asyncExecutionFunction;
    if (method && implementation) {
      method._asyncExecutionFunction = function (this: unknown, args, context, cb) {
        caller = context?.getUserName?.() || 'anonymous';
        return implementation.call(this, args, context, cb);
      };
    }
    condition.on('acknowledged', (_eventId: unknown, comment: { text?: string } | null) => {
      const user = caller;
      try {
        onAcknowledge(user, comment?.text ?? '');
      } catch (e) {
        this.emit('warning', toBifrostError(e, 'BIFROST_OPCUA_BAD_STATUS'));
      }
    });
    const node = { condition, severity: alarm.severity, message: alarm.message };
    this.#alarms.set(alarm.id, node);
    return node as unknown as AlarmHandle;
  }

  /**
   * Sets an alarm's state and raises its event: active (raise), inactive (clear), acknowledged.
   * @example server.setAlarm(a, { active: true, acknowledged: false, message: 'oil above 78 degC' })
   */
  setAlarm(handle: AlarmHandle | undefined, state: { active: boolean; acknowledged: boolean; message?: string; severity?: number }): void {
    if (!handle || !this.#server) return;
    const node = handle as unknown as { condition: AlarmCondition; severity: number; message: string };
    const c = node.condition;
    const branch = c.currentBranch();
    const wasActive = c.activeState.getValue();
    const wasAcked = branch.getAckedState();
    if (wasActive === state.active && wasAcked === state.acknowledged) return;
    if (wasActive !== state.active) {
      c.activeState.setValue(state.active);
      if (state.active) branch.setAckedState(false);
    }
    if (state.acknowledged && !branch.getAckedState()) branch.setAckedState(true);
    c.raiseNewCondition({
      message: state.message ?? node.message,
      severity: state.severity ?? node.severity,
      quality: this.#ua?.StatusCodes.Good,
      // An alarm stays retained while active or unacknowledged (OPC 10000-9 §5.5.2 Retain).
      retain: state.active || !state.acknowledged,
    });
  }

  #update(ua: NodeOpcua, node: TagNode, tv: TagValue): void {
    this.#set(ua, node, tv.value, tv.quality, tv.timestamp, tv.sourceTimestamp, tv.error);
  }

  #set(ua: NodeOpcua, node: TagNode, raw: Value | null, quality: Quality, timestamp: number, sourceTimestamp: number | undefined, error: BifrostError | undefined): void {
    const tv = { quality, error };
    const builtIn = builtInTypeOf(node.tag.type);
    let statusCode = ua.StatusCodes.Good;
    let v: Value | null | undefined = raw;
    const array = node.tag.arrayLength !== undefined;
    // An array tag takes an array of its length, each element as its type; a scalar tag a scalar.
    if (v !== null) v = array ? servedArray(node.tag, v) : Array.isArray(v) ? undefined : toServedType(node.tag.type, v);
    if (tv.quality !== 'good' || v === undefined) {
      const name = tv.error?.statusName;
      const table = ua.StatusCodes as unknown as Record<string, typeof statusCode>;
      // OPC 10000-8 §6.3.2 (Bad_NotConnected, Bad_DeviceFailure, Bad_CommunicationError, …): the driver's error says which.
      const known = (name ? table[name] : undefined) ?? (tv.error ? table[badStatusFor(tv.error.code)] : undefined);
      statusCode =
        v === undefined
          ? ua.StatusCodes.BadTypeMismatch
          : tv.quality === 'uncertain'
            ? known && (known.value & 0xc0000000) === 0x40000000
              ? known
              : ua.StatusCodes.Uncertain
            : (known ?? ua.StatusCodes.BadCommunicationError);
      if (v === undefined) v = null;
    }
    node.dataValue = new ua.DataValue({
      value: variantOf(ua, builtIn, node.tag, v),
      statusCode,
      sourceTimestamp: new Date(sourceTimestamp ?? timestamp),
      serverTimestamp: new Date(timestamp),
    });
    // Tell monitored items at once instead of waiting for their next sample (OPC 10000-4 §5.13.1.2).
    (node.variable as unknown as { touchValue?: () => void }).touchValue?.();
  }

  async #write(ua: NodeOpcua, node: TagNode, dv: DataValue): Promise<InstanceType<NodeOpcua['StatusCode']>> {
    const user = this.#user.getStore() ?? 'anonymous';
    const newValue = fromUaValue(dv.value.dataType, dv.value.value) as Value;
    const record = this.#recordFor(node, user, newValue);
    const o = this.#options;
    let status = ua.StatusCodes.Good;
    if (!node.tag.writable) {
      record.result = 'denied';
      record.error = { code: 'BIFROST_WRITE_NOT_ALLOWED', message: `${record.address} is not writable` };
      status = ua.StatusCodes.BadNotWritable;
    } else if (o.writeUsers && !o.writeUsers.includes(user)) {
      record.result = 'denied';
      record.error = { code: 'BIFROST_OPCUA_ACCESS_DENIED', message: `user ${user} may not write` };
      status = ua.StatusCodes.BadUserAccessDenied;
    } else {
      try {
        await o.provider.write(node.device, node.tag.name, newValue, user);
      } catch (e) {
        if (o.providerAudits) record.result = 'error';
        const err = toBifrostError(e, 'BIFROST_OPCUA_BAD_STATUS', { device: node.device });
        record.result = 'error';
        record.error = { code: err.code, message: err.message };
        const known = err.statusName ? (ua.StatusCodes as unknown as Record<string, typeof status>)[err.statusName] : undefined;
        status = known ?? (ua.StatusCodes as unknown as Record<string, typeof status>)[badStatusFor(err.code)] ?? ua.StatusCodes.BadDeviceFailure;
      }
    }
    // The provider audited what reached it; the server audits only its own refusals.
    if (!(o.providerAudits && record.result !== 'denied')) await this.#report(record);
    else this.emit('write', record);
    return status;
  }

  #recordFor(node: TagNode, user: string, newValue: Value | null): AuditRecord {
    return {
      user,
      source: 'opcua',
      device: node.device,
      tag: node.tag.name,
      address: `ns=1;s=${node.device}.${node.tag.name}`,
      oldValue: fromUaValue(node.dataValue.value.dataType, node.dataValue.value.value),
      newValue: newValue as Value,
      result: 'ok',
    };
  }

  /** Emits the `write` event and appends the audit record (the AuditLog also publishes on `bifrost:write`). */
  async #report(record: AuditRecord): Promise<void> {
    this.emit('write', record);
    if (this.#options.audit) await this.#options.audit.append(record).catch(() => {});
    else if (channels.write.hasSubscribers) channels.write.publish(record);
  }

  /**
   * Counts connections, closes the longest-idle one at the cap and those with no complete request
   * for `idleTimeoutMs`. node-opcua alone lets idle sockets lock clients out: its listener's
   * `maxConnections` (its cap + 1) makes Node drop new connections before node-opcua's own "close the
   * oldest channel without a session" (OPC 10000-4 §5.5.2) can run, and nothing closes a connection
   * that stops after HEL/ACK. node-opcua's endpoint emits `message` for every request a channel
   * decoded; the channel carries the peer's address and port, which name the accepted socket.
   */
  #guardConnections(server: OPCUAServer, maxConnections: number, idleTimeoutMs: number): void {
    const guard = new ConnectionGuard({ maxConnections, idleTimeoutMs });
    this.#idle = guard;
    const byPeer = new Map<string, Socket>();
    for (const ep of server.endpoints) {
      const listener = (ep as unknown as { _server?: Server })._server;
      if (!listener) throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'node-opcua endpoint has no listening socket to watch for idle connections');
      // The guard keeps the count at the cap by closing idle connections; Node must not refuse new ones first.
      listener.maxConnections = Number.POSITIVE_INFINITY;
      listener.on('connection', (socket: Socket) => {
        const key = `${socket.remoteAddress}:${socket.remotePort}`;
        guard.admit(socket);
        byPeer.set(key, socket);
        socket.once('close', () => byPeer.delete(key));
      });
      ep.on('message', (_message: unknown, channel: { remoteAddress?: string; remotePort?: number }) => {
        const socket = byPeer.get(`${channel.remoteAddress}:${channel.remotePort}`);
        if (socket) guard.active(socket);
      });
    }
  }

  /** Stops listening and closes every session; idempotent. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#idle?.stop();
      if (this.#onValue) this.#options.provider.off?.('value', this.#onValue);
      const server = this.#server;
      this.#server = undefined;
      if (server) await server.shutdown(0).catch(() => {});
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The host to advertise for a bound address: the machine's name for a wildcard (0.0.0.0, ::) or none. */
function advertised(host: string | undefined): string {
  return host === undefined || host === '0.0.0.0' || host === '::' || host === '' ? hostname() : host;
}

function defaultOf(type: DataType): unknown {
  switch (type) {
    case 'BOOL':
      return false;
    case 'STRING':
      return '';
    case 'BYTES':
      return Buffer.alloc(0);
    case 'DATETIME':
      return new Date(0);
    case 'LINT':
    case 'ULINT':
      return [0, 0];
    default:
      return 0;
  }
}

function euInformation(ua: NodeOpcua, unit: string) {
  const std = UNITS[unit];
  const known = std ? (ua.standardUnits as unknown as Record<string, unknown>)[std] : undefined;
  return known ?? ua.makeEUInformation(unit, unit, unit);
}

/**
 * Creates and starts a Bifrost OPC UA server.
 * @example const server = await createOpcUaServer({ provider, port: 4840, pkiDir: './data/pki' })
 */
export async function createOpcUaServer(options: OpcUaServerOptions): Promise<OpcUaServer> {
  const server = new OpcUaServer(options);
  await server.start();
  return server;
}

/**
 * node-opcua turns a `timestamped_get` binding into an asynchronous refresh function too, so every
 * Read with MaxAge 0 (what clients send) goes through `refreshValues`: two address-space lookups, a
 * Promise and a new DataValue per node. The served DataValue is always current (the gateway pushes
 * it), so reads take it directly from the getter: about 3× the bulk-Read rate.
 */
function synchronousRead(variable: UAVariable): void {
  (variable as unknown as { refreshFunc?: unknown }).refreshFunc = undefined;
}

/** The Bad StatusCode (OPC 10000-8 §6.3.2, OPC 10000-4 §7.34) that fits a Bifrost error code. */
function badStatusFor(code: string): string {
  if (/NOT_CONNECTED|CONNECTION_REFUSED|CONNECTION_LOST|CLOSED/.test(code)) return 'BadNotConnected';
  if (/TIMEOUT/.test(code)) return 'BadTimeout';
  if (/INVALID_ADDRESS|ILLEGAL_ADDRESS|NODE_ID_UNKNOWN|TAG_NOT_FOUND|UNKNOWN_TAG|OBJECT_DOES_NOT_EXIST|ADDRESS_OUT_OF_RANGE/.test(code)) return 'BadConfigurationError';
  if (/WRITE_NOT_ALLOWED|NOT_WRITABLE/.test(code)) return 'BadNotWritable';
  if (/ACCESS_DENIED|FORBIDDEN|UNAUTHORIZED/.test(code)) return 'BadUserAccessDenied';
  if (/VALUE_OUT_OF_RANGE/.test(code)) return 'BadOutOfRange';
  if (/TYPE_MISMATCH|UNSUPPORTED_TYPE/.test(code)) return 'BadTypeMismatch';
  if (/DEVICE_FAILURE|EXCEPTION|CIP_ERROR|_BUSY/.test(code)) return 'BadDeviceFailure';
  return 'BadCommunicationError';
}

/** A value in the served type, or undefined when it cannot be (the variable then reads BadTypeMismatch). */
/** Element types an array variable may have: numbers and booleans. */
function isArrayElementType(type: DataType): boolean {
  return type === 'BOOL' || (isNumericType(type) && type !== 'LINT' && type !== 'ULINT');
}

/** A tag's value as its array: each element as the tag's type, or undefined when it does not fit. */
function servedArray(tag: ServedTag, v: Value): Exclude<Value, unknown[]>[] | undefined {
  if (!Array.isArray(v) || v.length !== tag.arrayLength) return undefined;
  const out: Exclude<Value, unknown[]>[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const e = toServedType(tag.type, v[i] as Exclude<Value, unknown[]>);
    if (e === undefined) return undefined;
    out[i] = e;
  }
  return out;
}

/** The Variant of a served value (null: the type's default, for a value not read yet or bad). */
function variantOf(ua: NodeOpcua, builtIn: number, tag: ServedTag, v: Value | null): InstanceType<NodeOpcua['Variant']> {
  if (tag.arrayLength !== undefined) {
    const value = v === null ? new Array(tag.arrayLength).fill(defaultOf(tag.type)) : v;
    return new ua.Variant({ dataType: builtIn, arrayType: ua.VariantArrayType.Array, value: value as never });
  }
  const value = v === null ? defaultOf(tag.type) : tag.type === 'LINT' || tag.type === 'ULINT' ? bigIntToWords(BigInt(v as bigint)) : tag.type === 'BYTES' ? Buffer.from(v as Uint8Array) : v;
  return new ua.Variant({ dataType: builtIn, arrayType: ua.VariantArrayType.Scalar, value: value as never });
}

function toServedType(type: DataType, v: Exclude<Value, unknown[]>): Exclude<Value, unknown[]> | undefined {
  switch (type) {
    case 'BOOL':
      return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : typeof v === 'bigint' ? v !== 0n : undefined;
    case 'STRING':
      return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : v instanceof Date ? v.toISOString() : undefined;
    case 'DATETIME':
      return v instanceof Date ? v : typeof v === 'number' ? new Date(v) : undefined;
    case 'BYTES':
      return v instanceof Uint8Array ? v : undefined;
    case 'LINT':
    case 'ULINT':
      return typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'boolean' ? BigInt(v ? 1 : 0) : undefined;
    default:
      return typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? Number(v) : undefined;
  }
}

/** Values per HistoryRead answer before a continuation point (OPC 10000-11 §6.3), whatever the client asked. */
const MAX_HISTORY_VALUES = 10_000;

type HistorySource = (range: { from: number; to: number }) => { t: number[]; v: number[] } | undefined;

interface HistoryCursor {
  /** Next start, ms. */
  from: number;
  /** Points at exactly `from` already returned (Raw). */
  skip: number;
  /** End of the whole request, ms. */
  to: number;
}

function encodeCursor(c: HistoryCursor): Buffer {
  return Buffer.from(JSON.stringify(c));
}

function decodeCursor(b: Buffer | null | undefined): HistoryCursor | undefined {
  if (!b || b.length === 0 || b.length > 200) return undefined;
  try {
    const c = JSON.parse(b.toString()) as HistoryCursor;
    return Number.isFinite(c.from) && Number.isFinite(c.to) && Number.isInteger(c.skip) && c.skip >= 0 ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves HistoryRead for one variable from a raw-history source: ReadRawModifiedDetails (raw, not
 * modified) and ReadProcessedDetails for Average, Minimum, Maximum and Count (OPC 10000-13 §5.4.3.2,
 * .11, .12, .23: one value per processing interval, stamped with the interval's start; an interval
 * without data is BadNoData, Count 0). Continuation points are stateless: they carry the next start.
 */
function installHistory(ua: NodeOpcua, variable: UAVariable, source: HistorySource): void {
  const SC = ua.StatusCodes;
  const AGG = ua.ObjectIds;
  const result = (statusCode: unknown, dataValues: unknown[] = [], cp?: HistoryCursor) =>
    new ua.HistoryReadResult({ statusCode: statusCode as never, continuationPoint: cp ? encodeCursor(cp) : undefined, historyData: new ua.HistoryData({ dataValues: dataValues as never }) as never });
  const time = (d: Date | null | undefined, fallback: number) => {
    const t = d ? d.getTime() : Number.NaN;
    // DateTime MinValue (1601) means "not given" (OPC 10000-6 §5.2.2.5).
    return Number.isFinite(t) && t > 0 ? t : fallback;
  };
  const read = (details: unknown, continuation: { continuationPoint?: Buffer | null; releaseContinuationPoints?: boolean } | undefined) => {
    if (continuation?.releaseContinuationPoints) return result(SC.Good);
    const given = continuation?.continuationPoint;
    const cursor = given && given.length > 0 ? decodeCursor(given) : undefined;
    if (given && given.length > 0 && !cursor) return result(SC.BadContinuationPointInvalid);
    if (details instanceof ua.ReadRawModifiedDetails) {
      if (details.isReadModified) return result(SC.BadHistoryOperationUnsupported);
      const start = time(details.startTime, 0);
      const end = time(details.endTime, Date.now());
      const from = cursor?.from ?? Math.min(start, end);
      const to = cursor?.to ?? Math.max(start, end);
      const limit = Math.min(details.numValuesPerNode > 0 ? details.numValuesPerNode : MAX_HISTORY_VALUES, MAX_HISTORY_VALUES);
      const raw = source({ from, to }) ?? { t: [], v: [] };
      const out: unknown[] = [];
      let i = 0;
      let skip = cursor?.skip ?? 0;
      while (i < raw.t.length && skip > 0 && raw.t[i] === from) {
        i++;
        skip--;
      }
      for (; i < raw.t.length && out.length < limit; i++) {
        const ts = new Date(raw.t[i] as number);
        out.push(new ua.DataValue({ value: new ua.Variant({ dataType: ua.DataType.Double, value: raw.v[i] as number }), statusCode: SC.Good, sourceTimestamp: ts, serverTimestamp: ts }));
      }
      let next: HistoryCursor | undefined;
      if (i < raw.t.length) {
        const last = raw.t[i - 1] as number;
        let same = 0;
        for (let k = i - 1; k >= 0 && raw.t[k] === last; k--) same++;
        next = { from: last, skip: last === from ? same + (cursor?.skip ?? 0) : same, to };
      }
      // Reverse order when the client gave endTime before startTime (OPC 10000-11 §6.4.3.2).
      if (start > end && !cursor) out.reverse();
      return result(SC.Good, out, next);
    }
    if (details instanceof ua.ReadProcessedDetails) {
      const agg = details.aggregateType?.[0];
      const id = agg && agg.namespace === 0 ? Number(agg.value) : -1;
      const kind =
        id === AGG.AggregateFunction_Average
          ? 'avg'
          : id === AGG.AggregateFunction_Minimum
            ? 'min'
            : id === AGG.AggregateFunction_Maximum
              ? 'max'
              : id === AGG.AggregateFunction_Count
                ? 'count'
                : undefined;
      if (!kind) return result(SC.BadAggregateNotSupported);
      const start = time(details.startTime, 0);
      const end = time(details.endTime, Date.now());
      if (start >= end) return result(SC.BadInvalidArgument);
      const interval = details.processingInterval > 0 ? details.processingInterval : end - start;
      const from = cursor?.from ?? start;
      const to = cursor?.to ?? end;
      const stop = Math.min(to, from + interval * MAX_HISTORY_VALUES);
      const raw = source({ from, to: stop }) ?? { t: [], v: [] };
      const out: unknown[] = [];
      let k = 0;
      let t0 = from;
      for (; t0 < stop; t0 += interval) {
        const t1 = Math.min(t0 + interval, to);
        let n = 0;
        let sum = 0;
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        while (k < raw.t.length && (raw.t[k] as number) < t0) k++;
        while (k < raw.t.length && (raw.t[k] as number) < t1) {
          const x = raw.v[k] as number;
          n++;
          sum += x;
          if (x < min) min = x;
          if (x > max) max = x;
          k++;
        }
        const ts = new Date(t0);
        if (kind === 'count') out.push(new ua.DataValue({ value: new ua.Variant({ dataType: ua.DataType.Int32, value: n }), statusCode: SC.Good, sourceTimestamp: ts, serverTimestamp: ts }));
        else if (n === 0) out.push(new ua.DataValue({ statusCode: SC.BadNoData, sourceTimestamp: ts, serverTimestamp: ts }));
        else
          out.push(
            new ua.DataValue({
              value: new ua.Variant({ dataType: ua.DataType.Double, value: kind === 'avg' ? sum / n : kind === 'min' ? min : max }),
              statusCode: SC.Good,
              sourceTimestamp: ts,
              serverTimestamp: ts,
            }),
          );
      }
      return result(SC.Good, out, t0 < to ? { from: t0, skip: 0, to } : undefined);
    }
    return result(SC.BadHistoryOperationUnsupported);
  };
  (variable as unknown as { _historyRead: unknown })._historyRead = (
    _context: unknown,
    details: unknown,
    _indexRange: unknown,
    _dataEncoding: unknown,
    continuation: { continuationPoint?: Buffer | null; releaseContinuationPoints?: boolean } | undefined,
    callback: (err: Error | null, r?: unknown) => void,
  ) => {
    let r: unknown;
    try {
      r = read(details, continuation);
    } catch {
      r = result(SC.BadInternalError);
    }
    callback(null, r);
  };
}
