/**
 * The examples of docs/CONFLICTS.md for deletes, type conflicts, tombstone collection and its known
 * limitations: one test each, named `<section> › <example>` after the page. How the examples are
 * written (two replicas, both orders of arrival, `a2@200` stamps): conflicts-doc-fixtures.ts.
 */
import { VersionVector } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { add, DEL, event, incr, patch, replicas, set, sync } from './conflicts-doc-fixtures.js';
import { thrown } from './thrown.js';

describe('Deletes', () => {
  it('register: an older concurrent set does not resurrect the key', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v0'), 100));
    sync(a, [a.write('k', DEL, 300)], b, [b.write('k', set('v1'), 200)]);
    for (const r of [a, b]) expect(r.read('k')).toBeUndefined();
    expect(a.events).toEqual([event('discarded', 'a2@300', 'b1@200')]);
    expect(b.events).toEqual([]);
  });

  it('register: a newer concurrent set beats the delete', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v0'), 100));
    sync(a, [a.write('k', DEL, 200)], b, [b.write('k', set('v1'), 300)]);
    for (const r of [a, b]) {
      expect(r.read('k')).toEqual({ type: 'register', value: 'v1' });
      expect(r.events).toEqual([]);
    }
  });

  it('document: a newer concurrent patch keeps only its own fields', () => {
    const [a, b] = replicas();
    b.receive(a.write('d', patch({ title: 'T', body: 'x' }), 100));
    sync(a, [a.write('d', DEL, 200)], b, [b.write('d', patch({ body: 'y' }), 300)]);
    for (const r of [a, b]) {
      expect(r.read('d')).toEqual({ type: 'document', value: { body: 'y' } });
      expect(r.events).toEqual([]);
    }
  });

  it('multi-value register and set: a write the delete had not seen survives, whatever its stamp', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('red'), 100, 'votes'), a.write('s', add('x'), 110));
    sync(a, [a.write('k', DEL, 300, 'votes'), a.write('s', DEL, 310)], b, [
      b.write('k', set('blue'), 200, 'votes'),
      b.write('s', add('y'), 210),
    ]);
    for (const r of [a, b]) {
      expect(r.read('k', 'votes')?.siblings).toEqual([{ value: 'blue', origin: 'b', hlc: 200 }]);
      expect(r.read('s')).toEqual({ type: 'set', value: ['y'] });
      expect(r.events).toEqual([]);
    }
  });

  it('a stale copy of the state does not resurrect the key', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('red'), 100, 'votes'), a.write('r', set('v'), 110));
    const stale = b.state.snapshot();
    a.write('k', DEL, 200, 'votes');
    a.write('r', DEL, 210);
    const changed = a.state.applyDelta(stale);
    expect(changed).toEqual([]);
    expect(a.read('k', 'votes')).toBeUndefined();
    expect(a.read('r')).toBeUndefined();
  });
});

describe('Type conflicts', () => {
  it('at the origin: TYPE_CONFLICT', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', incr(5), 100));
    expect(thrown(() => b.state.prepare('docs', 'k', set('text')))).toMatchObject({ code: 'TYPE_CONFLICT' });
    a.receive(b.write('k', DEL, 200), b.write('k', set('text'), 300));
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'text' });
  });

  it('on receipt: the latest value-carrying op decides the visible type; the other stays hidden', () => {
    const [a, b] = replicas();
    const first = a.write('k', incr(5), 100);
    const second = a.write('k', incr(1), 300);
    const text = b.write('k', set('text'), 200);
    a.receive(text);
    expect(a.read('k')).toEqual({ type: 'counter', value: 6 });
    b.receive(first);
    expect(b.read('k')).toEqual({ type: 'register', value: 'text' });
    b.receive(second);
    // The counter is visible again, with the increment it held while hidden.
    expect(b.read('k')).toEqual({ type: 'counter', value: 6 });
    expect(a.state.digest()).toBe(b.state.digest());
    expect(a.events).toEqual([event('type', 'a2@300', 'b1@200')]);
    expect(b.events).toEqual([event('type', 'b1@200', 'a1@100'), event('type', 'a2@300', 'b1@200')]);
  });

  it('a deleted visible type hides a live hidden one', () => {
    const [a, b] = replicas();
    sync(a, [a.write('k', incr(5), 100)], b, [b.write('k', set('text'), 200), b.write('k', DEL, 300)]);
    for (const r of [a, b]) expect(r.read('k')).toBeUndefined();
    // The key reads absent, so A may increment; the counter's 5, never deleted, comes back with it.
    b.receive(a.write('k', incr(1), 400));
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'counter', value: 6 });
  });
});

describe('Tombstone collection and re-bootstrap', () => {
  it('collecting a tombstone every replica has seen', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v'), 100), a.write('k', DEL, 200));
    const stable = a.state.versionVector.meet(b.state.versionVector);
    for (const r of [a, b]) {
      expect(r.state.collectTombstones(stable)).toEqual([{ collection: 'docs', key: 'k' }]);
      expect(r.state.encodedEntry('docs', 'k')).toBeUndefined();
    }
    expect(a.state.digest()).toBe(b.state.digest());
    a.receive(b.write('k', set('new'), 300));
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'new' });
  });

  it('a replica away longer must re-bootstrap', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v'), 100));
    a.write('k', DEL, 200);
    // B is out of the membership, so the stable vector the sync layer gives A covers a2 without B.
    a.state.collectTombstones(VersionVector.from([['a', 2]]));
    expect(thrown(() => a.state.applyDelta(b.state.snapshot()))).toMatchObject({
      code: 'REBOOTSTRAP_REQUIRED',
    });
    expect(a.read('k')).toBeUndefined();
    b.restoreFrom(a.state.snapshot());
    expect(b.read('k')).toBeUndefined();
    expect(b.state.digest()).toBe(a.state.digest());
  });

  it('a stale replica that holds keys cannot join a collected state either', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v'), 100));
    a.write('k', DEL, 200);
    a.state.collectTombstones(VersionVector.from([['a', 2]]));
    const before = b.state.digest();
    // Joining would keep k on B: A's snapshot no longer says anything of it.
    expect(thrown(() => b.state.merge(a.state.snapshot()))).toMatchObject({ code: 'REBOOTSTRAP_REQUIRED' });
    expect(b.state.digest()).toBe(before);
  });

  it('replicas that collect at different moments agree', () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v'), 100), a.write('k', DEL, 200));
    expect(a.state.collectTombstones(VersionVector.from([['a', 2]]))).toEqual([
      { collection: 'docs', key: 'k' },
    ]);
    b.receive(a.write('k', set('v'), 300));
    // B still holds the delete's tombstone beside the new value: its digest differs, for now.
    expect(b.state.digest()).not.toBe(a.state.digest());
    for (const r of [a, b]) r.state.collectTombstones(VersionVector.from([['a', 3]]));
    for (const r of [a, b]) expect(r.read('k')).toEqual({ type: 'register', value: 'v' });
    expect(a.state.digest()).toBe(b.state.digest());
  });
});

/**
 * What the code does today where this page calls it a limitation. Each test asserts today's
 * behaviour, so fixing one fails its test: then update the page and the test together.
 */
describe('Known limitations', () => {
  it('a change of type after a delete is reported as a type conflict', () => {
    const [a] = replicas();
    a.write('k', set('text'), 100);
    a.write('k', DEL, 200);
    a.write('k', incr(5), 300);
    expect(a.read('k')).toEqual({ type: 'counter', value: 5 });
    expect(a.events).toEqual([event('type', 'a3@300', 'a1@100')]);
  });

  it('a counter beyond ±(2^53 − 1) reads inexactly', () => {
    const [a, b] = replicas();
    sync(a, [a.write('c', incr(Number.MAX_SAFE_INTEGER), 100)], b, [b.write('c', incr(2), 100)]);
    for (const r of [a, b]) {
      // The true total is 2^53 + 1, which a JavaScript number cannot hold.
      expect(r.read('c')?.value).toBe(2 ** 53);
      expect(Number.isSafeInteger(r.read('c')?.value)).toBe(false);
    }
  });

  it('a key that ever held a counter is never dropped', () => {
    const [a, b] = replicas();
    b.receive(a.write('n', incr(4), 100), a.write('n', DEL, 200));
    for (const r of [a, b]) {
      expect(r.state.collectTombstones(VersionVector.from([['a', 2]]))).toEqual([]);
      expect(r.read('n')).toBeUndefined();
      expect(r.state.encodedEntry('docs', 'n')).toBeDefined();
    }
    // B had not seen a3 when it deleted: its delete carries a's total of 4, and a3's 1 survives.
    const more = a.write('n', incr(1), 300);
    const del = b.write('n', DEL, 310);
    sync(a, [more], b, [del]);
    for (const r of [a, b]) expect(r.read('n')).toEqual({ type: 'counter', value: 1 });
  });

  it("collecting with the meet of the replicas' vectors can diverge", () => {
    const [a, b] = replicas();
    b.receive(a.write('k', set('v'), 100));
    const concurrent = b.write('k', set('from b'), 150);
    b.receive(a.write('k', DEL, 200));
    expect(b.read('k')).toBeUndefined();
    // A has not received b1 yet; both replicas have seen a2.
    a.state.collectTombstones(a.state.versionVector.meet(b.state.versionVector));
    a.receive(concurrent);
    expect(a.read('k')).toEqual({ type: 'register', value: 'from b' });
    expect(b.read('k')).toBeUndefined();
    expect(a.state.versionVector.equals(b.state.versionVector)).toBe(true);
    expect(a.state.digest()).not.toBe(b.state.digest());
  });
});
