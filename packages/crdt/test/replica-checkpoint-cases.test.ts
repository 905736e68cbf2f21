/**
 * ReplicaStore checkpoints, case by case: what truncation, tombstone collection, installing a peer's
 * state and stores from before checkpoints do to the state a reopen finds.
 */
import { decode, HybridLogicalClock, MemoryStore, type Op, VersionVector } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { ReplicaState, ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

/** A replica on a fresh memory volume that checkpoints only when asked (or when truncated). */
async function openFresh(checkpointOps = 1_000_000) {
  const store = await MemoryStore.open();
  const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps });
  return { store, replica };
}

/** Reopens the volume as a crash would leave it: without closing the replica (no last checkpoint). */
async function crashAndReopen(store: MemoryStore): Promise<ReplicaStore> {
  return ReplicaStore.open({ store: await MemoryStore.open(store.volume), nodeId: 'a' });
}

async function writeSome(replica: ReplicaStore, from: number, to: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) {
    writes.push(replica.write('docs', `k${i % 7}`, { kind: 'incr', delta: i + 1 }));
    writes.push(replica.write('docs', `s${i}`, { kind: 'set', value: i }));
  }
  await Promise.all(writes);
}

async function storedCheckpoint(store: MemoryStore): Promise<VersionVector | undefined> {
  const bytes = await store.get('state_meta', 'checkpoint');
  return bytes && VersionVector.fromValue(decode(bytes));
}

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

/** The format of each live checkpoint segment, in order. */
async function segmentFormats(store: MemoryStore): Promise<number[]> {
  const range = await store.get('state_meta', 'segments');
  const [first, next] = range ? (decode(range) as [number, number]) : [0, 0];
  const formats: number[] = [];
  for (let n = first; n < next; n++) {
    const segment = decode((await store.get('state_seg', n)) as Uint8Array, {
      maxFrameBytes: 1 << 30,
      maxDepth: 64,
      maxItems: 1e9,
    }) as unknown[];
    formats.push(segment[0] as number);
  }
  return formats;
}

/** Waits (a bounded while) until the stored checkpoint holds the replica's every op. */
async function checkpointCatchesUp(store: MemoryStore, replica: ReplicaStore): Promise<void> {
  const ops = replica.state.versionVector.get('a');
  for (let turn = 0; turn < 500 && ((await storedCheckpoint(store))?.get('a') ?? 0) < ops; turn++)
    await new Promise((resolve) => setTimeout(resolve, 2));
  expect((await storedCheckpoint(store))?.get('a'), 'the stored checkpoint holds every op').toBe(ops);
}

describe('checkpoints of ops', () => {
  it('stores a generation of keys written once as its log entries, one of keys written again as cells', async () => {
    const { store, replica } = await openFresh(64);
    const burst = async (keys: (i: number) => string, count: number) => {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++)
        writes.push(replica.write('docs', keys(i), { kind: 'incr', delta: i + 1 }));
      await Promise.all(writes);
    };
    // Counters: a segment's op applied twice, or not at all, changes what a reopen reads.
    await burst((i) => `fresh${i}`, 300);
    await checkpointCatchesUp(store, replica);
    await burst((i) => `fresh${i % 4}`, 300);
    await checkpointCatchesUp(store, replica);
    await burst((i) => `more${i}`, 300);
    await checkpointCatchesUp(store, replica);
    const formats = await segmentFormats(store);
    // The first generation after opening is cells (its ops came before this process's capture).
    expect(formats, 'segments of ops and of cells').toContain(5);
    expect(formats).toContain(4);
    // The checkpoint alone, with nothing of the log above it to replay.
    const again = await crashAndReopen(store);
    expect(again.state.digest()).toBe(replica.state.digest());
    expect(again.state.get('docs', 'fresh1')).toEqual(replica.state.get('docs', 'fresh1'));
    await replica.close();
  });

  it('a failed commit of a checkpoint of ops loses nothing the log holds, in memory or on reopening', async () => {
    const inner = await MemoryStore.open();
    const store = new FaultyStore(inner);
    const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps: 64 });
    const burst = async (from: number) => {
      const writes: Promise<unknown>[] = [];
      for (let i = from; i < from + 300; i++)
        writes.push(replica.write('docs', `f${i}`, { kind: 'incr', delta: i + 1 }));
      await Promise.all(writes);
    };
    await burst(0);
    await checkpointCatchesUp(inner, replica);
    expect(await segmentFormats(inner)).toContain(5);
    const stored = (await storedCheckpoint(inner))?.get('a');
    await burst(300);
    // The burst's commit is durable; the checkpoint of ops it made due commits on a later turn.
    store.failNextCommits(1);
    const digest = replica.state.digest();
    for (let turn = 0; turn < 100 && replica.log.failure === undefined; turn++)
      await new Promise((resolve) => setTimeout(resolve, 2));
    expect(replica.log.failure, 'the checkpoint commit failed').toBeDefined();
    expect((await storedCheckpoint(inner))?.get('a'), 'no checkpoint landed').toBe(stored);
    // The failure reloads the state from the store: the same, since every write was durable.
    await replica.readDurable(() => undefined).catch(() => undefined);
    expect(replica.state.digest()).toBe(digest);
    const again = await crashAndReopen(inner);
    expect(again.state.digest()).toBe(digest);
    expect(again.state.versionVector.get('a')).toBe(600);
  });

  it('a compaction replaces segments of ops with cells', async () => {
    const store = await MemoryStore.open();
    const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps: 64, compactionMinKeys: 1 });
    for (let round = 0; round < 6; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++)
        writes.push(replica.write('docs', `k${(round % 3) * 200 + i}`, { kind: 'set', value: round }));
      await Promise.all(writes);
      await checkpointCatchesUp(store, replica);
    }
    expect(await segmentFormats(store)).toContain(5);
    // Rewriting the same 600 keys again and again makes the segments hold twice the keys: compaction.
    for (let round = 0; round < 6; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 600; i++)
        writes.push(replica.write('docs', `k${i}`, { kind: 'set', value: -round }));
      await Promise.all(writes);
      await checkpointCatchesUp(store, replica);
    }
    await replica.checkpoint();
    // A compaction wrote every key afresh and deleted the segments before, those of ops among them.
    const [first] = decode((await store.get('state_meta', 'segments')) as Uint8Array) as [number, number];
    expect(first).toBeGreaterThan(0);
    for (let n = 0; n < first; n++) expect(await store.get('state_seg', n)).toBeUndefined();
    const again = await crashAndReopen(store);
    expect(again.state.digest()).toBe(replica.state.digest());
    await replica.close();
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
