import { encode, type Value } from '@driftless/core';

/**
 * Byte-level ammunition for fuzzing the replication protocol: named mutations of a frame, raw
 * msgpack values no encoder would write (extensions, records, huge length prefixes, deep towers,
 * `__proto__` keys, 64-bit integers), and random plain values. Pure and seeded: the same random
 * source gives the same bytes.
 */

/** A frame and what it was meant to be, for the tally and for failure reports. */
export interface Shot {
  readonly bytes: Uint8Array;
  readonly kind: string;
}

/** A seeded random source in [0, 1). */
export type Random = () => number;

/** A whole number in [0, n). */
export const below = (random: Random, n: number): number => Math.floor(random() * n);
/** One of `items`, uniformly. */
export const pick = <T>(random: Random, items: readonly T[]): T => items[below(random, items.length)] as T;

/** The mutations `mutateFrame` applies, by name (for the tally the fuzzer prints). */
export const FRAME_MUTATIONS = [
  'flip-bytes',
  'flip-bit',
  'truncate',
  'extend',
  'splice',
  'tag',
  'frame-number',
  'huge-length',
  'ext-type',
  'nudge',
  'repeat-chunk',
  'tower',
] as const;
/** The name of one frame mutation. */
export type FrameMutation = (typeof FRAME_MUTATIONS)[number];

const EXT_TOKENS = [0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9];
// msgpackr's own extensions: records (0x72 'r', and 0x40-0x7f ids), Set, Error, RegExp, typed arrays, dates.
const EXT_TYPES = [0x72, 0x65, 0x78, 0x73, 0x74, 0x69, 0x70, 0x62, 0x40, 0x7f, 0xff, 0x00, 0x01];
const HUGE_PREFIXES = [
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array32
  [0xdf, 0xff, 0xff, 0xff, 0xff], // map32
  [0xdc, 0xff, 0xff], // array16
  [0xde, 0xff, 0xff], // map16
  [0xdb, 0xff, 0xff, 0xff, 0xff], // str32
  [0xd9, 0xff], // str8
  [0xc6, 0xff, 0xff, 0xff, 0xff], // bin32
  [0xc5, 0xff, 0xff], // bin16
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x72], // ext32 record
];
const INTERESTING_BYTES = [
  0xc1, 0xc0, 0x90, 0x9f, 0x80, 0x8f, 0xa0, 0xbf, 0xdc, 0xdd, 0xdf, 0xd4, 0xff, 0x00, 0x7f,
];
const FRAME_NUMBERS = (n: number) => [
  0,
  n - 1,
  n + 1,
  n + 2,
  n + 2 ** 31,
  n - 2 ** 31,
  2 ** 32 - 1,
  n + 1000,
];

/** `frame` changed by one named mutation; `other` is a second frame to splice with. */
export function mutateFrame(
  random: Random,
  frame: Uint8Array,
  other: Uint8Array,
): { bytes: Uint8Array; how: FrameMutation } {
  const bytes = Array.from(frame);
  const at = () => below(random, bytes.length + 1);
  const how = pick(random, FRAME_MUTATIONS);
  switch (how) {
    case 'flip-bytes':
      for (let n = 1 + below(random, 4); n > 0 && bytes.length > 0; n--) {
        const i = below(random, bytes.length);
        bytes[i] = (bytes[i] as number) ^ (1 + below(random, 255));
      }
      break;
    case 'flip-bit': {
      const i = below(random, bytes.length);
      if (bytes.length > 0) bytes[i] = (bytes[i] as number) ^ (1 << below(random, 8));
      break;
    }
    case 'truncate':
      bytes.length = below(random, bytes.length);
      break;
    case 'extend':
      for (let n = 1 + below(random, random() < 0.9 ? 8 : 200); n > 0; n--) bytes.push(below(random, 256));
      break;
    case 'splice': {
      const tail = other.subarray(below(random, other.length + 1));
      // A loop, not splice(…, ...tail): spreading a large frame's bytes as arguments overflows the stack.
      bytes.length = at();
      for (const byte of tail) bytes.push(byte);
      break;
    }
    case 'tag':
      bytes[0] = pick(random, [0, 1, 2, 3, 4, 5, 6, 7, 0x7f, 0x80, 0xff]);
      break;
    case 'frame-number': {
      // For OPS the 4 bytes after the tag; for any other frame, the start of its body.
      while (bytes.length < 5) bytes.push(0);
      const view = new DataView(Uint8Array.from(bytes).buffer);
      const number = pick(random, FRAME_NUMBERS(view.getUint32(1))) >>> 0;
      view.setUint32(1, random() < 0.9 ? number : below(random, 2 ** 32));
      bytes.length = 0;
      for (const byte of new Uint8Array(view.buffer)) bytes.push(byte);
      break;
    }
    case 'huge-length':
      bytes.splice(Math.max(1, at()), random() < 0.5 ? 0 : 1, ...pick(random, HUGE_PREFIXES));
      break;
    case 'ext-type': {
      const token = pick(random, EXT_TOKENS);
      const length = [1, 2, 4, 8, 16][token - 0xd4] ?? below(random, 20);
      const lengthBytes = { 199: [length], 200: [0, length], 201: [0, 0, 0, length] }[token] ?? [];
      const payload = Array.from({ length }, () => below(random, 256));
      bytes.splice(
        Math.max(1, at()),
        random() < 0.5 ? 0 : 1,
        token,
        ...lengthBytes,
        pick(random, EXT_TYPES),
        ...payload,
      );
      break;
    }
    case 'nudge': {
      const i = below(random, bytes.length);
      if (bytes.length > 0)
        bytes[i] = random() < 0.5 ? pick(random, INTERESTING_BYTES) : ((bytes[i] as number) + 1) & 0xff;
      break;
    }
    case 'repeat-chunk': {
      const from = below(random, bytes.length + 1);
      bytes.splice(at(), 0, ...bytes.slice(from, from + 1 + below(random, 24)));
      break;
    }
    case 'tower': {
      const levels = 40 + below(random, 60);
      const level = random() < 0.5 ? [0x91] : [0x81, 0xa1, 0x6b];
      bytes.splice(Math.max(1, at()), 0, ...Array.from({ length: levels }, () => level).flat());
      break;
    }
  }
  return { bytes: Uint8Array.from(bytes), how };
}

const tower = (levels: number, level: readonly number[]) => [
  ...Array.from({ length: levels }, () => level).flat(),
  0xc0,
];
const ascii = (text: string) => Array.from(text, (char) => char.charCodeAt(0));

/** Raw msgpack values a well-behaved encoder never writes, each one complete (self-delimiting). */
export const RAW_VALUES: readonly { readonly name: string; readonly bytes: Uint8Array }[] = [
  { name: 'never-used 0xc1', bytes: [0xc1] },
  { name: 'fixext1', bytes: [0xd4, 0x01, 0x00] },
  { name: 'record definition', bytes: [0xd4, 0x72, 0x40] },
  { name: 'record reference', bytes: [0x40] },
  { name: 'ext8 record', bytes: [0xc7, 0x03, 0x72, 0x91, 0xa1, 0x61] },
  { name: 'timestamp32', bytes: [0xd6, 0xff, 0x00, 0x00, 0x00, 0x01] },
  { name: 'timestamp96', bytes: [0xc7, 0x0c, 0xff, ...new Array(12).fill(0)] },
  { name: 'error ext', bytes: [0xd5, 0x65, 0x91, 0xa1] },
  { name: 'regexp ext', bytes: [0xc7, 0x04, 0x78, 0x92, 0xa1, 0x61, 0xa0] },
  { name: 'set ext', bytes: [0xd4, 0x73, 0x90] },
  { name: 'typed array ext', bytes: [0xc7, 0x04, 0x74, 1, 2, 3, 4] },
  { name: 'uint64 max', bytes: [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  { name: 'int64 min', bytes: [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0] },
  { name: 'uint64 2^53', bytes: [0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0] },
  { name: 'uint64 2^53-1', bytes: [0xcf, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  { name: 'float NaN', bytes: [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0] },
  { name: 'float Infinity', bytes: [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0] },
  { name: 'float -0', bytes: [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0] },
  { name: 'float32 1.5', bytes: [0xca, 0x3f, 0xc0, 0, 0] },
  { name: 'array32 huge', bytes: [0xdd, 0xff, 0xff, 0xff, 0xff] },
  { name: 'map32 huge', bytes: [0xdf, 0xff, 0xff, 0xff, 0xff] },
  { name: 'str32 huge', bytes: [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61] },
  { name: 'bin32 huge', bytes: [0xc6, 0xff, 0xff, 0xff, 0xff, 0x00] },
  { name: 'ext32 huge', bytes: [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01] },
  { name: 'invalid utf-8', bytes: [0xa2, 0xc3, 0x28] },
  { name: 'lone surrogate', bytes: [0xa3, 0xed, 0xa0, 0x80] },
  { name: 'non-string map key', bytes: [0x81, 0x01, 0x02] },
  { name: 'array map key', bytes: [0x81, 0x90, 0x01] },
  {
    name: '__proto__ key',
    bytes: [0x81, 0xa9, ...ascii('__proto__'), 0x81, 0xa8, ...ascii('polluted'), 0xc3],
  },
  {
    name: '__proto__ key (str8)',
    bytes: [0x81, 0xd9, 0x09, ...ascii('__proto__'), 0x81, 0xa8, ...ascii('polluted'), 0xc3],
  },
  { name: 'nested __proto__', bytes: [0x91, 0x81, 0xa9, ...ascii('__proto__'), 0x90] },
  { name: 'tower 40', bytes: tower(40, [0x91]) },
  { name: 'tower 50', bytes: tower(50, [0x91]) },
  { name: 'tower 61', bytes: tower(61, [0x91]) },
  { name: 'tower 70', bytes: tower(70, [0x91]) },
  { name: 'map tower 60', bytes: tower(60, [0x81, 0xa1, 0x6b]) },
  { name: 'tower 5000', bytes: tower(5000, [0x91]) },
  { name: 'truncated array', bytes: [0x93, 0x01] },
  { name: 'empty array', bytes: [0x90] },
  { name: 'empty map', bytes: [0x80] },
  { name: 'nil', bytes: [0xc0] },
].map(({ name, bytes }) => ({ name, bytes: Uint8Array.from(bytes) }));

/** A placeholder `withRaw` replaces; put it where the raw value should go. */
export const SLOT = 'raw-slot-5f1c2a9e';
const SLOT_BYTES = encode(SLOT);

/** `template` encoded, with the one SLOT string in it replaced by the raw msgpack `raw`. */
export function withRaw(template: Value, raw: Uint8Array): Uint8Array {
  const bytes = encode(template);
  for (let i = 0; i + SLOT_BYTES.length <= bytes.length; i++) {
    if (SLOT_BYTES.every((byte, j) => bytes[i + j] === byte)) {
      const out = new Uint8Array(bytes.length - SLOT_BYTES.length + raw.length);
      out.set(bytes.subarray(0, i));
      out.set(raw, i);
      out.set(bytes.subarray(i + SLOT_BYTES.length), i + raw.length);
      return out;
    }
  }
  throw new Error('withRaw: the template holds no SLOT');
}

const STRINGS = [
  '',
  'a',
  'k0',
  'x',
  'n',
  'ключ',
  '🔑',
  'constructor',
  'prototype',
  '__proto',
  'a'.repeat(600),
];
const NUMBERS = [0, 1, -1, 0.5, 255, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, 1e300, -1e-300];

/** A random plain value (what the codec admits), `depth` levels deep at most. */
export function randomValue(random: Random, depth: number): Value {
  switch (below(random, depth > 0 ? 8 : 6)) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return random() < 0.5 ? pick(random, NUMBERS) : below(random, 1000);
    case 3:
      return pick(random, STRINGS);
    case 4:
      return Uint8Array.from({ length: below(random, 12) }, () => below(random, 256));
    case 5:
      return `v${below(random, 100)}`;
    case 6:
      return Array.from({ length: below(random, 4) }, () => randomValue(random, depth - 1));
    default: {
      const map: Record<string, Value> = {};
      for (let i = below(random, 4); i > 0; i--) {
        map[pick(random, ['a', 'b', 'constructor', 'prototype', 'toString', 'valueOf', 'ключ'])] =
          randomValue(random, depth - 1);
      }
      return map;
    }
  }
}

/** A raw value for a slot: one from RAW_VALUES, or a plain value of a random (usually wrong) type. */
export function randomRaw(random: Random): { bytes: Uint8Array; name: string } {
  if (random() < 0.6) return pick(random, RAW_VALUES);
  const value = randomValue(random, 2);
  return { bytes: encode(value), name: `plain ${Array.isArray(value) ? 'array' : typeof value}` };
}
