import {
  decode,
  decodeOps,
  encode,
  encodeOps,
  type Hlc,
  hlcFromWall,
  MAX_HLC,
  MAX_KEY_LENGTH,
  OPS_FORMAT,
  type Op,
  ProtocolError,
  type Value,
  validateOp,
} from '@driftless/core';
import { propertyParameters, seededRandom, testSeed } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonical, plainValues } from './codec-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const canonicalOps = (ops: readonly Op[]) => ops.map((op) => ({ ...op, mutation: canonical(op.mutation) }));

const mutation = plainValues({ field: 8, text: 20, units: 0, bytes: 40, items: 4 });

const ORIGINS = ['a', 'b', 'node-7', 'Z.1'] as const;
const collection = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('docs', 'users', '_sys', 'a.b-c', '0') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,20}$/) },
);
const key = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }),
  fc.string({ minLength: 1, maxLength: 24 }),
  fc.constantFrom('ключ', '键', '🔑/emoji', 'e\u0301', '\u0000', 'x'.repeat(MAX_KEY_LENGTH)),
);

/** Seqs stay below this in the general law; the top of the range has its own test below. */
const SEQ_CEILING = 2 ** 53 - 2 ** 16;

/** How one op relates to the one before it. */
const step = fc.record({
  origin: fc.constantFrom(...ORIGINS),
  seq: fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'next' as const }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('skip' as const), by: fc.integer({ min: 2, max: 5 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('anywhere' as const),
        at: fc.integer({ min: 1, max: SEQ_CEILING }),
      }),
    },
  ),
  hlcDelta: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 2000 }) },
    { weight: 1, arbitrary: fc.integer({ min: -5000, max: -1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 40 }) },
  ),
  collection,
  key,
  mutation,
});

/** Sequences of valid ops: several origins, runs and gaps, timestamps that sometimes go back. */
const opSequence: fc.Arbitrary<Op[]> = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 52 }), fc.array(step, { maxLength: 40 }))
  .map(([baseHlc, steps]) => {
    const lastSeq = new Map<string, number>();
    let hlc: Hlc = baseHlc;
    return steps.map((s): Op => {
      const previous = lastSeq.get(s.origin) ?? 0;
      let seq: number;
      if (s.seq.kind === 'next') seq = previous + 1;
      else if (s.seq.kind === 'skip') seq = previous + s.seq.by;
      else seq = s.seq.at;
      seq = Math.min(seq, SEQ_CEILING);
      lastSeq.set(s.origin, seq);
      hlc = Math.min(MAX_HLC, Math.max(0, hlc + s.hlcDelta));
      return { origin: s.origin, seq, hlc, collection: s.collection, key: s.key, mutation: s.mutation };
    });
  });

// ---------------------------------------------------------------------------------------------

describe('op codec', () => {
  it('decodes what it encodes: decodeOps(encodeOps(ops)) equals ops', () => {
    fc.assert(
      fc.property(opSequence, (ops) => {
        for (const op of ops) validateOp(op);
        const decoded = decodeOps(encodeOps(ops));
        expect(canonicalOps(decoded)).toStrictEqual(canonicalOps(ops));
      }),
      propertyParameters(300),
    );
  });

  it('forms runs only from consecutive seqs of one origin with non-decreasing timestamps, and no more runs than that', () => {
    fc.assert(
      fc.property(opSequence, (ops) => {
        const batch = decode(encodeOps(ops));
        expect(Array.isArray(batch)).toBe(true);
        const [format, collections, ...runs] = batch as Value[];
        expect(format).toBe(OPS_FORMAT);
        // The collection table holds each collection once, in order of first use.
        expect(collections).toEqual([...new Set(ops.map((op) => op.collection))]);

        // Where a run must start: the first op, a new origin, a seq that is not the next, a clock step back.
        const starts: number[] = [];
        ops.forEach((op, i) => {
          const before = ops[i - 1];
          if (!before || before.origin !== op.origin || before.seq + 1 !== op.seq || op.hlc < before.hlc) {
            starts.push(i);
          }
        });
        expect(runs.length).toBe(starts.length);
        runs.forEach((run, r) => {
          const start = starts[r] as number;
          const end = starts[r + 1] ?? ops.length;
          const first = ops[start] as Op;
          expect(Array.isArray(run)).toBe(true);
          const cells = run as Value[];
          expect(cells.slice(0, 3)).toEqual([first.origin, first.seq, first.hlc]);
          expect(cells.length).toBe(3 + 4 * (end - start));
          for (let i = start; i < end; i++) {
            const op = ops[i] as Op;
            expect(op.origin).toBe(first.origin);
            expect(op.seq).toBe(first.seq + (i - start));
            const delta = cells[3 + 4 * (i - start)];
            expect(delta).toBe(i === start ? 0 : op.hlc - (ops[i - 1] as Op).hlc);
            expect(delta).toBeGreaterThanOrEqual(0);
          }
        });
      }),
      propertyParameters(300),
    );
  });

  it('round-trips ops whose seqs reach Number.MAX_SAFE_INTEGER, which validateOp accepts', () => {
    const top = fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }))
      .map(([count, below]) =>
        Array.from(
          { length: count },
          (_, i): Op => ({
            origin: 'a',
            seq: Number.MAX_SAFE_INTEGER - below - (count - 1) + i,
            hlc: 1000 + i,
            collection: 'docs',
            key: `k${i}`,
            mutation: i,
          }),
        ),
      );
    fc.assert(
      fc.property(top, (ops) => {
        for (const op of ops) validateOp(op);
        let decoded: Op[] | undefined;
        let thrown: unknown;
        try {
          decoded = decodeOps(encodeOps(ops));
        } catch (error) {
          thrown = error;
        }
        expect(thrown, `seqs ${ops.map((op) => op.seq).join(', ')}: ${String(thrown)}`).toBeUndefined();
        expect(decoded).toStrictEqual(ops);
      }),
      propertyParameters(50),
    );
  });

  it('refuses a key or mutation holding a lone surrogate, which msgpack would silently change', () => {
    for (const text of ['x\uD800y', '\uDC00', 'a\uDBFF']) {
      const withKey: Op = { origin: 'a', seq: 1, hlc: 1, collection: 'docs', key: text, mutation: 'v' };
      const withValue: Op = { ...withKey, key: 'k', mutation: { nested: [text] } };
      const withField: Op = { ...withKey, key: 'k', mutation: { [text]: 1 } };
      for (const op of [withKey, withValue, withField]) {
        expect(() => validateOp(op), JSON.stringify(op)).toThrow(
          expect.objectContaining({ code: 'OP_INVALID' }),
        );
        expect(() => encodeOps([op]), JSON.stringify(op)).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
      }
    }
    // A surrogate pair is well-formed and travels unchanged.
    const pair: Op = {
      origin: 'a',
      seq: 1,
      hlc: 1,
      collection: 'docs',
      key: '\uD83D\uDE00',
      mutation: '\uD83D\uDE00',
    };
    expect(decodeOps(encodeOps([pair]))).toEqual([pair]);
  });

  it('costs at most 12 bytes of envelope per op in a batch of 1,000 ops from one origin', () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    let hlc = hlcFromWall(Date.UTC(2025, 0, 1));
    const ops: Op[] = Array.from({ length: 1000 }, (_, i): Op => {
      hlc += 1 + Math.floor(random() * 1024);
      const value = Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
      return {
        origin: 'node-1',
        seq: i + 1,
        hlc,
        collection: 'docs',
        key: `key-${String(i).padStart(12, '0')}`,
        mutation: [0, value],
      };
    });
    for (const op of ops) expect(op.key.length).toBe(16);
    const bytes = encodeOps(ops);
    const payload = ops.length * (16 + 32);
    const overheadPerOp = (bytes.length - payload) / ops.length;
    console.info(
      `op codec envelope: ${overheadPerOp.toFixed(2)} bytes/op (${bytes.length} bytes for ${ops.length} ops, seed ${seed})`,
    );
    expect(overheadPerOp).toBeLessThanOrEqual(12);
    expect(canonicalOps(decodeOps(bytes))).toStrictEqual(canonicalOps(ops));
  });
});

describe('decodeOps refuses malformed batches with PROTOCOL_MALFORMED', () => {
  const run = (
    overrides: Partial<Record<'origin' | 'seq' | 'hlc' | 'delta' | 'index' | 'key', Value>> = {},
  ): Value[] => [
    'origin' in overrides ? (overrides.origin as Value) : 'a',
    'seq' in overrides ? (overrides.seq as Value) : 1,
    'hlc' in overrides ? (overrides.hlc as Value) : 100,
    'delta' in overrides ? (overrides.delta as Value) : 0,
    'index' in overrides ? (overrides.index as Value) : 0,
    'key' in overrides ? (overrides.key as Value) : 'k',
    { set: 1 },
  ];
  const batch = (...runs: Value[]): Value => [OPS_FORMAT, ['docs'], ...runs];

  it('accepts the well-formed batch the cases below are built from', () => {
    expect(decodeOps(encode(batch(run())))).toEqual([
      { origin: 'a', seq: 1, hlc: 100, collection: 'docs', key: 'k', mutation: { set: 1 } },
    ]);
    expect(decodeOps(encode([OPS_FORMAT, []]))).toEqual([]);
  });

  const cases: [string, Value][] = [
    ['a non-array batch (null)', null],
    ['a non-array batch (a map)', { format: OPS_FORMAT }],
    ['a non-array batch (a string)', 'ops'],
    ['a non-array batch (bytes)', new Uint8Array([1, 2, 3])],
    ['a batch without a collection table', [OPS_FORMAT]],
    ['format 0', [0, ['docs'], run()]],
    ['format 2', [2, ['docs'], run()]],
    ['format "1"', ['1', ['docs'], run()]],
    ['a collection table that is not an array', [OPS_FORMAT, 'docs', run()]],
    ['a collection table with an invalid name', [OPS_FORMAT, ['has space'], run()]],
    ['a collection table with an empty name', [OPS_FORMAT, [''], run()]],
    ['a collection table with a number', [OPS_FORMAT, [7], run()]],
    ['a collection index out of range', batch(run({ index: 1 }))],
    ['a negative collection index', batch(run({ index: -1 }))],
    ['a fractional collection index', batch(run({ index: 0.5 }))],
    ['a collection index as a string', batch(run({ index: '0' }))],
    ['a negative hlc delta', batch(run({ delta: -1 }))],
    ['a fractional hlc delta', batch(run({ delta: 0.5 }))],
    ['a delta past the largest timestamp', batch(run({ hlc: MAX_HLC, delta: 1 }))],
    ['a negative base hlc', batch(run({ hlc: -1 }))],
    ['an empty origin', batch(run({ origin: '' }))],
    ['an origin with a space', batch(run({ origin: 'no de' }))],
    ['a numeric origin', batch(run({ origin: 7 }))],
    ['seq 0', batch(run({ seq: 0 }))],
    ['a negative seq', batch(run({ seq: -1 }))],
    ['a fractional seq', batch(run({ seq: 1.5 }))],
    ['an empty key', batch(run({ key: '' }))],
    ['a key over the length limit', batch(run({ key: 'x'.repeat(MAX_KEY_LENGTH + 1) }))],
    ['a numeric key', batch(run({ key: 1 }))],
    ['a run with one cell too many', batch([...run(), 0])],
    ['a run with one cell too few', batch(run().slice(0, -1))],
    ['a run with a header only', batch(['a', 1, 100])],
    ['an empty run', batch([])],
    ['a run that is not an array', batch('a')],
    ['a bad second run after a good one', batch(run(), run({ seq: 0 }))],
  ];

  it.each(cases)('%s', (_name, value) => {
    const bytes = encode(value);
    let thrown: unknown;
    try {
      decodeOps(bytes);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect(thrown).toMatchObject({ code: 'PROTOCOL_MALFORMED' });
  });

  it('refuses a well-formed batch with any one run header or op cell replaced by a wrong value', () => {
    // Cells 0-5 are origin, first seq, base hlc, delta, collection index, key; none of these fit any
    // of them. The mutation (cell 6) may be any value.
    const wrong = fc.constantFrom<Value>(null, true, -1, 0.5, '', [], {}, new Uint8Array(1), 2 ** 53);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), wrong, (cell, value) => {
        const cells = run();
        cells[cell] = value;
        expect(() => decodeOps(encode(batch(cells)))).toThrow(
          expect.objectContaining({ name: 'ProtocolError', code: 'PROTOCOL_MALFORMED' }),
        );
      }),
      propertyParameters(200),
    );
  });
});
