/**
 * @module
 * The simulator's Logix tag database: atomic tags, arrays, Logix STRINGs, user-defined structures
 * laid out as Logix lays them out (members aligned to their size, BOOLs packed into hidden SINT
 * host members, size rounded to 4 bytes — 1756-PM020 "Structure Templates"), controller and
 * program scopes, and request-path resolution returning the CIP status Logix would return.
 */
import { BifrostError, type DataType, parseDataType } from '@bifrost/core';
import type { Segment } from '../codec/epath.js';
import { atomicSize, CipType, cipTypeOf, encodeLogixString, encodeTagValue, STRING_HANDLE, STRING_SIZE, type TagType, type Template, type TemplateMember } from '../codec/logix.js';

/** A type in the database: atomic, or a structure with its template. */
export type SimType = { kind: 'atomic'; code: number; size: number } | { kind: 'struct'; template: Template; size: number };

/** A tag. `data` holds every element little-endian, as the controller stores it. */
export interface SimTag {
  name: string;
  instance: number;
  type: SimType;
  dims: number[];
  data: Buffer;
}

/** A resolved request path: where the data is and what type it has. */
export interface SimRef {
  tag: SimTag;
  type: SimType;
  /** Byte offset of the first element addressed. */
  offset: number;
  /** Elements available from `offset` to the end of the array (1 for a scalar). */
  available: number;
  /** For a BOOL member of a structure: its bit in the host byte. */
  bit?: number;
}

/** A CIP failure: general status and extended status words. */
export interface SimStatus {
  status: number;
  extended: number[];
}

/** A scope: the controller, or one program. */
export interface SimScope {
  name: string;
  tags: Map<string, SimTag>;
  list: SimTag[];
}

/** The member declaration of a user-defined type. */
export interface UdtMemberSpec {
  name: string;
  type: string;
  /** Array length of an array member. */
  length?: number;
}

const STRING_TEMPLATE: Template = {
  id: STRING_HANDLE,
  name: 'STRING',
  handle: STRING_HANDLE,
  size: STRING_SIZE,
  members: [
    { name: 'LEN', info: 0, type: CipType.DINT, offset: 0 },
    { name: 'DATA', info: 82, type: 0x2000 | CipType.SINT, offset: 4 },
  ],
};

/**
 * The Logix tag database of the simulator.
 * @example const db = new LogixTagDb(); db.addTag({ name: 'Counter', type: 'DINT' })
 */
export class LogixTagDb {
  readonly controller: SimScope = { name: '', tags: new Map(), list: [] };
  readonly programs = new Map<string, SimScope>();
  readonly templates = new Map<number, Template>();
  readonly #types = new Map<string, SimType>();
  #nextTemplate = 0x100;
  #nextInstance = 1;

  constructor() {
    this.templates.set(STRING_HANDLE, STRING_TEMPLATE);
    this.#types.set('string', { kind: 'struct', template: STRING_TEMPLATE, size: STRING_SIZE });
  }

  /** The type named `name` (atomic name or alias, STRING, or a defined UDT). */
  type(name: string): SimType {
    const udt = this.#types.get(name.toLowerCase());
    if (udt) return udt;
    let dt: DataType;
    try {
      dt = parseDataType(name);
    } catch {
      throw new BifrostError(
        'BIFROST_CONFIG_INVALID',
        `unknown tag type "${name}": use an atomic type (BOOL, SINT, INT, DINT, LINT, USINT, UINT, UDINT, ULINT, REAL, LREAL), STRING or a UDT defined under udts`,
      );
    }
    const code = cipTypeOf(dt);
    if (code === undefined) throw new BifrostError('BIFROST_CONFIG_INVALID', `type ${name} has no Logix equivalent`);
    return { kind: 'atomic', code, size: atomicSize(code) };
  }

  /**
   * Defines a user-defined type, laying out members as Logix does.
   * @example db.defineUdt('Motor', [{ name: 'Speed', type: 'REAL' }, { name: 'Running', type: 'BOOL' }, { name: 'Faults', type: 'DINT' }])
   */
  defineUdt(name: string, members: readonly UdtMemberSpec[]): Template {
    if (this.#types.has(name.toLowerCase())) throw new BifrostError('BIFROST_CONFIG_INVALID', `type ${name} is defined twice`);
    const out: TemplateMember[] = [];
    let offset = 0;
    let align = 1;
    let boolHost = -1;
    let boolBit = 8;
    let hosts = 0;
    for (const m of members) {
      const t = this.type(m.type);
      if (t.kind === 'atomic' && t.code === CipType.BOOL && !m.length) {
        if (boolBit >= 8) {
          boolHost = offset;
          boolBit = 0;
          out.push({ name: `ZZZZZZZZZZ${name}${hosts++}`, info: 0, type: CipType.SINT, offset });
          offset += 1;
        }
        out.push({ name: m.name, info: boolBit++, type: CipType.BOOL, offset: boolHost });
        continue;
      }
      boolBit = 8;
      const a = t.kind === 'struct' ? 4 : Math.min(t.size, 8);
      align = Math.max(align, a);
      offset = Math.ceil(offset / a) * a;
      const typeWord = (t.kind === 'struct' ? 0x8000 | t.template.id : t.code) | (m.length ? 0x2000 : 0);
      out.push({ name: m.name, info: m.length ?? 0, type: typeWord, offset });
      offset += t.size * (m.length ?? 1);
    }
    const size = Math.ceil(offset / Math.max(4, align)) * Math.max(4, align);
    const id = this.#nextTemplate++;
    const template: Template = { id, name, handle: id, size, members: out };
    this.templates.set(id, template);
    this.#types.set(name.toLowerCase(), { kind: 'struct', template, size });
    return template;
  }

  /** The scope of `program` (created on first use), or the controller scope. */
  scope(program?: string): SimScope {
    if (!program) return this.controller;
    const key = program.toLowerCase();
    let s = this.programs.get(key);
    if (!s) {
      s = { name: program, tags: new Map(), list: [] };
      this.programs.set(key, s);
    }
    return s;
  }

  /**
   * Adds a tag with an optional initial value (scalar, array, string or member object).
   * @example db.addTag({ name: 'Counter', type: 'DINT' })
   */
  addTag(spec: { name: string; type: string; dims?: number[]; value?: unknown; program?: string }): SimTag {
    const scope = this.scope(spec.program);
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(spec.name)) throw new BifrostError('BIFROST_CONFIG_INVALID', `tag name "${spec.name}" is not a valid Logix name`);
    if (scope.tags.has(spec.name.toLowerCase())) throw new BifrostError('BIFROST_CONFIG_INVALID', `tag ${spec.name} is defined twice`);
    const type = this.type(spec.type);
    const dims = (spec.dims ?? []).filter((d) => d > 0);
    if (dims.length > 3 || dims.some((d) => !Number.isInteger(d) || d > 100_000)) throw new BifrostError('BIFROST_CONFIG_INVALID', `tag ${spec.name}: dims must be up to three positive integers`);
    const count = dims.reduce((a, b) => a * b, 1);
    const tag: SimTag = { name: spec.name, instance: this.#nextInstance++, type, dims, data: Buffer.alloc(type.size * count) };
    if (spec.value !== undefined) {
      const values = dims.length > 0 && Array.isArray(spec.value) ? spec.value : [spec.value];
      values.slice(0, count).forEach((v, i) => {
        this.setValue(type, tag.data, i * type.size, v, spec.name);
      });
    }
    scope.tags.set(spec.name.toLowerCase(), tag);
    scope.list.push(tag);
    return tag;
  }

  /** Writes a JavaScript value of `type` at `offset`. */
  setValue(type: SimType, data: Buffer, offset: number, value: unknown, what: string): void {
    try {
      if (type.kind === 'atomic') {
        encodeTagValue(type.code, value as never).copy(data, offset);
      } else if (type.template.handle === STRING_HANDLE) {
        encodeLogixString(String(value)).copy(data, offset);
      } else {
        if (typeof value !== 'object' || value === null) throw new BifrostError('BIFROST_CONFIG_INVALID', 'a structure value is an object of member values');
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          const m = type.template.members.find((x) => x.name.toLowerCase() === k.toLowerCase());
          if (!m) throw new BifrostError('BIFROST_CONFIG_INVALID', `structure ${type.template.name} has no member ${k}`);
          if ((m.type & 0xff) === CipType.BOOL && !(m.type & 0x8000)) {
            const on = v === true || v === 1 || v === 'true';
            data[offset + m.offset] = on ? (data[offset + m.offset] as number) | (1 << m.info) : (data[offset + m.offset] as number) & ~(1 << m.info);
          } else this.setValue(this.memberType(m), data, offset + m.offset, v, `${what}.${k}`);
        }
      }
    } catch (e) {
      if (e instanceof BifrostError && e.code === 'BIFROST_CONFIG_INVALID') throw e;
      throw new BifrostError('BIFROST_CONFIG_INVALID', `value of ${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The type of a template member. */
  memberType(m: TemplateMember): SimType {
    if (m.type & 0x8000) {
      const t = this.templates.get(m.type & 0x0fff);
      if (!t) throw new BifrostError('BIFROST_CONFIG_INVALID', `member ${m.name} refers to unknown template ${m.type & 0x0fff}`);
      return { kind: 'struct', template: t, size: t.size };
    }
    const code = m.type & 0xff;
    return { kind: 'atomic', code, size: atomicSize(code) };
  }

  /** Finds a tag by scope-qualified name (`Program:Main.X` or `Counter`), for signals. */
  find(path: string): SimRef | SimStatus {
    const segs: Segment[] = [];
    let rest = path;
    const prog = /^(program:[A-Za-z0-9_]+)\.(.*)$/i.exec(path);
    if (prog) {
      segs.push({ type: 'symbolic', name: prog[1] as string });
      rest = prog[2] as string;
    }
    for (const part of rest.split('.')) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$/.exec(part);
      if (!m) return { status: 0x04, extended: [] };
      segs.push({ type: 'symbolic', name: m[1] as string });
      if (m[2] !== undefined) segs.push({ type: 'element', index: Number(m[2]) });
    }
    return this.resolve(segs);
  }

  /**
   * Resolves a tag request path. Unknown names give 0x04 (path segment error), an index past the
   * end 0xFF with extended 0x2104 (1756-PM020 error codes).
   * @example db.resolve(decodeEpath(req.path))
   */
  resolve(segments: readonly Segment[]): SimRef | SimStatus {
    let i = 0;
    let scope = this.controller;
    const first = segments[0];
    if (first?.type === 'symbolic' && first.name.toLowerCase().startsWith('program:')) {
      const s = this.programs.get(first.name.slice(8).toLowerCase());
      if (!s) return { status: 0x04, extended: [] };
      scope = s;
      i = 1;
    }
    const head = segments[i];
    if (head?.type !== 'symbolic') return { status: 0x04, extended: [] };
    const tag = scope.tags.get(head.name.toLowerCase());
    if (!tag) return { status: 0x04, extended: [] };
    i++;
    let type = tag.type;
    let dims = tag.dims;
    let offset = 0;
    let available = dims.reduce((a, b) => a * b, 1);
    let bit: number | undefined;
    while (i < segments.length) {
      const s = segments[i] as Segment;
      if (s.type === 'element') {
        if (dims.length === 0) return { status: 0x04, extended: [] };
        const idx: number[] = [];
        while (i < segments.length && segments[i]?.type === 'element' && idx.length < dims.length) idx.push((segments[i++] as { index: number }).index);
        if (idx.length !== dims.length) return { status: 0x04, extended: [] };
        let linear = 0;
        for (let d = 0; d < dims.length; d++) {
          if ((idx[d] as number) >= (dims[d] as number)) return { status: 0xff, extended: [0x2104] };
          linear = linear * (dims[d] as number) + (idx[d] as number);
        }
        const total = dims.reduce((a, b) => a * b, 1);
        offset += linear * type.size;
        available = total - linear;
        dims = [];
        continue;
      }
      if (s.type === 'symbolic') {
        if (type.kind !== 'struct' || bit !== undefined) return { status: 0x04, extended: [] };
        // An array of structures addressed without an index means its first element.
        dims = [];
        const name = s.name.toLowerCase();
        const m = type.template.members.find((x) => x.name.toLowerCase() === name);
        if (!m) return { status: 0x04, extended: [] };
        offset += m.offset;
        if ((m.type & 0xff) === CipType.BOOL && !(m.type & 0x8000) && !(m.type & 0x6000)) {
          type = { kind: 'atomic', code: CipType.BOOL, size: 1 };
          bit = m.info;
          available = 1;
        } else {
          type = this.memberType(m);
          dims = m.type & 0x6000 ? [m.info] : [];
          available = dims.length > 0 ? m.info : 1;
        }
        i++;
        continue;
      }
      return { status: 0x04, extended: [] };
    }
    const ref: SimRef = { tag, type, offset, available };
    if (bit !== undefined) ref.bit = bit;
    return ref;
  }

  /** The wire type id of a database type. */
  static typeId(t: SimType): TagType {
    return t.kind === 'atomic' ? { code: t.code } : { code: CipType.STRUCT, handle: t.template.handle };
  }
}
