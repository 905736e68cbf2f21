// The codec's round-trips: any plain value, every msgpack size boundary, lone surrogates, byte
// strings that do not pin the frame, and 64-bit integers within ±2^53.
import { decode, encode, measureValue, sizeBound, type Value } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonical, frame, int64, plainValue } from './codec-fixtures.js';

describe('codec round-trips', () => {
  it('decodes what it encodes, for any plain value', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(plainValue, (value) => {
        const bytes = encode(value);
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(canonical(decode(bytes))).toStrictEqual(canonical(value));
      }),
      propertyParameters(300),
    );
  });

  it("sizeBound gives measureValue's bound for plain data, and bounds the encoding", () => {
    fc.assert(
      fc.property(plainValue, (value) => {
        const bound = sizeBound(value);
        expect(bound).toBe(measureValue(value));
        expect(encode(value).length).toBeLessThanOrEqual(bound);
      }),
      propertyParameters(300),
    );
  });

  it('round-trips numbers, strings and byte strings at every msgpack size boundary', () => {
    const numbers = [
      0,
      1,
      127,
      128,
      255,
      256,
      65_535,
      65_536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 52,
      Number.MAX_SAFE_INTEGER,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32_768,
      -32_769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      Number.MIN_SAFE_INTEGER,
      0.5,
      -1.25,
      1e-300,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ];
    for (const n of numbers) expect(decode(encode(n))).toBe(n);
    for (const length of [0, 31, 32, 255, 256, 65_535, 65_536]) {
      const text = 'é'.repeat(length >> 1) + 'x'.repeat(length & 1);
      expect(decode(encode(text))).toBe(text);
      const bytes = Uint8Array.from({ length }, (_, i) => i * 7);
      expect(canonical(decode(encode(bytes)))).toStrictEqual(bytes);
      const array = new Array<number>(length).fill(1);
      expect(decode(encode(array))).toEqual(array);
    }
    const wide = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]));
    expect(decode(encode(wide))).toEqual(wide);
    expect(decode(encode({}))).toEqual({});
    expect(decode(encode([]))).toEqual([]);
    expect(decode(encode(null))).toBe(null);
  });

  it('never silently changes a string holding a lone surrogate: it round-trips or encode refuses it', () => {
    for (const text of ['x\uD800y', '\uDC00', 'a\uDBFF', '\uDFFF\uD800']) {
      for (const value of [text, [text], { [text]: 1 }] as Value[]) {
        let bytes: Uint8Array;
        try {
          bytes = encode(value);
        } catch (error) {
          expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
          continue;
        }
        const decoded = decode(bytes);
        expect(decoded, `${JSON.stringify(value)} came back as ${JSON.stringify(decoded)}`).toEqual(value);
      }
    }
  });

  it('returns byte strings as copies that do not pin the frame', () => {
    const bytes = encode([new Uint8Array([1, 2, 3])]);
    const decoded = decode(bytes);
    expect(Array.isArray(decoded)).toBe(true);
    const inner = (decoded as Value[])[0];
    expect(inner).toBeInstanceOf(Uint8Array);
    expect(Array.from(inner as Uint8Array)).toEqual([1, 2, 3]);
    expect((inner as Uint8Array).buffer).not.toBe(bytes.buffer);
  });

  it('decodes 64-bit integers within ±2^53 exactly', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n - 1n }),
        fc.constantFrom<0xcf | 0xd3>(0xcf, 0xd3),
        (big, token) => {
          fc.pre(token === 0xd3 || big >= 0n);
          expect(decode(int64(token, big))).toBe(Number(big));
        },
      ),
      propertyParameters(300),
    );
    expect(decode(int64(0xcf, 2n ** 53n - 1n))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(int64(0xd3, -(2n ** 53n) + 1n))).toBe(Number.MIN_SAFE_INTEGER);
    expect(decode(frame(0x92, int64(0xcf, 5n), int64(0xd3, -5n)))).toEqual([5, -5]);
  });
});
