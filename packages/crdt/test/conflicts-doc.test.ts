/**
 * The examples of docs/CONFLICTS.md, one test each, named `<section> › <example>` after the page.
 * Every example is two replicas, A (origin 'a') and B (origin 'b'): they may share some ops, then
 * each writes while apart, then each receives the other's ops (so A applies A's ops before B's and
 * B the reverse: both orders of arrival), and both must read the same and hold the same digest.
 * Ops are written as the page writes them: `a2@200` is origin a, seq 2, HLC 200. HLCs are small
 * numbers chosen so that a write made after receiving another has the greater one, as a real
 * hybrid logical clock guarantees.
 */
import { type Op, type Value, VersionVector } from '@driftless/core';
import {
  type ConflictEvent,
  type ConflictKind,
  type Intent,
  ReplicaState,
  type Stamp,
} from '@driftless/crdt';
import { describe, expect, it } from 'vitest';

/** A replica that writes with explicit clocks and records every conflict event it reports. */
class Replica {
  state = new ReplicaState();
  readonly events: ConflictEvent[] = [];
  #seq = 0;

  constructor(readonly id: string) {
    this.#configure();
  }

  /** Prepares `intent` against this replica's state, applies it here, and returns the op. */
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

  /** Replaces this replica's state by a restored snapshot, as a re-bootstrap does. */
  restoreFrom(snapshot: Uint8Array): void {
    this.state = ReplicaState.restore(snapshot);
    this.#configure();
  }

  #configure(): void {
    this.state.setCollectionMode('votes', 'mv');
    // Stamps copied field by field: a siblings event's loser is the sibling itself, value included.
    this.state.onConflict(({ collection, key, kind, winner, loser }) =>
      this.events.push({ collection, key, kind, winner: stampOnly(winner), loser: stampOnly(loser) }),
    );
  }
}

function stampOnly({ hlc, origin, seq }: Stamp): Stamp {
  return { hlc, origin, seq };
}

function replicas(): [Replica, Replica] {
  return [new Replica('a'), new Replica('b')];
}

/** Each replica receives the other's ops after its own; then both hold the same state. */
function sync(a: Replica, fromA: Op[], b: Replica, fromB: Op[]): void {
  a.receive(...fromB);
  b.receive(...fromA);
  expect(a.state.digest()).toBe(b.state.digest());
}

/** A stamp in the page's notation: 'b1@300' is origin b, seq 1, HLC 300. */
function stamp(text: string): { origin: string; seq: number; hlc: number } {
  const match = /^([a-z]+)(\d+)@(\d+)$/.exec(text);
  if (!match) throw new Error(`not a stamp: ${text}`);
  return { origin: match[1] as string, seq: Number(match[2]), hlc: Number(match[3]) };
}

/** A conflict event in the page's notation: `event('overwrite', 'b1@300', 'a2@200')`. */
function event(kind: ConflictKind, winner: string, loser: string, key = 'k', collection = 'docs') {
  return { collection, key, kind, winner: stamp(winner), loser: stamp(loser) };
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
const add = (element: Value): Intent => ({ kind: 'add', element });
const remove = (element: Value): Intent => ({ kind: 'remove', element });
const DEL: Intent = { kind: 'del' };
const NO_CONFLICTS = { overwrite: 0, discarded: 0, siblings: 0, type: 0 };

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
