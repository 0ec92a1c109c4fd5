/**
 * @module
 * A fast path for the Read service (OPC 10000-4 §5.10.2) on the variables a Bifrost server serves,
 * installed on one node-opcua 2.182.0 server instance.
 *
 * node-opcua answers each ReadValueId of a Read by resolving the NodeId in the address space,
 * evaluating the session's permissions and access restrictions from the namespace's metadata
 * (a walk to Server/Namespaces/<uri>/DefaultRolePermissions by browse name, for every node of
 * every Read), cloning the DataValue with its Variant, and an `await` per node. Profiled on the
 * gateway's bulk Read of 10,000 tags, that was about 11 µs per value, most of it the permission
 * walk (bench/opcua-server.mjs).
 *
 * Here a plain Value read of a served variable — Value attribute, no IndexRange, no
 * DataEncoding, a Good or Uncertain value, a variable with no RolePermissions and no
 * AccessRestrictions of its own — is answered from a NodeId→variable map with a DataValue that
 * shares the served Variant (the server replaces a served DataValue and its Variant on every
 * update, never mutates them). The permission and access-restriction answers depend only on the
 * session and the namespace for such a variable, so node-opcua's own checks are evaluated once per
 * Read on the first of them and reused for the others. Timestamps follow node-opcua's normal path
 * step for step (TimestampsToReturn, and MaxAge: a ServerTimestamp older than MaxAge is the time of
 * the Read, in the answer and in the cache). Everything else — another attribute, an IndexRange, a
 * DataEncoding, an unknown NodeId, a Bad value, a variable with its own permissions, a session that
 * may not read — goes through node-opcua's own `readNode`, in request order, so its answers
 * (BadNodeIdUnknown, BadAttributeIdInvalid, BadIndexRangeNoData, BadNotReadable,
 * BadUserAccessDenied, …) are unchanged. The service-level checks (TimestampsToReturn, MaxAge,
 * BadNothingToDo, BadTooManyOperations above MaxNodesPerRead, registered NodeIds, the session)
 * stay in node-opcua's `_on_ReadRequest`, which calls the two methods replaced here.
 *
 * The shape of node-opcua this relies on is checked when installing: a missing method throws
 * rather than silently reading another way.
 */
import { createRequire } from 'node:module';
import { BifrostError } from '@bifrost/core';
import type { DataValue, NodeId, OPCUAServer, UAVariable } from 'node-opcua';
import type { NodeOpcua } from './load.js';

/** A served variable and its current DataValue, as the server keeps them. */
export interface FastReadNode {
  variable: UAVariable;
  dataValue: DataValue;
}

interface ReadValueIdLike {
  nodeId: NodeId;
  attributeId: number;
  indexRange?: { type: number } | null;
  dataEncoding?: { name?: string | null } | null;
}

interface ReadRequestLike {
  maxAge: number;
  timestampsToReturn: number;
  nodesToRead?: ReadValueIdLike[] | null;
}

interface Clock {
  timestamp: Date;
  picoseconds: number;
}

interface Context {
  currentTime?: Clock;
  isAccessRestricted(node: unknown): boolean;
}

interface VariableInternals {
  nodeId: NodeId;
  accessLevel: number;
  userAccessLevel?: number;
  rolePermissions?: unknown;
  accessRestrictions?: unknown;
  refreshFunc?: unknown;
  $dataValue: DataValue;
  checkPermissionPrivate(context: Context, permission: number): boolean;
}

interface Accessor {
  read(context: Context, request: ReadRequestLike): Promise<DataValue[]>;
  readNode(context: Context, nodeToRead: ReadValueIdLike, maxAge: number, timestampsToReturn: number): Promise<DataValue>;
}

interface Engine {
  addressSpaceAccessor: Accessor | null;
  refreshValues(nodes: ReadValueIdLike[], maxAge: number, callback: (err: Error | null, values?: unknown) => void): void;
}

/** OPC 10000-4 §5.10.2: a MaxAge of Int32 max or more asks for a cached value. */
const MAX_AGE_CACHED = 0x7fffffff;
const VALUE = 13;
const CURRENT_READ = 1;
/** NumericRangeType.Empty: no IndexRange given (OPC 10000-4 §7.27). */
const RANGE_EMPTY = 0;
// TimestampsToReturn (OPC 10000-4 §7.40).
const SOURCE = 0;
const SERVER = 1;
const BOTH = 2;
const NEITHER = 3;

/** What a fast path counted since it was installed (the tests check both paths were taken). */
export interface FastReadStats {
  /** Values answered by the fast path. */
  fast: number;
  /** ReadValueIds handed to node-opcua's own readNode. */
  normal: number;
}

/**
 * Installs the fast Read path on `server` (after `initialize()`); `lookup` resolves a NodeId to a
 * served variable, or undefined for any other node.
 * @example const stats = installFastRead(ua, server, (id) => (id.namespace === 1 ? tags.get(String(id.value)) : undefined))
 */
export function installFastRead(ua: NodeOpcua, server: OPCUAServer, lookup: (nodeId: NodeId) => FastReadNode | undefined): FastReadStats {
  const engine = server.engine as unknown as Engine;
  const accessor = engine?.addressSpaceAccessor;
  const fromUa = createRequire(createRequire(import.meta.url).resolve('node-opcua'));
  const { getCurrentClock, isMinDate } = fromUa('node-opcua-date-time') as { getCurrentClock(): Clock; isMinDate(d: Date | null): boolean };
  // Any UAVariable of the address space shows the methods of node-opcua's UAVariable (i=2258: Server_ServerStatus_CurrentTime).
  const sample = server.engine?.addressSpace?.findNode('i=2258') as unknown as Partial<VariableInternals> | null | undefined;
  if (
    !accessor ||
    typeof accessor.read !== 'function' ||
    typeof accessor.readNode !== 'function' ||
    typeof engine.refreshValues !== 'function' ||
    typeof getCurrentClock !== 'function' ||
    typeof isMinDate !== 'function' ||
    typeof sample?.checkPermissionPrivate !== 'function' ||
    typeof (ua.SessionContext?.prototype as unknown as Context | undefined)?.isAccessRestricted !== 'function'
  ) {
    throw new BifrostError(
      'BIFROST_NOT_SUPPORTED',
      'node-opcua does not have the shape the fast Read path relies on (AddressSpaceAccessor.read/readNode, ServerEngine.refreshValues, SessionContext.isAccessRestricted, UAVariable.checkPermissionPrivate): check the pinned node-opcua version',
    );
  }
  const READ = ua.PermissionType.Read as unknown as number;
  const stats: FastReadStats = { fast: 0, normal: 0 };
  // A DataValue without the constructor's coercions: the encoder reads these six fields.
  const Fast = function (this: DataValue, value: unknown, statusCode: unknown, src: Date | null, srcPs: number, srv: Date | null, srvPs: number) {
    const self = this as unknown as Record<string, unknown>;
    self.value = value;
    self.statusCode = statusCode;
    self.sourceTimestamp = src;
    self.sourcePicoseconds = srcPs;
    self.serverTimestamp = srv;
    self.serverPicoseconds = srvPs;
  } as unknown as new (
    value: unknown,
    statusCode: unknown,
    src: Date | null,
    srcPs: number,
    srv: Date | null,
    srvPs: number,
  ) => DataValue;
  Fast.prototype = ua.DataValue.prototype;

  /** The served node a ReadValueId reads on the fast path, if it does. */
  const eligible = (rv: ReadValueIdLike): FastReadNode | undefined => {
    // Only an empty IndexRange: an invalid one (`3:1`) is not "defined" to node-opcua either, but gets BadIndexRangeInvalid.
    if (rv.attributeId !== VALUE || (rv.indexRange && rv.indexRange.type !== RANGE_EMPTY) || rv.dataEncoding?.name) return undefined;
    const node = rv.nodeId ? lookup(rv.nodeId) : undefined;
    if (!node) return undefined;
    const v = node.variable as unknown as VariableInternals;
    // A variable that refreshes asynchronously, or carries its own permissions, is node-opcua's to read.
    if (v.refreshFunc !== undefined || v.rolePermissions !== undefined || v.accessRestrictions !== undefined) return undefined;
    return node;
  };

  // node-opcua looks every Value read up again to find variables that refresh asynchronously; the
  // served ones never do, so they are left out of that walk (the answer is the same: nothing to refresh).
  const refreshValues = engine.refreshValues;
  engine.refreshValues = function (this: Engine, nodes, maxAge, callback) {
    let rest: ReadValueIdLike[] | undefined;
    for (let i = 0; i < nodes.length; i++) {
      const rv = nodes[i] as ReadValueIdLike;
      const node = rv.nodeId ? lookup(rv.nodeId) : undefined;
      const ours = node !== undefined && (node.variable as unknown as VariableInternals).refreshFunc === undefined;
      if (ours) rest ??= nodes.slice(0, i);
      else rest?.push(rv);
    }
    return refreshValues.call(this, rest ?? nodes, maxAge, callback);
  };

  accessor.read = async function (this: Accessor, context: Context, request: ReadRequestLike): Promise<DataValue[]> {
    // As AddressSpaceAccessor.read: MaxAge defaults to 0, one clock for the whole Read.
    request.maxAge = request.maxAge || 0;
    const maxAge = request.maxAge;
    const ttr = request.timestampsToReturn;
    const nodesToRead = request.nodesToRead || [];
    context.currentTime = getCurrentClock();
    const now = context.currentTime;
    const fastTtr = ttr === SOURCE || ttr === SERVER || ttr === BOTH || ttr === NEITHER;
    // The session's right to read a served variable: evaluated once, by node-opcua, on the first one.
    let allowed: boolean | undefined;
    let namespace = -1;
    const results: DataValue[] = [];
    for (const rv of nodesToRead) {
      const node = fastTtr ? eligible(rv) : undefined;
      const dv = node?.dataValue;
      const v = node?.variable as unknown as VariableInternals | undefined;
      if (node && v && dv?.statusCode.isGoodish() && dv.serverTimestamp && !isMinDate(dv.serverTimestamp)) {
        if (allowed === undefined) {
          namespace = v.nodeId.namespace;
          // What UAVariable.readValue checks before reading: access restrictions, then Read permission.
          allowed = !context.isAccessRestricted(v) && v.checkPermissionPrivate(context, READ);
        }
        // AccessLevel and UserAccessLevel are the variable's own (UAVariable.isReadable / isUserReadable).
        const readable = (v.accessLevel & CURRENT_READ) === CURRENT_READ && (v.userAccessLevel === undefined || (v.userAccessLevel & CURRENT_READ) === CURRENT_READ);
        if (allowed && readable && v.nodeId.namespace === namespace) {
          // As UAVariable.readValue, which makes the getter's DataValue the cached one.
          if (v.$dataValue !== dv) v.$dataValue = dv;
          let src: Date | null = dv.sourceTimestamp;
          let srcPs = dv.sourcePicoseconds;
          let srv: Date | null = dv.serverTimestamp;
          let srvPs = dv.serverPicoseconds;
          if (ttr === NEITHER || ttr === SERVER) {
            src = null;
            srcPs = 0;
          }
          if (ttr === NEITHER || ttr === SOURCE) {
            srv = null;
            srvPs = 0;
          } else if (maxAge < MAX_AGE_CACHED && now.timestamp.getTime() - dv.serverTimestamp.getTime() > maxAge) {
            // OPC 10000-4 §5.10.2 MaxAge: the value is re-verified at the time of the Read, and the
            // cache moves with it (AddressSpaceAccessor.readNode, CTT Attribute Read 006/018/023).
            srv = now.timestamp;
            srvPs = now.picoseconds;
            dv.serverTimestamp = now.timestamp;
            dv.serverPicoseconds = now.picoseconds;
          }
          results.push(new Fast(dv.value, dv.statusCode, src, srcPs, srv, srvPs));
          stats.fast++;
          continue;
        }
      }
      stats.normal++;
      results.push(await this.readNode(context, rv, maxAge, ttr));
    }
    return results;
  };
  return stats;
}

interface SamplingContext {
  isAccessRestricted(node: unknown): boolean;
  checkPermission(node: unknown, permission: number): boolean;
}

type ReadValueAsync = (this: unknown, context: SamplingContext | null | undefined, callback: (err: Error | null, dataValue?: DataValue) => void) => void;

/**
 * Makes a served variable's sampling (a monitored item reads it every samplingInterval through
 * `readValueAsync`) evaluate the session's access restrictions and each permission once per sample.
 * node-opcua's `readValueAsync` checks them, then its `readValue` checks them again, and
 * `isUserReadable` checks Read once more: six walks to the namespace metadata per sample, about all
 * of the gateway's CPU with 10,000 monitored items. Within one synchronous sample the answers
 * cannot change, so the context handed to node-opcua's own method remembers them for that call:
 * the same checks, in the same order, with the same answers.
 * @example installFastSampling(ua, variable)
 */
export function installFastSampling(ua: NodeOpcua, variable: UAVariable): void {
  const original = (variable as unknown as { readValueAsync?: ReadValueAsync }).readValueAsync;
  if (typeof original !== 'function') {
    throw new BifrostError('BIFROST_NOT_SUPPORTED', 'node-opcua does not have the shape the fast sampling relies on (UAVariable.readValueAsync): check the pinned node-opcua version');
  }
  const READ = ua.PermissionType.Read as unknown as number;
  (variable as unknown as { readValueAsync: ReadValueAsync }).readValueAsync = function (this: unknown, context, callback) {
    if (!context || typeof context.isAccessRestricted !== 'function' || typeof context.checkPermission !== 'function') return original.call(this, context, callback);
    const real = context;
    let restricted: boolean | undefined;
    let readable: boolean | undefined;
    // A view of the session's context for this one call: node-opcua's methods, their answers for this variable remembered.
    const once = Object.create(real) as SamplingContext;
    once.isAccessRestricted = (node) => (node === variable ? (restricted ??= real.isAccessRestricted(node)) : real.isAccessRestricted(node));
    once.checkPermission = (node, permission) => (node === variable && permission === READ ? (readable ??= real.checkPermission(node, permission)) : real.checkPermission(node, permission));
    return original.call(this, once, callback);
  };
}
