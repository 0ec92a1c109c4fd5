/**
 * @module
 * The Identity object (CIP Vol 1 §5A-2, class 0x01): its Get_Attributes_All reply, the ODVA
 * vendor-id names of common vendors and the device-type names (CIP Vol 1 Table 6-7.1).
 */
import { ByteReader } from './reader.js';

/** Identity object instance attributes 1-7. */
export interface IdentityObject {
  vendorId: number;
  deviceType: number;
  productCode: number;
  revision: { major: number; minor: number };
  status: number;
  serialNumber: number;
  productName: string;
}

/**
 * Encodes the Identity object's Get_Attributes_All reply data.
 * @example encodeIdentityObject({ vendorId: 1, deviceType: 14, productCode: 166, revision: { major: 32, minor: 11 }, status: 0x3060, serialNumber: 0xc0ffee, productName: '1756-L83E/B' })
 */
export function encodeIdentityObject(id: IdentityObject): Buffer {
  const name = Buffer.from(id.productName, 'latin1').subarray(0, 255);
  const b = Buffer.alloc(15 + name.length);
  b.writeUInt16LE(id.vendorId, 0);
  b.writeUInt16LE(id.deviceType, 2);
  b.writeUInt16LE(id.productCode, 4);
  b[6] = id.revision.major;
  b[7] = id.revision.minor;
  b.writeUInt16LE(id.status, 8);
  b.writeUInt32LE(id.serialNumber >>> 0, 10);
  b[14] = name.length;
  name.copy(b, 15);
  return b;
}

/**
 * Decodes the Identity object's Get_Attributes_All reply data.
 * @example decodeIdentityObject(res.data).productName // '1756-L83E/B'
 */
export function decodeIdentityObject(buf: Uint8Array): IdentityObject {
  const r = new ByteReader(buf, 'Identity Get_Attributes_All reply');
  const vendorId = r.u16();
  const deviceType = r.u16();
  const productCode = r.u16();
  const major = r.u8();
  const minor = r.u8();
  const status = r.u16();
  const serialNumber = r.u32();
  const productName = r.bytes(r.u8()).toString('latin1');
  return { vendorId, deviceType, productCode, revision: { major, minor }, status, serialNumber, productName };
}

// The first entries of the ODVA vendor-id registry, plus a few common automation vendors.
const VENDORS: Readonly<Record<number, string>> = {
  1: 'Rockwell Automation/Allen-Bradley',
  2: 'Namco Controls Corp.',
  3: 'Honeywell Inc.',
  4: 'Parker Hannifin Corp.',
  5: 'Rockwell Automation/Reliance Electric',
  7: 'SMC Corporation',
  8: 'Molex Incorporated',
  9: 'Western Reserve Controls',
  10: 'Advanced Micro Controls Inc.',
  11: 'ASCO Pneumatic Controls',
  12: 'Banner Engineering Corp.',
  13: 'Belden Wire & Cable Company',
  26: 'Festo',
  40: 'WAGO Corporation',
  47: 'OMRON Corporation',
  48: 'TURCK',
  108: 'Beckhoff Automation',
};

/**
 * The vendor name of an ODVA vendor id, or `Unknown vendor (id)`.
 * @example vendorName(1) // 'Rockwell Automation/Allen-Bradley'
 */
export function vendorName(id: number): string {
  return VENDORS[id] ?? `Unknown vendor (${id})`;
}

const DEVICE_TYPES: Readonly<Record<number, string>> = {
  0: 'Generic Device',
  2: 'AC Drive',
  3: 'Motor Overload',
  4: 'Limit Switch',
  5: 'Inductive Proximity Switch',
  6: 'Photoelectric Sensor',
  7: 'General Purpose Discrete I/O',
  12: 'Communications Adapter',
  14: 'Programmable Logic Controller',
  16: 'Position Controller',
  19: 'DC Drive',
  21: 'Contactor',
  22: 'Motor Starter',
  24: 'Human-Machine Interface',
  43: 'Generic Device (keyable)',
  44: 'Managed Switch',
};

/**
 * The name of a CIP device type (CIP Vol 1 Table 6-7.1).
 * @example deviceTypeName(14) // 'Programmable Logic Controller'
 */
export function deviceTypeName(id: number): string {
  return DEVICE_TYPES[id] ?? `Device type ${id}`;
}
