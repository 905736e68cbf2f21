/**
 * The yjs type: keys holding Yjs documents, changed by ops that carry Yjs updates (v1 encoding).
 * Replicas 'a', 'b', 'c' exchange ops; Yjs clients are Y.Docs with fixed client ids. Randomised
 * tests print their seed; rerun one with DRIFTLESS_SEED=<seed>.
 */
import { DriftlessError, decode, encode, type Op, type Value, VersionVector } from '@driftless/core';
import { propertyParameters, seededRandom, testSeed } from '@driftless/core/testing';
import { type Intent, MAX_YJS_PENDING_BYTES, MAX_YJS_PENDING_UPDATES, ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  causalOrder,
  closure,
  documentsOf,
  fuzzHistory,
  insert,
  mutate,
  partlyApplicableUpdate,
  pendingOf,
  rawThrowsChanged,
  remoteOp,
  replay,
  richHistory,
  sameBytes,
  YjsClient,
} from './yjs-histories.js';

/** A replica that writes with explicit clocks. */
class Replica {
  readonly state = new ReplicaState();
  #seq = 0;

  constructor(readonly id: string) {}

  /** Prepares and applies a write here, and returns its op for the other replicas. */
  write(key: string, intent: Intent, hlc: number): Op {
    const write = this.state.prepare('docs', key, intent);
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...write };
    this.state.apply(op);
    return op;
  }

  /** Writes the update of `change` made by `client`. */
  edit(key: string, client: YjsClient, change: (doc: Y.Doc) => void, hlc: number): Op {
    return this.write(key, { kind: 'yjs', update: client.edit(change) }, hlc);
  }

  receive(...ops: Op[]): void {
    for (const op of ops) this.state.apply(op);
  }

  /** The key's value (a Yjs update), or undefined when it reads as absent. */
  value(key: string): Uint8Array | undefined {
    const read = this.state.get('docs', key);
    if (read === undefined) return undefined;
    expect(read.type).toBe('yjs');
    return read.value as Uint8Array;
  }

  /** The key's text 't' as a fresh Yjs client sees it. */
  text(key: string): string | undefined {
    const value = this.value(key);
    return value && new YjsClient(1).load(value).doc.getText('t').toString();
  }
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

describe('yjs: bad input', () => {
  it('prepare refuses bytes that are not a Yjs update with INVALID_ARGUMENT, changing nothing', () => {
    const a = new Replica('a');
    a.edit('k', new YjsClient(1), insert('hello'), 100);
    const snapshot = a.state.snapshot();
    const good = new YjsClient(2).edit(insert('x'));
    const cases: unknown[] = [
      undefined,
      'text',
      new Uint8Array(),
      [1, 2, 3],
      new Uint8Array([0xff, 0xff, 0xff]),
      good.subarray(0, good.length - 3),
      // A struct of length 0 (an empty string): Yjs would accept and corrupt its clock order.
      new Uint8Array([1, 1, 7, 0, 4, 1, 1, 116, 0, 0]),
      // A client whose item claims to follow a later item of its own client.
      new Uint8Array([1, 1, 7, 0, 132, 7, 5, 1, 97, 0]),
    ];
    for (const update of cases) {
      expect(
        thrown(() => a.state.prepare('docs', 'k', { kind: 'yjs', update } as Intent)),
        String(update),
      ).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(Uint8Array.from(a.state.snapshot())).toEqual(Uint8Array.from(snapshot));
  });

  it('prepare refuses an update that builds on what the key does not hold with YJS_MISSING_DEPENDENCY', () => {
    const a = new Replica('a');
    const client = new YjsClient(1);
    const lost = client.edit(insert('never sent'));
    const next = client.edit(insert('!', 10));
    expect(thrown(() => a.state.prepare('docs', 'k', { kind: 'yjs', update: next }))).toMatchObject({
      code: 'YJS_MISSING_DEPENDENCY',
      message: expect.stringContaining('sync the Yjs client with the key first'),
    });
    // Another client's edit after an item the key lacks, and a delete of a range it lacks.
    const other = new YjsClient(2).load(lost);
    for (const update of [other.edit(insert('x', 3)), other.edit((doc) => doc.getText('t').delete(0, 2))]) {
      expect(thrown(() => a.state.prepare('docs', 'k', { kind: 'yjs', update }))).toMatchObject({
        code: 'YJS_MISSING_DEPENDENCY',
      });
    }
    expect(a.state.get('docs', 'k')).toBeUndefined();
    // Once the key holds what they build on, the same updates are accepted.
    a.write('k', { kind: 'yjs', update: lost }, 100);
    a.write('k', { kind: 'yjs', update: next }, 110);
    expect(a.text('k')).toBe('never sent!');
  });

  it('prepare refuses a yjs write to a key holding another type, and another type to a yjs key: TYPE_CONFLICT', () => {
    const a = new Replica('a');
    a.write('reg', { kind: 'set', value: 'v' }, 100);
    a.edit('doc', new YjsClient(1), insert('hello'), 110);
    const update = new YjsClient(2).edit(insert('x'));
    expect(thrown(() => a.state.prepare('docs', 'reg', { kind: 'yjs', update }))).toMatchObject({
      code: 'TYPE_CONFLICT',
    });
    expect(thrown(() => a.state.prepare('docs', 'doc', { kind: 'set', value: 1 }))).toMatchObject({
      code: 'TYPE_CONFLICT',
    });
    // A delete clears the way.
    a.write('reg', { kind: 'del' }, 120);
    a.write('reg', { kind: 'yjs', update }, 130);
    expect(a.text('reg')).toBe('x');
  });

  it('a remote op whose update is malformed is a rejected no-op, the same on every replica', () => {
    const [a, b] = [new Replica('a'), new Replica('b')];
    b.receive(a.edit('k', new YjsClient(1), insert('kept'), 100));
    const good = new YjsClient(2).edit(insert('x'));
    const mutations: Value[] = [
      [6, new Uint8Array([0xff, 0xff, 0xff])],
      [6, good.subarray(0, good.length - 2), ['a', 1]],
      [6, new Uint8Array([1, 1, 7, 0, 4, 1, 1, 116, 0, 0]), ['a', 1]],
      [6, new Uint8Array([1, 1, 7, 0, 132, 7, 5, 1, 97, 0]), ['a', 1]],
      [6, 'not bytes'],
      [6, good, 'not a base'],
    ];
    for (const replica of [a, b]) {
      const digest = replica.state.digest();
      mutations.forEach((mutation, i) => {
        expect(replica.state.apply(remoteOp('z', i + 1, mutation)), JSON.stringify(mutation)).toMatchObject({
          kind: 'rejected',
          changed: false,
        });
      });
      expect(replica.state.rejectedOps).toBe(mutations.length);
      expect(replica.state.digest()).toBe(digest);
      expect(replica.text('k')).toBe('kept');
      expect(replica.state.versionVector.get('z')).toBe(mutations.length);
    }
  });

  it('an update Yjs applies only in part is rolled back: a repeated, empty client section (regression)', () => {
    const a = new Replica('a');
    const base = a.edit('k', new YjsClient(1), insert('base'), 100);
    const before = a.state.encodedEntry('docs', 'k') as Uint8Array;
    const update = partlyApplicableUpdate();
    // Raw Yjs integrates client 9's item, then parks client 3's: the document is changed.
    const raw = new YjsClient(8).load(a.value('k')).doc;
    Y.applyUpdate(raw, update);
    expect(raw.getText('t').toString()).toContain('hello');
    expect(raw.store.pendingStructs).not.toBeNull();
    // Here it passes the checks (each client once, nothing missing), fails in Yjs, and changes nothing.
    expect(a.state.apply(remoteOp('z', 1, [6, update, ['a', 1]]))).toMatchObject({ kind: 'rejected' });
    expect(sameBytes(a.state.encodedEntry('docs', 'k'), before)).toBe(true);
    // The rebuilt document takes the next update as usual.
    const client = new YjsClient(4).load(a.value('k'));
    a.edit('k', client, insert('!', 4), 200);
    expect(a.text('k')).toBe('base!');
    const b = new Replica('b');
    b.receive(base, remoteOp('z', 1, [6, update, ['a', 1]]));
    expect(b.state.rejectedOps).toBe(1);
  });

  it('fuzz: mutated updates never leave a partial change and never throw untyped errors', {
    timeout: 60_000,
  }, () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const counts = { cases: 0, refusedAtOrigin: 0, rejected: 0, pending: 0, applied: 0, rawThrewChanged: 0 };
    try {
      for (let history = 0; history < 25; history++) {
        const updates = fuzzHistory(random);
        const cut = 1 + Math.floor(random() * (updates.length - 1));
        const origin = new ReplicaState();
        updates.slice(0, cut).forEach((update, i) => {
          origin.apply(remoteOp('a', i + 1, i === 0 ? [6, update] : [6, update, ['a', 1]]));
        });
        const snapshot = origin.snapshot();
        const entry = origin.encodedEntry('docs', 'k') as Uint8Array;
        const content = origin.get('docs', 'k')?.value as Uint8Array;
        // A rejected op leaves the state as it was, so the next case reuses it.
        let state = ReplicaState.restore(snapshot);
        let seq = 0;
        for (let i = 0; i < 80; i++) {
          counts.cases++;
          const target = updates[
            Math.min(updates.length - 1, cut + Math.floor(random() * 3) - 1)
          ] as Uint8Array;
          const bad = mutate(target, updates[Math.floor(random() * updates.length)] as Uint8Array, random);
          const error = thrown(() => origin.prepare('docs', 'k', { kind: 'yjs', update: bad }));
          if (error !== undefined) {
            expect(error).toBeInstanceOf(DriftlessError);
            expect(['INVALID_ARGUMENT', 'YJS_MISSING_DEPENDENCY']).toContain((error as DriftlessError).code);
            counts.refusedAtOrigin++;
          }
          const change = state.apply(remoteOp('z', ++seq, [6, bad, ['a', 1]]));
          const after = state.encodedEntry('docs', 'k') as Uint8Array;
          if (change?.kind === 'rejected') {
            counts.rejected++;
            expect(sameBytes(after, entry), 'a rejected update changed the key').toBe(true);
            // Raw Yjs, given the same update, can throw halfway: the hazard this guards against.
            if (counts.rawThrewChanged < 10 && rawThrowsChanged(content, bad)) counts.rawThrewChanged++;
            continue;
          }
          if (documentsOf(after) === documentsOf(entry)) {
            // Unchanged documents: the update waits for its dependencies (a peer sending a hole).
            counts.pending++;
            expect(pendingOf(after)).toBe(1);
          } else {
            counts.applied++;
            expect(pendingOf(after)).toBe(0);
            // What a read returns still loads.
            new YjsClient(5).load(state.get('docs', 'k')?.value);
          }
          state = ReplicaState.restore(snapshot);
          seq = 0;
        }
        // Prepare only checks: the origin's key is as it was.
        expect(sameBytes(origin.encodedEntry('docs', 'k'), entry)).toBe(true);
      }
      // The fuzz reaches every outcome, and the hazard it guards against.
      expect(counts.rejected).toBeGreaterThan(counts.cases / 2);
      expect(counts.refusedAtOrigin).toBeGreaterThan(counts.cases / 2);
      expect(counts.pending).toBeGreaterThan(0);
      expect(counts.applied).toBeGreaterThan(0);
      expect(counts.rawThrewChanged).toBeGreaterThan(0);
    } catch (error) {
      throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
    }
  });
});

describe('yjs: pending updates', () => {
  /** Three updates of one client, each after the one before (the second and third build on the first). */
  function chain(): [Uint8Array, Uint8Array, Uint8Array] {
    const client = new YjsClient(7);
    return [client.edit(insert('a')), client.edit(insert('b', 1)), client.edit(insert('c', 2))];
  }

  it('an update whose dependencies are missing waits invisibly, and is integrated when they arrive, in any order', () => {
    const [first, second, third] = chain();
    const a = new Replica('a');
    const genesis = a.edit('k', new YjsClient(1), insert('>'), 100);
    // Peers y and z forward the client's updates out of order (an honest origin refuses this).
    const ops = [
      remoteOp('z', 1, [6, third, ['a', 1]]),
      remoteOp('y', 1, [6, second, ['a', 1]]),
      remoteOp('x', 1, [6, first, ['a', 1]]),
    ];
    const states = [ops, [...ops].reverse(), [ops[1], ops[2], ops[0]] as Op[]].map((order) => {
      const replica = new Replica('r');
      replica.receive(genesis);
      let firstArrived = false;
      for (const op of order) {
        replica.receive(op);
        firstArrived ||= op === ops[2];
        // Until the first update arrives, the others change nothing a reader sees.
        if (!firstArrived) expect(replica.text('k')).toBe('>');
      }
      expect(replica.state.rejectedOps).toBe(0);
      expect(replica.text('k')).toBe('>abc');
      return replica.state;
    });
    expect(new Set(states.map((state) => state.digest())).size).toBe(1);
  });

  it(`a key holds at most ${MAX_YJS_PENDING_UPDATES} updates waiting; one more is a rejected no-op`, () => {
    const client = new YjsClient(7);
    const updates = Array.from({ length: MAX_YJS_PENDING_UPDATES + 2 }, (_, i) =>
      client.edit(insert('x', i)),
    );
    const [first, ...rest] = updates;
    const a = new Replica('a');
    a.receive(remoteOp('a', 1, [6, new YjsClient(1).edit(insert('>'))]));
    for (const [i, update] of rest.entries()) a.receive(remoteOp('z', i + 1, [6, update, ['a', 1]]));
    // The last of `rest` found the list full.
    expect(a.state.rejectedOps).toBe(1);
    expect(a.text('k')).toBe('>');
    a.receive(remoteOp('y', 1, [6, first as Uint8Array, ['a', 1]]));
    // The first and every waiting one are in; the rejected one is lost.
    expect(a.text('k')).toBe(`>${'x'.repeat(MAX_YJS_PENDING_UPDATES + 1)}`);
  });

  it(`a key holds at most ${MAX_YJS_PENDING_BYTES} bytes of updates waiting; an update beyond is a rejected no-op`, () => {
    const client = new YjsClient(7);
    const first = client.edit(insert('a'));
    const large = client.edit(insert('y'.repeat(MAX_YJS_PENDING_BYTES), 1));
    const a = new Replica('a');
    a.receive(remoteOp('a', 1, [6, new YjsClient(1).edit(insert('>'))]));
    const digest = a.state.digest();
    a.receive(remoteOp('z', 1, [6, large, ['a', 1]]));
    expect(a.state.rejectedOps).toBe(1);
    expect(a.state.digest()).toBe(digest);
    // With its dependency here, the same update needs no waiting and applies.
    a.receive(remoteOp('y', 1, [6, first, ['a', 1]]), remoteOp('y', 2, [6, large, ['a', 1]]));
    expect(a.state.rejectedOps).toBe(1);
    expect(a.text('k')?.length).toBe(MAX_YJS_PENDING_BYTES + 2);
  });

  it('a state at the cap round-trips through a snapshot; a join of two keeps the earliest updates, whichever side joins', () => {
    const client = new YjsClient(7);
    const updates = Array.from({ length: 81 }, (_, i) => client.edit(insert('x', i)));
    const genesis = remoteOp('a', 1, [6, new YjsClient(1).edit(insert('>'))]);
    const [x, y] = [new Replica('x'), new Replica('y')];
    for (const replica of [x, y]) replica.receive(genesis);
    // x holds updates 2–41 waiting (origin p), y updates 42–81 (origin q): 80 in the join.
    for (let i = 1; i <= 40; i++) x.receive(remoteOp('p', i, [6, updates[i] as Uint8Array, ['a', 1]]));
    for (let i = 41; i <= 80; i++) y.receive(remoteOp('q', i - 40, [6, updates[i] as Uint8Array, ['a', 1]]));
    const xy = ReplicaState.restore(x.state.snapshot());
    xy.merge(y.state.snapshot());
    const yx = ReplicaState.restore(y.state.snapshot());
    yx.merge(x.state.snapshot());
    expect(xy.digest()).toBe(yx.digest());
    const entry = xy.encodedEntry('docs', 'k') as Uint8Array;
    expect(pendingOf(entry)).toBe(MAX_YJS_PENDING_UPDATES);
    // Kept in dot order: all of p's, then q's first 24.
    const [, , , state] = decode(entry) as Value[];
    const waiting = ((state as Value[])[1] as Value[][]).map(([origin, seq]) => `${origin}${seq}`);
    expect(waiting.at(-1)).toBe(`q${MAX_YJS_PENDING_UPDATES - 40}`);
    const restored = ReplicaState.restore(xy.snapshot());
    expect(Uint8Array.from(restored.snapshot())).toEqual(Uint8Array.from(xy.snapshot()));
    // The first update integrates what it can: everything up to the first one dropped.
    restored.apply(remoteOp('r', 1, [6, updates[0] as Uint8Array, ['a', 1]]));
    const text = new YjsClient(2).load(restored.get('docs', 'k')?.value).doc.getText('t').toString();
    expect(text).toBe(`>${'x'.repeat(MAX_YJS_PENDING_UPDATES + 1)}`);
  });

  it('pending updates survive snapshot → restore, merge and load, and still integrate', () => {
    const [first, second] = chain();
    const a = new Replica('a');
    const genesis = a.edit('k', new YjsClient(1), insert('>'), 100);
    a.receive(remoteOp('z', 1, [6, second, ['a', 1]]));
    const snapshot = a.state.snapshot();
    const restored = ReplicaState.restore(snapshot);
    expect(Uint8Array.from(restored.snapshot())).toEqual(Uint8Array.from(snapshot));
    const joined = new ReplicaState();
    joined.apply(genesis);
    joined.merge(snapshot);
    const loaded = ReplicaState.load(a.state.versionVector, VersionVector.EMPTY, [
      { collection: 'docs', key: 'k', bytes: a.state.encodedEntry('docs', 'k') as Uint8Array },
    ]);
    for (const state of [restored, joined, loaded]) {
      expect(state.digest()).toBe(a.state.digest());
      state.apply(remoteOp('y', 1, [6, first, ['a', 1]]));
      expect(new YjsClient(2).load(state.get('docs', 'k')?.value).doc.getText('t').toString()).toBe('>ab');
    }
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
