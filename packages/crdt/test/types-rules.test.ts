/**
 * Every documented conflict rule, shown with two replicas 'a' and 'b' exchanging ops. Each test's
 * name states the rule; docs/CONFLICTS.md uses these tests as its examples. Clocks are given
 * explicitly (hlc 100, 200, …) so it is plain which write is later.
 */
import type { Op } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { thrown } from './thrown.js';
import { DEL, incr, patch, type Replica, replicas, set } from './types-fixtures.js';

/** Each replica receives the other's ops; then both must be in the same state. */
function exchange(a: Replica, fromA: Op[], b: Replica, fromB: Op[]): void {
  a.receive(...fromB);
  b.receive(...fromA);
  expect(a.state.digest()).toBe(b.state.digest());
}

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
