import { isBifrostError } from '@bifrost/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkEncoder, decodeChunk, encodeChunk } from '../src/gorilla.js';
import { maxChunkBytes } from '../src/store.js';

/** The raw bits of a Float64Array as hex words, for bit-exact comparison. */
function bits(a: Float64Array): string[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length * 2), (w) => w.toString(16));
}

function f64(words: number[][]): Float64Array {
  const out = new Float64Array(words.length);
  const u = new Uint32Array(out.buffer);
  words.forEach(([hi, lo], i) => {
    u[2 * i] = lo as number;
    u[2 * i + 1] = hi as number;
  });
  return out;
}

function roundTrip(ts: Float64Array, vs: Float64Array) {
  const bytes = encodeChunk(ts, vs);
  const back = decodeChunk(bytes);
  expect(bits(back.timestamps)).toEqual(bits(ts));
  expect(bits(back.values)).toEqual(bits(vs));
  return bytes;
}

describe('Gorilla chunk encoding', () => {
  // Bit layouts worked by hand from Pelkonen et al. 2015 §4.1 for tiny inputs.
  const table: { name: string; ts: number[]; vs: number[]; bytes: number[] }[] = [
    { name: 'empty chunk: count only', ts: [], vs: [], bytes: [0, 0, 0, 0] },
    {
      name: 'one point: count, raw t, raw v',
      ts: [1],
      vs: [2],
      // count=1 | t=1.0 → 0x3FF0000000000000 | v=2.0 → 0x4000000000000000
      bytes: [0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0],
    },
    {
      name: 'two equal points one tick apart: dod=1 → "10"+5 bits (1+15), same value → "0"',
      ts: [0, 1],
      vs: [0, 0],
      // after 20 header bytes: 10 10000 0 → 1010 0000 → 0xA0
      bytes: [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0],
    },
    {
      name: 'dod=40 → "110"+7 bits (40+63 = 103), same value → "0"',
      ts: [0, 40],
      vs: [0, 0],
      // 110 1100111 0 → 1101 1001 | 110(0 0000) → 0xD9 0xC0
      bytes: [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd9, 0xc0],
    },
    {
      name: 'value 1.0 → -1.0 flips only the sign bit: "11" + 5 bits leading 0 + 6 bits length 1 + "1"',
      ts: [0, 0 + 0],
      vs: [1, -1],
      // t: dod 0 → "0"; value: "11" "00000" "000001" "1" → 0110 0000 | 0000 011(0) → 0x60 0x06
      bytes: [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x60, 0x06],
    },
  ];
  for (const row of table) {
    it(`encodes and decodes: ${row.name}`, () => {
      const ts = Float64Array.from(row.ts);
      const vs = Float64Array.from(row.vs);
      const bytes = encodeChunk(ts, vs);
      expect(Array.from(bytes)).toEqual(row.bytes);
      const back = decodeChunk(Uint8Array.from(row.bytes));
      expect(Array.from(back.timestamps)).toEqual(row.ts);
      expect(bits(back.values)).toEqual(bits(vs));
    });
  }

  it('round-trips NaN payloads, -0, the infinities and subnormals bit for bit', () => {
    const vs = f64([
      [0x7ff80000, 0x00000000], // canonical quiet NaN
      [0x7ff80000, 0x00012345], // quiet NaN with payload
      [0xfff00000, 0x00000001], // negative signalling NaN with payload
      [0x80000000, 0x00000000], // -0
      [0x00000000, 0x00000000], // +0
      [0x7ff00000, 0x00000000], // +Infinity
      [0xfff00000, 0x00000000], // -Infinity
      [0x00000000, 0x00000001], // smallest subnormal
      [0x7fefffff, 0xffffffff], // largest finite
      [0x7ff80000, 0x00012345], // repeated value → "0"
    ]);
    const ts = Float64Array.from(vs, (_, i) => 1_700_000_000_000 + i * 1000);
    roundTrip(ts, vs);
  });

  it('round-trips odd timestamps: fractions, -0, NaN, huge gaps, backwards steps', () => {
    const ts = Float64Array.from([-0, 0.5, 1e300, Number.NaN, 3, 2, 2 ** 53, 2 ** 53 + 2, -(2 ** 40), 5_000_000_000, 5_000_000_001]);
    const vs = Float64Array.from(ts, (_, i) => i);
    roundTrip(ts, vs);
  });

  it('round-trips any doubles and any timestamps (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double(), fc.double()), { maxLength: 200 }), (pairs) => {
        const ts = Float64Array.from(pairs, (p) => p[0]);
        const vs = Float64Array.from(pairs, (p) => p[1]);
        roundTrip(ts, vs);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips raw bit patterns, NaN payloads included (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength: 100 }), (words) => {
        const vs = f64(words);
        const ts = Float64Array.from(vs, (_, i) => i * 1000);
        roundTrip(ts, vs);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips real-shaped series: jittered 1 s polling of a quantised sensor', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 2, max: 2000 }), (seed, n) => {
        let s = seed;
        const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        const ts = new Float64Array(n);
        const vs = new Float64Array(n);
        let t = 1_700_000_000_000;
        for (let i = 0; i < n; i++) {
          t += 1000 + Math.round((rnd() - 0.5) * 10);
          ts[i] = t;
          vs[i] = Math.fround(Math.round((20 + 5 * Math.sin(i / 300) + rnd() * 0.2) * 10) / 10);
        }
        roundTrip(ts, vs);
      }),
      { numRuns: 50 },
    );
  });

  it('random, truncated and corrupted bytes never throw anything but a BifrostError', () => {
    const ts = Float64Array.from({ length: 50 }, (_, i) => i * 1000 + (i % 3));
    const vs = Float64Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const good = encodeChunk(ts, vs);
    const check = (bytes: Uint8Array) => {
      try {
        decodeChunk(bytes);
      } catch (e) {
        if (!isBifrostError(e, 'BIFROST_ANALYTICS_CORRUPT_CHUNK')) throw e;
      }
    };
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => decodeChunk(good.subarray(0, cut))).toThrow(expect.objectContaining({ code: 'BIFROST_ANALYTICS_CORRUPT_CHUNK' }));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, x) => {
        const copy = good.slice();
        copy[i] = x;
        check(copy);
      }),
      { numRuns: 500 },
    );
  });

  it('the streaming encoder: every prefix is a decodable chunk, and the whole is the batch encoding (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -3, max: 5_000 })), { maxLength: 120 }),
        fc.integer({ min: 16, max: 64 }),
        (rows, capacity) => {
          // Timestamps: mostly polled (a few ms of jitter on 1 s), sometimes big jumps; values: raw bit patterns.
          const ts = new Float64Array(rows.length);
          const vs = f64(rows.map(([hi, lo]) => [hi, lo]));
          let t = 1_700_000_000_000;
          rows.forEach(([, , step], i) => {
            t += step > 4_990 ? step * 1_000_003 : 1000 + step;
            ts[i] = t;
          });
          const enc = new ChunkEncoder(capacity);
          for (let i = 0; i < rows.length; i++) {
            enc.append(ts[i] as number, vs[i] as number);
            expect(enc.count).toBe(i + 1);
            const back = decodeChunk(enc.view());
            expect(bits(back.timestamps)).toEqual(bits(ts.subarray(0, i + 1)));
            expect(bits(back.values)).toEqual(bits(vs.subarray(0, i + 1)));
          }
          expect(Array.from(enc.finish())).toEqual(Array.from(encodeChunk(ts, vs)));
          expect(enc.finish().length).toBeLessThanOrEqual(maxChunkBytes(Math.max(1, rows.length)));
          // After a reset it encodes a new chunk from scratch into the same buffer.
          enc.reset();
          expect(enc.count).toBe(0);
          enc.append(5, 6);
          expect(Array.from(enc.finish())).toEqual(Array.from(encodeChunk(Float64Array.of(5), Float64Array.of(6))));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('maxChunkBytes bounds the worst case: raw timestamps and values whose XOR windows never repeat', () => {
    // Alternating sign-flip and full-width XORs force the 13-bit header on every value; NaN-free raw timestamps force the escape.
    const n = 257;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = i % 2 === 0 ? i + 0.5 : -(i + 0.25) * 1e300;
      vs[i] = i % 2 === 0 ? 1 : -Number.MIN_VALUE * (i + 1);
    }
    const bytes = encodeChunk(ts, vs);
    expect(bytes.length).toBeLessThanOrEqual(maxChunkBytes(n));
    expect(bytes.length).toBeGreaterThan(maxChunkBytes(n) * 0.8);
  });
});
