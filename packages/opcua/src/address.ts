/**
 * @module
 * OPC UA tag addresses, parsed without node-opcua: a NodeId in its string form (OPC 10000-6
 * §5.3.1.10: `ns=2;s=Line1.Temp`, `i=2258`, `ns=1;g=…`, `ns=1;b=…`, `nsu=<uri>;s=…`), or a
 * browse path from the Root folder (`/` is Root itself; `/Objects/Plant/Line1/Temperature`, a segment may carry a
 * namespace index as in a RelativePath, OPC 10000-4 Annex A.2: `/Objects/2:Plant`). Pure, so the
 * gateway can validate a configuration without loading node-opcua.
 */
import { BifrostError, type DataType, parseDataType } from '@bifrost/core';

/** The four NodeId identifier types (OPC 10000-3 §8.2.3). */
export type IdentifierType = 'i' | 's' | 'g' | 'b';

/** A parsed NodeId. */
export interface NodeIdAddress {
  kind: 'nodeId';
  /** Namespace index; 0 when absent and no `namespaceUri` is given. */
  namespace: number;
  /** The namespace URI of an `nsu=` form, resolved against the server's NamespaceArray on use. */
  namespaceUri?: string;
  identifierType: IdentifierType;
  /** The identifier: a number for `i=`, otherwise the text after `s=`, `g=` or `b=`. */
  identifier: number | string;
  /** The type hint of a `:<TYPE>` suffix: the built-in type a write uses (see {@link splitTypeHint}). */
  type?: DataType;
}

/** One element of a browse path. */
export interface BrowsePathSegment {
  /** Browse name without a namespace. */
  name: string;
  /** Namespace index when written `2:Name`; absent means "any namespace". */
  namespace?: number;
}

/** A parsed browse path, from the Root folder. */
export interface BrowsePathAddress {
  kind: 'path';
  segments: BrowsePathSegment[];
  /** The type hint of a `:<TYPE>` suffix (see {@link splitTypeHint}). */
  type?: DataType;
}

/** A parsed OPC UA address. */
export type OpcUaAddress = NodeIdAddress | BrowsePathAddress;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function invalid(address: string, why: string): BifrostError {
  return new BifrostError(
    'BIFROST_INVALID_ADDRESS',
    `"${address}" is not an OPC UA address: ${why}; expected a NodeId such as ns=2;s=Line1.Temp or i=2258, or a browse path such as /Objects/Plant/Temp`,
    { address },
  );
}

/**
 * The type-hint names a `:<TYPE>` suffix may use: Bifrost's types and their aliases, upper case
 * only, as the other protocols write them (`HR0:FLOAT32`, `DB1.DBD4:REAL`).
 */
const HINTS = new Set([
  'BOOL',
  'BIT',
  'SINT',
  'INT8',
  'USINT',
  'UINT8',
  'BYTE',
  'INT',
  'INT16',
  'UINT',
  'UINT16',
  'WORD',
  'DINT',
  'INT32',
  'UDINT',
  'UINT32',
  'DWORD',
  'LINT',
  'INT64',
  'ULINT',
  'UINT64',
  'LWORD',
  'REAL',
  'FLOAT',
  'FLOAT32',
  'LREAL',
  'DOUBLE',
  'FLOAT64',
  'STRING',
  'BYTES',
  'DATETIME',
]);

/**
 * Splits an optional type hint off an address. The rule, since a string NodeId may itself hold
 * `:`: a hint is recognised only when the text after the LAST `:` is, exactly and in upper case,
 * one of the type names of {@link HINTS} (`ns=1;s=T8:INT32`, `/Objects/Plant/Speed:REAL`), or
 * `AUTO` (no hint: the variable's own type). Everything before it is the NodeId or browse path.
 * So `ns=1;s=Motor:Speed` has no hint, and a string identifier that really ends in `:REAL` is
 * written with a hint after it (`ns=1;s=Motor:REAL:AUTO`).
 * @example splitTypeHint('ns=1;s=T8:INT32') // { base: 'ns=1;s=T8', type: 'DINT' }
 */
export function splitTypeHint(address: string): { base: string; type?: DataType } {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return { base: address };
  const suffix = address.slice(colon + 1);
  if (suffix === 'AUTO') return { base: address.slice(0, colon) };
  if (!HINTS.has(suffix)) return { base: address };
  return { base: address.slice(0, colon), type: parseDataType(suffix) };
}

/**
 * Parses an OPC UA address, with an optional `:<TYPE>` write type hint ({@link splitTypeHint}),
 * throwing BIFROST_INVALID_ADDRESS that names it.
 * @example parseAddress('ns=1;s=T8:INT32') // { kind: 'nodeId', namespace: 1, identifierType: 's', identifier: 'T8', type: 'DINT' }
 * @example parseAddress('ns=2;s=Line1.Temp') // { kind: 'nodeId', namespace: 2, identifierType: 's', identifier: 'Line1.Temp' }
 * @example parseAddress('/Objects/Plant/Temp') // { kind: 'path', segments: [{ name: 'Objects' }, …] }
 */
export function parseAddress(address: string): OpcUaAddress {
  if (typeof address !== 'string' || address.length === 0) throw invalid(String(address), 'empty');
  const { base, type } = splitTypeHint(address);
  if (base === '') throw invalid(address, 'empty');
  const out = parseBase(address, base);
  if (type !== undefined) out.type = type;
  return out;
}

function parseBase(original: string, text: string): OpcUaAddress {
  const address = original;
  if (text.startsWith('/')) return parsePath(address, text);
  let rest = text;
  let namespace = 0;
  let namespaceUri: string | undefined;
  const nsMatch = /^ns=([^;]*);/.exec(rest);
  const nsuMatch = /^nsu=([^;]*);/.exec(rest);
  if (nsMatch) {
    const raw = nsMatch[1] as string;
    if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw invalid(address, `namespace index "${raw}" must be an integer from 0 to 65535`);
    namespace = Number(raw);
    rest = rest.slice(nsMatch[0].length);
  } else if (nsuMatch) {
    namespaceUri = nsuMatch[1] as string;
    if (namespaceUri === '') throw invalid(address, 'empty namespace URI');
    rest = rest.slice(nsuMatch[0].length);
  }
  const type = rest.slice(0, 2);
  const id = rest.slice(2);
  let out: NodeIdAddress;
  switch (type) {
    case 'i=': {
      if (!/^\d{1,10}$/.test(id) || Number(id) > 0xffffffff) throw invalid(address, `numeric identifier "${id}" must be an integer from 0 to 4294967295`);
      out = { kind: 'nodeId', namespace, identifierType: 'i', identifier: Number(id) };
      break;
    }
    case 's=':
      if (id === '') throw invalid(address, 'empty string identifier');
      if (id.length > 4096) throw invalid(address, 'string identifier longer than 4096 characters (OPC 10000-3 §8.2.4)');
      out = { kind: 'nodeId', namespace, identifierType: 's', identifier: id };
      break;
    case 'g=':
      if (!GUID.test(id)) throw invalid(address, `"${id}" is not a GUID`);
      out = { kind: 'nodeId', namespace, identifierType: 'g', identifier: id.toLowerCase() };
      break;
    case 'b=':
      if (id === '' || !BASE64.test(id) || id.length % 4 !== 0) throw invalid(address, `"${id}" is not base64`);
      out = { kind: 'nodeId', namespace, identifierType: 'b', identifier: id };
      break;
    default:
      throw invalid(address, 'expected i=, s=, g= or b= after the optional ns=<index>;');
  }
  if (namespaceUri !== undefined) out.namespaceUri = namespaceUri;
  return out;
}

function parsePath(address: string, text: string): BrowsePathAddress {
  // `/` alone is the Root folder itself (OPC 10000-5 §8.2.2), where a browse starts.
  if (text === '/') return { kind: 'path', segments: [] };
  const parts = text.slice(1).split('/');
  if (parts.some((p) => p === '')) throw invalid(address, 'a browse path has no empty segments');
  const segments = parts.map((p): BrowsePathSegment => {
    const m = /^(\d{1,5}):(.+)$/.exec(p);
    if (m) {
      const ns = Number(m[1]);
      if (ns > 65535) throw invalid(address, `namespace index ${ns} is above 65535`);
      return { name: m[2] as string, namespace: ns };
    }
    return { name: p };
  });
  return { kind: 'path', segments };
}

/**
 * The canonical text of a parsed address (the inverse of {@link parseAddress}).
 * @example formatAddress({ kind: 'nodeId', namespace: 0, identifierType: 'i', identifier: 2258 }) // 'i=2258'
 */
export function formatAddress(a: OpcUaAddress): string {
  let base: string;
  if (a.kind === 'path') base = `/${a.segments.map((s) => (s.namespace === undefined ? s.name : `${s.namespace}:${s.name}`)).join('/')}`;
  else {
    const ns = a.namespaceUri !== undefined ? `nsu=${a.namespaceUri};` : a.namespace !== 0 ? `ns=${a.namespace};` : '';
    base = `${ns}${a.identifierType}=${a.identifier}`;
  }
  if (a.type !== undefined) return `${base}:${a.type}`;
  // A base that ends in something read as a hint keeps its meaning with an explicit AUTO.
  return splitTypeHint(base).base !== base ? `${base}:AUTO` : base;
}

/**
 * Throws BIFROST_INVALID_ADDRESS when `address` is not an OPC UA address; for config validation.
 * @example validateAddress('ns=2;s=Temp')
 */
export function validateAddress(address: string): void {
  parseAddress(address);
}
