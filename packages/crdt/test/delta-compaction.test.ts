/**
 * Compacted deltas: a delta of some ops carries the final state of the keys they touched, so it
 * costs what that state costs; applying it must give exactly the state the ops give, atomically,
 * and catching up by deltas must equal catching up by ops.
 */
import {
  DriftlessError,
  decode,
  encode,
  encodeOps,
  type Op,
  type Value,
  type VersionVector,
} from '@driftless/core';
import { propertyParameters, seededRandom, testSeed } from '@driftless/core/testing';
import type { Intent, ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint, freshState, Replica } from './delta-fixtures.js';
import {
  applyCausally,
  type Cut,
  cutArbitrary,
  formatHistory,
  type History,
  opsBetween,
  readsOf,
  runScript,
  scriptOf,
  stateAt,
  vectorOf,
  wholeOf,
} from './history.js';
import { thrown } from './thrown.js';

const KEYS = ['k0', 'k1', 'k2'];

/** One type's intents, and the collection it is written in. */
interface TypeCase {
  readonly type: string;
  readonly collection: string;
  /** A random intent of the type, deletes included. */
  intent(random: () => number, i: number): Intent;
  /** The i-th of a run of overwrites that keep the state's shape (a document: one field). */
  overwrite(i: number): Intent;
}

const ELEMENTS: Value[] = ['x', 'y', 3, { o: [1] }];
const TYPE_CASES: readonly TypeCase[] = [
  {
    type: 'register',
    collection: 'docs',
    intent: (random, i) => (random() < 0.15 ? { kind: 'del' } : { kind: 'set', value: i }),
    overwrite: (i) => ({ kind: 'set', value: i }),
  },
  {
    type: 'mv',
    collection: 'votes',
    intent: (random, i) => (random() < 0.15 ? { kind: 'del' } : { kind: 'set', value: `v${i}` }),
    overwrite: (i) => ({ kind: 'set', value: `v${i}` }),
  },
  {
    type: 'document',
    collection: 'docs',
    intent: (random, i) => {
      if (random() < 0.1) return { kind: 'del' };
      const field = ['a', 'b', 'c'][Math.floor(random() * 3)] as string;
      const roll = random();
      return {
        kind: 'patch',
        patch: { [field]: roll < 0.2 ? null : roll < 0.5 ? { x: i, y: null } : i },
      };
    },
    // Each field path is a register of its own: the state grows with the paths, not the writes.
    overwrite: (i) => ({ kind: 'patch', patch: { title: i } }),
  },
  {
    type: 'counter',
    collection: 'docs',
    intent: (random) =>
      random() < 0.15 ? { kind: 'del' } : { kind: 'incr', delta: Math.floor(random() * 9) - 4 || 5 },
    overwrite: (i) => ({ kind: 'incr', delta: (i % 7) - 3 || 1 }),
  },
  {
    type: 'set',
    collection: 'docs',
    intent: (random) => {
      const roll = random();
      const element = ELEMENTS[Math.floor(random() * ELEMENTS.length)] as Value;
      if (roll < 0.1) return { kind: 'del' };
      return roll < 0.6 ? { kind: 'add', element } : { kind: 'remove', element };
    },
    overwrite: (i) => ({ kind: i % 2 === 0 ? 'add' : 'remove', element: ELEMENTS[i % 3] as Value }),
  },
];

/**
 * Three replicas write one type's intents to three keys and exchange ops now and then, so many
 * writes are concurrent; returns them.
 */
function concurrentHistory(typeCase: TypeCase, seed: number): Replica[] {
  const random = seededRandom(seed);
  const replicas = ['a', 'b', 'c'].map((id) => new Replica(id));
  for (let i = 0; i < 40; i++) {
    const replica = replicas[Math.floor(random() * 3)] as Replica;
    if (random() < 0.3) {
      // Delivers a prefix of what another replica has and this one lacks: causally closed.
      const from = replicas[Math.floor(random() * 3)] as Replica;
      const lacking = from.lacking(replica.state);
      replica.receive(lacking.slice(0, Math.ceil(random() * lacking.length)));
    } else {
      const key = KEYS[Math.floor(random() * KEYS.length)] as string;
      replica.write(typeCase.collection, key, typeCase.intent(random, i));
    }
  }
  return replicas;
}

function readsIn(state: ReplicaState, collection: string): unknown {
  return {
    keys: KEYS.map((key) => state.get(collection, key)),
    list: state.list(collection).items,
  };
}

describe('compacted deltas', () => {
  describe('a delta of heavy overwrites costs about the final state, not the history', () => {
    for (const typeCase of TYPE_CASES) {
      it(typeCase.type, () => {
        const writer = new Replica('a');
        const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
        const ops = Array.from(
          { length: 1000 },
          (_, i) =>
            writer.write(typeCase.collection, keys[i % keys.length] as string, typeCase.overwrite(i)) as Op,
        );
        const delta = writer.state.delta(ops);
        const encodedOps = encodeOps(ops).length;
        expect(delta.length, `delta ${delta.length} B vs ops ${encodedOps} B`).toBeLessThan(
          encodedOps * 0.05,
        );
        // Every key was touched, so the delta is the whole state...
        expect(delta.length).toBe(writer.state.snapshot().length);
        // ...and about what a history of one write per key leaves.
        const light = new Replica('a');
        const few = keys.map((key, i) => light.write(typeCase.collection, key, typeCase.overwrite(i)) as Op);
        expect(delta.length).toBeLessThan(light.state.delta(few).length * 1.5);
      });
    }

    it('a delta of the ops touching some keys holds only those keys', () => {
      const writer = new Replica('a');
      const ops: Op[] = [];
      for (let i = 0; i < 2000; i++)
        ops.push(writer.write('docs', `key-${i % 100}`, { kind: 'set', value: i }) as Op);
      const some = ops.filter((op) => op.key === 'key-1' || op.key === 'key-2');
      const receiver = freshState();
      expect(receiver.applyDelta(writer.state.delta(some))).toEqual([
        { collection: 'docs', key: 'key-1' },
        { collection: 'docs', key: 'key-2' },
      ]);
      expect(writer.state.delta(some).length).toBeLessThan(writer.state.snapshot().length / 20);
    });
  });

  describe('applyDelta gives the state the ops give', () => {
    for (const typeCase of TYPE_CASES) {
      it(typeCase.type, () => {
        const base = testSeed();
        for (let run = 0; run < 40; run++) {
          const seed = (base + run) | 0;
          const [a, b, c] = concurrentHistory(typeCase, seed) as [Replica, Replica, Replica];
          a.receive(b.lacking(a.state)); // a has seen everything b wrote, c only part of it
          const byOps = c.clone();
          const byDelta = c.clone();
          const lacking = a.lacking(c.state);
          byOps.receive(lacking);
          byDelta.state.applyDelta(a.state.delta(lacking));
          const what = `seed ${seed} (rerun: DRIFTLESS_SEED=${seed})`;
          expect(byDelta.state.digest(), what).toBe(byOps.state.digest());
          expect(byDelta.state.versionVector.toJSON(), what).toEqual(byOps.state.versionVector.toJSON());
          expect(readsIn(byDelta.state, typeCase.collection), what).toEqual(
            readsIn(byOps.state, typeCase.collection),
          );
          // Both go on the same way: later ops, then a write prepared at each.
          const later = c.lacking(byOps.state).concat(b.lacking(byOps.state));
          for (const replica of [byOps, byDelta]) {
            replica.receive(later);
            replica.write(
              typeCase.collection,
              'k0',
              typeCase.intent(() => 0.9, 99),
              9_999_999,
            );
          }
          expect(byDelta.state.digest(), `${what}, after later ops`).toBe(byOps.state.digest());
        }
      });
    }

    it('returns the keys whose state changed, and nothing for a delta it already holds', () => {
      const [a, b] = [new Replica('a'), new Replica('b')];
      const ops = [
        a.write('docs', 'x', { kind: 'set', value: 1 }),
        a.write('docs', 'y', { kind: 'incr', delta: 1 }),
      ] as Op[];
      b.receive(ops.slice(0, 1));
      expect(b.state.applyDelta(a.state.delta(ops))).toEqual([{ collection: 'docs', key: 'y' }]);
      expect(b.state.applyDelta(a.state.delta(ops))).toEqual([]);
      expect(b.state.digest()).toBe(a.state.digest());
    });
  });

  describe('applyDelta is atomic: a damaged delta is refused with SNAPSHOT_INVALID and changes nothing', () => {
    /** A delta of several collections and keys from 'a', and a receiver that lacks part of it. */
    function setup(): { delta: Value[]; receiver: ReplicaState } {
      const a = new Replica('a');
      const ops: Op[] = [];
      for (let i = 0; i < 12; i++) {
        ops.push(a.write('docs', `r${i % 4}`, { kind: 'set', value: i }) as Op);
        ops.push(a.write('votes', `m${i % 3}`, { kind: 'set', value: i }) as Op);
        ops.push(a.write('docs', `n${i % 2}`, { kind: 'incr', delta: i + 1 }) as Op);
      }
      const receiver = new Replica('r');
      receiver.receive(ops.slice(0, 9));
      receiver.write('docs', 'own', { kind: 'add', element: 'e' });
      return { delta: decode(a.state.delta(ops)) as Value[], receiver: receiver.state };
    }
    /** The last collection's last entry: merged after every other one. */
    const lastEntry = (delta: Value[]) => {
      const collection = delta[delta.length - 1] as Value[];
      return collection[collection.length - 1] as Value[];
    };
    const damages: readonly { what: string; damage(delta: Value[]): Value[] | Uint8Array }[] = [
      {
        what: 'an unknown type code in the last entry',
        damage: (delta) => {
          lastEntry(delta)[0] = 99;
          return delta;
        },
      },
      {
        what: 'a malformed stamp in the last entry',
        damage: (delta) => {
          lastEntry(delta)[1] = [1, 'a', 0];
          return delta;
        },
      },
      {
        what: 'a malformed state in the last entry',
        damage: (delta) => {
          lastEntry(delta)[3] = ['not', 'a', 'state'];
          return delta;
        },
      },
      {
        what: 'an invalid key',
        damage: (delta) => {
          const collection = delta[delta.length - 1] as Value[];
          collection[collection.length - 2] = '';
          return delta;
        },
      },
      {
        what: 'an invalid collection name',
        damage: (delta) => {
          (delta[delta.length - 1] as Value[])[0] = 'no spaces';
          return delta;
        },
      },
      {
        what: 'a malformed version vector',
        damage: (delta) => {
          delta[1] = ['a'];
          return delta;
        },
      },
      { what: 'truncated bytes', damage: (delta) => encode(delta).subarray(0, 40) },
      { what: 'another format', damage: (delta) => [2, ...delta.slice(1)] },
    ];
    for (const { what, damage } of damages) {
      it(what, () => {
        const { delta, receiver } = setup();
        const before = fingerprint(receiver);
        const damaged = damage(delta);
        const error = thrown(() =>
          receiver.applyDelta(damaged instanceof Uint8Array ? damaged : encode(damaged)),
        );
        expect(error).toBeInstanceOf(DriftlessError);
        expect(error).toMatchObject({ code: 'SNAPSHOT_INVALID' });
        expect(fingerprint(receiver)).toBe(before);
      });
    }

    it('the same delta undamaged applies', () => {
      const { delta, receiver } = setup();
      expect(receiver.applyDelta(encode(delta)).length).toBeGreaterThan(0);
    });
  });
});

describe('catching up by delta equals catching up by ops (property)', () => {
  const parameters = propertyParameters(300);
  it(`over random histories of 3 replicas writing every type (fast-check seed ${parameters.seed})`, () => {
    fc.assert(
      fc.property(
        scriptOf('mixed').filter((script) => script.replicas === 3),
        fc.tuple(cutArbitrary, cutArbitrary, cutArbitrary),
        (script, cuts) => {
          const history = runScript('mixed', script);
          try {
            checkCatchUp(history, cuts);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            throw new Error(`${message}\nhistory:\n${formatHistory(history)}`, { cause: error });
          }
        },
      ),
      parameters,
    );
  }, 60_000);
});

/**
 * Three states at three causally-closed cuts: A catches up with B, then C with the caught-up A,
 * once by ops and once by deltas of exactly the ops each lacks; then both receive every later op.
 */
function checkCatchUp(history: History, [cutA, cutB, cutC]: readonly [Cut, Cut, Cut]): void {
  const [vectorA, vectorB, vectorC] = [cutA, cutB, cutC].map((cut) => vectorOf(history, cut)) as [
    VersionVector,
    VersionVector,
    VersionVector,
  ];
  const caughtUp = vectorA.merge(vectorB);
  const opsOf = (ops: ReturnType<typeof opsBetween>) => ops.map((m) => m.op);

  const opsA = stateAt(history, vectorA, cutA.orderSeed);
  applyCausally(opsA, opsBetween(history, vectorB, vectorA), cutB.orderSeed);
  const opsC = stateAt(history, vectorC, cutC.orderSeed);
  applyCausally(opsC, opsBetween(history, caughtUp, vectorC), cutA.orderSeed);

  const deltaA = stateAt(history, vectorA, cutA.orderSeed);
  const senderB = stateAt(history, vectorB, cutB.orderSeed);
  deltaA.applyDelta(senderB.delta(opsOf(opsBetween(history, vectorB, vectorA))));
  const deltaC = stateAt(history, vectorC, cutC.orderSeed);
  deltaC.applyDelta(deltaA.delta(opsOf(opsBetween(history, caughtUp, vectorC))));

  for (const [what, byDelta, byOps] of [
    ['A from B', deltaA, opsA],
    ['C from A', deltaC, opsC],
  ] as const) {
    expect(byDelta.digest(), `${what}: digest`).toBe(byOps.digest());
    expect(byDelta.versionVector.toJSON(), `${what}: version vector`).toEqual(byOps.versionVector.toJSON());
    expect(readsOf(history, byDelta), `${what}: reads`).toEqual(readsOf(history, byOps));
    const rest = opsBetween(history, wholeOf(history), byOps.versionVector);
    applyCausally(byDelta, rest, cutC.orderSeed);
    applyCausally(byOps, rest, cutC.orderSeed);
    expect(byDelta.digest(), `${what}, then every later op: digest`).toBe(byOps.digest());
  }
}
