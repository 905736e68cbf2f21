/**
 * What the codec tests build frames and values from: msgpack bytes written by hand (`frame`, `str`,
 * `int64`), a hex view of a frame for messages, and an arbitrary plain value.
 */
import type { Value, ValueMap } from '@driftless/core';
import fc from 'fast-check';

/** Concatenates bytes and byte arrays into one frame. */
export function frame(...parts: (number | ArrayLike<number>)[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') bytes.push(part);
    else bytes.push(...Array.from(part));
  }
  return Uint8Array.from(bytes);
}

/** A msgpack str (fixstr or str8) holding `text`. */
export function str(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  if (utf8.length > 255) throw new RangeError('test helper: strings up to 255 bytes');
  return utf8.length < 32 ? frame(0xa0 | utf8.length, utf8) : frame(0xd9, utf8.length, utf8);
}

/** A msgpack uint64 (0xcf) or int64 (0xd3) holding `value`. */
export function int64(token: 0xcf | 0xd3, value: bigint): Uint8Array {
  const bytes = new Uint8Array(9);
  bytes[0] = token;
  const view = new DataView(bytes.buffer);
  if (token === 0xcf) view.setBigUint64(1, value);
  else view.setBigInt64(1, value);
  return bytes;
}

/** `bytes` in hex, for assertion messages; says so when given something that is not bytes. */
export const hex = (bytes: Uint8Array) =>
  bytes instanceof Uint8Array ? Buffer.from(bytes).toString('hex') : `(not bytes: ${String(bytes)})`;

// -0 is left out: msgpack has one integer zero, so -0 decodes as 0 (as in JSON).
const double = fc.double().filter((d) => !Object.is(d, -0));
// Keys are any well-formed string except `__proto__`, which msgpackr renames (tested in
// codec-plain-data.test.ts).
const fieldName = fc
  .oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.string({ maxLength: 12 }))
  .filter((field) => field !== '__proto__');
const scalar: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  double,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }),
);
/** Any plain value: scalars, byte strings, and arrays and maps of them, nested a few deep. */
export const plainValue: fc.Arbitrary<Value> = fc.letrec<{ value: Value; array: Value[]; map: ValueMap }>(
  (tie) => ({
    value: fc.oneof({ depthSize: 'small' }, scalar, tie('array'), tie('map')),
    array: fc.array(tie('value'), { maxLength: 6 }),
    map: fc.dictionary(fieldName, tie('value'), { maxKeys: 6 }),
  }),
).value;
