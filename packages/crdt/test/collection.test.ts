/**
 * Tombstone collection is confluent: replicas collect at different moments (each when its own
 * causally stable vector advances), yet once every replica has collected with the same final
 * vector they hold the same state, byte for byte, and read what the ops say. Each test here is a
 * counterexample that was once found.
 */
import { MemoryStore, type Op, VersionVector } from '@driftless/core';
import { type Intent, ReplicaState, ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

/** A replica that writes ops with explicit clocks. */
class Replica {
  readonly state = new ReplicaState();
  #seq = 0;

  constructor(readonly id: string) {}

  write(key: string, intent: Intent, hlc: number): Op {
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...this.state.prepare('c', key, intent) };
    this.state.apply(op);
    return op;
  }

  receive(...ops: Op[]): void {
    for (const op of ops) this.state.apply(op);
  }

  collect(stable: Record<string, number>): string[] {
    return this.state.collectTombstones(VersionVector.from(stable)).map(({ key }) => key);
  }

  encoded(key: string): string | undefined {
    const bytes = this.state.encodedEntry('c', key);
    return bytes && Buffer.from(bytes).toString('hex');
  }
}

const DEL: Intent = { kind: 'del' };

describe('collection at different moments converges', () => {
  /**
   * w:1 writes k, w:2 deletes it, w:3 writes the same again. A collects below {w:2} before w:3
   * arrives (k is absent then) and rebuilds k from w:3 alone; B gets w:3 first and keeps k live.
   * Once both collect below {w:3}, they must hold the same k.
   */
  function writeDeleteWrite(write: Intent) {
    const w = new Replica('w');
    const ops = [w.write('k', write, 100), w.write('k', DEL, 200), w.write('k', write, 300)];
    const [a, b] = [new Replica('a'), new Replica('b')];
    a.receive(ops[0] as Op, ops[1] as Op);
    expect(a.collect({ w: 2 })).toEqual(write.kind === 'incr' ? [] : ['k']);
    a.receive(ops[2] as Op);
    b.receive(...ops);
    for (const replica of [a, b, w]) replica.collect({ w: 3 });
    return { a, b, w };
  }

  for (const [name, write] of [
    ['register', { kind: 'set', value: 'v' }],
    ['set', { kind: 'add', element: 'x' }],
    ['document', { kind: 'patch', patch: { f: 1, g: { h: 2 } } }],
    ['counter', { kind: 'incr', delta: 3 }],
  ] as const) {
    it(`${name}: write, delete, write again; one replica collects between the delete and the write`, () => {
      const { a, b, w } = writeDeleteWrite(write);
      expect(a.encoded('k')).toBe(b.encoded('k'));
      expect(w.encoded('k')).toBe(b.encoded('k'));
      expect(a.state.digest()).toBe(b.state.digest());
      expect(a.state.get('c', 'k')).toEqual(b.state.get('c', 'k'));
    });
  }

  it('document: a field cleared by the delete and written again with {} keeps nothing of the delete', () => {
    const w = new Replica('w');
    const ops = [
      w.write('k', { kind: 'patch', patch: { f: { x: 1 } } }, 100),
      w.write('k', DEL, 200),
      w.write('k', { kind: 'patch', patch: { f: {} } }, 300),
    ];
    const [a, b] = [new Replica('a'), new Replica('b')];
    a.receive(ops[0] as Op, ops[1] as Op);
    a.collect({ w: 2 });
    a.receive(ops[2] as Op);
    b.receive(...ops);
    for (const replica of [a, b]) replica.collect({ w: 3 });
    expect(a.state.get('c', 'k')).toEqual({ type: 'document', value: { f: {} } });
    expect(a.encoded('k')).toBe(b.encoded('k'));
  });

  it('register: a hidden register deleted below the stable vector is not kept beside a live counter', () => {
    const w = new Replica('w');
    const ops = [w.write('k', { kind: 'set', value: 'v' }, 100), w.write('k', DEL, 200)];
    const [a, b] = [new Replica('a'), new Replica('b')];
    a.receive(...ops);
    a.collect({ w: 2 });
    const incr = w.write('k', { kind: 'incr', delta: 1 }, 300);
    a.receive(incr);
    b.receive(...ops, incr);
    for (const replica of [a, b]) replica.collect({ w: 3 });
    expect(a.state.get('c', 'k')).toEqual({ type: 'counter', value: 1 });
    expect(a.encoded('k')).toBe(b.encoded('k'));
  });
});

describe('joins between a replica that collected and one that did not', () => {
  function setup() {
    const w = new Replica('w');
    const ops = [
      w.write('k', { kind: 'patch', patch: { f: 1, g: { h: 2 } } }, 100),
      w.write('k', DEL, 200),
      w.write('k', { kind: 'patch', patch: { f: 3 } }, 300),
    ];
    const [a, b] = [new Replica('a'), new Replica('b')];
    a.receive(ops[0] as Op, ops[1] as Op);
    expect(a.collect({ w: 2 })).toEqual(['k']);
    a.receive(ops[2] as Op);
    b.receive(...ops);
    expect(a.encoded('k')).not.toBe(b.encoded('k'));
    return { a, b, last: [ops[2] as Op] };
  }

  it('joining the collected state compacts the keys it joins below its collected vector', () => {
    const { a, b, last } = setup();
    expect(b.state.applyDelta(a.state.delta(last))).toEqual([{ collection: 'c', key: 'k' }]);
    expect(b.state.collectedBelow.toJSON()).toEqual({ w: 2 });
    expect(b.encoded('k')).toBe(a.encoded('k'));
  });

  it('the collected side joining the other keeps its compacted form', () => {
    const { a, b, last } = setup();
    const before = a.encoded('k');
    expect(a.state.applyDelta(b.state.delta(last))).toEqual([]);
    expect(a.encoded('k')).toBe(before);
    expect(a.state.get('c', 'k')).toEqual({ type: 'document', value: { f: 3 } });
  });
});

describe('counters keep their per-origin totals through collection', () => {
  /**
   * x adds 5 to k and w deletes it. A collects; w, which has not collected, deletes k again (its
   * delete carries the absolute totals it saw: x 5). Then x adds 1. Every replica must read 1.
   */
  it('a later delete from a replica that did not collect removes only what it saw', () => {
    const [x, w] = [new Replica('x'), new Replica('w')];
    const incr = x.write('k', { kind: 'incr', delta: 5 }, 100);
    w.receive(incr);
    const del = w.write('k', DEL, 200);
    const [a, b] = [new Replica('a'), new Replica('b')];
    for (const replica of [a, b, x]) replica.receive(incr, del);
    a.collect({ x: 1, w: 1 });
    const again = w.write('k', DEL, 300);
    x.receive(again);
    const more = x.write('k', { kind: 'incr', delta: 1 }, 400);
    for (const replica of [a, b]) replica.receive(again, more);
    w.receive(more);
    for (const replica of [a, b, w, x]) {
      expect(replica.state.get('c', 'k'), replica.id).toEqual({ type: 'counter', value: 1 });
      replica.collect({ x: 2, w: 2 });
    }
    expect(a.encoded('k')).toBe(b.encoded('k'));
    expect(a.state.digest()).toBe(b.state.digest());
  });

  it('a delete that saw increments made after another replica collected subtracts exactly them', () => {
    const x = new Replica('x');
    const [a, b] = [new Replica('a'), new Replica('b')];
    const first = [x.write('k', { kind: 'incr', delta: 5 }, 100), x.write('k', DEL, 200)];
    a.receive(...first);
    b.receive(...first);
    a.collect({ x: 2 });
    // x adds 1 (its total is 6), b deletes having seen 6, x adds 2 concurrently with that delete.
    const one = x.write('k', { kind: 'incr', delta: 1 }, 300);
    b.receive(one);
    const del = b.write('k', DEL, 400);
    const two = x.write('k', { kind: 'incr', delta: 2 }, 410);
    a.receive(one, del, two);
    b.receive(two);
    x.receive(del);
    for (const replica of [a, b, x]) {
      expect(replica.state.get('c', 'k'), replica.id).toEqual({ type: 'counter', value: 2 });
      replica.collect({ x: 4, b: 1 });
    }
    expect(a.encoded('k')).toBe(b.encoded('k'));
    expect(x.encoded('k')).toBe(b.encoded('k'));
  });
});

describe('yjs: a deleted document goes only once every delete of it is stable', () => {
  it('an edit concurrent with the covering delete still finds the document it names', () => {
    const doc = new Y.Doc();
    doc.clientID = 1;
    const updates: Uint8Array[] = [];
    doc.on('update', (update: Uint8Array) => updates.push(update));
    const [a, b, c, r] = ['a', 'b', 'c', 'r'].map((id) => new Replica(id)) as [
      Replica,
      Replica,
      Replica,
      Replica,
    ];
    doc.getText('t').insert(0, 'old');
    const first = a.write('k', { kind: 'yjs', update: updates.at(-1) as Uint8Array }, 100);
    // b saw the edit and deletes it; c deletes without having seen it, later by the clock.
    b.receive(first);
    const covering = b.write('k', DEL, 200);
    const later = c.write('k', DEL, 300);
    r.receive(first, covering, later);
    a.receive(later);
    c.receive(first);
    expect(r.state.get('c', 'k')).toBeUndefined();
    // Stable for r: the meet of what a ({a:1, c:1}), b, c and r reported, r having applied all of it.
    r.collect({ a: 1, c: 1 });
    // a has not seen b's delete: to a the document is live, and a edits it.
    doc.getText('t').insert(3, '!');
    const edit = a.write('k', { kind: 'yjs', update: updates.at(-1) as Uint8Array }, 400);
    for (const replica of [r, b, c]) replica.receive(edit);
    a.receive(covering);
    for (const replica of [a, b, c, r]) {
      const read = replica.state.get('c', 'k');
      const copy = new Y.Doc();
      Y.applyUpdate(copy, read?.value as Uint8Array);
      expect(copy.getText('t').toString(), replica.id).toBe('old!');
    }
    const everything = r.state.versionVector.toJSON();
    for (const replica of [a, b, c, r]) replica.collect(everything);
    expect(new Set([a, b, c, r].map((replica) => replica.state.digest())).size).toBe(1);
  });
});

describe('a persistent replica', () => {
  it('stores a key that collection compacted but kept, so a reopen holds the same state', async () => {
    const store = await MemoryStore.open();
    const replica = await ReplicaStore.open({ store, nodeId: 'a' });
    await replica.write('c', 'k', { kind: 'set', value: 'v' });
    await replica.write('c', 'k', DEL);
    await replica.write('c', 'k', { kind: 'set', value: 'w' });
    // Stored with the delete's tombstone beside the new value.
    await replica.checkpoint();
    expect(await replica.collectTombstones(VersionVector.from({ a: 3 }))).toBe(0);
    const digest = replica.state.digest();
    await replica.close();
    await store.close();
    const reopened = await ReplicaStore.open({ store: await MemoryStore.open(store.volume), nodeId: 'a' });
    expect(reopened.state.digest()).toBe(digest);
    expect(reopened.state.get('c', 'k')).toEqual({ type: 'register', value: 'w' });
    await reopened.close();
  });
});
