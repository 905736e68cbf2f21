/**
 * ReplicaStore checkpoints, case by case: what truncation, tombstone collection, installing a peer's
 * state and stores from before checkpoints do to the state a reopen finds.
 */
import { decode, HybridLogicalClock, MemoryStore, type Op } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { ReplicaState, ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { crashAndReopen, openFresh, storedCheckpoint, writeSome } from './checkpoint-helpers.js';

describe('ReplicaStore checkpoints and the log', () => {
  it('checkpoint() resolves once a background checkpoint still on its way to the store is durable', async () => {
    const store = new FaultyStore(await MemoryStore.open());
    const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps: 4 });
    // Exactly the ops that make a checkpoint due: after it begins, nothing is left to checkpoint.
    await writeSome(replica, 0, 2);
    const release = store.holdCommits();
    // The background checkpoint due after these ops encodes on a later turn, then appends.
    await new Promise((resolve) => setTimeout(resolve, 10));
    let resolved = false;
    const checkpoint = replica.checkpoint().then(() => {
      resolved = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(resolved, 'resolved while the checkpoint was not durable').toBe(false);
    release();
    await checkpoint;
    const again = await ReplicaStore.open({
      store: await MemoryStore.open((store.inner as MemoryStore).volume),
      nodeId: 'a',
    });
    expect(again.state.digest()).toBe(replica.state.digest());
  });

  it('truncating the log checkpoints first, so the ops it drops are in the stored state', async () => {
    const { store, replica } = await openFresh();
    await writeSome(replica, 0, 20);
    expect(await storedCheckpoint(store)).toBeUndefined();
    const digest = replica.state.digest();
    const result = await replica.log.truncate(replica.log.versionVector);
    expect(result.removedEntries).toBeGreaterThan(0);
    expect(result.base.toJSON()).toEqual(replica.log.versionVector.toJSON());
    expect((await storedCheckpoint(store))?.toJSON()).toEqual(replica.log.versionVector.toJSON());
    const again = await crashAndReopen(store);
    expect(again.state.digest()).toBe(digest);
    // More writes after the truncation replay on top of the checkpoint.
    await writeSome(again, 20, 25);
    const later = again.state.digest();
    expect((await crashAndReopen(store)).state.digest()).toBe(later);
  });

  it('a truncation whose checkpoint fails drops nothing', async () => {
    const inner = await MemoryStore.open();
    const faulty = new FaultyStore(inner);
    const replica = await ReplicaStore.open({ store: faulty, nodeId: 'a', checkpointOps: 1_000_000 });
    await writeSome(replica, 0, 10);
    const digest = replica.state.digest();
    faulty.failNextCommits(1);
    await expect(replica.log.truncate(replica.log.versionVector)).rejects.toMatchObject({
      code: 'STORE_WRITE_FAILED',
    });
    expect(replica.log.baseVector.size).toBe(0);
    const again = await ReplicaStore.open({ store: await MemoryStore.open(inner.volume), nodeId: 'a' });
    expect(again.state.digest()).toBe(digest);
    expect((await again.log.verify()).ops).toBe(again.log.versionVector.total);
  });

  it('the log never truncates past the last durable checkpoint, whatever the watermark', async () => {
    const { store, replica } = await openFresh();
    await writeSome(replica, 0, 5);
    await replica.checkpoint();
    const checkpoint = replica.log.versionVector;
    await writeSome(replica, 5, 10);
    // A retention of its own lowers the floor below the replica's checkpoint: nothing above it goes.
    replica.log.retain({ floor: () => checkpoint });
    const digest = replica.state.digest();
    const { base } = await replica.log.truncate(replica.log.versionVector);
    expect(checkpoint.dominates(base)).toBe(true);
    expect(replica.log.canServe(checkpoint)).toBe(true);
    expect((await crashAndReopen(store)).state.digest()).toBe(digest);
  });

  it('collected tombstones stay collected after a crash between checkpoints', async () => {
    const { store, replica } = await openFresh();
    await replica.write('docs', 'gone', { kind: 'set', value: 1 });
    await replica.write('docs', 'gone', { kind: 'del' });
    await replica.write('docs', 'kept', { kind: 'set', value: 2 });
    expect(await replica.collectTombstones(replica.state.versionVector)).toBe(1);
    await writeSome(replica, 0, 4); // after the collection's checkpoint: replayed on open
    const digest = replica.state.digest();
    const again = await crashAndReopen(store);
    expect(again.state.digest()).toBe(digest);
    expect(again.state.encodedEntry('docs', 'gone')).toBeUndefined();
    expect(again.state.collectedBelow.toJSON()).toEqual(replica.state.collectedBelow.toJSON());
  });

  it('an installed peer state is a checkpoint, ordered with the appends around it', async () => {
    const peer = new ReplicaState();
    const clock = new HybridLogicalClock();
    for (let seq = 1; seq <= 5; seq++) {
      const op: Op = {
        origin: 'b',
        seq,
        hlc: clock.now(),
        ...peer.prepare('docs', `p${seq}`, { kind: 'incr', delta: seq }),
      };
      peer.apply(op);
    }
    const { store, replica } = await openFresh();
    await writeSome(replica, 0, 3);
    // Writes admitted before and after the install, none awaited: the install commits between them.
    const reports: string[] = [];
    replica.onChanges((changes) =>
      reports.push(changes.type === 'state' ? 'state' : changes.changes.map((c) => c.key).join(',')),
    );
    const before = writeSome(replica, 3, 5);
    const installed = replica.installState(peer.snapshot());
    const after = replica.write('docs', 'p1', { kind: 'incr', delta: 100 });
    await Promise.all([before, installed, after]);
    // The write that built on the installed state became durable after it, not in a commit before.
    expect(reports).toEqual(['k3,s3,k4,s4', 'state', 'p1']);
    expect(await installed).toBe(5);
    expect(replica.state.get('docs', 'p1')).toEqual({ type: 'counter', value: 101 });
    const digest = replica.state.digest();
    const again = await crashAndReopen(store);
    expect(again.state.digest()).toBe(digest);
    expect(again.log.versionVector.toJSON()).toEqual(replica.log.versionVector.toJSON());
  });

  it("an install's checkpoint holds a key written since the last one, even when the install leaves it as it was", async () => {
    const { store, replica } = await openFresh();
    await replica.write('docs', 'k', { kind: 'set', value: 'new' });
    // The peer's write of the same key is older: joining it leaves the key as it is here.
    const peer = new ReplicaState();
    const older = new HybridLogicalClock({ now: () => Date.now() - 60_000 }).now();
    peer.apply({
      origin: 'b',
      seq: 1,
      hlc: older,
      ...peer.prepare('docs', 'k', { kind: 'set', value: 'old' }),
    });
    expect(await replica.installState(peer.snapshot())).toBe(0);
    expect(replica.state.get('docs', 'k')).toEqual({ type: 'register', value: 'new' });
    // The install's checkpoint holds the write (a:1), which the log then no longer replays.
    const again = await crashAndReopen(store);
    expect(again.state.get('docs', 'k')).toEqual({ type: 'register', value: 'new' });
    expect(again.state.digest()).toBe(replica.state.digest());
  });

  it('opens a store from before checkpoints: its state table holds the whole log, replayed nowhere', async () => {
    const { store, replica } = await openFresh();
    await writeSome(replica, 0, 10);
    await replica.close(); // checkpoints everything
    const digest = replica.state.digest();
    // What an older version left: entries at the log's vector, and no checkpoint vector.
    await store.commit([{ table: 'state_meta', key: 'checkpoint', value: undefined }]);
    const again = await ReplicaStore.open({ store: await MemoryStore.open(store.volume), nodeId: 'a' });
    // Replaying the counters' increments again would change the digest.
    expect(again.state.digest()).toBe(digest);
  });
});

describe('background checkpoints keep up', () => {
  it('writes that outpace a checkpoint are checkpointed after it, with no write to start them', async () => {
    const { store, replica } = await openFresh(64);
    // Writes with no turn of the event loop between them: the first checkpoint, begun after 64 ops,
    // can only encode once they are all in, and each checkpoint holds the ops before it began.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 5_000; i++) writes.push(replica.write('docs', `k${i}`, { kind: 'set', value: i }));
    await Promise.all(writes);
    const covered = async () => (await storedCheckpoint(store))?.get('a') ?? 0;
    for (let turn = 0; turn < 500 && (await covered()) < 5_000; turn++)
      await new Promise((resolve) => setTimeout(resolve, 2));
    expect(await covered(), 'the stored checkpoint holds every write').toBe(5_000);
    await replica.close();
  });

  it('a Yjs op refused on a key it created leaves nothing for a background checkpoint to write', async () => {
    const { store, replica } = await openFresh(8);
    const refused: Op = {
      origin: 'b',
      seq: 1,
      hlc: new HybridLogicalClock().now(),
      collection: 'docs',
      key: 'y',
      mutation: [6, new Uint8Array([0xff, 0xff, 0xff])],
    };
    await replica.receive([refused]);
    expect(replica.state.rejectedOps).toBe(1);
    expect(replica.state.keyEntry('docs', 'y')).toBeUndefined();
    // Enough writes for background checkpoints, which take the generation that listed 'y'.
    await writeSome(replica, 0, 20);
    const covered = async () => (await storedCheckpoint(store))?.get('a') ?? 0;
    for (let turn = 0; turn < 200 && (await covered()) < 40; turn++)
      await new Promise((resolve) => setTimeout(resolve, 2));
    expect(await covered()).toBe(40);
    const again = await crashAndReopen(store);
    expect(again.state.keyEntry('docs', 'y')).toBeUndefined();
    expect(again.state.keyCount).toBe(replica.state.keyCount);
    expect(again.state.digest()).toBe(replica.state.digest());
  });

  it('a background compaction rewrites every key, unchanged ones too, while writes change keys under it', async () => {
    const store = await MemoryStore.open();
    const replica = await ReplicaStore.open({
      store,
      nodeId: 'a',
      checkpointOps: 32,
      checkpointSliceKeys: 4,
      compactionMinKeys: 1,
    });
    const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
    // 300 keys, checkpointed; then rounds that rewrite a few of them, a turn apart, until the
    // segments hold twice as many entries as there are keys and a compaction has come and gone.
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => replica.write('docs', `k${i}`, { kind: 'set', value: i })),
    );
    const first = async () => {
      const range = await store.get('state_meta', 'segments');
      return range === undefined ? 0 : (decode(range) as number[])[0];
    };
    let round = 0;
    for (; round < 2_000 && (await first()) === 0; round++) {
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          replica.write('docs', `k${(round * 8 + i) % 40}`, { kind: 'set', value: `r${round}` }),
        ),
      );
      await turn();
    }
    expect(await first(), 'a compaction dropped the first segments').toBeGreaterThan(0);
    // More writes while later checkpoints run, then a crash: what reopens is the state.
    for (let i = 0; i < 20; i++) {
      await replica.write('docs', `k${i}`, { kind: 'set', value: -i });
      await replica.write('docs', `n${i}`, { kind: 'set', value: i });
      await turn();
    }
    const again = await crashAndReopen(store);
    expect(again.state.keyCount).toBe(replica.state.keyCount);
    expect(again.state.digest()).toBe(replica.state.digest());
  });
});

describe('large entries', () => {
  it('a Yjs document larger than a frame (over 4 MiB) is checkpointed and reloads', async () => {
    const { store, replica } = await openFresh();
    const doc = new Y.Doc();
    doc.clientID = 7;
    const text = doc.getText('t');
    for (let i = 0; i < 6; i++) {
      const before = Y.encodeStateVector(doc);
      text.insert(text.length, String.fromCharCode(97 + i).repeat(900_000));
      await replica.write('docs', 'big', { kind: 'yjs', update: Y.encodeStateAsUpdate(doc, before) });
    }
    await replica.checkpoint();
    expect((replica.state.encodedEntry('docs', 'big') as Uint8Array).length).toBeGreaterThan(5_000_000);
    const digest = replica.state.digest();
    await replica.close();
    const again = await ReplicaStore.open({ store: await MemoryStore.open(store.volume), nodeId: 'a' });
    expect(again.state.digest()).toBe(digest);
    const read = again.state.get('docs', 'big');
    const copy = new Y.Doc();
    Y.applyUpdate(copy, read?.value as Uint8Array);
    expect(copy.getText('t').toString()).toBe(text.toString());
    await again.close();
  });
});
