// Broke: snap7's server answers a failed read item with length field 4 and no data
// (s7_server.cpp RA_NotFound / RA_OutOfRange); the decoder took the length at its word and
// threw "data item 3 of 3 is truncated", dropping the connection.
import { decodeS7Pdu } from '@bifrost/s7';
import { expect, it } from 'vitest';

it('a failed item carries no data whatever its length field says', () => {
  // Three items: good (2 bytes), not found and out of range (length 4, no data).
  const answer = Buffer.from('3203000000030002000e0000' + '0403' + 'ff0400100102' + '0a000004' + '05000004', 'hex');
  expect(decodeS7Pdu(answer)).toEqual({
    kind: 'read-response',
    pduRef: 3,
    errorClass: 0,
    errorCode: 0,
    items: [
      { returnCode: 0xff, transportSize: 4, data: Uint8Array.of(1, 2) },
      { returnCode: 0x0a, transportSize: 0, data: new Uint8Array(0) },
      { returnCode: 0x05, transportSize: 0, data: new Uint8Array(0) },
    ],
  });
});
