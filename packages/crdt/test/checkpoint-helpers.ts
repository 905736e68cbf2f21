/** What the checkpoint tests (replica-checkpoint-cases.test.ts, replica-checkpoint-ops.test.ts) share. */
import { decode, MemoryStore, VersionVector } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { expect } from 'vitest';

/** A replica on a fresh memory volume that checkpoints only when asked (or when truncated). */
export async function openFresh(checkpointOps = 1_000_000) {
  const store = await MemoryStore.open();
  const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps });
  return { store, replica };
}

/** Reopens the volume as a crash would leave it: without closing the replica (no last checkpoint). */
export async function crashAndReopen(store: MemoryStore): Promise<ReplicaStore> {
  return ReplicaStore.open({ store: await MemoryStore.open(store.volume), nodeId: 'a' });
}

export async function writeSome(replica: ReplicaStore, from: number, to: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) {
    writes.push(replica.write('docs', `k${i % 7}`, { kind: 'incr', delta: i + 1 }));
    writes.push(replica.write('docs', `s${i}`, { kind: 'set', value: i }));
  }
  await Promise.all(writes);
}

export async function storedCheckpoint(store: MemoryStore): Promise<VersionVector | undefined> {
  const bytes = await store.get('state_meta', 'checkpoint');
  return bytes && VersionVector.fromValue(decode(bytes));
}

/** The format of each live checkpoint segment, in order. */
export async function segmentFormats(store: MemoryStore): Promise<number[]> {
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
export async function checkpointCatchesUp(store: MemoryStore, replica: ReplicaStore): Promise<void> {
  const ops = replica.state.versionVector.get('a');
  for (let turn = 0; turn < 500 && ((await storedCheckpoint(store))?.get('a') ?? 0) < ops; turn++)
    await new Promise((resolve) => setTimeout(resolve, 2));
  expect((await storedCheckpoint(store))?.get('a'), 'the stored checkpoint holds every op').toBe(ops);
}
