/**
 * @module
 * The data a Modbus server serves: per unit, four tables of 65 536 entries each (MB App Protocol
 * §4.3) with a map of which addresses exist, device identification objects (§6.21), and the
 * request handler that turns a decoded request into a response or an exception (§7: 01 for an
 * unsupported function, 02 for an unmapped address, 03 for a bad quantity or value).
 */
import { BifrostError, type DataType, encodeValueInto, type WordOrder } from '@bifrost/core';
import type { ModbusArea } from './address.js';
import { ExceptionCode, Limits } from './constants.js';
import type { DeviceIdObject, ModbusRequest, ModbusResponse } from './pdu.js';

/**
 * Device identification object ids (§6.21 Table 2).
 * @example unit.identification.set(DEVICE_ID_OBJECTS.vendorName, 'ACME')
 */
export const DEVICE_ID_OBJECTS = {
  vendorName: 0x00,
  productCode: 0x01,
  majorMinorRevision: 0x02,
  vendorUrl: 0x03,
  productName: 0x04,
  modelName: 0x05,
  userApplicationName: 0x06,
} as const;

/** Device identification as names; unknown keys may be given as numeric object ids. */
export type DeviceIdentification = Partial<Record<keyof typeof DEVICE_ID_OBJECTS, string>>;

/**
 * One unit (slave) of a server: its four tables and identification.
 * @example const u = new ModbusUnit(1); u.map('holdingRegisters', 0, 100); u.setValue('holdingRegisters', 0, 'REAL', 21.5)
 */
export class ModbusUnit {
  readonly unitId: number;
  /** Two bytes per holding register, big-endian. */
  readonly holdingRegisters = Buffer.alloc(0x20000);
  readonly inputRegisters = Buffer.alloc(0x20000);
  /** One byte (0/1) per coil. */
  readonly coils = new Uint8Array(0x10000);
  readonly discreteInputs = new Uint8Array(0x10000);
  readonly #mapped: Record<ModbusArea, Uint8Array> = {
    holdingRegisters: new Uint8Array(0x10000),
    inputRegisters: new Uint8Array(0x10000),
    coils: new Uint8Array(0x10000),
    discreteInputs: new Uint8Array(0x10000),
  };
  /** Identification objects by id. */
  readonly identification = new Map<number, string>();
  /** Writes from clients are refused with exception 02 here (e.g. generated read-only values). */
  readonly #readOnly: Record<ModbusArea, Uint8Array | undefined> = { holdingRegisters: undefined, inputRegisters: undefined, coils: undefined, discreteInputs: undefined };

  constructor(unitId: number) {
    if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `unit id ${unitId} is not in 0..255`);
    this.unitId = unitId;
  }

  /** Makes `count` addresses from `start` exist (answered, zero-filled). */
  map(area: ModbusArea, start: number, count: number): this {
    if (start < 0 || count < 0 || start + count > 0x10000) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `range ${start}+${count} is outside 0..65535`);
    this.#mapped[area].fill(1, start, start + count);
    return this;
  }

  /** True when every address of the range is mapped. */
  isMapped(area: ModbusArea, start: number, count: number): boolean {
    if (start + count > 0x10000) return false;
    const m = this.#mapped[area];
    for (let i = start; i < start + count; i++) if (m[i] === 0) return false;
    return true;
  }

  /** Mapped ranges of a table, as [start, count] pairs. */
  mappedRanges(area: ModbusArea): [number, number][] {
    const m = this.#mapped[area];
    const out: [number, number][] = [];
    let start = -1;
    for (let i = 0; i <= 0x10000; i++) {
      const on = i < 0x10000 && m[i] === 1;
      if (on && start < 0) start = i;
      else if (!on && start >= 0) {
        out.push([start, i - start]);
        start = -1;
      }
    }
    return out;
  }

  /** Sets a typed value into a register table (mapping it) or a bit table. */
  setValue(area: ModbusArea, address: number, type: DataType, value: unknown, options: { order?: WordOrder; length?: number } = {}): void {
    if (area === 'coils' || area === 'discreteInputs') {
      this[area][address] = value ? 1 : 0;
      this.#mapped[area][address] = 1;
      return;
    }
    const table = this[area];
    if (type === 'BOOL') {
      table.writeUInt16BE(value ? 1 : 0, address * 2);
      this.#mapped[area][address] = 1;
      return;
    }
    if (type === 'SINT' || type === 'USINT') {
      const tmp = new Uint8Array(1);
      encodeValueInto(type, value, tmp, 0);
      table.writeUInt16BE(tmp[0] as number, address * 2);
      this.#mapped[area][address] = 1;
      return;
    }
    const n = encodeValueInto(type, value, table, address * 2, options);
    this.#mapped[area].fill(1, address, address + Math.ceil(n / 2));
  }

  /** Marks addresses as refusing client writes. */
  setReadOnly(area: ModbusArea, start: number, count: number): void {
    const r = (this.#readOnly[area] ??= new Uint8Array(0x10000));
    r.fill(1, start, start + count);
  }

  #writable(area: ModbusArea, start: number, count: number): boolean {
    if (!this.isMapped(area, start, count)) return false;
    const r = this.#readOnly[area];
    if (!r) return true;
    for (let i = start; i < start + count; i++) if (r[i] === 1) return false;
    return true;
  }

  /** Sets identification objects by name. */
  setIdentification(id: DeviceIdentification): void {
    for (const [k, v] of Object.entries(id)) {
      const objectId = DEVICE_ID_OBJECTS[k as keyof typeof DEVICE_ID_OBJECTS];
      if (objectId !== undefined && v !== undefined) this.identification.set(objectId, String(v));
    }
  }

  /**
   * Serves one request: the response, or an exception response.
   * @example unit.handle({ fc: 3, address: 0, quantity: 2 }) // { fc: 3, data: <4 bytes> }
   */
  handle(req: ModbusRequest): ModbusResponse {
    const ex = (exception: number): ModbusResponse => ({ fc: req.fc, exception });
    switch (req.fc) {
      case 1:
      case 2: {
        if (req.quantity < 1 || req.quantity > Limits.maxReadBits) return ex(ExceptionCode.IllegalDataValue);
        const area = req.fc === 1 ? 'coils' : 'discreteInputs';
        if (!this.isMapped(area, req.address, req.quantity)) return ex(ExceptionCode.IllegalDataAddress);
        const bits = this[area];
        const data = Buffer.alloc((req.quantity + 7) >> 3);
        for (let i = 0; i < req.quantity; i++) if (bits[req.address + i]) data[i >> 3] = (data[i >> 3] as number) | (1 << (i & 7));
        return { fc: req.fc, data };
      }
      case 3:
      case 4: {
        if (req.quantity < 1 || req.quantity > Limits.maxReadRegisters) return ex(ExceptionCode.IllegalDataValue);
        const area = req.fc === 3 ? 'holdingRegisters' : 'inputRegisters';
        if (!this.isMapped(area, req.address, req.quantity)) return ex(ExceptionCode.IllegalDataAddress);
        return { fc: req.fc, data: this[area].subarray(req.address * 2, (req.address + req.quantity) * 2) };
      }
      case 5:
        if (!this.#writable('coils', req.address, 1)) return ex(ExceptionCode.IllegalDataAddress);
        this.coils[req.address] = req.value ? 1 : 0;
        return { fc: 5, address: req.address, value: req.value };
      case 6:
        if (!this.#writable('holdingRegisters', req.address, 1)) return ex(ExceptionCode.IllegalDataAddress);
        this.holdingRegisters.writeUInt16BE(req.value, req.address * 2);
        return { fc: 6, address: req.address, value: req.value };
      case 15: {
        const n = req.values.length;
        if (n < 1 || n > Limits.maxWriteBits) return ex(ExceptionCode.IllegalDataValue);
        if (!this.#writable('coils', req.address, n)) return ex(ExceptionCode.IllegalDataAddress);
        for (let i = 0; i < n; i++) this.coils[req.address + i] = req.values[i] ? 1 : 0;
        return { fc: 15, address: req.address, quantity: n };
      }
      case 16: {
        const n = req.data.length >> 1;
        if (n < 1 || n > Limits.maxWriteRegisters) return ex(ExceptionCode.IllegalDataValue);
        if (!this.#writable('holdingRegisters', req.address, n)) return ex(ExceptionCode.IllegalDataAddress);
        this.holdingRegisters.set(req.data, req.address * 2);
        return { fc: 16, address: req.address, quantity: n };
      }
      case 22: {
        if (!this.#writable('holdingRegisters', req.address, 1)) return ex(ExceptionCode.IllegalDataAddress);
        const cur = this.holdingRegisters.readUInt16BE(req.address * 2);
        // §6.16: Result = (Current Contents AND And_Mask) OR (Or_Mask AND (NOT And_Mask))
        const next = ((cur & req.andMask) | (req.orMask & ~req.andMask)) & 0xffff;
        this.holdingRegisters.writeUInt16BE(next, req.address * 2);
        return { fc: 22, address: req.address, andMask: req.andMask, orMask: req.orMask };
      }
      case 23: {
        const w = req.data.length >> 1;
        if (req.readQuantity < 1 || req.readQuantity > Limits.maxReadRegisters || w < 1 || w > Limits.maxReadWriteWriteRegisters) return ex(ExceptionCode.IllegalDataValue);
        if (!this.#writable('holdingRegisters', req.writeAddress, w) || !this.isMapped('holdingRegisters', req.readAddress, req.readQuantity)) return ex(ExceptionCode.IllegalDataAddress);
        // §6.17: the write is performed before the read.
        this.holdingRegisters.set(req.data, req.writeAddress * 2);
        return { fc: 23, data: Buffer.from(this.holdingRegisters.subarray(req.readAddress * 2, (req.readAddress + req.readQuantity) * 2)) };
      }
      case 43:
        return this.#deviceId(req.readDeviceIdCode, req.objectId);
    }
  }

  #deviceId(code: number, objectId: number): ModbusResponse {
    if (this.identification.size === 0) return { fc: 43, exception: ExceptionCode.IllegalFunction };
    if (code < 1 || code > 4) return { fc: 43, exception: ExceptionCode.IllegalDataValue };
    const conformityLevel = [...this.identification.keys()].some((k) => k > 6) ? 0x83 : [...this.identification.keys()].some((k) => k > 2) ? 0x82 : 0x81;
    if (code === 4) {
      const v = this.identification.get(objectId);
      if (v === undefined) return { fc: 43, exception: ExceptionCode.IllegalDataAddress };
      return { fc: 43, meiType: 14, readDeviceIdCode: 4, conformityLevel, moreFollows: false, nextObjectId: 0, objects: [{ id: objectId, value: v }] };
    }
    const [lo, hi] = code === 1 ? [0, 2] : code === 2 ? [0, 0x7f] : [0, 0xff];
    // §6.21: an object id the device does not have restarts the stream at object 0.
    const start = this.identification.has(objectId) && objectId >= lo && objectId <= hi ? objectId : 0;
    const ids = [...this.identification.keys()].filter((k) => k >= start && k >= lo && k <= hi).sort((a, b) => a - b);
    const objects: DeviceIdObject[] = [];
    let size = 7;
    let next = 0;
    for (const id of ids) {
      const value = this.identification.get(id) as string;
      const len = 2 + Buffer.byteLength(value, 'latin1');
      if (size + len > Limits.maxPdu) {
        next = id;
        break;
      }
      objects.push({ id, value });
      size += len;
    }
    return { fc: 43, meiType: 14, readDeviceIdCode: code, conformityLevel, moreFollows: next !== 0, nextObjectId: next, objects };
  }
}
