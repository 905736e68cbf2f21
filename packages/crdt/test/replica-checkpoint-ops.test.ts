/**
 * Checkpoints of ops (entry-capture.ts): a generation of keys written once is stored as its log
 * entries, beside cells, through compactions and failed commits.
 */
import { decode, MemoryStore } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import {
  checkpointCatchesUp,
  crashAndReopen,
  openFresh,
  segmentFormats,
  storedCheckpoint,
} from './checkpoint-helpers.js';

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
