/**
 * Yjs updates a replica refuses, rejects or holds back: bad input at the origin and from peers
 * (fuzzed), and updates that wait for their dependencies, within the pending caps. Randomised
 * tests print their seed; rerun one with DRIFTLESS_SEED=<seed>.
 */
import { DriftlessError, decode, type Op, type Value, VersionVector } from '@driftless/core';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { type Intent, MAX_YJS_PENDING_BYTES, MAX_YJS_PENDING_UPDATES, ReplicaState } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { thrown } from './thrown.js';
import { Replica } from './yjs-fixtures.js';
import {
  documentsOf,
  fuzzHistory,
  insert,
  mutate,
  partlyApplicableUpdate,
  pendingOf,
  rawThrowsChanged,
  remoteOp,
  sameBytes,
  YjsClient,
} from './yjs-histories.js';

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
