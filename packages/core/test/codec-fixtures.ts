/**
 * What the codec tests build frames and values from: msgpack bytes written by hand (`frame`, `str`,
 * `int64`), a hex view of a frame for messages, arbitrary plain values, and their canonical form.
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

/** How large plainValues makes strings, byte strings and containers. */
export interface PlainValueSizes {
  /** Longest map key. */
  readonly field: number;
  /** Longest string of graphemes. */
  readonly text: number;
  /** Longest string of any UTF-16 code units (0: no such strings). */
  readonly units: number;
  /** Longest byte string. */
  readonly bytes: number;
  /** Most items of an array or a map. */
  readonly items: number;
}

/** Any plain value: scalars, byte strings, and arrays and maps of them, nested a few deep. */
export function plainValues(sizes: PlainValueSizes): fc.Arbitrary<Value> {
  // -0 is left out: msgpack has one integer zero, so -0 decodes as 0 (as in JSON).
  const double = fc.double().filter((d) => !Object.is(d, -0));
  // Keys are any well-formed string except `__proto__`, which msgpackr renames (tested in
  // codec-plain-data.test.ts).
  const fieldName = fc
    .oneof(fc.string({ unit: 'grapheme', maxLength: sizes.field }), fc.string({ maxLength: sizes.field }))
    .filter((field) => field !== '__proto__');
  const scalar: fc.Arbitrary<Value> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    double,
    fc.string({ unit: 'grapheme', maxLength: sizes.text }),
    ...(sizes.units > 0 ? [fc.string({ maxLength: sizes.units })] : []),
    fc.uint8Array({ maxLength: sizes.bytes }),
  );
  return fc.letrec<{ value: Value; array: Value[]; map: ValueMap }>((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, scalar, tie('array'), tie('map')),
    array: fc.array(tie('value'), { maxLength: sizes.items }),
    map: fc.dictionary(fieldName, tie('value'), { maxKeys: sizes.items }),
  })).value;
}

/** The codec tests' plain values. */
export const plainValue = plainValues({ field: 12, text: 40, units: 300, bytes: 300, items: 6 });

/** The same value with every byte string as a plain Uint8Array and every map as a plain object. */
export function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [field, item] of Object.entries(value)) copy[field] = canonical(item);
    return copy;
  }
  return value;
}
