// Broke: TpktAssembler returned Buffer#slice views of the socket chunk, so decoded items were
// Buffers sharing memory with it (and compared unequal to Uint8Array fixtures).
import { decodeIsoPacket, decodeS7Pdu, encodeIsoPacket, encodeS7Pdu, TpktAssembler } from '@bifrost/s7';
import { expect, it } from 'vitest';

it('packets and decoded data are plain copies, untouched when the chunk is reused', () => {
  const pdu = encodeS7Pdu({ kind: 'read-response', pduRef: 1, errorClass: 0, errorCode: 0, items: [{ returnCode: 0xff, transportSize: 4, data: Uint8Array.of(1, 2, 3, 4) }] });
  const packet = encodeIsoPacket({ type: 'DT', eot: true, tpduNr: 0, payload: pdu });
  const chunk = Buffer.concat([packet, packet]);
  const [a, b] = new TpktAssembler(1024).push(chunk);
  chunk.fill(0);
  expect(a?.constructor).toBe(Uint8Array);
  for (const p of [a, b]) {
    const t = decodeIsoPacket(p as Uint8Array);
    const answer = t.type === 'DT' ? decodeS7Pdu(t.payload) : undefined;
    expect(answer?.kind === 'read-response' && answer.items[0]?.data).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(answer?.kind === 'read-response' && answer.items[0]?.data.constructor).toBe(Uint8Array);
  }
});
