/**
 * @module
 * `ValueColumns`: the values of one poll, column by column, for the gateway's hot path. A driver
 * reads a fixed list of addresses into the same columns poll after poll: numbers and booleans go
 * into a `Float64Array` (no heap object per value), qualities into a `Uint8Array`, and only values
 * that are not numbers (strings, bigints, arrays, bytes, dates) and errors into arrays of objects.
 * At 100,000 tags a second, an object per value per poll is what saturates a core with garbage
 * collection; columns reused across polls cost nothing per value. `read`/`readMany`/`subscribe`
 * keep returning `TagValue`s for library users; {@link ValueColumns.tagValue} turns a slot into
 * one when a caller wants it.
 */
import type { Value } from './datatypes.js';
import type { BifrostError } from './errors/index.js';
import { type Quality, type TagValue, valuesEqual } from './value.js';

/** Quality as a byte: the index in {@link QUALITIES}. */
export const GOOD = 0;
/** @see GOOD */
export const UNCERTAIN = 1;
/** @see GOOD */
export const BAD = 2;
/** Quality names by code. */
export const QUALITIES: readonly Quality[] = ['good', 'uncertain', 'bad'];

/** What a slot holds: no value (a bad read), a number in `num`, a boolean as 0/1 in `num`, or anything else (bigint, string, bytes, date, array) in `other`. */
export const Kind = { Null: 0, Number: 1, Bool: 2, Other: 3 } as const;

/**
 * One poll's values, column by column, reused from poll to poll.
 * @example
 * const cols = new ValueColumns(addresses.length);
 * await device.readInto(addresses, cols);
 * if (cols.quality[0] === GOOD) console.log(cols.value(0));
 */
export class ValueColumns {
  /** Number of slots. */
  readonly size: number;
  /** Numbers, and booleans as 0/1; NaN where the slot holds no number. */
  readonly num: Float64Array;
  /** The {@link Kind} of each slot. */
  readonly kind: Uint8Array;
  /** {@link GOOD}, {@link UNCERTAIN} or {@link BAD}. */
  readonly quality: Uint8Array;
  // Most plants are numbers: the object columns are made on the first slot that needs them.
  #other: (Value | undefined)[] | undefined;
  #errors: (BifrostError | undefined)[] | undefined;
  /** Source timestamps where the protocol gives them (NaN where not); allocated on first use. */
  sourceTimestamp: Float64Array | undefined;
  /** When the values were received (ms since the Unix epoch): one for the whole poll. */
  timestamp = 0;

  constructor(size: number) {
    this.size = size;
    this.num = new Float64Array(size);
    this.kind = new Uint8Array(size);
    this.quality = new Uint8Array(size);
  }

  /** Values that are not numbers or booleans (undefined elsewhere). */
  get other(): (Value | undefined)[] {
    this.#other ??= new Array<Value | undefined>(this.size).fill(undefined);
    return this.#other;
  }

  /** The error of a bad or uncertain slot (undefined elsewhere). */
  get errors(): (BifrostError | undefined)[] {
    this.#errors ??= new Array<BifrostError | undefined>(this.size).fill(undefined);
    return this.#errors;
  }

  /** The value of slot `i` when it is not a number or boolean, without making the column. */
  otherAt(i: number): Value | undefined {
    return this.#other?.[i];
  }

  /** The error of slot `i`, without making the column. */
  errorAt(i: number): BifrostError | undefined {
    return this.#errors?.[i];
  }

  #setOther(i: number, v: Value | undefined): void {
    if (v !== undefined) this.other[i] = v;
    else if (this.#other !== undefined) this.#other[i] = undefined;
  }

  #setError(i: number, e: BifrostError | undefined): void {
    if (e !== undefined) this.errors[i] = e;
    else if (this.#errors !== undefined) this.#errors[i] = undefined;
  }

  /** A good number. */
  setNumber(i: number, n: number): void {
    this.num[i] = n;
    this.kind[i] = Kind.Number;
    this.quality[i] = GOOD;
    if (this.#other !== undefined) this.#other[i] = undefined;
    if (this.#errors !== undefined) this.#errors[i] = undefined;
  }

  /** A value of any kind with its quality (good by default). */
  set(i: number, v: Value | null, quality: number = GOOD, error?: BifrostError): void {
    if (typeof v === 'number') {
      this.num[i] = v;
      this.kind[i] = Kind.Number;
      this.#setOther(i, undefined);
    } else if (typeof v === 'boolean') {
      this.num[i] = v ? 1 : 0;
      this.kind[i] = Kind.Bool;
      this.#setOther(i, undefined);
    } else if (v === null) {
      this.num[i] = Number.NaN;
      this.kind[i] = Kind.Null;
      this.#setOther(i, undefined);
    } else {
      this.num[i] = typeof v === 'bigint' ? Number(v) : Number.NaN;
      this.kind[i] = Kind.Other;
      this.#setOther(i, v);
    }
    this.quality[i] = quality;
    this.#setError(i, error);
  }

  /** A bad slot carrying its error. */
  setBad(i: number, error: BifrostError): void {
    this.num[i] = Number.NaN;
    this.kind[i] = Kind.Null;
    this.quality[i] = BAD;
    this.#setOther(i, undefined);
    this.errors[i] = error;
  }

  /** Sets a slot's source timestamp (NaN clears it). */
  setSourceTimestamp(i: number, t: number): void {
    if (this.sourceTimestamp === undefined) {
      if (Number.isNaN(t)) return;
      this.sourceTimestamp = new Float64Array(this.size).fill(Number.NaN);
    }
    this.sourceTimestamp[i] = t;
  }

  /** The value of a slot (a number is a number, a boolean a boolean; no value is null). */
  value(i: number): Value | null {
    switch (this.kind[i]) {
      case Kind.Number:
        return this.num[i] as number;
      case Kind.Bool:
        return this.num[i] === 1;
      case Kind.Other:
        return this.#other?.[i] as Value;
      default:
        return null;
    }
  }

  /** The slot as a TagValue (an object: for library callers and the rare consumer, not per poll). */
  tagValue(i: number, address: string): TagValue {
    const tv: TagValue = { address, value: this.value(i), quality: QUALITIES[this.quality[i] as number] as Quality, timestamp: this.timestamp };
    const st = this.sourceTimestamp?.[i];
    if (st !== undefined && !Number.isNaN(st)) tv.sourceTimestamp = st;
    const e = this.#errors?.[i];
    if (e) tv.error = e;
    return tv;
  }

  /** Copies slot `j` of `from` into slot `i` (the timestamp of the copy is the caller's business). */
  copySlot(i: number, from: ValueColumns, j: number): void {
    this.num[i] = from.num[j] as number;
    this.kind[i] = from.kind[j] as number;
    this.quality[i] = from.quality[j] as number;
    this.#setOther(i, from.otherAt(j));
    this.#setError(i, from.errorAt(j));
    const st = from.sourceTimestamp?.[j];
    if (st !== undefined || this.sourceTimestamp !== undefined) this.setSourceTimestamp(i, st ?? Number.NaN);
  }

  /** Copies every slot and the timestamp of `from` (same size): typed columns at memcpy speed. */
  copyFrom(from: ValueColumns): void {
    this.num.set(from.num);
    this.kind.set(from.kind);
    this.quality.set(from.quality);
    const other = from.#other;
    if (other !== undefined) {
      const to = this.other;
      for (let i = 0; i < this.size; i++) to[i] = other[i];
    } else this.#other?.fill(undefined);
    const errors = from.#errors;
    if (errors !== undefined) {
      const to = this.errors;
      for (let i = 0; i < this.size; i++) to[i] = errors[i];
    } else this.#errors?.fill(undefined);
    if (from.sourceTimestamp !== undefined) (this.sourceTimestamp ??= new Float64Array(this.size)).set(from.sourceTimestamp);
    else this.sourceTimestamp?.fill(Number.NaN);
    this.timestamp = from.timestamp;
  }

  /** Fills every slot from TagValues (a driver without a columnar read goes through this). */
  fill(values: readonly TagValue[]): void {
    let ts = 0;
    for (let i = 0; i < this.size; i++) {
      const v = values[i];
      if (v === undefined) continue;
      this.set(i, v.value, v.quality === 'good' ? GOOD : v.quality === 'bad' ? BAD : UNCERTAIN, v.error);
      if (v.sourceTimestamp !== undefined || this.sourceTimestamp !== undefined) this.setSourceTimestamp(i, v.sourceTimestamp ?? Number.NaN);
      if (v.timestamp > ts) ts = v.timestamp;
    }
    this.timestamp = ts || Date.now();
  }

  /** Marks every slot bad with one error (a poll that failed as a whole). */
  fillBad(error: BifrostError): void {
    this.num.fill(Number.NaN);
    this.kind.fill(Kind.Null);
    this.quality.fill(BAD);
    this.#other?.fill(undefined);
    this.errors.fill(error);
    this.timestamp = Date.now();
  }
}

/**
 * {@link exceedsDeadband} on columns: true when slot `j` of `next` differs from slot `i` of `prev`
 * by more than `deadband` (absolute) — the same decision, value for value, without TagValues.
 * A quality change is always a change; non-numeric values change when they are not equal.
 * @example if (changedBeyond(last, i, cols, i, 0.5)) forward(i)
 */
export function changedBeyond(prev: ValueColumns, i: number, next: ValueColumns, j: number, deadband = 0): boolean {
  if (prev.quality[i] !== next.quality[j]) return true;
  const ka = prev.kind[i];
  const kb = next.kind[j];
  if (ka === Kind.Number && kb === Kind.Number) {
    const a = prev.num[i] as number;
    const b = next.num[j] as number;
    if (Number.isNaN(a) || Number.isNaN(b)) return !(Number.isNaN(a) && Number.isNaN(b));
    return deadband > 0 ? Math.abs(b - a) > deadband : a !== b;
  }
  if (ka === Kind.Bool && kb === Kind.Bool) return prev.num[i] !== next.num[j];
  if (ka === Kind.Null && kb === Kind.Null) return false;
  const a = prev.value(i);
  const b = next.value(j);
  if (typeof a === 'bigint' && typeof b === 'bigint') return deadband > 0 ? Number(b > a ? b - a : a - b) > deadband : a !== b;
  return !valuesEqual(a, b);
}
