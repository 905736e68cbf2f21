/**
 * Yjs keys in snapshots, merges and deltas, and their canonical encoding: replicas that hold the
 * same updates, however they got them, encode byte for byte the same.
 */
import { decode, encode, type Op, type Value } from '@driftless/core';
import { propertyParameters, seededRandom } from '@driftless/core/testing';
import { ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from './thrown.js';
import { Replica } from './yjs-fixtures.js';
import { causalOrder, closure, insert, remoteOp, replay, richHistory, YjsClient } from './yjs-histories.js';

describe('yjs: snapshots, merges and deltas', () => {
  /** Two replicas with a live key, a deleted key, a revived key and a key with an update waiting. */
  function replicas(): { a: Replica; b: Replica; fromA: Op[]; fromB: Op[] } {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const [alice, bob] = [new YjsClient(1), new YjsClient(2)];
    const shared = [
      a.edit('live', alice, insert('live'), 100),
      a.edit('gone', new YjsClient(11), insert('gone'), 110),
      a.edit('back', new YjsClient(12), insert('back'), 120),
    ];
    b.receive(...shared);
    bob.load(b.value('back'));
    const lost = new YjsClient(9);
    lost.edit(insert('?'));
    const fromA = [
      a.edit('live', alice, insert('A', 0), 200),
      a.write('gone', { kind: 'del' }, 210),
      a.write('back', { kind: 'del' }, 220),
    ];
    a.receive(remoteOp('z', 1, [6, lost.edit(insert('!', 1)), ['a', 1]], 'live'));
    const fromB = [
      b.edit('live', new YjsClient(3).load(b.value('live')), insert('B', 4), 205),
      b.edit('back', bob, insert('!', 4), 215),
    ];
    return { a, b, fromA: [...shared, ...fromA], fromB };
  }

  it('snapshot → restore keeps documents, deletes and waiting updates byte for byte', () => {
    const { a } = replicas();
    const snapshot = a.state.snapshot();
    const restored = ReplicaState.restore(snapshot);
    expect(restored.digest()).toBe(a.state.digest());
    expect(Uint8Array.from(restored.snapshot())).toEqual(Uint8Array.from(snapshot));
    for (const key of ['live', 'gone', 'back'])
      expect(restored.get('docs', key)).toEqual(a.state.get('docs', key));
  });

  it('merge of snapshots and applying compacted deltas equal delivering the ops, in both directions', () => {
    const { a, b, fromA, fromB } = replicas();
    const zOps = [remoteOp('z', 1, decodeMutationOf(a, 'live'), 'live')];
    const delivered = new Replica('d');
    delivered.receive(...fromA, ...zOps, ...fromB);
    const ab = ReplicaState.restore(a.state.snapshot());
    ab.merge(b.state.snapshot());
    const ba = ReplicaState.restore(b.state.snapshot());
    ba.merge(a.state.snapshot());
    const deltaB = ReplicaState.restore(b.state.snapshot());
    deltaB.applyDelta(a.state.delta([...fromA, ...zOps]));
    for (const state of [ab, ba, deltaB]) {
      expect(state.digest()).toBe(delivered.state.digest());
      for (const key of ['live', 'gone', 'back'])
        expect(state.get('docs', key)).toEqual(delivered.state.get('docs', key));
    }
    expect(new YjsClient(5).load(delivered.value('back')).doc.getText('t').toString()).toBe('back!');
    expect(delivered.value('gone')).toBeUndefined();
  });

  it('restore refuses a yjs state that is not one with SNAPSHOT_INVALID', () => {
    const { a } = replicas();
    const snapshot = decode(a.state.snapshot()) as Value[];
    const header = snapshot.slice(0, 3);
    const [code, winner, tombstone] = (((snapshot[3] as Value[])[2] as Value[]) ?? []) as Value[];
    const missing = new YjsClient(3).load(new YjsClient(1).edit(insert('x'))).edit(insert('y', 1));
    const states: Value[] = [
      'not a state',
      [[], []],
      [[[['a', 1], ['a', 1, 0], new Uint8Array([0xff, 0xff])]], []],
      // A document that builds on something outside it is not a whole document.
      [[[['a', 1], ['a', 1, 0], missing]], []],
      [[[['a', 1], [], new Uint8Array([0, 0])]], []],
      [[[[], ['a', 1, 0], new Uint8Array([0, 0])]], []],
      [[], [['z', 1, 2, [], missing]]],
    ];
    for (const state of states.slice(2).concat(states[0] as Value)) {
      const bytes = encode([...header, ['docs', 'live', [code, winner, tombstone, state]]] as Value);
      expect(
        thrown(() => ReplicaState.restore(bytes)),
        JSON.stringify(state),
      ).toMatchObject({
        code: 'SNAPSHOT_INVALID',
      });
    }
  });
});

/** The mutation of the op that left an update waiting on `key` at `replica`, as sent. */
function decodeMutationOf(replica: Replica, key: string): Value {
  const [, , , state] = decode(replica.state.encodedEntry('docs', key) as Uint8Array) as Value[];
  const [[origin, , , base, bytes]] = (state as Value[][])[1] as Value[][] as [Value[]];
  expect(origin).toBe('z');
  return [6, bytes as Value, base as Value];
}

describe('yjs: canonical encoding', () => {
  const parameters = propertyParameters(150);
  it('replicas that apply the same updates in any causal order, or join each other, encode byte for byte the same', {
    timeout: Math.max(60_000, parameters.numRuns * 60),
  }, () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), fc.array(fc.nat(99), { minLength: 5, maxLength: 5 })), {
          minLength: 1,
          maxLength: 24,
        }),
        fc.nat(),
        (steps, orderSeed) => {
          const history = richHistory(steps);
          const random = seededRandom(orderSeed);
          const all = history.map((_, i) => i);
          const reference = replay(history, causalOrder(history, all, random));
          for (let k = 0; k < 2; k++) {
            const again = replay(history, causalOrder(history, all, random));
            expect(again.digest()).toBe(reference.digest());
            // Two causally closed parts joined, then the rest delivered.
            const [x, y] = [
              closure(
                history,
                all.filter(() => random() < 0.5),
              ),
              closure(
                history,
                all.filter(() => random() < 0.5),
              ),
            ];
            const joined = replay(history, causalOrder(history, x, random));
            joined.merge(replay(history, causalOrder(history, y, random)).snapshot());
            const rest = all.filter((i) => !x.includes(i) && !y.includes(i));
            for (const i of causalOrder(history, rest, random)) joined.apply(history[i]?.op as Op);
            expect(joined.digest()).toBe(reference.digest());
            expect(Uint8Array.from(joined.snapshot())).toEqual(Uint8Array.from(reference.snapshot()));
          }
        },
      ),
      parameters,
    );
  });
});
