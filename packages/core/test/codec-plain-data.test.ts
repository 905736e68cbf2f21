// Plain data only, both ways: no "__proto__" key is decoded or encoded, and encode refuses values
// that are not plain data (functions, BigInts, Dates, Maps, class instances…).
import { DriftlessError, decode, encode, type Value } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { frame, hex, str } from './codec-fixtures.js';

describe('decode and prototype pollution', () => {
  it('refuses a "__proto__" map key at any depth, and keeps "constructor" as plain data', () => {
    const before = Reflect.ownKeys(Object.prototype);
    const payload = frame(0x81, str('polluted'), 0xc3);
    const protoFrames = [
      frame(0x81, str('__proto__'), payload),
      frame(0x91, frame(0x81, str('__proto__'), payload)),
      frame(0x81, str('a'), frame(0x81, str('__proto__'), frame(0x81, str('toString'), 0x01))),
      // The same key written as str8 instead of fixstr.
      frame(0x81, 0xd9, 9, str('__proto__').subarray(1), payload),
    ];
    for (const bytes of protoFrames) {
      expect(() => decode(bytes)).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
      const probe: Record<string, unknown> = {};
      expect(probe.polluted).toBeUndefined();
      expect(typeof probe.toString).toBe('function');
    }
    // Near misses are ordinary keys.
    expect(decode(frame(0x81, str('__proto_'), 0x01))).toEqual({ __proto_: 1 });
    expect(decode(frame(0x81, str('__proto__x'), 0x01))).toEqual({ __proto__x: 1 });

    const ctor = decode(
      frame(0x82, str('constructor'), frame(0x81, str('prototype'), payload), str('x'), 0x01),
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(ctor)).toBe(Object.prototype);
    expect(Object.hasOwn(ctor, 'constructor')).toBe(true);
    expect(ctor.constructor).toEqual({ prototype: { polluted: true } });
    expect(Object.prototype.constructor).toBe(Object);
    expect(Reflect.ownKeys(Object.prototype)).toEqual(before);
  });

  it('encode refuses a "__proto__" field, so no replica ever holds one', () => {
    const value = JSON.parse('{"a": {"__proto__": {"x": 1}}}') as Value;
    expect(() => encode(value)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('encode', () => {
  class Point {
    constructor(readonly x: number) {}
  }
  const notPlain: [string, unknown][] = [
    ['a function', () => 1],
    ['a Symbol', Symbol('s')],
    ['a BigInt', 10n],
    ['undefined', undefined],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a Float64Array', new Float64Array([1.5])],
    ['a class instance', new Point(1)],
    ['a function inside a map', { f: () => 1 }],
    ['a BigInt inside an array', [1n]],
  ];

  it.each(notPlain)('refuses %s with INVALID_ARGUMENT', (_name, value) => {
    let encoded: Uint8Array | undefined;
    let thrown: unknown;
    try {
      encoded = encode(value as Value);
    } catch (error) {
      thrown = error;
    }
    expect(
      thrown,
      encoded === undefined ? 'encode threw' : `encode returned ${hex(encoded)} instead of throwing`,
    ).toBeInstanceOf(DriftlessError);
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
