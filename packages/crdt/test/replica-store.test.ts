/**
 * ReplicaStore over every store backend (memory and LMDB): its log and its state table commit
 * together, so after every commit, every failed commit and every reopen, the in-memory state, the
 * stored state and a replay of the log are the same state. Installing a state from a peer, at the
 * end. Damaged and older stored state: replica-store-disk.test.ts.
 */
import {
  DriftlessError,
  decode,
  encode,
  HybridLogicalClock,
  MemoryStore,
  type Op,
  StorageError,
  type Value,
  VersionVector,
} from '@driftless/core';
import { FaultyStore, seededRandom, testSeed } from '@driftless/core/testing';
import { type Intent, type ReplicaState, ReplicaStore, STATE_TABLE } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import {
  admitted,
  describeEachStore,
  dump,
  expectAgreement,
  expectCollectedAgreement,
  openReplica,
  RemoteWriter,
  readsOf,
  replay,
  runWorkload,
} from './replica-store-fixtures.js';

describeEachStore(({ create, reopen }) => {
  it('keeps memory, the state table and the log in agreement after every commit', async () => {
    const seed = testSeed();
    const store = await create();
    const replica = await openReplica(store);
    await runWorkload(replica, store, seededRandom(seed), 60).catch((error) => {
      throw new Error(`seed ${seed} (rerun: DRIFTLESS_SEED=${seed}): ${error.message}`, { cause: error });
    });
    expect(replica.log.versionVector.get('a'), `seed ${seed}`).toBeGreaterThan(10);
    expect(replica.log.versionVector.size, `seed ${seed}`).toBe(3);
  });

  it('returns what each write and received op changed', async () => {
    const replica = await openReplica(await create());
    const { op, change } = await replica.write('docs', 'k', { kind: 'incr', delta: 2 });
    expect(op).toMatchObject({ origin: 'a', seq: 1, collection: 'docs', key: 'k' });
    expect(change).toMatchObject({ kind: 'incr', changed: true });
    const remote = new RemoteWriter('b');
    const write = remote.state.prepare('docs', 'k', { kind: 'incr', delta: 3 });
    const ops: Op[] = [{ origin: 'b', seq: 1, hlc: new HybridLogicalClock().now(), ...write }];
    expect((await replica.receive(ops)).map((c) => c.kind)).toEqual(['incr']);
    expect(await replica.receive(ops)).toEqual([]);
    expect(replica.state.get('docs', 'k')).toEqual({ type: 'counter', value: 5 });
  });

  it('restores the same digest, version vector, reads and list order on reopen', async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    let store = await create();
    let replica = await openReplica(store);
    const remotes = [new RemoteWriter('b'), new RemoteWriter('c')];
    for (let round = 0; round < 3; round++) {
      await runWorkload(replica, store, random, 15, remotes);
      const before = {
        digest: replica.state.digest(),
        vector: replica.state.versionVector.toJSON(),
        reads: readsOf(replica.state),
      };
      store = await reopen(replica, store);
      replica = await openReplica(store);
      const after = {
        digest: replica.state.digest(),
        vector: replica.state.versionVector.toJSON(),
        reads: readsOf(replica.state),
      };
      expect(after, `seed ${seed}, round ${round}`).toEqual(before);
      await expectAgreement(replica, store, `seed ${seed}, reopened ${round}`);
    }
    // Listing is in UTF-8 order after a reopen too: U+FF01 before U+1F600 (in UTF-16 it is after).
    for (const key of ['\u{1f600}', 'z', '\uff01', 'a/b'])
      await replica.write('order', key, { kind: 'set', value: key });
    store = await reopen(replica, store);
    replica = await openReplica(store);
    expect(replica.state.list('order').items.map((item) => item.key)).toEqual([
      'a/b',
      'z',
      '\uff01',
      '\u{1f600}',
    ]);
  });

  it('a failed commit changes neither the log nor the state, in memory or stored, and says so with a typed error', async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const inner = await create();
    const faulty = new FaultyStore(inner);
    const replica = await openReplica(faulty);
    const remote = new RemoteWriter('b');
    await runWorkload(replica, faulty, random, 10, [remote]);
    await replica.write('docs', 'fail-reg', { kind: 'set', value: 'durable' });
    await replica.write('votes', 'fail-set', { kind: 'add', element: 'durable' });
    // Settles the background checkpoint the writes above may have begun: committed after `rows`
    // below, it would change the store (with durable state only) and fail the comparison.
    await replica.checkpoint();
    const before = {
      digest: replica.state.digest(),
      vector: replica.state.versionVector.toJSON(),
      reads: readsOf(replica.state),
    };
    const rows = await dump(inner);

    faulty.failNextCommits(1);
    // Writes admitted together (one group commit) and while that commit is in flight.
    const attempts: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      attempts.push(replica.write('docs', 'fail-reg', { kind: 'set', value: i }));
      const ops = remote.write(random, 3);
      // receive, or admit (receive split: applied now, durable later), as a session receives.
      if (ops.length > 0) attempts.push(i % 2 === 0 ? replica.receive(ops) : admitted(replica, ops));
      attempts.push(replica.write('votes', 'fail-set', { kind: 'add', element: i }));
      attempts.push(replica.write('docs', `fail-new-${i}`, { kind: 'incr', delta: 1 }));
      await null;
    }
    const outcomes = await Promise.allSettled(attempts);
    const errors = outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : undefined));
    expect(errors.every((error) => error instanceof DriftlessError)).toBe(true);
    expect(errors[0]).toBeInstanceOf(StorageError);
    expect(errors[0]).toMatchObject({ code: 'STORE_WRITE_FAILED' });
    for (const error of errors)
      expect(['STORE_WRITE_FAILED', 'LOG_FAILED']).toContain((error as DriftlessError).code);

    const now = () => ({
      digest: replica.state.digest(),
      vector: replica.state.versionVector.toJSON(),
      reads: readsOf(replica.state),
    });
    expect(now(), `seed ${seed}: memory after the failure`).toEqual(before);
    expect(replica.log.versionVector.toJSON()).toEqual(before.vector);
    expect(await dump(inner), `seed ${seed}: store after the failure`).toEqual(rows);
    await expectAgreement(replica, inner, `seed ${seed}, after the failure`);

    // The replica refuses writes until reopened, and refusing changes nothing either.
    await expect(replica.write('docs', 'refused', { kind: 'set', value: 1 })).rejects.toMatchObject({
      code: 'LOG_FAILED',
    });
    await expect(replica.receive(remote.write(() => 0, 1))).rejects.toMatchObject({ code: 'LOG_FAILED' });
    expect(() => replica.admit(remote.write(() => 0, 1))).toThrow(
      expect.objectContaining({ code: 'LOG_FAILED' }),
    );
    await expect(replica.collectTombstones(replica.state.versionVector)).rejects.toMatchObject({
      code: 'LOG_FAILED',
    });
    expect(now()).toEqual(before);

    const store = await reopen(replica, inner);
    const again = await openReplica(store);
    expect(again.state.digest()).toBe(before.digest);
    expect(readsOf(again.state)).toEqual(before.reads);
    await again.write('docs', 'refused', { kind: 'set', value: 'after' });
    await expectAgreement(again, store, `seed ${seed}, reopened`);
  });

  it('a failed tombstone collection drops nothing, in memory or stored', async () => {
    const inner = await create();
    const faulty = new FaultyStore(inner);
    const replica = await openReplica(faulty);
    await replica.write('docs', 'gone', { kind: 'set', value: 1 });
    await replica.write('docs', 'gone', { kind: 'del' });
    await replica.write('docs', 'kept', { kind: 'set', value: 2 });
    const digest = replica.state.digest();
    const rows = await dump(inner);
    faulty.failNextCommits(1);
    await expect(replica.collectTombstones(replica.state.versionVector)).rejects.toMatchObject({
      code: 'STORE_WRITE_FAILED',
    });
    expect(replica.state.digest()).toBe(digest);
    expect(replica.state.collectedBelow.size).toBe(0);
    expect(replica.state.encodedEntry('docs', 'gone')).toBeDefined();
    expect(await dump(inner)).toEqual(rows);
  });

  it('persists tombstone collection: collected keys stay gone and collectedBelow survives a reopen', async () => {
    let store = await create();
    let replica = await openReplica(store);
    const remote = new RemoteWriter('b');
    for (const key of ['k0', 'k1', 'k2']) await replica.write('docs', key, { kind: 'set', value: key });
    await replica.write('votes', 'v', { kind: 'set', value: 1 });
    await replica.write('docs', 'n', { kind: 'incr', delta: 4 });
    await replica.receive(remote.write(() => 0, 1)); // b sets one key
    await replica.write('docs', 'k0', { kind: 'del' });
    await replica.write('docs', 'k1', { kind: 'del' });
    await replica.write('votes', 'v', { kind: 'del' });
    await replica.write('docs', 'n', { kind: 'del' });
    const stable = replica.state.versionVector;
    await replica.write('docs', 'k2', { kind: 'del' }); // after `stable`: must stay
    expect(await replica.collectTombstones(stable)).toBe(3);
    const gone = [
      ['docs', 'k0'],
      ['docs', 'k1'],
      ['votes', 'v'],
    ];
    const expectCollected = (state: ReplicaState) => {
      for (const [collection, key] of gone)
        expect(state.encodedEntry(collection as string, key as string)).toBeUndefined();
      expect(state.encodedEntry('docs', 'k2')).toBeDefined();
      // A deleted counter keeps its totals (a later delete carries absolute ones), compacted.
      expect(state.encodedEntry('docs', 'n')).toBeDefined();
      expect(state.get('docs', 'n')).toBeUndefined();
      expect(state.collectedBelow.toJSON()).toEqual(stable.toJSON());
    };
    expectCollected(replica.state);
    const digest = replica.state.digest();
    for (const [collection, key] of gone)
      expect(await store.get(STATE_TABLE, `${collection}/${key}`)).toBeUndefined();

    store = await reopen(replica, store);
    replica = await openReplica(store);
    expectCollected(replica.state);
    expect(replica.state.digest()).toBe(digest);
    // The log still holds the history; replaying it and collecting below the same vector agrees.
    const replayed = await replay(replica.log);
    replayed.collectTombstones(stable);
    expect(replayed.digest()).toBe(digest);
    // Collecting again below the same vector changes nothing, and a later write recreates a key.
    expect(await replica.collectTombstones(stable)).toBe(0);
    await replica.write('docs', 'k0', { kind: 'set', value: 'back' });
    expect(replica.state.get('docs', 'k0')).toEqual({ type: 'register', value: 'back' });
    store = await reopen(replica, store);
    replica = await openReplica(store);
    expect(replica.state.get('docs', 'k0')).toEqual({ type: 'register', value: 'back' });
    expect(replica.state.collectedBelow.toJSON()).toEqual(stable.toJSON());
  });

  it('a collection racing an append of the same key stores what memory holds', async () => {
    let store = await create();
    let replica = await openReplica(store);
    const remote = new RemoteWriter('b');
    const clock = new HybridLogicalClock();
    const op = (seq: number, intent: Intent): Op => ({
      origin: 'b',
      seq,
      hlc: clock.now(),
      ...remote.state.prepare('docs', 'k', intent),
    });
    const set = op(1, { kind: 'set', value: 1 });
    remote.state.apply(set);
    await replica.write('docs', 'other', { kind: 'set', value: 0 }); // keeps a commit in flight below
    await replica.receive([set]);
    const del = op(2, { kind: 'del' });
    // The delete is admitted (and applied in memory) while an earlier commit is still in flight;
    // the collection, called right after, drops the key: the store must end up without it too.
    const inFlight = replica.write('docs', 'other', { kind: 'set', value: 1 });
    const received = replica.receive([del]);
    const collected = replica.collectTombstones(replica.state.versionVector);
    await Promise.all([inFlight, received, collected]);
    expect(await collected).toBe(1);
    expect(replica.state.encodedEntry('docs', 'k')).toBeUndefined();
    await expectCollectedAgreement(replica, store);
    const digest = replica.state.digest();
    store = await reopen(replica, store);
    replica = await openReplica(store);
    expect(replica.state.digest()).toBe(digest);
    expect(replica.state.encodedEntry('docs', 'k')).toBeUndefined();
  });
});

describe('installing a state moves the clock past it', () => {
  it('a write after installing a state from a peer whose clock runs ahead still wins', async () => {
    const wall = 1_800_000_000_000;
    const ahead = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'ahead',
      clock: { now: () => wall + 30_000 },
    });
    const behind = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'behind',
      clock: { now: () => wall },
    });
    await ahead.write('c', 'k', { kind: 'set', value: 'old' });
    await behind.installState(ahead.state.snapshot());
    const { op } = await behind.write('c', 'k', { kind: 'set', value: 'new' });
    expect(behind.state.get('c', 'k')?.value).toBe('new');
    // Ordered after the installed write, so every replica picks it too.
    await ahead.receive([op]);
    expect(ahead.state.get('c', 'k')?.value).toBe('new');
    // A state more than the skew limit ahead is refused, changing nothing.
    const far = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'far',
      clock: { now: () => wall + 3_600_000 },
    });
    await far.write('c', 'x', { kind: 'set', value: 1 });
    await expect(behind.installState(far.state.snapshot())).rejects.toMatchObject({ code: 'CLOCK_SKEW' });
    expect(behind.state.get('c', 'x')).toBeUndefined();
    for (const replica of [ahead, behind, far]) await replica.close();
  });
});

describe('installing a state tells the log the last op of each origin its stamps show', () => {
  it('takes the highest seq among the latest writes and deletes, within the state vector', async () => {
    const source = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'w' });
    await source.write('c', 'a', { kind: 'set', value: 1 }); // w:1, overwritten by w:3
    await source.write('c', 'b', { kind: 'set', value: 2 }); // w:2
    await source.write('c', 'a', { kind: 'set', value: 3 }); // w:3
    const deleted = await source.write('c', 'b', { kind: 'del' }); // w:4, a delete's stamp
    const target = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 't' });
    await target.installState(source.state.snapshot());
    expect(target.log.tipOf('w')).toEqual({ seq: 4, hlc: deleted.op.hlc });

    // A state whose stamps claim ops beyond its own vector (only a forged one does) shows none.
    const snapshot = decode(source.state.snapshot()) as Value[];
    snapshot[1] = VersionVector.from({ w: 1 }).toValue();
    const other = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'o' });
    await other.installState(encode(snapshot));
    expect(other.log.tipOf('w'), 'every stamp of w is beyond w:1').toBeUndefined();
    for (const replica of [source, target, other]) await replica.close();
  });
});
