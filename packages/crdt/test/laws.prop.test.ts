/**
 * The algebraic laws every type's replica state must obey, checked over generated histories of
 * that type's ops (see history.ts). A failure prints fast-check's seed and the history's ops;
 * rerun one law with DRIFTLESS_SEED=<seed>, and raise the runs with DRIFTLESS_RUNS.
 */
import { decode } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import { ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyCausally,
  type Cut,
  cutArbitrary,
  type Flavour,
  formatHistory,
  type History,
  happenedBefore,
  opsBetween,
  pastBefore,
  readsOf,
  runScript,
  scriptOf,
  stateAt,
  stateOf,
  vectorOf,
  wholeOf,
} from './history.js';

const RUNS = 1000;
/** Generous: a law takes about a second per thousand runs, more on a loaded machine. */
const TIMEOUT_MS = Math.max(60_000, propertyParameters(RUNS).numRuns * 60);

/** Checks `law` over generated histories of `flavour` with three cuts and four free picks. */
function checkLaw(
  flavour: Flavour,
  law: (history: History, cuts: readonly [Cut, Cut, Cut], picks: readonly number[]) => void,
): void {
  fc.assert(
    fc.property(
      scriptOf(flavour),
      fc.tuple(cutArbitrary, cutArbitrary, cutArbitrary),
      fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
      (script, cuts, picks) => {
        const history = runScript(flavour, script);
        try {
          law(history, cuts, picks);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          const ops = formatHistory(history);
          throw new Error(`${message}\nhistory (origin:seq hlc collection/key mutation past):\n${ops}`, {
            cause: error,
          });
        }
      },
    ),
    propertyParameters(RUNS),
  );
}

/** The state's snapshot as text: what differs when two digests do. */
function entriesOf(state: ReplicaState): string {
  return JSON.stringify(decode(state.snapshot()));
}

/** Asserts byte-for-byte equality (vitest's deep equality is slow on byte arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const same = actual.length === expected.length && actual.every((byte, i) => byte === expected[i]);
  if (!same) throw new Error(`${what}: snapshot bytes differ`);
}

/** Asserts that two states are the same to every reader: digest, reads and version vector. */
function expectSame(history: History, actual: ReplicaState, expected: ReplicaState, what: string): void {
  if (actual.digest() !== expected.digest()) {
    throw new Error(
      `${what}: digests differ\n  got      ${entriesOf(actual)}\n  expected ${entriesOf(expected)}`,
    );
  }
  expect(readsOf(history, actual), `${what}: reads`).toEqual(readsOf(history, expected));
  expect(actual.versionVector.toJSON(), `${what}: version vector`).toEqual(expected.versionVector.toJSON());
}

/** Delivers every op of the history the states lack to both, in the same order; they must stay the same. */
function expectSameAfterTheRest(
  history: History,
  actual: ReplicaState,
  expected: ReplicaState,
  seed: number,
  what: string,
): void {
  const rest = opsBetween(history, wholeOf(history), expected.versionVector);
  applyCausally(actual, rest, seed);
  applyCausally(expected, rest, seed);
  expectSame(history, actual, expected, `${what}, then every later op`);
}

/** A fresh state for `cut` joined with each of `others`, in order. */
function joined(history: History, cut: Cut, ...others: ReplicaState[]): ReplicaState {
  const state = stateOf(history, cut);
  for (const other of others) state.merge(other.snapshot());
  return state;
}

const FLAVOURS: readonly { readonly flavour: Flavour; readonly title: string }[] = [
  { flavour: 'register', title: 'last-writer-wins register' },
  { flavour: 'mv', title: 'multi-value register' },
  { flavour: 'document', title: 'document' },
  { flavour: 'counter', title: 'counter' },
  { flavour: 'set', title: 'add-wins set' },
  { flavour: 'yjs', title: 'Yjs document' },
  { flavour: 'mixed', title: 'keys written with every type, in lww and mv collections' },
];

for (const { flavour, title } of FLAVOURS) {
  describe(`laws of the ${title}`, { timeout: TIMEOUT_MS }, () => {
    it('apply is idempotent: applying an op, or a prefix of the ops, again changes nothing', () => {
      checkLaw(flavour, (history, [cut], [pick = 0, prefix = 0]) => {
        const state = stateOf(history, cut);
        const ops = opsBetween(history, vectorOf(history, cut));
        const [digest, reads, snapshot] = [state.digest(), readsOf(history, state), state.snapshot()];
        const again = [ops[pick % Math.max(1, ops.length)], ...ops.slice(0, prefix % (ops.length + 1))];
        expect(again.flatMap((m) => (m ? [state.apply(m.op)] : [])).filter(Boolean)).toEqual([]);
        expect(state.digest()).toBe(digest);
        expect(readsOf(history, state)).toEqual(reads);
        expectSameBytes(state.snapshot(), snapshot, 'after applying again');
        // The same holds after a restart: a restored state knows which ops it holds.
        const restored = ReplicaState.restore(snapshot);
        expect(ops.map(({ op }) => restored.apply(op)).filter(Boolean)).toEqual([]);
        expect(restored.digest()).toBe(digest);
      });
    });

    it('apply commutes for concurrent ops: either order of two concurrent ops gives the same state', () => {
      checkLaw(flavour, (history, [base], [first = 0, second = 0]) => {
        const x = history.ops[first % Math.max(1, history.ops.length)];
        if (!x) return;
        const concurrent = history.ops.filter(
          (m) => m.op.origin !== x.op.origin && !happenedBefore(m, x) && !happenedBefore(x, m),
        );
        const y = concurrent[second % Math.max(1, concurrent.length)];
        if (!y) return;
        // The least state both apply to, grown by a random cut when that holds neither op.
        let vector = pastBefore(x).merge(pastBefore(y));
        const grown = vector.merge(vectorOf(history, base));
        if (!grown.includes(x.op.origin, x.op.seq) && !grown.includes(y.op.origin, y.op.seq)) vector = grown;
        const [xy, yx] = [stateAt(history, vector, base.orderSeed), stateAt(history, vector, base.orderSeed)];
        expect([xy.apply(x.op), xy.apply(y.op), yx.apply(y.op), yx.apply(x.op)].every(Boolean)).toBe(true);
        expectSame(history, xy, yx, `${x.op.origin}:${x.op.seq} then ${y.op.origin}:${y.op.seq}`);
      });
    });

    it('merge is commutative: A ⊔ B equals B ⊔ A', () => {
      checkLaw(flavour, (history, [a, b]) => {
        const ab = joined(history, a, stateOf(history, b));
        const ba = joined(history, b, stateOf(history, a));
        expectSame(history, ab, ba, 'A ⊔ B vs B ⊔ A');
      });
    });

    it('merge is associative: (A ⊔ B) ⊔ C equals A ⊔ (B ⊔ C)', () => {
      checkLaw(flavour, (history, [a, b, c]) => {
        const left = joined(history, a, stateOf(history, b), stateOf(history, c));
        const right = joined(history, a, joined(history, b, stateOf(history, c)));
        expectSame(history, left, right, '(A ⊔ B) ⊔ C vs A ⊔ (B ⊔ C)');
      });
    });

    it('merge is idempotent: A ⊔ A equals A', () => {
      checkLaw(flavour, (history, [a]) => {
        const state = stateOf(history, a);
        const twice = joined(history, a, state);
        expectSame(history, twice, state, 'A ⊔ A vs A');
        expectSameBytes(twice.snapshot(), state.snapshot(), 'A ⊔ A vs A');
      });
    });

    it('merge agrees with op delivery: A ⊔ B equals A after delivering every op of B it lacks', () => {
      checkLaw(flavour, (history, [a, b, rest]) => {
        const [vectorA, vectorB] = [vectorOf(history, a), vectorOf(history, b)];
        const join = joined(history, a, stateOf(history, b));
        const delivered = stateOf(history, a);
        applyCausally(delivered, opsBetween(history, vectorB, vectorA), b.orderSeed);
        expectSame(history, join, delivered, 'A ⊔ B vs A + (B − A)');
        expect(join.versionVector.equals(vectorA.merge(vectorB))).toBe(true);
        // A joined state goes on to apply later ops exactly as the state built from ops does.
        expectSameAfterTheRest(history, join, delivered, rest.orderSeed, 'A ⊔ B vs A + (B − A)');
      });
    });

    it('snapshot → restore is identical: digest, reads, version vector and snapshot bytes', () => {
      checkLaw(flavour, (history, [a, , rest]) => {
        const state = stateOf(history, a);
        const restored = ReplicaState.restore(state.snapshot());
        expectSame(history, restored, state, 'restored vs original');
        expectSameBytes(restored.snapshot(), state.snapshot(), 'restored vs original');
        expectSameAfterTheRest(history, restored, state, rest.orderSeed, 'restored vs original');
      });
    });
  });
}
