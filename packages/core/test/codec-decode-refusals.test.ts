// decode refuses what is not plain msgpack: extension types, the byte 0xc1, input that is not
// bytes, trailing bytes, truncations, frames past the decode limits, and malformed containers and keys.
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, decode, encode, ProtocolError } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { frame, hex, int64, plainValue, str } from './codec-fixtures.js';

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
