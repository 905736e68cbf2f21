/**
 * ReplicaStore.readDurable: a read answers only once every op the state had applied when it read
 * is durable, because an op applied but not yet durable can still be lost to a crash, and its seq
 * then goes to another op.
 */
import { MemoryStore } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';

const turns = (n = 5) => new Promise((resolve) => setTimeout(resolve, n));

/** `promise`, and whether it has settled yet. */
function watched<T>(promise: Promise<T>): { result: Promise<T>; answered(): boolean } {
  let answered = false;
  const result = promise.finally(() => {
    answered = true;
  });
  return { result, answered: () => answered };
}

async function heldReplica() {
  const inner = await MemoryStore.open();
  const store = new FaultyStore(inner);
  const replica = await ReplicaStore.open({ store, nodeId: 'a' });
  return { inner, store, replica };
}

describe('ReplicaStore.readDurable', () => {
  it('answers at once when nothing is on its way to the store', async () => {
    const { replica } = await heldReplica();
    await replica.write('c', 'k', { kind: 'set', value: 1 });
    const { value, vector } = await replica.readDurable((state) => state.get('c', 'k')?.value);
    expect(value).toEqual(1);
    expect(vector.toJSON()).toEqual({ a: 1 });
  });

  it('waits for the commit of a write it saw, and answers with what it read then', async () => {
    const { store, replica } = await heldReplica();
    await replica.write('c', 'k', { kind: 'set', value: 1 });
    const release = store.holdCommits();
    const written = replica.write('c', 'k', { kind: 'set', value: 2 });
    const read = watched(replica.readDurable((state) => state.get('c', 'k')?.value));
    // Written after the read: not in what it answers.
    const later = replica.write('c', 'k', { kind: 'set', value: 3 });
    await turns();
    expect(read.answered(), 'answered before the write it shows was durable').toBe(false);
    release();
    const { value, vector } = await read.result;
    expect(value).toEqual(2);
    expect(vector.toJSON()).toEqual({ a: 2 });
    await Promise.all([written, later]);
    expect(replica.log.versionVector.toJSON()).toEqual({ a: 3 });
  });

  it('never answers from a write a crash took back: the restarted replica gives its seq to another write', async () => {
    const { inner, store, replica } = await heldReplica();
    store.holdCommits();
    const lost = replica.write('c', 'k', { kind: 'set', value: 'lost' });
    const read = watched(replica.readDurable((state) => state.get('c', 'k')?.value));
    void lost.catch(() => {});
    expect(replica.state.versionVector.toJSON(), 'applied, not durable').toEqual({ a: 1 });
    await turns();
    // The process dies here: the held commit never reaches the store.
    const restarted = await ReplicaStore.open({ store: await MemoryStore.open(inner.volume), nodeId: 'a' });
    expect(restarted.state.get('c', 'k')).toBeUndefined();
    const { op } = await restarted.write('c', 'k', { kind: 'set', value: 'another' });
    expect({ origin: op.origin, seq: op.seq }, 'a:1 now names another write').toEqual({
      origin: 'a',
      seq: 1,
    });
    expect(read.answered(), 'a read answered with a:1 when it was the lost write').toBe(false);
  });

  it('fails with LOG_FAILED when the commit fails, and reads what is durable afterwards', async () => {
    const { store, replica } = await heldReplica();
    await replica.write('c', 'k', { kind: 'set', value: 'kept' });
    const release = store.holdCommits();
    const failed = replica.write('c', 'k', { kind: 'set', value: 'failed' });
    const read = replica.readDurable((state) => state.get('c', 'k')?.value);
    store.failNextCommits(1);
    release();
    await expect(failed).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    await expect(read).rejects.toMatchObject({ code: 'LOG_FAILED' });
    const after = await replica.readDurable((state) => state.get('c', 'k')?.value);
    expect(after.value).toEqual('kept');
    expect(after.vector.toJSON()).toEqual({ a: 1 });
  });
});

describe('ReplicaStore.readDurableKey', () => {
  /** A replica whose key reads are tracked (the first key read turns tracking on). */
  async function tracked() {
    const held = await heldReplica();
    await held.replica.readDurableKey('c', 'none', (state) => state.get('c', 'none'));
    await turns();
    return held;
  }

  it('reads a key with no change under way at once, at the durable vector', async () => {
    const { store, replica } = await tracked();
    await replica.write('c', 'other', { kind: 'set', value: 'durable' });
    const release = store.holdCommits();
    const pending = replica.write('c', 'k', { kind: 'set', value: 'pending' });
    const other = await replica.readDurableKey('c', 'other', (state) => state.get('c', 'other')?.value);
    expect(other.value).toEqual('durable');
    expect(other.vector.toJSON(), 'the pending write is not in the token').toEqual({ a: 1 });
    const key = watched(replica.readDurableKey('c', 'k', (state) => state.get('c', 'k')?.value));
    await turns();
    expect(key.answered(), 'answered a key whose change was not durable').toBe(false);
    release();
    await pending;
    expect((await key.result).value).toEqual('pending');
    expect((await key.result).vector.toJSON()).toEqual({ a: 2 });
    // Durable now: at once again.
    const again = await replica.readDurableKey('c', 'k', (state) => state.get('c', 'k')?.value);
    expect(again.vector.toJSON()).toEqual({ a: 2 });
  });

  it('waits for the last change of the key, not only the first to become durable', async () => {
    const { store, replica } = await tracked();
    const releaseFirst = store.holdCommits();
    const first = replica.write('c', 'k', { kind: 'set', value: 'v1' });
    await turns(); // v1's commit is under way (held): v2 goes to the next one
    const second = replica.write('c', 'k', { kind: 'set', value: 'v2' });
    const releaseSecond = store.holdCommits();
    releaseFirst();
    await first;
    const read = watched(replica.readDurableKey('c', 'k', (state) => state.get('c', 'k')?.value));
    await turns();
    expect(read.answered(), 'answered v2 while only v1 was durable').toBe(false);
    releaseSecond();
    await second;
    expect((await read.result).value).toEqual('v2');
  });

  it('waits for a state being installed that changed the key', async () => {
    const { store, replica } = await tracked();
    const peer = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'b' });
    await peer.write('c', 'k', { kind: 'set', value: 'from b' });
    const release = store.holdCommits();
    const installed = replica.installState(peer.state.snapshot());
    const read = watched(replica.readDurableKey('c', 'k', (state) => state.get('c', 'k')?.value));
    await turns();
    expect(read.answered(), 'answered from a state not yet durable').toBe(false);
    release();
    await installed;
    expect((await read.result).value).toEqual('from b');
    expect((await read.result).vector.toJSON()).toEqual({ b: 1 });
  });

  it('before its first key read, a replica kept no keys: that read waits as readDurable does', async () => {
    const { store, replica } = await heldReplica();
    const release = store.holdCommits();
    void replica.write('c', 'k', { kind: 'set', value: 1 });
    const read = watched(replica.readDurableKey('c', 'other', (state) => state.get('c', 'other')));
    await turns();
    expect(read.answered()).toBe(false);
    release();
    await read.result;
  });
});
