import {
  decode,
  decodeOps,
  ERROR_CODES,
  encode,
  encodeOps,
  type Op,
  ProtocolError,
  type Value,
} from '@driftless/core';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';

/**
 * Random and mutated frames through both decoders. Every refusal must be a ProtocolError with a
 * known code, no frame may touch Object.prototype, and whatever decodes must encode again.
 * Rerun a failure with DRIFTLESS_SEED=<seed>.
 */

const RANDOM_FRAMES = 60_000;
const MUTATED_FRAMES = 60_000;
const FUZZ_TIMEOUT_MS = 60_000;

type Random = () => number;

const below = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[below(random, items.length)] as T;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function randomString(random: Random, maxLength: number): string {
  const alphabets = [
    'abcdefghijklmnopqrstuvwxyz0123456789-_.',
    'añé中文ключ🔑 \u0000"\\',
    '__proto__constructor',
  ];
  const alphabet = Array.from(pick(random, alphabets));
  let text = '';
  for (let i = below(random, maxLength + 1); i > 0; i--) text += pick(random, alphabet);
  return text;
}

function randomNumber(random: Random): number {
  switch (below(random, 6)) {
    case 0:
      return below(random, 128);
    case 1:
      return -below(random, 33);
    case 2:
      return below(random, 2 ** 32) - 2 ** 31;
    case 3:
      return Math.floor((random() - 0.5) * 2 ** 54);
    case 4:
      return (random() - 0.5) * 10 ** below(random, 300);
    default:
      return pick(random, [
        0,
        255,
        256,
        65_535,
        65_536,
        2 ** 32,
        Number.MAX_SAFE_INTEGER,
        Number.MIN_SAFE_INTEGER,
        0.5,
      ]);
  }
}

function randomValue(random: Random, depth: number): Value {
  const kind = below(random, depth > 0 ? 8 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return randomNumber(random);
    case 3:
      return randomString(random, 40);
    case 4:
      return Uint8Array.from({ length: below(random, 40) }, () => below(random, 256));
    case 5:
      return randomString(random, 300);
    case 6:
      return Array.from({ length: below(random, 6) }, () => randomValue(random, depth - 1));
    default: {
      const map: Record<string, Value> = {};
      for (let i = below(random, 6); i > 0; i--)
        map[randomString(random, 10)] = randomValue(random, depth - 1);
      return map;
    }
  }
}

function randomOps(random: Random): Op[] {
  const lastSeq = new Map<string, number>();
  let hlc = below(random, 2 ** 50);
  return Array.from({ length: 1 + below(random, 20) }, (): Op => {
    const origin = pick(random, ['a', 'b', 'node-9']);
    const seq = random() < 0.8 ? (lastSeq.get(origin) ?? 0) + 1 : 1 + below(random, 1e9);
    lastSeq.set(origin, seq);
    hlc = Math.max(0, hlc + below(random, 3000) - (random() < 0.1 ? 5000 : 0));
    const key = randomString(random, 20) || 'k';
    return {
      origin,
      seq,
      hlc,
      collection: pick(random, ['docs', 'users', '_sys']),
      key,
      mutation: randomValue(random, 3),
    };
  });
}

const EXT_TOKENS = [0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9];
const EXT_TYPES = [0x72, 0x65, 0x78, 0x73, 0x74, 0x69, 0x70, 0x62, 0xff, 0x00, 0x01, 0x7f];
const HUGE_PREFIXES = [
  [0xdd, 0xff, 0xff, 0xff, 0xff],
  [0xdf, 0xff, 0xff, 0xff, 0xff],
  [0xdc, 0xff, 0xff],
  [0xde, 0xff, 0xff],
  [0xdb, 0x7f, 0xff, 0xff, 0xff],
  [0xc6, 0xff, 0xff, 0xff, 0xff],
  [0xc5, 0xff, 0xff],
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x72],
];
const INTERESTING_BYTES = [
  0xc1, 0xc0, 0x90, 0x9f, 0x80, 0x8f, 0xa0, 0xbf, 0xdc, 0xdd, 0xde, 0xdf, 0xd4, 0xc7, 0xff, 0x00, 0x7f,
];

/** One to four random edits of `original`. */
function mutate(random: Random, original: Uint8Array): Uint8Array {
  const bytes = Array.from(original);
  const at = () => below(random, bytes.length + 1);
  for (let edits = 1 + below(random, 4); edits > 0; edits--) {
    switch (below(random, 10)) {
      case 0: {
        const i = below(random, bytes.length);
        if (bytes.length > 0) bytes[i] = (bytes[i] as number) ^ (1 << below(random, 8));
        break;
      }
      case 1:
        bytes.splice(at(), 0, below(random, 256));
        break;
      case 2:
        bytes.splice(below(random, bytes.length), 1 + below(random, 3));
        break;
      case 3:
        if (bytes.length > 0) bytes[below(random, bytes.length)] = pick(random, INTERESTING_BYTES);
        break;
      case 4: {
        // An extension header, sometimes with a plausible payload after it.
        const token = pick(random, EXT_TOKENS);
        const length = [1, 2, 4, 8, 16][token - 0xd4] ?? below(random, 20);
        // fixext (0xd4-0xd8) has no length; ext8/16/32 carry one of 1, 2 or 4 bytes.
        const lengthBytes = { 199: [length], 200: [0, length], 201: [0, 0, 0, length] }[token] ?? [];
        const header = [token, ...lengthBytes];
        const payload = random() < 0.5 ? Array.from({ length }, () => below(random, 256)) : [];
        bytes.splice(at(), 0, ...header, pick(random, EXT_TYPES), ...payload);
        break;
      }
      case 5:
        bytes.splice(at(), random() < 0.5 ? 0 : 1, ...pick(random, HUGE_PREFIXES));
        break;
      case 6:
        bytes.length = below(random, bytes.length + 1);
        break;
      case 7: {
        const from = below(random, bytes.length + 1);
        const chunk = bytes.slice(from, from + 1 + below(random, 16));
        bytes.splice(at(), 0, ...chunk);
        break;
      }
      case 8: {
        // A tower of one-element arrays or maps around the rest: depth near and past the limit.
        const levels = 50 + below(random, 30);
        const level = random() < 0.5 ? [0x91] : [0x81, 0xa1, 0x6b];
        bytes.splice(at(), 0, ...Array.from({ length: levels }, () => level).flat());
        break;
      }
      default: {
        // Nudge a byte up or down by one: shifts counts and lengths of fix-size headers.
        const i = below(random, bytes.length);
        if (bytes.length > 0) bytes[i] = ((bytes[i] as number) + (random() < 0.5 ? 1 : 255)) & 0xff;
      }
    }
  }
  return Uint8Array.from(bytes);
}

describe('codec fuzzing', () => {
  it('refuses random and mutated frames only with ProtocolError, never pollutes, re-encodes what decodes', {
    timeout: FUZZ_TIMEOUT_MS,
  }, () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const started = performance.now();
    const prototypeBefore = new Map(
      Reflect.ownKeys(Object.prototype).map((key) => [key, Reflect.get(Object.prototype, key)]),
    );
    const knownCodes = new Set<string>(ERROR_CODES);

    // Valid encodings to mutate: op batches and plain values, all from the same seed.
    const corpus: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) corpus.push(encodeOps(randomOps(random)));
    for (let i = 0; i < 64; i++) corpus.push(encode(randomValue(random, 4)));
    for (const bytes of corpus)
      expect(() => decode(bytes), `corpus frame ${hex(bytes)} (seed ${seed})`).not.toThrow();

    const decoders = [
      {
        name: 'decode',
        read: (bytes: Uint8Array): unknown => decode(bytes),
        write: (value: unknown) => encode(value as Value),
      },
      {
        name: 'decodeOps',
        read: (bytes: Uint8Array): unknown => decodeOps(bytes),
        write: (value: unknown) => encodeOps(value as Op[]),
      },
    ];
    const decoded = { decode: 0, decodeOps: 0 };
    const codes = new Map<string, number>();
    let failure: string | undefined;
    let frames = 0;

    const check = (bytes: Uint8Array): string | undefined => {
      for (const { name, read, write } of decoders) {
        let value: unknown;
        try {
          value = read(bytes);
        } catch (error) {
          if (!(error instanceof ProtocolError))
            return `${name} threw ${String(error)} (${(error as object)?.constructor?.name}), not a ProtocolError`;
          if (!knownCodes.has(error.code))
            return `${name} threw a ProtocolError with unknown code ${String(error.code)}`;
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
          continue;
        }
        if (Object.keys(Object.prototype).length > 0)
          return `${name} added keys to Object.prototype: ${Object.keys(Object.prototype)}`;
        decoded[name as keyof typeof decoded]++;
        try {
          write(value);
        } catch (error) {
          return `${name} decoded a value that does not encode again: ${String(error)}`;
        }
      }
      return undefined;
    };

    for (let i = 0; i < RANDOM_FRAMES + MUTATED_FRAMES && failure === undefined; i++) {
      let bytes: Uint8Array;
      if (i < RANDOM_FRAMES) {
        bytes = Uint8Array.from({ length: below(random, 201) }, () => below(random, 256));
      } else {
        bytes = mutate(random, pick(random, corpus));
      }
      frames++;
      const problem = check(bytes);
      if (problem !== undefined) failure = `seed ${seed}, frame ${i} (${hex(bytes)}): ${problem}`;
    }

    const durationMs = performance.now() - started;
    console.info(
      `codec fuzz: seed ${seed}, ${frames} frames through decode and decodeOps in ${Math.round(durationMs)} ms; ` +
        `decoded ${decoded.decode} / ${decoded.decodeOps}; refusals ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    expect(failure, failure).toBeUndefined();
    expect(frames).toBe(RANDOM_FRAMES + MUTATED_FRAMES);

    const prototypeAfter = Reflect.ownKeys(Object.prototype);
    expect(prototypeAfter, `Object.prototype changed (seed ${seed})`).toEqual([...prototypeBefore.keys()]);
    for (const key of prototypeAfter) {
      expect(Reflect.get(Object.prototype, key), `Object.prototype.${String(key)} (seed ${seed})`).toBe(
        prototypeBefore.get(key),
      );
    }
    // The mutations must reach the decoders' success paths, or the re-encoding check tests nothing.
    expect(decoded.decode, `seed ${seed}`).toBeGreaterThan(1000);
    expect(decoded.decodeOps, `seed ${seed}`).toBeGreaterThan(100);
  });
});
