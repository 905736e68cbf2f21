/**
 * Every documented conflict rule, shown with two replicas 'a' and 'b' exchanging ops. Each test's
 * name states the rule; docs/CONFLICTS.md uses these tests as its examples. Clocks are given
 * explicitly (hlc 100, 200, …) so it is plain which write is later.
 */
import { decode, encode, MAX_KEY_LENGTH, type Op, type Value, type ValueMap } from '@driftless/core';
import {
  type ConflictEvent,
  type Intent,
  MAX_LIST_LIMIT,
  ReplicaState,
  SNAPSHOT_FORMAT,
} from '@driftless/crdt';
import { describe, expect, it } from 'vitest';

/** A replica that writes with explicit clocks and records the conflicts it reports. */
class Replica {
  readonly state = new ReplicaState();
  readonly conflicts: ConflictEvent[] = [];
  #seq = 0;

  constructor(readonly id: string) {
    this.state.setCollectionMode('votes', 'mv');
    this.state.onConflict((event) => this.conflicts.push(event));
  }

  /** Prepares and applies a write here, and returns its op for the other replica. */
  write(key: string, intent: Intent, hlc: number, collection = 'docs'): Op {
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...this.state.prepare(collection, key, intent) };
    this.state.apply(op);
    return op;
  }

  receive(...ops: Op[]): void {
    for (const op of ops) this.state.apply(op);
  }

  read(key: string, collection = 'docs') {
    return this.state.get(collection, key);
  }
}

function replicas(): [Replica, Replica] {
  return [new Replica('a'), new Replica('b')];
}

/** Each replica receives the other's ops; then both must be in the same state. */
function exchange(a: Replica, fromA: Op[], b: Replica, fromB: Op[]): void {
  a.receive(...fromB);
  b.receive(...fromA);
  expect(a.state.digest()).toBe(b.state.digest());
}

/** What `run` threw (or undefined). */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

const set = (value: Value): Intent => ({ kind: 'set', value });
const patch = (fields: Record<string, Value>): Intent => ({ kind: 'patch', patch: fields });
const incr = (delta: number): Intent => ({ kind: 'incr', delta });
const DEL: Intent = { kind: 'del' };

describe('last-writer-wins register', () => {
  it('the write with the later stamp wins, whatever the order of arrival', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('k', set('from a'), 100)], b, [b.write('k', set('from b'), 200)]);
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'from b' });
  });

  it('the losing write is reported to onConflict and counted in conflictCounts: overwrite where the winner arrives, discarded where the loser arrives', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('k', set('from a'), 100)], b, [b.write('k', set('from b'), 200)]);
    const winner = { hlc: 200, origin: 'b', seq: 1 };
    const loser = { hlc: 100, origin: 'a', seq: 1 };
    expect(a.conflicts).toEqual([{ collection: 'docs', key: 'k', kind: 'overwrite', winner, loser }]);
    expect(b.conflicts).toEqual([{ collection: 'docs', key: 'k', kind: 'discarded', winner, loser }]);
    expect(a.state.conflictCounts().get('docs')).toEqual({
      overwrite: 1,
      discarded: 0,
      siblings: 0,
      type: 0,
    });
    expect(b.state.conflictCounts().get('docs')).toEqual({
      overwrite: 0,
      discarded: 1,
      siblings: 0,
      type: 0,
    });
  });

  it('equal clocks are broken by origin: the write from the greater origin wins', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('k', set('from a'), 100)], b, [b.write('k', set('from b'), 100)]);
    for (const r of [a, b]) expect(r.read('k')?.value).toBe('from b');
  });

  it('a write that saw the value it replaces is not a conflict', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v1'), 100));
    a.receive(b.write('k', set('v2'), 200));
    expect(a.read('k')?.value).toBe('v2');
    expect(a.conflicts).toEqual([]);
    expect(b.conflicts).toEqual([]);
  });

  it('a delete beats an older concurrent set', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v0'), 100));
    exchange(a, [a.write('k', set('v1'), 200)], b, [b.write('k', DEL, 300)]);
    for (const r of [a, b]) expect(r.read('k')).toBeUndefined();
  });

  it('a newer concurrent set beats the delete', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v0'), 100));
    exchange(a, [a.write('k', set('v1'), 300)], b, [b.write('k', DEL, 200)]);
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'v1' });
  });
});

describe('multi-value register (a collection in mode mv)', () => {
  it('concurrent writes are kept side by side as siblings, each with its origin', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('k', set('A'), 100, 'votes')], b, [b.write('k', set('B'), 200, 'votes')]);
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')).toEqual({
        type: 'mv',
        value: undefined,
        siblings: [
          { value: 'A', origin: 'a', hlc: 100 },
          { value: 'B', origin: 'b', hlc: 200 },
        ],
      });
      expect(r.state.conflictCounts().get('votes')?.siblings).toBe(1);
    }
  });

  it('a write that saw the siblings replaces them all', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('k', set('A'), 100, 'votes')], b, [b.write('k', set('B'), 200, 'votes')]);
    // Written with the oldest clock of the three, it still replaces both: it saw them.
    b.receive(a.write('k', set('C'), 50, 'votes'));
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')).toEqual({
        type: 'mv',
        value: 'C',
        siblings: [{ value: 'C', origin: 'a', hlc: 50 }],
      });
    }
  });
});

describe('document', () => {
  it('concurrent edits of different fields both survive', () => {
    const [a, b] = replicas();
    b.receive(a.write('d', patch({ title: 'Draft' }), 100));
    exchange(a, [a.write('d', patch({ title: 'Final' }), 200)], b, [
      b.write('d', patch({ body: 'Text' }), 300),
    ]);
    for (const r of [a, b])
      expect(r.read('d')).toEqual({ type: 'document', value: { title: 'Final', body: 'Text' } });
  });

  it('removing a field and a concurrent edit of it resolve by the later stamp', () => {
    for (const [removedAt, editedAt, expected] of [
      [300, 200, { body: 'x' }],
      [200, 300, { title: 'Edited', body: 'x' }],
    ] as const) {
      const [a, b] = replicas();
      b.receive(a.write('d', patch({ title: 'Draft', body: 'x' }), 100));
      exchange(a, [a.write('d', patch({ title: null }), removedAt)], b, [
        b.write('d', patch({ title: 'Edited' }), editedAt),
      ]);
      for (const r of [a, b]) expect(r.read('d')?.value).toEqual(expected);
    }
  });

  it('a patch is a JSON merge patch: null removes a field, objects merge field by field, arrays and scalars replace', () => {
    const [a, b] = replicas();
    const ops = [
      a.write('d', patch({ meta: { author: 'ann', draft: true }, tags: ['x', 'y'], old: 1 }), 100),
      a.write('d', patch({ meta: { draft: null, year: 2026 }, tags: ['z'], old: null }), 200),
    ];
    expect(a.read('d')?.value).toEqual({ meta: { author: 'ann', year: 2026 }, tags: ['z'] });
    // A scalar replaces an object (and all beneath it); an object then replaces the scalar.
    ops.push(a.write('d', patch({ meta: 5 }), 300), a.write('d', patch({ meta: { fresh: true } }), 400));
    b.receive(...ops);
    for (const r of [a, b]) expect(r.read('d')?.value).toEqual({ meta: { fresh: true }, tags: ['z'] });
  });

  it('concurrent patches of one nested object merge field by field; concurrent array writes go to the later stamp', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('d', patch({ meta: { a: 1 }, tags: ['from a'] }), 100)], b, [
      b.write('d', patch({ meta: { b: 2 }, tags: ['from b'] }), 200),
    ]);
    for (const r of [a, b]) expect(r.read('d')?.value).toEqual({ meta: { a: 1, b: 2 }, tags: ['from b'] });
  });
});

describe('counter', () => {
  it('concurrent increments and decrements sum', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('c', incr(5), 100), a.write('c', incr(-2), 110)], b, [b.write('c', incr(10), 105)]);
    for (const r of [a, b]) expect(r.read('c')).toEqual({ type: 'counter', value: 13 });
  });

  it('a delete removes only the increments its writer saw', () => {
    const [a, b] = replicas();
    b.receive(a.write('c', incr(5), 100));
    // The increment is older than the delete, yet survives it: the delete did not see it.
    exchange(a, [a.write('c', incr(3), 150)], b, [b.write('c', DEL, 200)]);
    for (const r of [a, b]) expect(r.read('c')).toEqual({ type: 'counter', value: 3 });
  });

  it('values stay exact integers beyond 2^52', () => {
    const [a, b] = replicas();
    exchange(a, [a.write('c', incr(2 ** 52 + 1), 100)], b, [
      b.write('c', incr(2), 100),
      b.write('c', incr(-1), 101),
      b.write('c', incr(2 ** 52 - 3), 102),
    ]);
    for (const r of [a, b]) {
      expect(r.read('c')?.value).toBe(Number.MAX_SAFE_INTEGER);
      expect(Number.isSafeInteger(r.read('c')?.value)).toBe(true);
    }
  });
});

describe('add-wins set', () => {
  it('an add wins over a concurrent remove of the same element', () => {
    const [a, b] = replicas();
    b.receive(a.write('s', { kind: 'add', element: 'x' }, 100));
    exchange(a, [a.write('s', { kind: 'remove', element: 'x' }, 200)], b, [
      b.write('s', { kind: 'add', element: 'x' }, 150),
    ]);
    for (const r of [a, b]) expect(r.read('s')).toEqual({ type: 'set', value: ['x'] });
  });

  it('a remove removes exactly the adds its writer saw', () => {
    const [a, b] = replicas();
    b.receive(a.write('s', { kind: 'add', element: 'x' }, 100));
    exchange(
      a,
      [a.write('s', { kind: 'add', element: 'y' }, 150)],
      b,
      // b saw x added, so its remove takes x out; it never saw y, so its remove of y does nothing.
      [
        b.write('s', { kind: 'remove', element: 'x' }, 200),
        b.write('s', { kind: 'remove', element: 'y' }, 210),
      ],
    );
    for (const r of [a, b]) expect(r.read('s')).toEqual({ type: 'set', value: ['y'] });
  });
});

describe('type conflicts', () => {
  it('prepare refuses a write of another type at the origin with TYPE_CONFLICT; a delete clears the way', () => {
    const [a] = replicas();
    a.write('k', incr(1), 100);
    for (const intent of [set('text'), patch({ f: 1 }), { kind: 'add', element: 1 } as const]) {
      expect(thrown(() => a.state.prepare('docs', 'k', intent))).toMatchObject({ code: 'TYPE_CONFLICT' });
    }
    a.write('k', DEL, 200);
    a.write('k', set('text'), 300);
    expect(a.read('k')).toEqual({ type: 'register', value: 'text' });
  });

  it.each([
    { counterAt: 100, registerAt: 200, expected: { type: 'register', value: 'text' } },
    { counterAt: 200, registerAt: 100, expected: { type: 'counter', value: 5 } },
  ] as const)(
    'a counter op (hlc $counterAt) and a register op (hlc $registerAt) received in opposite orders converge to the later stamp’s type, with a type conflict counted',
    ({ counterAt, registerAt, expected }) => {
      const [a, b] = replicas();
      exchange(a, [a.write('k', incr(5), counterAt)], b, [b.write('k', set('text'), registerAt)]);
      for (const r of [a, b]) {
        expect(r.read('k')).toEqual(expected);
        expect(r.state.conflictCounts().get('docs')?.type).toBe(1);
      }
    },
  );
});

describe('list()', () => {
  it('lists keys in UTF-8 byte order, not UTF-16 code-unit order', () => {
    const [a] = replicas();
    const keys = ['b', 'a', '😀', 'B', '\uFFFF', 'ab', 'é'];
    for (const [i, key] of keys.entries()) a.write(key, set(i), 100 + i);
    // '😀' is a surrogate pair: first in UTF-16 order below U+FFFF, but last in UTF-8 (F0 …).
    expect(a.state.list('docs').items.map((item) => item.key)).toEqual([
      'B',
      'a',
      'ab',
      'b',
      'é',
      '\uFFFF',
      '😀',
    ]);
    expect(a.state.list('docs', { prefix: 'a' }).items).toEqual([
      { key: 'a', type: 'register', value: 1 },
      { key: 'ab', type: 'register', value: 5 },
    ]);
  });

  it('prefix, limit and cursor page through every present key once, skipping deleted keys', () => {
    const [a] = replicas();
    const keys = Array.from({ length: 12 }, (_, i) => `item:${String(i).padStart(2, '0')}`);
    let hlc = 100;
    for (const key of ['iteл', 'item', 'ite', 'other', ...keys]) a.write(key, set(key), hlc++);
    for (const key of ['item:02', 'item:03', 'item:07', 'item:11']) a.write(key, DEL, hlc++);
    const present = keys.filter((key) => !['item:02', 'item:03', 'item:07', 'item:11'].includes(key));
    for (const limit of [1, 2, 3, 5, 100]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const result = a.state.list('docs', {
          prefix: 'item:',
          limit,
          ...(cursor === undefined ? {} : { cursor }),
        });
        expect(result.items.length).toBeLessThanOrEqual(limit);
        seen.push(...result.items.map((item) => item.key));
        cursor = result.cursor;
        if (cursor === undefined) break;
      }
      expect(cursor, `limit ${limit}: the last page has no cursor`).toBeUndefined();
      expect(seen, `limit ${limit}`).toEqual(present);
    }
    expect(a.state.get('docs', 'item:03')).toBeUndefined();
  });
});

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

describe('listing arguments', () => {
  it('refuses a limit that is not a whole number from 1 to MAX_LIST_LIMIT, and non-string cursors', () => {
    const state = new ReplicaState();
    for (const limit of [0, -1, 1.5, Number.NaN, MAX_LIST_LIMIT + 1]) {
      expect(() => state.list('docs', { limit })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    expect(() => state.list('docs', { cursor: 5 as unknown as string })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(state.list('docs', { limit: MAX_LIST_LIMIT })).toEqual({ items: [] });
  });
});
