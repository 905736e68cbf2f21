import { MemoryStore, VersionVector } from '@driftless/core';
import { type DurableChanges, ReplicaStore } from '@driftless/crdt';
import { afterEach, describe, expect, it } from 'vitest';

const open: ReplicaStore[] = [];
afterEach(async () => {
  for (const replica of open.splice(0)) await replica.close();
});

async function replica(id: string): Promise<ReplicaStore> {
  const store = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: id });
  open.push(store);
  return store;
}

/** ReplicaStore.onChanges, which the change feed and causal waits are built on. */
describe('ReplicaStore.onChanges', () => {
  it('reports local writes and received ops once durable, one change per op, in log order', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const seen: DurableChanges[] = [];
    const stop = a.onChanges((changes) => seen.push(changes));
    const [first] = await Promise.all([
      a.write('c', 'x', { kind: 'set', value: 1 }),
      a.write('c', 'y', { kind: 'incr', delta: 2 }),
    ]);
    // Reported before the write resolved.
    expect(seen.length).toBeGreaterThan(0);
    expect(first.op.seq).toBe(1);
    const { op } = await b.write('c', 'z', { kind: 'add', element: 'e' });
    await a.receive([op]);
    const ops = seen.flatMap((changes) => (changes.type === 'ops' ? changes.changes : []));
    expect(ops.map((change) => [change.op.origin, change.op.seq, change.kind, change.key])).toEqual([
      ['a', 1, 'set', 'x'],
      ['a', 2, 'incr', 'y'],
      ['b', 1, 'add', 'z'],
    ]);
    const lsns = seen.map((changes) => (changes.type === 'ops' ? changes.lsn : 0));
    expect(lsns).toEqual([...lsns].sort((x, y) => x - y));
    stop();
    await a.write('c', 'w', { kind: 'set', value: 3 });
    expect(seen.flatMap((changes) => (changes.type === 'ops' ? changes.changes : []))).toHaveLength(3);
  });

  it('reports an installed state with its keys and vector', async () => {
    const a = await replica('a');
    const z = await replica('z');
    await z.write('c', 'k1', { kind: 'set', value: 1 });
    await z.write('d', 'k2', { kind: 'set', value: 2 });
    const seen: DurableChanges[] = [];
    a.onChanges((changes) => seen.push(changes));
    await a.installState(z.state.snapshot());
    expect(seen).toHaveLength(1);
    const [state] = seen;
    expect(state?.type).toBe('state');
    if (state?.type !== 'state') return;
    expect(state.vector.equals(VersionVector.from({ z: 2 }))).toBe(true);
    expect(state.keys.map(({ collection, key }) => `${collection}/${key}`).sort()).toEqual(['c/k1', 'd/k2']);
  });

  it('a listener that throws does not fail the write', async () => {
    const a = await replica('a');
    a.onChanges(() => {
      throw new Error('listener bug');
    });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const { op } = await a.write('c', 'x', { kind: 'set', value: 1 });
      expect(op.seq).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toHaveLength(1);
  });
});
