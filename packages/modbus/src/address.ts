/**
 * @module
 * Modbus tag addresses: `HR100`, `IR4`, `C10`, `DI3` (zero-based, as on the wire), Modicon
 * `40101` / `400101` (one-based, the leading digit names the table: MB App Protocol §4.3's four
 * tables), a data type and word order suffix (`HR0:FLOAT32:CDAB`), a bit of a register (`HR5.3`),
 * a string (`HR20:STRING[16]`, 16 bytes = 8 registers) and arrays (`HR0:FLOAT32[10]`).
 */
import { BifrostError, byteSize, type DataType, parseDataType, type WordOrder } from '@bifrost/core';

/** The four Modbus data tables (§4.3). */
export type ModbusArea = 'coils' | 'discreteInputs' | 'holdingRegisters' | 'inputRegisters';

/** A parsed Modbus address. */
export interface ModbusAddress {
  /** The text as given. */
  readonly text: string;
  readonly area: ModbusArea;
  /** Zero-based address of the first register or bit. */
  readonly address: number;
  readonly type: DataType;
  readonly order: WordOrder;
  /** Bytes of a STRING or BYTES value. */
  readonly length?: number;
  /** Bit 0..15 of a register (`HR5.3`). */
  readonly bit?: number;
  /** Array length; absent for a scalar. */
  readonly arrayLength?: number;
  /** Registers (register areas) or bits (bit areas) one element occupies. */
  readonly elementSpan: number;
  /** Registers or bits the whole tag occupies. */
  readonly span: number;
}

const AREAS: Record<string, ModbusArea> = {
  HR: 'holdingRegisters',
  IR: 'inputRegisters',
  C: 'coils',
  CO: 'coils',
  DI: 'discreteInputs',
};

/**
 * Short names of the areas, as addresses spell them.
 * @example AREA_PREFIX.holdingRegisters // 'HR'
 */
export const AREA_PREFIX: Readonly<Record<ModbusArea, string>> = { holdingRegisters: 'HR', inputRegisters: 'IR', coils: 'C', discreteInputs: 'DI' };

const MODICON: Record<string, ModbusArea> = { '0': 'coils', '1': 'discreteInputs', '3': 'inputRegisters', '4': 'holdingRegisters' };

const ORDERS = new Set(['ABCD', 'CDAB', 'BADC', 'DCBA']);

function bad(text: string, why: string): BifrostError {
  return new BifrostError('BIFROST_INVALID_ADDRESS', `invalid Modbus address "${text}": ${why}`, {
    address: text,
    hint: 'Modbus addresses look like HR100, IR4:INT32, C10, DI3, HR0:FLOAT32:CDAB, HR5.3, HR20:STRING[16], HR0:FLOAT32[10] or Modicon 40101',
  });
}

/**
 * True for an area of 16-bit registers.
 * @example isRegisterArea('coils') // false
 */
export function isRegisterArea(area: ModbusArea): boolean {
  return area === 'holdingRegisters' || area === 'inputRegisters';
}

/**
 * Parses a Modbus address, throwing BIFROST_INVALID_ADDRESS that says what is wrong.
 * @example parseModbusAddress('HR100:FLOAT32:CDAB') // { area: 'holdingRegisters', address: 100, type: 'REAL', order: 'CDAB', span: 2, … }
 * @example parseModbusAddress('40101') // holding register 100
 */
export function parseModbusAddress(text: string): ModbusAddress {
  if (typeof text !== 'string') throw bad(String(text), 'not a string');
  const parts = text.trim().split(':');
  const head = (parts[0] ?? '').toUpperCase();
  const m = /^(HR|IR|DI|CO|C)?(\d+)(?:\.(\d+))?$/.exec(head);
  if (!m) throw bad(text, 'expected an area (HR, IR, C, DI) and a number, or a Modicon number such as 40101');
  let area: ModbusArea;
  let address: number;
  const digits = m[2] as string;
  if (m[1]) {
    area = AREAS[m[1]] as ModbusArea;
    address = Number(digits);
    if (address > 0xffff) throw bad(text, `address ${address} is above 65535`);
  } else {
    // Modicon: 5 digits cover 1..9999, 6 digits 1..65536; the first digit picks the table.
    const table = MODICON[digits[0] as string];
    if ((digits.length !== 5 && digits.length !== 6) || table === undefined) throw bad(text, 'a bare number must be a 5- or 6-digit Modicon address starting with 0, 1, 3 or 4 (e.g. 40001)');
    const n = Number(digits.slice(1));
    if (n < 1 || n > 65536) throw bad(text, `Modicon register number ${n} is not in 1..${digits.length === 5 ? 9999 : 65536}`);
    area = table;
    address = n - 1;
  }
  const registers = isRegisterArea(area);
  let bit: number | undefined;
  if (m[3] !== undefined) {
    if (!registers) throw bad(text, 'a bit number (.n) applies only to registers');
    bit = Number(m[3]);
    if (bit > 15) throw bad(text, `bit ${bit} is not in 0..15`);
  }

  let type: DataType | undefined;
  let order: WordOrder | undefined;
  let length: number | undefined;
  let arrayLength: number | undefined;
  for (const raw of parts.slice(1)) {
    const p = raw.trim().toUpperCase();
    if (ORDERS.has(p)) {
      if (order) throw bad(text, 'word order given twice');
      order = p as WordOrder;
      continue;
    }
    const t = /^([A-Z_][A-Z0-9_]*)(?:\[(\d+)\])?(?:\[(\d+)\])?$/.exec(p);
    if (!t || type) throw bad(text, `unexpected suffix ":${raw}"`);
    try {
      type = parseDataType(t[1] as string);
    } catch (cause) {
      throw new BifrostError('BIFROST_INVALID_ADDRESS', `invalid Modbus address "${text}": unknown data type "${t[1]}"`, { address: text, cause });
    }
    if (type === 'STRING' || type === 'BYTES') {
      if (t[2] === undefined) throw bad(text, `${type} needs a length in bytes, e.g. ${type}[16]`);
      length = Number(t[2]);
      if (length < 1 || length > 250) throw bad(text, `${type} length ${length} is not in 1..250`);
      if (t[3] !== undefined) arrayLength = Number(t[3]);
    } else {
      if (t[3] !== undefined) throw bad(text, 'only STRING and BYTES take two bracketed numbers');
      if (t[2] !== undefined) arrayLength = Number(t[2]);
    }
    if (arrayLength !== undefined && (arrayLength < 1 || arrayLength > 65536)) throw bad(text, `array length ${arrayLength} is not in 1..65536`);
  }
  if (type === undefined) type = registers && bit === undefined ? 'UINT' : 'BOOL';
  if (!registers) {
    if (type !== 'BOOL') throw bad(text, `${AREA_PREFIX[area]} holds single bits; its type can only be BOOL`);
    if (order) throw bad(text, 'a word order applies only to registers');
  }
  if (bit !== undefined) {
    if (type !== 'BOOL') throw bad(text, 'a register bit (.n) is a BOOL');
    if (arrayLength !== undefined) throw bad(text, 'a register bit cannot be an array');
  }
  if (type === 'DATETIME') throw bad(text, 'DATETIME is not a Modbus type; read it as INT64 and convert');
  const elementSpan = registers ? (type === 'BOOL' ? 1 : Math.max(1, Math.ceil(byteSize(type, { length: length ?? 0 }) / 2))) : 1;
  const span = elementSpan * (arrayLength ?? 1);
  if (address + span > 0x10000) throw bad(text, `${span} ${registers ? 'registers' : 'bits'} from ${address} run past address 65535`);
  const out: { -readonly [K in keyof ModbusAddress]: ModbusAddress[K] } = { text, area, address, type, order: order ?? 'ABCD', elementSpan, span };
  if (length !== undefined) out.length = length;
  if (bit !== undefined) out.bit = bit;
  if (arrayLength !== undefined) out.arrayLength = arrayLength;
  return out;
}

/**
 * Formats a parsed address in Bifrost's canonical form (`HR100:REAL:CDAB`).
 * @example formatModbusAddress(parseModbusAddress('40101:FLOAT32')) // 'HR100:REAL'
 */
export function formatModbusAddress(a: ModbusAddress): string {
  let s = `${AREA_PREFIX[a.area]}${a.address}${a.bit !== undefined ? `.${a.bit}` : ''}`;
  const defaultType = isRegisterArea(a.area) && a.bit === undefined ? 'UINT' : 'BOOL';
  if (a.type !== defaultType || a.length !== undefined || a.arrayLength !== undefined) {
    s += `:${a.type}${a.length !== undefined ? `[${a.length}]` : ''}${a.arrayLength !== undefined ? `[${a.arrayLength}]` : ''}`;
  }
  if (a.order !== 'ABCD') s += `:${a.order}`;
  return s;
}
