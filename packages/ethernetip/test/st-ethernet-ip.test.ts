/**
 * Cross-test: the independent `st-ethernet-ip` client against the Bifrost Logix simulator.
 * st-ethernet-ip only dials port 44818, so the simulator binds a loopback address of its own.
 */
import { type EipSimulator, startEipSimulator } from '@bifrost/ethernetip';
import st from 'st-ethernet-ip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const { Controller, Tag, TagGroup } = st;
const HOST = '127.0.0.44';

let sim: EipSimulator;
beforeAll(async () => {
  sim = await startEipSimulator({ host: HOST, port: 44818 });
});
afterAll(async () => {
  await sim?.close();
});

for (const connected of [true, false]) {
  describe(`st-ethernet-ip (${connected ? 'connected' : 'unconnected'} messaging) → Bifrost simulator`, () => {
    let plc: InstanceType<typeof Controller>;
    beforeAll(async () => {
      plc = new Controller(connected);
      plc.timeout_sp = 3000;
      // connect() registers a session, opens the connection, reads the Identity object and the
      // whole tag list with its templates.
      await plc.connect(HOST, 0);
    });
    afterAll(async () => {
      await plc?.disconnect().catch(() => {});
    });

    it('reads the controller identity and tag list with types', () => {
      expect(plc.properties.name).toBe('1756-L83E/B');
      expect(plc.properties.version).toBe('32.11');
      expect(plc.properties.serial_number).toBe(0xc0ffee);
      const list = plc.state.tagList.tags.map((t: { name: string; program: string | null; type: { typeName: string | null } }) => `${t.program ?? ''}:${t.name}:${t.type.typeName}`);
      // UINT is readable but st-ethernet-ip has no writer for it ("Unrecognized Type to Write").
      const u = plc.newTag('TestUINT');
      return plc.readTag(u).then(() => {
        expect(u.value).toBe(60000);
        expect(list).toEqual(expect.arrayContaining([':Counter:DINT', ':Temperatures:REAL', ':Message:STRING', ':Motor1:Motor', 'Main:X:DINT', 'Main:Step:INT']));
      });
    });

    it('reads and writes every type it supports', async () => {
      const cases: [string, unknown, unknown][] = [
        ['TestBOOL', false, true],
        ['TestSINT', -8, -100],
        ['TestINT', -1600, 32000],
        ['TestDINT', 123456, -123],
        ['TestREAL', 3.5, -0.25],
        ['TestLINT', 9007199254740993n, -5n],
        ['TestUSINT', 200, 17],
        ['TestSTRING', 'abc', `st ${connected}`],
      ];
      for (const [name, initial, next] of cases) {
        const t = plc.newTag(name);
        await plc.readTag(t);
        expect(t.value, name).toEqual(initial);
        t.value = next;
        await plc.writeTag(t);
        const back = plc.newTag(name);
        await plc.readTag(back);
        expect(back.value, name).toEqual(next);
        t.value = initial;
        await plc.writeTag(t);
      }
    });

    it('reads program-scoped tags, UDTs and writes a bit with Read-Modify-Write', async () => {
      const x = plc.newTag('Step', 'Main');
      await plc.readTag(x);
      expect(x.value).toBe(1);
      const motor = plc.newTag('Motor1');
      await plc.readTag(motor);
      expect(motor.value).toMatchObject({ Running: true, Faults: 0 });
      expect(motor.value.Speed).toBeGreaterThan(1300);
      const d = plc.newTag('TestDINT');
      await plc.readTag(d);
      d.value = 0;
      await plc.writeTag(d);
      const bit = plc.newTag('TestDINT.1');
      await plc.readTag(bit);
      bit.value = true;
      await plc.writeTag(bit);
      await plc.readTag(d);
      expect(d.value).toBe(2);
      d.value = 123456;
      await plc.writeTag(d);
    });

    it('reads a tag group with a Multiple Service Packet', async () => {
      const group = new TagGroup();
      const tags = ['TestSINT', 'TestINT', 'TestREAL', 'Program:Main.Step'].map((n) => new Tag(n));
      for (const t of tags) group.add(t);
      await plc.readTagGroup(group);
      expect(tags.map((t) => t.value)).toEqual([-8, -1600, 3.5, 1]);
    });
  });
}
