/**
 * The examples of docs/CONFLICTS.md for each type of value, and for observing conflicts: one test
 * each, named `<section> › <example>` after the page. How the examples are written (two replicas,
 * both orders of arrival, `a2@200` stamps): conflicts-doc-fixtures.ts.
 */
import type { Op } from '@driftless/core';
import { ReplicaState } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import {
  add,
  DEL,
  event,
  incr,
  NO_CONFLICTS,
  patch,
  remove,
  replicas,
  set,
  sync,
} from './conflicts-doc-fixtures.js';

describe('The order of writes', () => {
  it('equal clocks: the greater origin wins', () => {
    const [a, b] = replicas();
    sync(a, [a.write('k', set('from a'), 100)], b, [b.write('k', set('from b'), 100)]);
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'from b' });
    expect(a.events).toEqual([event('overwrite', 'b1@100', 'a1@100')]);
    expect(b.events).toEqual([event('discarded', 'b1@100', 'a1@100')]);
  });
});

describe('Registers', () => {
  it('concurrent sets: the later stamp wins', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('draft'), 100));
    sync(a, [a.write('k', set('from a'), 200)], b, [b.write('k', set('from b'), 300)]);
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'from b' });
    expect(a.events).toEqual([event('overwrite', 'b1@300', 'a2@200')]);
    expect(b.events).toEqual([event('discarded', 'b1@300', 'a2@200')]);
    expect(a.state.conflictCounts().get('docs')).toEqual({ ...NO_CONFLICTS, overwrite: 1 });
    expect(b.state.conflictCounts().get('docs')).toEqual({ ...NO_CONFLICTS, discarded: 1 });
  });

  it('a set that saw the value is no conflict', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('draft'), 100));
    a.receive(b.write('k', set('final'), 200));
    for (const r of [a, b]) {
      expect(r.read('k')).toEqual({ type: 'register', value: 'final' });
      expect(r.events).toEqual([]);
    }
  });
});

describe('Multi-value registers', () => {
  it('concurrent writes become siblings', () => {
    const [a, b] = replicas();
    sync(a, [a.write('k', set('red'), 100, 'votes')], b, [b.write('k', set('blue'), 200, 'votes')]);
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')).toEqual({
        type: 'mv',
        value: undefined,
        siblings: [
          { value: 'red', origin: 'a', hlc: 100 },
          { value: 'blue', origin: 'b', hlc: 200 },
        ],
      });
    }
    expect(a.events).toEqual([event('siblings', 'b1@200', 'a1@100', 'k', 'votes')]);
    expect(b.events).toEqual([event('siblings', 'a1@100', 'b1@200', 'k', 'votes')]);
  });

  it('a write that saw the siblings replaces them all', () => {
    const [a, b] = replicas();
    sync(a, [a.write('k', set('red'), 100, 'votes')], b, [b.write('k', set('blue'), 200, 'votes')]);
    b.receive(a.write('k', set('purple'), 300, 'votes'));
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')).toEqual({
        type: 'mv',
        value: 'purple',
        siblings: [{ value: 'purple', origin: 'a', hlc: 300 }],
      });
      // Only the siblings event of the first round: replacing what it saw is no conflict.
      expect(r.events).toHaveLength(1);
    }
  });

  it('siblings stay bounded', () => {
    const [a, b] = replicas();
    sync(a, [a.write('k', set('red'), 100, 'votes')], b, [b.write('k', set('blue'), 110, 'votes')]);
    // Round two: each writer saw both siblings of round one, and not the other's new write.
    sync(a, [a.write('k', set('green'), 200, 'votes')], b, [b.write('k', set('gold'), 210, 'votes')]);
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')?.siblings).toEqual([
        { value: 'green', origin: 'a', hlc: 200 },
        { value: 'gold', origin: 'b', hlc: 210 },
      ]);
      expect(r.state.conflictCounts().get('votes')?.siblings).toBe(2);
    }
  });
});

describe('Documents', () => {
  it('different fields both survive', () => {
    const [a, b] = replicas();
    b.receive(a.write('d', patch({ title: 'Draft' }), 100));
    sync(a, [a.write('d', patch({ title: 'Final' }), 200)], b, [b.write('d', patch({ body: 'Text' }), 300)]);
    for (const r of [a, b]) {
      expect(r.read('d')).toEqual({ type: 'document', value: { title: 'Final', body: 'Text' } });
      expect(r.events).toEqual([]);
    }
  });

  it('the same field: the later stamp wins', () => {
    const [a, b] = replicas();
    b.receive(a.write('d', patch({ title: 'Draft' }), 100));
    sync(a, [a.write('d', patch({ title: 'From A' }), 200)], b, [
      b.write('d', patch({ title: 'From B' }), 300),
    ]);
    for (const r of [a, b]) expect(r.read('d')?.value).toEqual({ title: 'From B' });
    expect(a.events).toEqual([event('overwrite', 'b1@300', 'a2@200', 'd')]);
    expect(b.events).toEqual([event('discarded', 'b1@300', 'a2@200', 'd')]);
  });

  it('removing a field against a concurrent edit of it', () => {
    // The removal is newer: the field is gone.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch({ title: 'Draft', body: 'x' }), 100));
      sync(a, [a.write('d', patch({ title: null }), 300)], b, [
        b.write('d', patch({ title: 'Edited' }), 200),
      ]);
      for (const r of [a, b]) expect(r.read('d')?.value).toEqual({ body: 'x' });
      expect(a.events).toEqual([event('discarded', 'a2@300', 'b1@200', 'd')]);
      expect(b.events).toEqual([event('overwrite', 'a2@300', 'b1@200', 'd')]);
    }
    // The edit is newer: the field stays, with the edit. Only B, where the removal arrives second, reports it.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch({ title: 'Draft', body: 'x' }), 100));
      sync(a, [a.write('d', patch({ title: null }), 200)], b, [
        b.write('d', patch({ title: 'Edited' }), 300),
      ]);
      for (const r of [a, b]) expect(r.read('d')?.value).toEqual({ title: 'Edited', body: 'x' });
      expect(a.events).toEqual([]);
      expect(b.events).toEqual([event('discarded', 'b1@300', 'a2@200', 'd')]);
    }
  });

  it('removing an object against a concurrent edit inside it', () => {
    const base = { title: 'T', meta: { author: 'ann', year: 2025 } };
    // The nested edit is newer: it survives, and brings back only itself.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch(base), 100));
      sync(a, [a.write('d', patch({ meta: null }), 200)], b, [
        b.write('d', patch({ meta: { year: 2026 } }), 300),
      ]);
      for (const r of [a, b]) {
        expect(r.read('d')?.value).toEqual({ title: 'T', meta: { year: 2026 } });
        expect(r.events).toEqual([]);
      }
    }
    // The removal is newer: the nested edit is hidden with the rest of the object.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch(base), 100));
      sync(a, [a.write('d', patch({ meta: null }), 300)], b, [
        b.write('d', patch({ meta: { year: 2026 } }), 200),
      ]);
      for (const r of [a, b]) {
        expect(r.read('d')?.value).toEqual({ title: 'T' });
        expect(r.events).toEqual([]);
      }
    }
  });

  it('replacing an object by a scalar against a concurrent edit inside it', () => {
    const base = { meta: { author: 'ann', year: 2025 } };
    // The scalar is newer: it stays.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch(base), 100));
      sync(a, [a.write('d', patch({ meta: 'none' }), 300)], b, [
        b.write('d', patch({ meta: { year: 2026 } }), 200),
      ]);
      for (const r of [a, b]) {
        expect(r.read('d')?.value).toEqual({ meta: 'none' });
        expect(r.events).toEqual([]);
      }
    }
    // The nested edit is newer: meta is an object again, holding only what is newer than the scalar.
    {
      const [a, b] = replicas();
      b.receive(a.write('d', patch(base), 100));
      sync(a, [a.write('d', patch({ meta: 'none' }), 200)], b, [
        b.write('d', patch({ meta: { year: 2026 } }), 300),
      ]);
      for (const r of [a, b]) {
        expect(r.read('d')?.value).toEqual({ meta: { year: 2026 } });
        expect(r.events).toEqual([]);
      }
    }
  });
});

describe('Counters', () => {
  it('concurrent increments add up', () => {
    const [a, b] = replicas();
    b.receive(a.write('c', incr(10), 100));
    sync(a, [a.write('c', incr(5), 200), a.write('c', incr(-2), 210)], b, [b.write('c', incr(7), 205)]);
    for (const r of [a, b]) {
      expect(r.read('c')).toEqual({ type: 'counter', value: 20 });
      expect(r.events).toEqual([]);
    }
  });

  it('a delete keeps the increments it had not seen', () => {
    const [a, b] = replicas();
    b.receive(a.write('c', incr(5), 100));
    sync(a, [a.write('c', incr(3), 250)], b, [b.write('c', DEL, 200), b.write('c', incr(1), 210)]);
    // 5 was seen by the delete and is gone; 3 (newer than the delete, but unseen) and 1 remain.
    for (const r of [a, b]) {
      expect(r.read('c')).toEqual({ type: 'counter', value: 4 });
      expect(r.events).toEqual([]);
    }
  });

  it('an increment past an origin’s safe-integer total is ignored everywhere', () => {
    const [a, b] = replicas();
    const max = a.write('c', incr(Number.MAX_SAFE_INTEGER), 100);
    const write = a.state.prepare('docs', 'c', incr(1));
    const over: Op = { origin: 'a', seq: 2, hlc: 110, ...write };
    expect(a.state.apply(over)).toMatchObject({ kind: 'incr', changed: false });
    b.receive(max, over);
    for (const r of [a, b]) {
      expect(r.read('c')?.value).toBe(Number.MAX_SAFE_INTEGER);
      expect(r.state.rejectedOps).toBe(0);
      expect(r.events).toEqual([]);
    }
    expect(a.state.digest()).toBe(b.state.digest());
  });
});

describe('Sets', () => {
  it('a concurrent add beats a remove', () => {
    const [a, b] = replicas();
    b.receive(a.write('s', add('x'), 100));
    sync(a, [a.write('s', remove('x'), 300)], b, [b.write('s', add('x'), 200)]);
    for (const r of [a, b]) {
      expect(r.read('s')).toEqual({ type: 'set', value: ['x'] });
      expect(r.events).toEqual([]);
    }
  });
});

describe('Observing conflicts', () => {
  it('events per replica, counts per collection', () => {
    const [a, b] = replicas();
    const seen: string[] = [];
    const stop = a.state.onConflict((e) => seen.push(`${e.collection}/${e.key} ${e.kind}`));
    sync(a, [a.write('k', set('A'), 100), a.write('k', set('red'), 110, 'votes')], b, [
      b.write('k', set('B'), 200),
      b.write('k', set('blue'), 210, 'votes'),
    ]);
    expect(seen).toEqual(['docs/k overwrite', 'votes/k siblings']);
    expect(Object.fromEntries(a.state.conflictCounts())).toEqual({
      docs: { ...NO_CONFLICTS, overwrite: 1 },
      votes: { ...NO_CONFLICTS, siblings: 1 },
    });
    expect(Object.fromEntries(b.state.conflictCounts())).toEqual({
      docs: { ...NO_CONFLICTS, discarded: 1 },
      votes: { ...NO_CONFLICTS, siblings: 1 },
    });
    stop();
    b.receive(a.write('k', set('C'), 300));
    expect(seen).toHaveLength(2);
    // Counts are this replica's, in memory: a restored state starts from zero.
    expect(ReplicaState.restore(a.state.snapshot()).conflictCounts().size).toBe(0);
  });
});
