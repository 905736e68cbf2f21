/**
 * The yjs type: keys holding Yjs documents, changed by ops that carry Yjs updates (v1 encoding).
 * Documents written at one replica read the same at another, and deletes of them (add-wins).
 * Replicas 'a', 'b', 'c' exchange ops; Yjs clients are Y.Docs with fixed client ids.
 */
import { type Value, VersionVector } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { thrown } from './thrown.js';
import { Replica } from './yjs-fixtures.js';
import { insert, sameBytes, YjsClient } from './yjs-histories.js';

describe('yjs: documents through prepare and apply', () => {
  it('a key holds a Yjs document: text, arrays and nested maps written at one replica read the same at another', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const client = new YjsClient(1);
    const ops = [
      a.edit('k', client, insert('hello'), 100),
      a.edit('k', client, (doc) => doc.getArray('a').push([1, 'two', { three: 3 }]), 110),
      a.edit(
        'k',
        client,
        (doc) => {
          const nested = new Y.Map<unknown>();
          nested.set('title', 'Draft');
          nested.set('tags', Y.Array.from(['x', 'y']));
          doc.getMap('m').set('meta', nested);
        },
        120,
      ),
      a.edit(
        'k',
        client,
        (doc) => (doc.getMap('m').get('meta') as Y.Map<unknown>).set('title', 'Final'),
        130,
      ),
      a.edit('k', client, (doc) => doc.getText('t').delete(0, 1), 140),
    ];
    b.receive(...ops);
    expect(b.state.digest()).toBe(a.state.digest());
    for (const replica of [a, b]) {
      expect(replica.state.get('docs', 'k')?.type).toBe('yjs');
      const doc = new YjsClient(2).load(replica.value('k')).doc;
      expect(doc.getText('t').toString()).toBe('ello');
      expect(doc.getArray('a').toJSON()).toEqual([1, 'two', { three: 3 }]);
      expect(doc.getMap('m').toJSON()).toEqual({ meta: { title: 'Final', tags: ['x', 'y'] } });
    }
    expect(a.state.rejectedOps + b.state.rejectedOps).toBe(0);
  });

  it('concurrent edits from two Y.Doc clients through two replicas converge: one document, equal digests', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const [alice, bob] = [new YjsClient(1), new YjsClient(2)];
    const first = a.edit('k', alice, insert('hello'), 100);
    b.receive(first);
    bob.load(b.value('k'));
    const fromA = [
      a.edit('k', alice, insert('>> ', 0), 200),
      a.edit('k', alice, (doc) => doc.getMap('m').set('by', 'alice'), 210),
    ];
    const fromB = [
      b.edit('k', bob, insert(' world', 5), 205),
      b.edit('k', bob, (doc) => doc.getMap('m').set('by', 'bob'), 215),
    ];
    a.receive(...fromB);
    b.receive(...fromA);
    expect(a.state.digest()).toBe(b.state.digest());
    expect(sameBytes(a.value('k'), b.value('k'))).toBe(true);
    const doc = new YjsClient(3).load(a.value('k')).doc;
    expect(doc.getText('t').toString()).toBe('>> hello world');
    // Yjs resolves the concurrent map writes by client id: the same value on both replicas.
    expect(doc.getMap('m').get('by')).toBe('bob');
    // Each client catches up from its replica's read and keeps writing.
    alice.load(a.value('k'));
    b.receive(a.edit('k', alice, insert('!', alice.doc.getText('t').length), 300));
    expect(b.text('k')).toBe('>> hello world!');
  });
});

describe('yjs: deletes', () => {
  it("a delete's seen carries, per origin, the latest yjs update its writer held; the key then reads as absent", () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const client = new YjsClient(1);
    b.receive(a.edit('k', client, insert('one'), 100), a.edit('k', client, insert('two'), 110));
    a.receive(b.edit('k', new YjsClient(2).load(b.value('k')), insert('three'), 120));
    const del = a.write('k', { kind: 'del' }, 130);
    const mutation = del.mutation as Value[];
    expect(mutation[0]).toBe(1);
    expect(mutation[1]).toEqual(['a', 2, 'b', 1]);
    b.receive(del);
    for (const replica of [a, b]) expect(replica.state.get('docs', 'k')).toBeUndefined();
    expect(a.state.digest()).toBe(b.state.digest());
  });

  it('an update concurrent with a delete brings the whole document back (add-wins: nothing written is lost)', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    const [alice, bob] = [new YjsClient(1), new YjsClient(2)];
    b.receive(a.edit('k', alice, insert('hello'), 100));
    bob.load(b.value('k'));
    const del = a.write('k', { kind: 'del' }, 300);
    const edit = b.edit('k', bob, insert(' world', 5), 200);
    a.receive(edit);
    b.receive(del);
    for (const replica of [a, b]) expect(replica.text('k')).toBe('hello world');
    expect(a.state.digest()).toBe(b.state.digest());
    // A delete that saw the edit hides it all again.
    b.receive(a.write('k', { kind: 'del' }, 400));
    for (const replica of [a, b]) expect(replica.value('k')).toBeUndefined();
  });

  it('a write after a delete starts a new document: the deleted content stays deleted', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    b.receive(a.edit('k', new YjsClient(1), insert('old'), 100), a.write('k', { kind: 'del' }, 200));
    // b's client saw the key absent: a new Y.Doc.
    const fresh = b.edit('k', new YjsClient(2), insert('new'), 300);
    expect((fresh.mutation as Value[]).length).toBe(2);
    a.receive(fresh);
    for (const replica of [a, b]) expect(replica.text('k')).toBe('new');
    expect(a.state.digest()).toBe(b.state.digest());
  });

  it('a Yjs client still holding the deleted document is refused until it starts a new Y.Doc', () => {
    const a = new Replica('a');
    const stale = new YjsClient(1);
    a.edit('k', stale, insert('old'), 100);
    a.write('k', { kind: 'del' }, 200);
    expect(thrown(() => a.edit('k', stale, insert('more', 3), 300))).toMatchObject({
      code: 'YJS_MISSING_DEPENDENCY',
    });
    a.edit('k', new YjsClient(2), insert('new'), 300);
    expect(a.text('k')).toBe('new');
  });

  it('two replicas that re-create a deleted key concurrently both keep their documents; a write joins them', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    b.receive(a.edit('k', new YjsClient(1), insert('old'), 100), a.write('k', { kind: 'del' }, 200));
    const fromA = a.edit('k', new YjsClient(2), insert('A'), 300);
    const fromB = b.edit('k', new YjsClient(3), insert('B'), 310);
    a.receive(fromB);
    b.receive(fromA);
    expect(a.state.digest()).toBe(b.state.digest());
    // Both read both documents as one update (Yjs orders the two inserts by client id).
    for (const replica of [a, b]) expect(replica.text('k')).toBe('AB');
    // A client that loaded the union writes across it: the op names both documents.
    const client = new YjsClient(4).load(a.value('k'));
    const join = a.edit('k', client, insert('+', 1), 400);
    expect((join.mutation as Value[])[2]).toEqual(['a', 3, 'b', 1]);
    b.receive(join);
    for (const replica of [a, b]) expect(replica.text('k')).toBe('A+B');
    expect(a.state.digest()).toBe(b.state.digest());
  });

  it('collectTombstones drops a deleted yjs key; replicas that collected it and one that did not read the same new document', () => {
    const [a, b, c] = [new Replica('a'), new Replica('b'), new Replica('c')];
    const ops = [a.edit('k', new YjsClient(1), insert('old'), 100), a.write('k', { kind: 'del' }, 200)];
    b.receive(...ops);
    c.receive(...ops);
    const stable = VersionVector.from({ a: 2 });
    for (const replica of [a, b])
      expect(replica.state.collectTombstones(stable)).toEqual([{ collection: 'docs', key: 'k' }]);
    // c has not collected yet when it starts a new document on the key.
    const fresh = c.edit('k', new YjsClient(2), insert('new'), 300);
    a.receive(fresh);
    b.receive(fresh);
    for (const replica of [a, b, c]) expect(replica.text('k')).toBe('new');
    expect(a.state.digest()).toBe(b.state.digest());
    // c keeps the deleted document beside the new one (no collection inside a live key yet).
    expect(c.state.collectTombstones(stable)).toEqual([]);
  });
});
