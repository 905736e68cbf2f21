/**
 * Tombstone collection: only keys that read as absent with every dot below the stable vector are
 * dropped, and once they are, neither side of a join may bring a deleted key back.
 */
import { type Op, VersionVector } from '@driftless/core';
import { ReplicaState } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import { fingerprint, freshState, Replica } from './delta-fixtures.js';
import { thrown } from './thrown.js';

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
