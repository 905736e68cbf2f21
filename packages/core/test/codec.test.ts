import {
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  DriftlessError,
  decode,
  encode,
  measureValue,
  ProtocolError,
  sizeBound,
  type Value,
  type ValueMap,
} from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Concatenates bytes and byte arrays into one frame. */
function frame(...parts: (number | ArrayLike<number>)[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') bytes.push(part);
    else bytes.push(...Array.from(part));
  }
  return Uint8Array.from(bytes);
}

/** A msgpack str (fixstr or str8) holding `text`. */
function str(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  if (utf8.length > 255) throw new RangeError('test helper: strings up to 255 bytes');
  return utf8.length < 32 ? frame(0xa0 | utf8.length, utf8) : frame(0xd9, utf8.length, utf8);
}

/** A msgpack uint64 (0xcf) or int64 (0xd3) holding `value`. */
function int64(token: 0xcf | 0xd3, value: bigint): Uint8Array {
  const bytes = new Uint8Array(9);
  bytes[0] = token;
  const view = new DataView(bytes.buffer);
  if (token === 0xcf) view.setBigUint64(1, value);
  else view.setBigInt64(1, value);
  return bytes;
}

const hex = (bytes: Uint8Array) =>
  bytes instanceof Uint8Array ? Buffer.from(bytes).toString('hex') : `(not bytes: ${String(bytes)})`;

/** An ext8 (0xc7) extension of `type` around `payload`. */
const ext8 = (type: number, payload: Uint8Array) => frame(0xc7, payload.length, type, payload);

/** Decodes `bytes`, expecting a ProtocolError; returns it. */
function refusal(bytes: Uint8Array, limits?: DecodeLimits): ProtocolError {
  let decoded: unknown;
  try {
    decoded = decode(bytes, limits);
  } catch (error) {
    if (!(error instanceof ProtocolError)) {
      expect.fail(`frame ${hex(bytes).slice(0, 80)} threw ${String(error)}, not a ProtocolError`);
    }
    return error;
  }
  return expect.fail(
    `frame ${hex(bytes).slice(0, 80)} decoded to ${String(decoded)} instead of being refused`,
  );
}

/** The same value with every byte string as a plain Uint8Array and every map as a plain object. */
function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [field, item] of Object.entries(value)) copy[field] = canonical(item);
    return copy;
  }
  return value;
}

// -0 is left out: msgpack has one integer zero, so -0 decodes as 0 (as in JSON).
const double = fc.double().filter((d) => !Object.is(d, -0));
// Keys are any well-formed string except `__proto__`, which msgpackr renames (tested below).
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
const plainValue: fc.Arbitrary<Value> = fc.letrec<{ value: Value; array: Value[]; map: ValueMap }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, tie('array'), tie('map')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  map: fc.dictionary(fieldName, tie('value'), { maxKeys: 6 }),
})).value;

const limits = (overrides: Partial<DecodeLimits>): DecodeLimits => ({
  ...DEFAULT_DECODE_LIMITS,
  ...overrides,
});

/** `depth` arrays, each holding the next, the innermost empty. */
const nestedArrays = (depth: number) => frame(new Array<number>(depth).fill(0x91), 0x90);
/** `depth` maps `{a: {a: … {}}}`. */
const nestedMaps = (depth: number) => {
  const bytes: number[] = [];
  for (let i = 0; i < depth; i++) bytes.push(0x81, 0xa1, 0x61);
  return frame(bytes, 0x80);
};

// ---------------------------------------------------------------------------------------------

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

describe('decode refuses what is not plain msgpack', () => {
  const refusedAs = (code: string, bytes: Uint8Array, bounds?: DecodeLimits) =>
    expect(refusal(bytes, bounds).code, hex(bytes).slice(0, 80)).toBe(code);

  it('refuses msgpackr record definitions (ext 0x72)', () => {
    const packr = new Packr({ useRecords: true });
    for (const value of [{ a: 1 }, [{ a: 1 }, { a: 2 }], { outer: { inner: true } }]) {
      const bytes = packr.pack(value);
      expect(hex(bytes)).toContain('d472');
      refusedAs('PROTOCOL_UNSUPPORTED_TYPE', bytes);
    }
    // The same definition built by hand, alone and inside a map.
    const definition = frame(0xd4, 0x72, 0x40, 0x91, str('a'), 0x01);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', definition);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x81, str('r'), definition));
  });

  it('refuses Error objects (ext 0x65)', () => {
    const packed = new Packr({ moreTypes: true }).pack(new Error('x'));
    expect(packed[0]).toBeGreaterThanOrEqual(0xc7);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', ext8(0x65, frame(0x93, str('Error'), str('x'), 0xc0)));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x91, ext8(0x65, frame(0x92, 0xa0, 0xa0))));
  });

  it('refuses RegExp (ext 0x78)', () => {
    const packed = new Packr({ moreTypes: true }).pack(/ab+c/gi);
    expect(Array.from(packed.subarray(0, 2))).toEqual([0xd4, 0x78]);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x91, packed));
  });

  it('refuses Set (ext 0x73)', () => {
    const packed = new Packr({ moreTypes: true }).pack(new Set([1, 2]));
    expect(Array.from(packed.subarray(0, 2))).toEqual([0xd4, 0x73]);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x81, str('s'), packed));
  });

  it('refuses Dates (timestamp ext -1, in all three sizes)', () => {
    const packed = new Packr().pack(new Date(0));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0xd6, 0xff, 0, 0, 0, 0));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0xd7, 0xff, new Array<number>(8).fill(1)));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0xc7, 12, 0xff, new Array<number>(12).fill(1)));
  });

  it('refuses typed arrays other than Uint8Array (ext 0x74)', () => {
    const packr = new Packr({ moreTypes: true });
    for (const typed of [
      new Float64Array([1.5, -2]),
      new Uint16Array([1]),
      new Int8Array([-1]),
      new Float32Array(0),
    ]) {
      const packed = packr.pack(typed);
      expect(packed[0]).toBeGreaterThanOrEqual(0xc7);
      refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    }
    refusedAs(
      'PROTOCOL_UNSUPPORTED_TYPE',
      new Packr({ structuredClone: true }).pack(new Float64Array([1.5])),
    );
  });

  it('refuses structured-clone cycles and references', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const packed = new Packr({ structuredClone: true }).pack(cyclic);
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', packed);
    const shared = { x: 1 };
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', new Packr({ structuredClone: true }).pack([shared, shared]));
  });

  it('refuses every extension type, of every size, wherever it appears', () => {
    const ext = fc
      .tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9), fc.nat(255), fc.nat(40))
      .map(([token, type, extLength]) => {
        const fixed: Record<number, number> = { 212: 1, 213: 2, 214: 4, 215: 8, 216: 16 };
        const length = fixed[token] ?? extLength;
        const data = new Array<number>(length).fill(0x01);
        if (token === 0xc7) return frame(token, length, type, data);
        if (token === 0xc8) return frame(token, 0, length, type, data);
        if (token === 0xd4 || token === 0xd5 || token === 0xd6 || token === 0xd7 || token === 0xd8) {
          return frame(token, type, data);
        }
        return frame(token, 0, 0, 0, length, type, data);
      });
    const placed = fc.tuple(ext, fc.constantFrom('alone', 'array', 'map', 'deep')).map(([bytes, where]) => {
      if (where === 'array') return frame(0x93, 0x01, bytes, 0xc0);
      if (where === 'map') return frame(0x82, str('a'), 0x01, str('b'), bytes);
      if (where === 'deep') return frame(0x91, 0x81, str('k'), 0x91, bytes);
      return bytes;
    });
    fc.assert(
      fc.property(placed, (bytes) => {
        refusedAs('PROTOCOL_UNSUPPORTED_TYPE', bytes);
      }),
      propertyParameters(300),
    );
  });

  it('refuses the never-used byte 0xc1', () => {
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0xc1));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x92, 0x01, 0xc1));
    refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x81, str('a'), 0xc1));
  });

  it('refuses an empty frame and input that is not bytes', () => {
    refusedAs('PROTOCOL_MALFORMED', new Uint8Array(0));
    for (const notBytes of ['\x90', [0x90], new ArrayBuffer(1), null, undefined, 0x90]) {
      // Deliberately passing what the type forbids, as an untyped caller could.
      expect(refusal(notBytes as unknown as Uint8Array).code).toBe('PROTOCOL_MALFORMED');
    }
  });

  it('refuses trailing bytes after the value', () => {
    fc.assert(
      fc.property(plainValue, fc.uint8Array({ minLength: 1, maxLength: 8 }), (value, extra) => {
        refusedAs('PROTOCOL_MALFORMED', frame(encode(value), extra));
      }),
      propertyParameters(300),
    );
    refusedAs('PROTOCOL_MALFORMED', frame(0xc0, 0xc0));
    refusedAs('PROTOCOL_MALFORMED', frame(0x90, 0x00));
  });

  it('refuses every truncation of a frame', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(plainValue, (value) => {
        const bytes = encode(value);
        for (let length = 0; length < bytes.length; length++) {
          refusedAs('PROTOCOL_MALFORMED', bytes.subarray(0, length));
        }
      }),
      propertyParameters(200),
    );
  });

  it('refuses a frame over maxFrameBytes with PROTOCOL_FRAME_TOO_LARGE, and accepts one at the limit', () => {
    const bytes = encode('x'.repeat(100));
    expect(bytes.length).toBe(102);
    expect(decode(bytes, limits({ maxFrameBytes: 102 }))).toBe('x'.repeat(100));
    refusedAs('PROTOCOL_FRAME_TOO_LARGE', bytes, limits({ maxFrameBytes: 101 }));
    // Checked before anything else: even garbage over the limit is refused for its size.
    refusedAs('PROTOCOL_FRAME_TOO_LARGE', new Uint8Array(65).fill(0xc1), limits({ maxFrameBytes: 64 }));
    const huge = new Uint8Array(DEFAULT_DECODE_LIMITS.maxFrameBytes + 1);
    refusedAs('PROTOCOL_FRAME_TOO_LARGE', huge);
  });

  it('refuses nesting deeper than maxDepth with PROTOCOL_LIMIT_EXCEEDED', () => {
    const bounds = limits({ maxDepth: 3 });
    expect(decode(nestedArrays(2), bounds)).toEqual([[[]]]);
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', nestedArrays(3), bounds);
    expect(decode(nestedMaps(2), bounds)).toEqual({ a: { a: {} } });
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', nestedMaps(3), bounds);
    // Depth counts arrays and maps alike, and only along one path.
    expect(decode(frame(0x92, 0x91, 0x90, 0x81, str('a'), 0x90), bounds)).toEqual([[[]], { a: [] }]);
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', frame(0x92, 0x90, 0x81, str('a'), 0x91, 0x90), bounds);

    const maxDepth = DEFAULT_DECODE_LIMITS.maxDepth;
    expect(() => decode(nestedArrays(maxDepth - 1))).not.toThrow();
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', nestedArrays(maxDepth));
  });

  it('refuses ~10,000 nested arrays or maps with PROTOCOL_LIMIT_EXCEEDED, not a RangeError', () => {
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', nestedArrays(10_000));
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', nestedMaps(10_000));
    // array16 headers, each holding one array: the same depth in a different encoding.
    const array16s = Array.from({ length: 10_000 }, () => [0xdc, 0x00, 0x01]).flat();
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', frame(array16s, 0x90));
  });

  it('refuses more values than maxItems with PROTOCOL_LIMIT_EXCEEDED', () => {
    const bounds = limits({ maxItems: 4 });
    expect(decode(encode([1, 2, 3]), bounds)).toEqual([1, 2, 3]);
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', encode([1, 2, 3, 4]), bounds);
    // Keys count as values: a map of one entry is three values.
    expect(decode(encode({ a: 1 }), limits({ maxItems: 3 }))).toEqual({ a: 1 });
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', encode({ a: 1 }), limits({ maxItems: 2 }));
    refusedAs('PROTOCOL_LIMIT_EXCEEDED', encode([[], [], [], [], []]), bounds);
  });

  it('refuses a container or string that claims more than the frame holds', () => {
    const cases = [
      frame(0xdd, 0xff, 0xff, 0xff, 0xff), // array32 of 4 billion values
      frame(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02),
      frame(0xdf, 0x7f, 0xff, 0xff, 0xff, str('a'), 0x01), // map32 of 2 billion entries
      frame(0xdc, 0x00, 0x05, 0x01, 0x02, 0x03), // array16 of 5 holding 3
      frame(0xde, 0x00, 0x02, str('a'), 0x01), // map16 of 2 holding 1
      frame(0x9f, 0x01), // fixarray of 15 holding 1
      frame(0x8f, str('a'), 0x01), // fixmap of 15 holding 1
      frame(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61), // str32 of 4 GiB
      frame(0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00), // bin32 of 2 GiB
      frame(0xc4, 0x10, 0x00), // bin8 of 16 holding 1
      frame(0xa5, 0x61, 0x62), // fixstr of 5 holding 2
      frame(0xcb, 0x00, 0x00), // float64 cut short
      frame(0xcd, 0x01), // uint16 cut short
      frame(0xda), // str16 with no length
    ];
    for (const bytes of cases) refusedAs('PROTOCOL_MALFORMED', bytes);
  });

  it('refuses map keys that are not strings', () => {
    const badKeys = [
      frame(0x01),
      frame(0xc0),
      frame(0xc3),
      frame(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0),
      frame(0xc4, 0x01, 0x61),
      frame(0x90),
      frame(0x91, str('a')),
      frame(0x80),
      frame(0xcf, 0, 0, 0, 0, 0, 0, 0, 1),
    ];
    for (const key of badKeys) {
      refusedAs('PROTOCOL_MALFORMED', frame(0x81, key, 0x01));
      refusedAs('PROTOCOL_MALFORMED', frame(0x82, str('ok'), 0x01, key, 0x02));
      refusedAs('PROTOCOL_MALFORMED', frame(0x92, 0x01, 0xde, 0x00, 0x01, key, 0x02));
      refusedAs('PROTOCOL_MALFORMED', frame(0x81, str('nested'), 0x81, key, 0xc0));
    }
    // Every string encoding is a valid key.
    const keyed = frame(0x83, str('a'), 0x01, 0xd9, 0x01, 0x62, 0x02, 0xda, 0x00, 0x01, 0x63, 0x03);
    expect(decode(keyed)).toEqual({ a: 1, b: 2, c: 3 });
    expect(decode(frame(0x81, 0xdb, 0, 0, 0, 1, 0x64, 0x04))).toEqual({ d: 4 });
  });

  it('refuses 64-bit integers beyond ±2^53 with PROTOCOL_UNSUPPORTED_TYPE', () => {
    const tooBig = [
      int64(0xcf, 2n ** 53n),
      int64(0xcf, 2n ** 63n),
      int64(0xcf, 2n ** 64n - 1n),
      int64(0xd3, 2n ** 53n),
      int64(0xd3, 2n ** 63n - 1n),
      int64(0xd3, -(2n ** 53n) - 1n),
      int64(0xd3, -(2n ** 63n)),
    ];
    for (const bytes of tooBig) {
      refusedAs('PROTOCOL_UNSUPPORTED_TYPE', bytes);
      refusedAs('PROTOCOL_UNSUPPORTED_TYPE', frame(0x81, str('n'), bytes));
    }
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }), (big) => {
        refusedAs('PROTOCOL_UNSUPPORTED_TYPE', int64(0xcf, big));
      }),
      propertyParameters(200),
    );
  });
});

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
