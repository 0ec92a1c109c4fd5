/**
 * @module
 * `ValueColumns.copyFrom`: the gateway's subscribed groups copy a device's raw columns into the
 * group's before scaling, so every column — numbers, kinds, qualities, other values, errors,
 * source timestamps and the timestamp — must come across, and stale objects must not stay behind.
 */
import { BAD, BifrostError, GOOD, Kind, UNCERTAIN, ValueColumns } from '@bifrost/core';
import { expect, it } from 'vitest';

it('copyFrom copies every column and clears what the source no longer has', () => {
  const from = new ValueColumns(4);
  const err = new BifrostError('BIFROST_OPCUA_NODE_ID_UNKNOWN', 'no such node');
  from.setNumber(0, 1.5);
  from.set(1, 'text', UNCERTAIN, err);
  from.setBad(2, err);
  from.set(3, 7n);
  from.setSourceTimestamp(0, 1000);
  from.timestamp = 42;
  const to = new ValueColumns(4);
  to.set(0, 'old');
  to.copyFrom(from);
  expect([0, 1, 2, 3].map((i) => to.value(i))).toEqual([1.5, 'text', null, 7n]);
  expect([...to.quality]).toEqual([GOOD, UNCERTAIN, BAD, GOOD]);
  expect([...to.kind]).toEqual([Kind.Number, Kind.Other, Kind.Null, Kind.Other]);
  expect(to.errorAt(1)).toBe(err);
  expect(to.errorAt(2)).toBe(err);
  expect(to.sourceTimestamp?.[0]).toBe(1000);
  expect(Number.isNaN(to.sourceTimestamp?.[1])).toBe(true);
  expect(to.timestamp).toBe(42);
  // A source without objects or source timestamps clears them in the copy.
  const plain = new ValueColumns(4);
  for (let i = 0; i < 4; i++) plain.setNumber(i, i);
  to.copyFrom(plain);
  expect([0, 1, 2, 3].map((i) => to.value(i))).toEqual([0, 1, 2, 3]);
  expect(to.errorAt(1)).toBeUndefined();
  expect(to.otherAt(3)).toBeUndefined();
  expect(Number.isNaN(to.sourceTimestamp?.[0])).toBe(true);
});
