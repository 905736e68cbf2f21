/**
 * Compacted deltas and tombstone collection: a delta of some ops carries the final state of the
 * keys they touched, so it costs what that state costs; applying it must give exactly the state
 * the ops give, atomically; and once tombstones are collected, neither side of a join may bring a
 * deleted key back.
 */
import {
  DriftlessError,
  decode,
  encode,
  encodeOps,
  type Op,
  type Value,
  VersionVector,
} from '@driftless/core';
import { propertyParameters, seededRandom, testSeed } from '@driftless/core/testing';
import { type Intent, ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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

/** A fresh state with 'votes' in multi-value mode, as every replica here is configured. */
function freshState(): ReplicaState {
  const state = new ReplicaState();
  state.setCollectionMode('votes', 'mv');
  return state;
}

/** A replica in memory that remembers every op it applied, in the order it applied them (a causal order). */
class Replica {
  state = freshState();
  log: Op[] = [];
  #seq = 0;
  #hlc = 1_000_000;

  constructor(readonly id: string) {}

  /** Writes at this replica; undefined when the key holds another type. */
  write(collection: string, key: string, intent: Intent, hlc = ++this.#hlc): Op | undefined {
    let write: ReturnType<ReplicaState['prepare']>;
    try {
      write = this.state.prepare(collection, key, intent);
    } catch (error) {
      if (error instanceof DriftlessError && error.code === 'TYPE_CONFLICT') return undefined;
      throw error;
    }
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...write };
    this.state.apply(op);
    this.log.push(op);
    return op;
  }

  /** Applies ops (causally ready, in order); ops applied before are skipped. */
  receive(ops: readonly Op[]): void {
    for (const op of ops) if (this.state.apply(op)) this.log.push(op);
  }

  /** The ops applied here that `other` lacks, in the order applied here. */
  lacking(other: ReplicaState): Op[] {
    const vector = other.versionVector;
    return this.log.filter((op) => !vector.includes(op.origin, op.seq));
  }

  /** An independent replica with the same state and log. */
  clone(): Replica {
    const copy = new Replica(this.id);
    copy.state = ReplicaState.restore(this.state.snapshot());
    copy.state.setCollectionMode('votes', 'mv');
    copy.log = [...this.log];
    copy.#seq = this.#seq;
    copy.#hlc = this.#hlc;
    return copy;
  }
}

/** What was thrown (or undefined). */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Everything that must not change when a join is refused: the snapshot bytes (state and both vectors). */
function fingerprint(state: ReplicaState): string {
  return Buffer.from(state.snapshot()).toString('hex');
}

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

describe('tombstone collection', () => {
  it('refuses with REBOOTSTRAP_REQUIRED a delta from a replica behind what this one collected below', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const set = a.write('docs', 'k', { kind: 'set', value: 1 }) as Op;
    a.write('docs', 'k', { kind: 'del' });
    a.write('docs', 'other', { kind: 'set', value: 2 });
    b.receive([set]);
    b.write('docs', 'b-key', { kind: 'set', value: 3 });
    a.state.collectTombstones(VersionVector.from({ a: 2 }));
    expect(a.state.collectedBelow.toJSON()).toEqual({ a: 2 });
    const before = fingerprint(a.state);
    const error = thrown(() => a.state.applyDelta(b.state.delta(b.log)));
    expect(error).toMatchObject({ code: 'REBOOTSTRAP_REQUIRED' });
    expect(fingerprint(a.state)).toBe(before);
    // Once b has seen the delete, its delta joins.
    b.receive(a.lacking(b.state));
    expect(a.state.applyDelta(b.state.delta(b.log))).toContainEqual({ collection: 'docs', key: 'b-key' });
    expect(a.state.get('docs', 'k')).toBeUndefined();
    expect(a.state.get('docs', 'b-key')).toEqual({ type: 'register', value: 3 });
  });

  it('drops only keys that read as absent with every dot below the stable vector', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const hlc = (n: number) => 1_000_000 + n;
    // Absent, everything stable: dropped.
    a.write('docs', 'reg-gone', { kind: 'set', value: 1 }, hlc(1));
    a.write('docs', 'reg-gone', { kind: 'del' }, hlc(2));
    a.write('docs', 'doc-gone', { kind: 'patch', patch: { f: 1 } }, hlc(3));
    a.write('docs', 'doc-gone', { kind: 'del' }, hlc(4));
    a.write('docs', 'count-gone', { kind: 'incr', delta: 3 }, hlc(5));
    a.write('docs', 'count-gone', { kind: 'del' }, hlc(6));
    a.write('docs', 'set-gone', { kind: 'add', element: 'x' }, hlc(7));
    a.write('docs', 'set-gone', { kind: 'remove', element: 'x' }, hlc(8));
    a.write('votes', 'mv-gone', { kind: 'set', value: 1 }, hlc(9));
    a.write('votes', 'mv-gone', { kind: 'del' }, hlc(10));
    // Present: kept whatever the vector.
    a.write('docs', 'live', { kind: 'set', value: 1 }, hlc(11));
    // Concurrent writes at b that a has applied but not every replica has (not below stable).
    const shared = ['reg-raced', 'count-raced', 'set-raced', 'mv-raced'];
    a.write('docs', 'reg-raced', { kind: 'set', value: 'a' }, hlc(12));
    a.write('docs', 'count-raced', { kind: 'incr', delta: 1 }, hlc(13));
    a.write('docs', 'set-raced', { kind: 'add', element: 'x' }, hlc(14));
    a.write('votes', 'mv-raced', { kind: 'set', value: 'a' }, hlc(15));
    b.receive(a.log);
    b.write('docs', 'reg-raced', { kind: 'set', value: 'b' }, hlc(16)); // loses to a's later delete
    b.write('docs', 'count-raced', { kind: 'incr', delta: 5 }, hlc(17));
    b.write('docs', 'set-raced', { kind: 'add', element: 'x' }, hlc(18));
    b.write('votes', 'mv-raced', { kind: 'set', value: 'b' }, hlc(19));
    for (const key of shared) a.write(key === 'mv-raced' ? 'votes' : 'docs', key, { kind: 'del' }, hlc(30));
    // A delete after the stable vector: kept.
    a.write('docs', 'late', { kind: 'set', value: 1 }, hlc(31));
    const stable = a.state.versionVector;
    a.write('docs', 'late', { kind: 'del' }, hlc(32));
    a.receive(b.lacking(a.state));
    expect(a.state.get('docs', 'reg-raced')).toBeUndefined(); // absent, but b's dot is not stable
    const reads = (state: ReplicaState) => ({
      docs: readsAll(state, 'docs'),
      votes: readsAll(state, 'votes'),
    });
    const readsBefore = reads(a.state);

    const dropped = a.state.collectTombstones(stable).map(({ collection, key }) => `${collection}/${key}`);
    expect(dropped.sort()).toEqual(
      ['docs/doc-gone', 'docs/reg-gone', 'docs/set-gone', 'votes/mv-gone'].sort(),
    );
    expect(reads(a.state)).toEqual(readsBefore);
    // A deleted counter keeps its per-origin totals: a later delete carries absolute totals.
    for (const key of ['count-gone', 'reg-raced', 'count-raced', 'set-raced', 'late', 'live'])
      expect(a.state.encodedEntry('docs', key), key).toBeDefined();
    expect(a.state.encodedEntry('votes', 'mv-raced')).toBeDefined();
    // Once every replica has seen b's writes, the raced keys that read as absent go too.
    const everything = a.state.versionVector;
    b.receive(a.lacking(b.state));
    const dropLater = a.state.collectTombstones(everything).map(({ key }) => key);
    expect(dropLater.sort()).toEqual(['late', 'reg-raced'].sort());
    // b, which collected nothing, reads the same and converges on a collection of its own.
    expect(reads(b.state)).toEqual(reads(a.state));
    b.state.collectTombstones(everything);
    expect(b.state.digest()).toBe(a.state.digest());
  });

  it('with a stable vector taken only from members this replica has caught up with, a write racing a delete is never lost', () => {
    // c writes k, then (before it sees a's delete) writes k again: that write races the delete.
    const [a, b, c] = ['a', 'b', 'c'].map((id) => new Replica(id)) as [Replica, Replica, Replica];
    const first = c.write('docs', 'k', { kind: 'set', value: 'c1' }, 100) as Op;
    a.receive([first]);
    b.receive([first]);
    const racing = c.write('docs', 'k', { kind: 'set', value: 'c2' }, 150) as Op;
    const del = a.write('docs', 'k', { kind: 'del' }, 200) as Op;
    b.receive([del]);
    c.receive([del]);
    const reported = [a, b, c].map((replica) => replica.state.versionVector);
    // a has not applied everything c reported, so c's report does not count yet: a catches up first.
    expect(a.state.versionVector.dominates(reported[2] as VersionVector)).toBe(false);
    a.receive([racing]);
    b.receive([racing]);
    const stable = reported.reduce((x, y) => x.meet(y));
    expect(reported.every((vector) => a.state.versionVector.dominates(vector))).toBe(true);
    a.state.collectTombstones(stable);
    // The racing write lost to the later delete everywhere, and a kept the key until that is stable.
    for (const replica of [a, b, c]) expect(replica.state.get('docs', 'k')).toBeUndefined();
    expect(a.state.encodedEntry('docs', 'k')).toBeDefined();
    const everything = a.state.versionVector;
    for (const replica of [a, b, c]) expect(replica.state.collectTombstones(everything)).toHaveLength(1);
    expect(new Set([a, b, c].map((replica) => replica.state.digest())).size).toBe(1);
  });

  describe('a deleted key does not come back after collection', () => {
    /** a set and deleted k; c saw only the set; a collected k below a stable vector c is not part of. */
    function setup() {
      const [a, c] = [new Replica('a'), new Replica('c')];
      const set = a.write('docs', 'k', { kind: 'set', value: 'old' }) as Op;
      const del = a.write('docs', 'k', { kind: 'del' }) as Op;
      a.write('docs', 'kept', { kind: 'set', value: 1 });
      c.receive([set]);
      c.write('docs', 'c-key', { kind: 'incr', delta: 1 });
      expect(a.state.collectTombstones(VersionVector.from({ a: 2 }))).toEqual([
        { collection: 'docs', key: 'k' },
      ]);
      return { a, c, set, del };
    }

    it('an old op arriving again is a no-op', () => {
      const { a, set, del } = setup();
      const before = fingerprint(a.state);
      a.receive([set, del]);
      expect(a.state.get('docs', 'k')).toBeUndefined();
      expect(fingerprint(a.state)).toBe(before);
    });

    it('a behind replica cannot join the collected one (REBOOTSTRAP_REQUIRED), nor the reverse', () => {
      const { a, c } = setup();
      const [beforeA, beforeC] = [fingerprint(a.state), fingerprint(c.state)];
      // c's delta carries k as it was before the delete.
      expect(thrown(() => a.state.applyDelta(c.state.delta(c.log)))).toMatchObject({
        code: 'REBOOTSTRAP_REQUIRED',
      });
      // a's delta says nothing of k (collected), so joining it would leave c's k alive for good.
      expect(thrown(() => c.state.applyDelta(a.state.delta(a.lacking(c.state))))).toMatchObject({
        code: 'REBOOTSTRAP_REQUIRED',
      });
      expect(thrown(() => c.state.merge(a.state.snapshot()))).toMatchObject({ code: 'REBOOTSTRAP_REQUIRED' });
      expect(fingerprint(a.state)).toBe(beforeA);
      expect(fingerprint(c.state)).toBe(beforeC);
      expect(c.state.get('docs', 'k')).toEqual({ type: 'register', value: 'old' });
    });

    it('the behind replica catches up by ops, or rebootstraps from a snapshot', () => {
      const { a, c } = setup();
      const byOps = c.clone();
      byOps.receive(a.lacking(byOps.state));
      expect(byOps.state.get('docs', 'k')).toBeUndefined();
      const rebootstrapped = ReplicaState.restore(a.state.snapshot());
      expect(rebootstrapped.get('docs', 'k')).toBeUndefined();
      expect(rebootstrapped.collectedBelow.toJSON()).toEqual({ a: 2 });
      // An empty replica may join the collected one's snapshot.
      const empty = freshState();
      empty.merge(a.state.snapshot());
      expect(empty.digest()).toBe(a.state.digest());
      expect(empty.get('docs', 'k')).toBeUndefined();
    });
  });
});

function readsAll(state: ReplicaState, collection: string): unknown {
  return state.list(collection, { limit: 1000 }).items;
}

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
