import { decode, encode, ProtocolError, type Value, VersionVector } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = 300;

// A small set of origins, so random vectors share origins and often compare as ordered. 'Z.9' sorts
// before the lower-case ids, which checks that the wire form is sorted by code unit.
const ORIGINS = ['a', 'b', 'c', 'node-1', 'Z.9'] as const;
const origin = fc.constantFrom(...ORIGINS);
// Mostly tiny seqs (so equal entries are common), sometimes anything up to the largest safe integer.
const seq = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) },
);
/** Makes fast-check print a vector in counterexamples as its entries, not as `{}`. */
function shown(v: VersionVector): VersionVector {
  if (!Object.hasOwn(v, fc.toStringMethod)) {
    Object.defineProperty(v, fc.toStringMethod, { value: () => `VersionVector${JSON.stringify(v)}` });
  }
  return v;
}
const vector = fc
  .array(fc.tuple(origin, seq), { maxLength: 8 })
  .map((pairs) => shown(VersionVector.from(pairs)));
/** Keeps a derived seq within what a vector holds: 0 to the largest safe integer. */
const clampSeq = (n: number) => Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, n));
/** A vector that is often above or below another: `base` with some entries raised or lowered. */
const nudged = (base: VersionVector) =>
  fc
    .array(fc.tuple(origin, fc.integer({ min: -3, max: 3 })), { maxLength: 4 })
    .map((nudges) =>
      shown(
        VersionVector.from([
          ...base.entries(),
          ...nudges.map(([o, by]): [string, number] => [o, clampSeq(base.get(o) + by)]),
        ]),
      ),
    );

/** The relation `a ≤ b` computed entry by entry, independently of the class under test. */
function leq(a: VersionVector, b: VersionVector): boolean {
  return a.entries().every(([o, s]) => b.get(o) >= s);
}

/** Asserts that `run` throws a ProtocolError with code PROTOCOL_MALFORMED. */
function expectMalformed(run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect(thrown).toMatchObject({ code: 'PROTOCOL_MALFORMED' });
}

describe('VersionVector laws', () => {
  it('compare is reflexive: every vector is equal to itself and to a copy', () => {
    fc.assert(
      fc.property(vector, (a) => {
        expect(a.compare(a)).toBe('equal');
        expect(a.compare(VersionVector.from(a.entries()))).toBe('equal');
        expect(a.equals(a)).toBe(true);
      }),
      propertyParameters(RUNS),
    );
  });

  it('compare is antisymmetric: a ≤ b and b ≤ a only when a equals b, and before mirrors after', () => {
    const pair = vector.chain((a) => fc.tuple(fc.constant(a), fc.oneof(vector, nudged(a))));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const forward = a.compare(b);
        const backward = b.compare(a);
        const mirror = {
          before: 'after',
          after: 'before',
          equal: 'equal',
          concurrent: 'concurrent',
        } as const;
        expect(backward).toBe(mirror[forward]);
        if (a.dominates(b) && b.dominates(a)) expect(a.entries()).toEqual(b.entries());
        expect(forward === 'equal').toBe(JSON.stringify(a.entries()) === JSON.stringify(b.entries()));
      }),
      propertyParameters(RUNS),
    );
  });

  it('equals holds exactly when compare says equal, in both directions', () => {
    const pair = vector.chain((a) => fc.tuple(fc.constant(a), fc.oneof(vector, nudged(a))));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(a.equals(b)).toBe(a.compare(b) === 'equal');
        expect(b.equals(a)).toBe(a.equals(b));
      }),
      propertyParameters(RUNS),
    );
  });

  // Regression: equals() compared sizes and checked one direction of dominance only.
  it('equals is false for vectors with the same origins and different seqs ({x:2} vs {x:1})', () => {
    const two = VersionVector.from({ x: 2 });
    const one = VersionVector.from({ x: 1 });
    expect(two.compare(one)).toBe('after');
    expect(one.equals(two)).toBe(false);
    expect(two.equals(one)).toBe(false);
  });

  it('compare is transitive: a ≤ b and b ≤ c give a ≤ c', () => {
    // Chains built by raising entries, plus unrelated triples to exercise the premise being false.
    const chain = fc.oneof(
      fc
        .tuple(vector, vector, vector)
        .map(([a, x, y]): [VersionVector, VersionVector, VersionVector] => [
          a,
          a.merge(x),
          a.merge(x).merge(y),
        ]),
      vector.chain((b) => fc.tuple(nudged(b), fc.constant(b), nudged(b))),
      fc.tuple(vector, vector, vector),
    );
    fc.assert(
      fc.property(chain, ([a, b, c]) => {
        const le = (x: VersionVector, y: VersionVector) => ['before', 'equal'].includes(x.compare(y));
        if (le(a, b) && le(b, c)) expect(le(a, c)).toBe(true);
        if (a.dominates(b) && b.dominates(c)) expect(a.dominates(c)).toBe(true);
      }),
      propertyParameters(RUNS),
    );
  });

  it('compare agrees with dominates and with the entry-wise order', () => {
    const pair = vector.chain((a) => fc.tuple(fc.constant(a), fc.oneof(vector, nudged(a))));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const ge = a.dominates(b);
        const le = b.dominates(a);
        expect(ge).toBe(leq(b, a));
        expect(le).toBe(leq(a, b));
        const expected = ge && le ? 'equal' : ge ? 'after' : le ? 'before' : 'concurrent';
        expect(a.compare(b)).toBe(expected);
      }),
      propertyParameters(RUNS),
    );
  });

  it('merge is commutative', () => {
    fc.assert(
      fc.property(vector, vector, (a, b) => {
        expect(a.merge(b).equals(b.merge(a))).toBe(true);
        expect(a.merge(b).entries()).toEqual(b.merge(a).entries());
      }),
      propertyParameters(RUNS),
    );
  });

  it('merge is associative', () => {
    fc.assert(
      fc.property(vector, vector, vector, (a, b, c) => {
        expect(a.merge(b).merge(c).entries()).toEqual(a.merge(b.merge(c)).entries());
      }),
      propertyParameters(RUNS),
    );
  });

  it('merge is idempotent', () => {
    fc.assert(
      fc.property(vector, vector, (a, b) => {
        expect(a.merge(a).entries()).toEqual(a.entries());
        const ab = a.merge(b);
        expect(ab.merge(b).entries()).toEqual(ab.entries());
        expect(ab.merge(a).entries()).toEqual(ab.entries());
      }),
      propertyParameters(RUNS),
    );
  });

  it('merge is the least upper bound', () => {
    // An upper bound of a and b built entry by entry (max, plus a random raise), not with merge.
    const bounded = fc
      .tuple(vector, vector, fc.array(fc.tuple(origin, fc.integer({ min: 0, max: 3 })), { maxLength: 5 }))
      .map(([a, b, raises]): [VersionVector, VersionVector, VersionVector] => {
        const upper = ORIGINS.map((o): [string, number] => [o, Math.max(a.get(o), b.get(o))]);
        for (const [o, by] of raises) upper.push([o, clampSeq(Math.max(a.get(o), b.get(o)) + by)]);
        return [a, b, shown(VersionVector.from(upper))];
      });
    fc.assert(
      fc.property(fc.oneof(bounded, fc.tuple(vector, vector, vector)), ([a, b, upper]) => {
        const lub = a.merge(b);
        expect(lub.dominates(a)).toBe(true);
        expect(lub.dominates(b)).toBe(true);
        for (const o of ORIGINS) expect(lub.get(o)).toBe(Math.max(a.get(o), b.get(o)));
        if (upper.dominates(a) && upper.dominates(b)) expect(upper.dominates(lub)).toBe(true);
      }),
      propertyParameters(RUNS),
    );
  });

  it('meet is the greatest lower bound', () => {
    // A lower bound of a and b built entry by entry (min, minus a random amount), not with meet.
    const bounded = fc
      .tuple(vector, vector, fc.array(fc.tuple(origin, fc.integer({ min: 0, max: 3 })), { maxLength: 5 }))
      .map(([a, b, cuts]): [VersionVector, VersionVector, VersionVector] => {
        const lower = new Map<string, number>(ORIGINS.map((o) => [o, Math.min(a.get(o), b.get(o))]));
        for (const [o, by] of cuts) lower.set(o, Math.max(0, (lower.get(o) ?? 0) - by));
        return [a, b, shown(VersionVector.from(lower))];
      });
    fc.assert(
      fc.property(fc.oneof(bounded, fc.tuple(vector, vector, vector)), ([a, b, lower]) => {
        const glb = a.meet(b);
        expect(a.dominates(glb)).toBe(true);
        expect(b.dominates(glb)).toBe(true);
        for (const o of ORIGINS) expect(glb.get(o)).toBe(Math.min(a.get(o), b.get(o)));
        expect(glb.meet(glb).entries()).toEqual(glb.entries());
        expect(a.meet(b).entries()).toEqual(b.meet(a).entries());
        if (a.dominates(lower) && b.dominates(lower)) expect(glb.dominates(lower)).toBe(true);
      }),
      propertyParameters(RUNS),
    );
  });

  it('missingFrom ranges cover exactly the ops the peer lacks', () => {
    const small = fc
      .array(fc.tuple(origin, fc.integer({ min: 0, max: 6 })), { maxLength: 8 })
      .map((pairs) => shown(VersionVector.from(pairs)));
    const pair = fc.oneof(
      fc.tuple(small, small),
      small.chain((a) => fc.tuple(fc.constant(a), nudged(a))),
      fc.tuple(vector, vector),
    );
    fc.assert(
      fc.property(pair, ([mine, peer]) => {
        const ranges = mine.missingFrom(peer);
        // Their count, exact while it is a safe integer (seqs go up to 2^53 - 1 here).
        const count = ranges.reduce((ops, { from, to }) => ops + BigInt(to - from + 1), 0n);
        if (count <= BigInt(Number.MAX_SAFE_INTEGER)) expect(mine.opsMissingFrom(peer)).toBe(Number(count));
        // Sorted by origin, one range per origin, each non-empty and within what `mine` covers.
        const origins = ranges.map((range) => range.origin);
        expect(origins).toEqual([...new Set(origins)].sort());
        for (const { origin: o, from, to } of ranges) {
          expect(from).toBeGreaterThanOrEqual(1);
          expect(from).toBeLessThanOrEqual(to);
          expect(to).toBe(mine.get(o));
          expect(from).toBe(peer.get(o) + 1);
        }
        // Small vectors: every single op is in a range exactly when mine has it and the peer lacks it.
        if (mine.total + peer.total <= 128) {
          for (const o of ORIGINS) {
            for (let s = 1; s <= Math.max(mine.get(o), peer.get(o)) + 1; s++) {
              const covered = ranges.some((r) => r.origin === o && r.from <= s && s <= r.to);
              expect(covered).toBe(mine.includes(o, s) && !peer.includes(o, s));
            }
          }
        }
        // Handing the peer every range brings it up to the merge, and no further.
        let caughtUp = peer;
        for (const { origin: o, to } of ranges) caughtUp = caughtUp.with(o, to);
        expect(caughtUp.entries()).toEqual(peer.merge(mine).entries());
        expect(ranges.length === 0).toBe(peer.dominates(mine));
      }),
      propertyParameters(RUNS),
    );
  });

  it('toValue and fromValue round-trip, also through the codec', () => {
    fc.assert(
      fc.property(vector, (a) => {
        const value = a.toValue();
        expect(VersionVector.fromValue(value).entries()).toEqual(a.entries());
        const wire = decode(encode(value));
        const back = VersionVector.fromValue(wire);
        expect(back.entries()).toEqual(a.entries());
        expect(back.equals(a)).toBe(true);
        expect(a.entries().map(([o]) => o)).toEqual(
          a
            .entries()
            .map(([o]) => o)
            .sort(),
        );
      }),
      propertyParameters(RUNS),
    );
  });
});

describe('VersionVector.fromValue refuses malformed input with PROTOCOL_MALFORMED', () => {
  /** A vector with at least `min` entries, in its wire form. */
  const wireForm = (min: number) =>
    fc
      .uniqueArray(fc.tuple(origin, fc.integer({ min: 1, max: 1000 })), {
        minLength: min,
        maxLength: ORIGINS.length,
        selector: ([o]) => o,
      })
      .map((pairs) => VersionVector.from(pairs).toValue() as Value[]);
  const badNodeId = fc.constantFrom<Value>(
    '',
    ' a',
    'has space',
    '-leading-dash',
    '.dot',
    'ü',
    'x'.repeat(65),
    'a/b',
    5,
    null,
    true,
    ['a'],
    new Uint8Array([0x61]),
  );
  const badSeq = fc.constantFrom<Value>(0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', null);

  const cases: [string, fc.Arbitrary<Value>][] = [
    [
      'unsorted origins',
      wireForm(2).map((wire) => {
        const pairs: Value[][] = [];
        for (let i = 0; i < wire.length; i += 2) pairs.push([wire[i] as Value, wire[i + 1] as Value]);
        return pairs.reverse().flat();
      }),
    ],
    [
      'a duplicate origin',
      fc.tuple(wireForm(1), fc.nat(), fc.integer({ min: 1, max: 1000 })).map(([wire, at, seqValue]) => {
        const i = (at % (wire.length / 2)) * 2;
        return [...wire.slice(0, i + 2), wire[i] as Value, seqValue, ...wire.slice(i + 2)];
      }),
    ],
    [
      'a bad node id',
      fc.tuple(wireForm(1), fc.nat(), badNodeId).map(([wire, at, bad]) => {
        const copy = [...wire];
        copy[(at % (wire.length / 2)) * 2] = bad;
        return copy;
      }),
    ],
    [
      'seq 0 or another bad seq',
      fc.tuple(wireForm(1), fc.nat(), badSeq).map(([wire, at, bad]) => {
        const copy = [...wire];
        copy[(at % (wire.length / 2)) * 2 + 1] = bad;
        return copy;
      }),
    ],
    ['an odd length', wireForm(1).map((wire) => wire.slice(0, -1))],
    [
      'a non-array',
      fc.constantFrom<Value>(null, true, 0, 'a', { a: 1 }, new Uint8Array([0x92, 0xa1, 0x61, 0x01])),
    ],
  ];

  it.each(cases)('%s', (_name, malformed) => {
    fc.assert(
      fc.property(malformed, (value) => {
        expectMalformed(() => VersionVector.fromValue(value));
      }),
      propertyParameters(200),
    );
  });

  it('refuses seq 0 even for a single entry, where the class itself would drop it', () => {
    expectMalformed(() => VersionVector.fromValue(['a', 0]));
    expect(VersionVector.fromValue([]).size).toBe(0);
  });
});
