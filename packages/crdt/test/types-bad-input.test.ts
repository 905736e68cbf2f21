/**
 * Bad input: what prepare, apply, restore and merge refuse, with which code, changing nothing; and
 * the regressions found in it (a "__proto__" field never pollutes Object.prototype).
 */
import { decode, encode, MAX_KEY_LENGTH, type Op, type Value, type ValueMap } from '@driftless/core';
import { type Intent, ReplicaState, SNAPSHOT_FORMAT } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import { thrown } from './thrown.js';
import { replicas, set } from './types-fixtures.js';

describe('bad input', () => {
  it('prepare throws INVALID_ARGUMENT for an invalid collection, key or intent', () => {
    const state = new ReplicaState();
    const deep: Value = Array.from({ length: 60 }).reduce<Value>((inner) => [inner], 1);
    const cases: [string, string, unknown][] = [
      ['', 'k', set(1)],
      ['has space', 'k', set(1)],
      ['a/b', 'k', set(1)],
      ['.hidden', 'k', set(1)],
      ['docs', '', set(1)],
      ['docs', 'x'.repeat(MAX_KEY_LENGTH + 1), set(1)],
      ['docs', 'k', null],
      ['docs', 'k', { kind: 'replace', value: 1 }],
      ['docs', 'k', { kind: 'set' }],
      ['docs', 'k', { kind: 'set', value: () => 1 }],
      ['docs', 'k', { kind: 'set', value: new Date(0) }],
      ['docs', 'k', { kind: 'set', value: deep }],
      ['docs', 'k', { kind: 'patch', patch: [1] }],
      ['docs', 'k', { kind: 'patch', patch: null }],
      ['docs', 'k', { kind: 'incr', delta: 0 }],
      ['docs', 'k', { kind: 'incr', delta: 1.5 }],
      ['docs', 'k', { kind: 'incr', delta: 2 ** 53 }],
      ['docs', 'k', { kind: 'incr', delta: '1' }],
      ['docs', 'k', { kind: 'add' }],
      ['docs', 'k', { kind: 'yjs' }],
      ['docs', 'k', { kind: 'yjs', update: new Uint8Array() }],
      ['docs', 'k', { kind: 'yjs', update: [0, 0] }],
      ['docs', 'k', { kind: 'yjs', update: new Uint8Array([0xff]) }],
    ];
    for (const [collection, key, intent] of cases) {
      expect(
        thrown(() => state.prepare(collection, key, intent as Intent)),
        `${collection}/${key.slice(0, 8)} ${String(JSON.stringify(intent))}`,
      ).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('an op with an invalid mutation is applied as a no-op: counted in rejectedOps, reported as "rejected", nothing else changes', () => {
    const [a] = replicas();
    a.write('k', set('kept'), 100);
    const digest = a.state.digest();
    const mutations: Value[] = [
      'not an array',
      [],
      [99, 1],
      [3, 0],
      [3, 1.5],
      [3, 1, 2],
      [2, [1]],
      [0, 1, ['not a node id!', 1]],
      [1, [], ['b', -1, 0]],
      [6, new Uint8Array([1])], // not a Yjs update
      [6, new Uint8Array()], // a Yjs update must be non-empty
    ];
    mutations.forEach((mutation, i) => {
      const op: Op = { origin: 'b', seq: i + 1, hlc: 200 + i, collection: 'docs', key: 'k', mutation };
      expect(a.state.apply(op), JSON.stringify(mutation)).toMatchObject({ kind: 'rejected', changed: false });
    });
    expect(a.state.rejectedOps).toBe(mutations.length);
    expect(a.state.digest()).toBe(digest);
    expect(a.read('k')).toEqual({ type: 'register', value: 'kept' });
    expect(a.state.conflictCounts().get('docs')).toBeUndefined();
    // The ops are consumed, so their origin's later ops still apply in order.
    expect(a.state.versionVector.get('b')).toBe(mutations.length);
  });

  it('an op that skips a seq of its origin throws OP_GAP and changes nothing', () => {
    const [a, b] = replicas();
    const first = b.write('k', set(1), 100);
    const third = { ...b.write('k', set(2), 200), seq: 3 };
    for (const before of [[], [first]]) {
      a.receive(...before);
      const digest = a.state.digest();
      expect(thrown(() => a.state.apply(third))).toMatchObject({ code: 'OP_GAP' });
      expect(a.state.digest()).toBe(digest);
      expect(a.state.versionVector.get('b')).toBe(before.length);
    }
  });

  it('restore and merge of bytes that are not a snapshot throw SNAPSHOT_INVALID', () => {
    const [a] = replicas();
    a.write('k', set('v'), 100);
    const snapshot = a.state.snapshot();
    // The real snapshot with its one entry replaced.
    const header = (decode(snapshot) as Value[]).slice(0, -1);
    const withEntry = (entry: Value) => encode([...header, ['docs', 'k', entry]]);
    const garbage: Uint8Array[] = [
      new Uint8Array(),
      new Uint8Array([0xc1]),
      new Uint8Array([0xff, 0x00, 0x13, 0x37]),
      snapshot.subarray(0, snapshot.length - 2),
      encode('snapshot'),
      encode({ format: SNAPSHOT_FORMAT }),
      encode([SNAPSHOT_FORMAT]),
      encode([SNAPSHOT_FORMAT + 1000, [], []]),
      encode([SNAPSHOT_FORMAT, ['bad origin!', 1], []]),
      withEntry('not an entry'),
      withEntry([99, [], [], []]),
      withEntry([0, [], [], ['not', 'a', 'register', 'state', '!']]),
      withEntry([0, ['not a stamp'], [], []]),
    ];
    for (const bytes of garbage) {
      expect(thrown(() => ReplicaState.restore(bytes))).toMatchObject({ code: 'SNAPSHOT_INVALID' });
      expect(thrown(() => a.state.merge(bytes))).toMatchObject({ code: 'SNAPSHOT_INVALID' });
    }
    // Nothing was joined: a merge decodes everything before it changes anything.
    expect(Uint8Array.from(a.state.snapshot())).toEqual(Uint8Array.from(snapshot));
  });

  it('apply returns a Change for a new op (changed or not) and undefined for an op already applied', () => {
    const [a, b] = replicas();
    const newer = b.write('k', set('newer'), 200);
    const older = a.write('k', set('older'), 100);
    const state = new ReplicaState();
    expect(state.apply(newer)).toEqual({
      collection: 'docs',
      key: 'k',
      op: newer,
      kind: 'set',
      changed: true,
    });
    expect(state.apply(older)).toEqual({
      collection: 'docs',
      key: 'k',
      op: older,
      kind: 'set',
      changed: false,
    });
    expect(state.apply(newer)).toBeUndefined();
    expect(state.apply(older)).toBeUndefined();
  });
});

describe('regressions', () => {
  /**
   * Applies `intent` at an origin and, through the codec as a peer would receive it, at a remote
   * replica. Returns undefined when prepare refused the intent (INVALID_ARGUMENT).
   */
  function writeAndShip(intent: Intent): { origin: ReplicaState; remote: ReplicaState } | undefined {
    const origin = new ReplicaState();
    let write: ReturnType<ReplicaState['prepare']>;
    try {
      write = origin.prepare('docs', 'd', intent);
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      return undefined;
    }
    const op: Op = { origin: 'a', seq: 1, hlc: 100, ...write };
    origin.apply(op);
    const remote = new ReplicaState();
    remote.apply({ ...op, mutation: decode(encode(op.mutation)) });
    return { origin, remote };
  }

  it('a document field named "__proto__" is refused or kept as data: reading it never writes to Object.prototype', () => {
    const probe = 'driftlessPollutionProbe';
    try {
      const patch = JSON.parse(`{"__proto__": {"${probe}": "polluted"}, "title": "t"}`) as ValueMap;
      const states = writeAndShip({ kind: 'patch', patch });
      states?.origin.get('docs', 'd');
      states?.remote.get('docs', 'd');
      expect(Object.hasOwn(Object.prototype, probe), 'Object.prototype was polluted').toBe(false);
    } finally {
      delete (Object.prototype as Record<string, unknown>)[probe];
    }
  });

  it.each([
    [
      'a document patch',
      { kind: 'patch', patch: JSON.parse('{"__proto__": {"x": 1}, "title": "t"}') as ValueMap },
    ],
    ['a register value', { kind: 'set', value: JSON.parse('{"__proto__": {"x": 1}}') as ValueMap }],
  ] as const)(
    '%s with a "__proto__" field is refused or reads the same at the origin and at a replica that received it through the codec',
    (_, intent) => {
      const states = writeAndShip(intent);
      if (!states) return;
      expect(states.remote.get('docs', 'd')).toEqual(states.origin.get('docs', 'd'));
      expect(states.remote.digest()).toBe(states.origin.digest());
    },
  );
});
