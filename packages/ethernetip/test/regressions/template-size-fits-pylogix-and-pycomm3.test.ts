/**
 * Issue 24.2: pylogix's GetTagList looped forever. The simulator's template object definition size
 * (attribute 4) did not fit its data (STRING: 15 words for 34 bytes), so pylogix asked for
 * size·4 − 23 rounded up to 4 = 40 bytes, got 34, and asked for the missing 6 at offset 34 forever.
 * Both readers' arithmetic must land inside the definition of every template the simulator serves:
 * pylogix ⌈(size·4 − 23) / 4⌉·4 and pycomm3 size·4 − 21 — at least up to the last name's NUL, at most
 * the definition's length.
 */
import { encodeTemplateDefinition, LogixTagDb, loadSimConfig, objectDefinitionSize, type Template } from '@bifrost/ethernetip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

function check(t: Template): void {
  const def = encodeTemplateDefinition(t);
  const size = objectDefinitionSize(def.length);
  // The names end with the NUL after the last member name's last character; zeros after it are padding.
  const namesEnd = findLastNonZero(def) + 2;
  const pylogix = Math.ceil((size * 4 - 23) / 4) * 4;
  const pycomm3 = size * 4 - 21;
  expect(def.length % 4, `${t.name}: data padded to 32 bits`).toBe(0);
  for (const [who, n] of [
    ['pylogix', pylogix],
    ['pycomm3', pycomm3],
  ] as const) {
    expect(n, `${who} for ${t.name}: ${n} of ${def.length}`).toBeLessThanOrEqual(def.length);
    expect(n, `${who} for ${t.name}: ${n} reaches the names' end ${namesEnd}`).toBeGreaterThanOrEqual(namesEnd);
  }
}

function findLastNonZero(b: Buffer): number {
  for (let i = b.length - 1; i >= 0; i--) if (b[i] !== 0) return i;
  return -1;
}

function dbOf(config?: Record<string, unknown>): LogixTagDb {
  const c = loadSimConfig(config);
  const db = new LogixTagDb();
  for (const [name, members] of Object.entries(c.udts ?? {})) db.defineUdt(name, members);
  return db;
}

describe('template attribute 4 fits both readers', () => {
  it('for every template of the default plant (STRING, Motor)', () => {
    const db = dbOf();
    expect(db.templates.size).toBeGreaterThanOrEqual(2);
    for (const t of db.templates.values()) check(t);
  });

  it('for STRING, whose 34 bytes of data were announced as 15 words', () => {
    const t = dbOf().templates.get(0x0fce) as Template;
    const def = encodeTemplateDefinition(t);
    expect(objectDefinitionSize(def.length) * 4 - 23).toBeLessThanOrEqual(def.length);
  });

  it('for any structure: random member counts and name lengths', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,39}$/), { minLength: 1, maxLength: 30 }), fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,39}$/), (names, udt) => {
        const unique = [...new Set(names.map((n) => n.toLowerCase()))];
        const db = new LogixTagDb();
        const t = db.defineUdt(
          udt,
          unique.map((n, i) => ({ name: n, type: i % 3 === 0 ? 'BOOL' : i % 3 === 1 ? 'DINT' : 'STRING' })),
        );
        check(t);
      }),
      { numRuns: 300 },
    );
  });
});
