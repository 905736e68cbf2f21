import { hlcFromWall, MemoryStore, type Op } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';

/**
 * ReplicaStore.admit: receive split in two, as a replication session uses it. The ops are applied
 * (or refused, having applied nothing) at once; their durability comes later, after that of every
 * batch admitted before them.
 */

const op = (origin: string, seq: number, value: string): Op => ({
  origin,
  seq,
  hlc: hlcFromWall(Date.now()) + seq,
  collection: 'c',
  key: `k${seq}`,
  mutation: [0, value],
});

async function open() {
  const disk = new FaultyStore(await MemoryStore.open());
  return { disk, replica: await ReplicaStore.open({ store: disk, nodeId: 'a' }) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplicaStore.admit', () => {
  it('applies ops at once and makes them durable later, a batch after the one before it', async () => {
    const { disk, replica } = await open();
    const release = disk.holdCommits();
    const first = replica.admit([op('b', 1, 'one')]);
    await turn(); // its commit starts, and is held
    const second = replica.admit([op('b', 1, 'one'), op('b', 2, 'two')]);
    expect(first.changes.map((change) => change.op.seq)).toEqual([1]);
    expect(
      second.changes.map((change) => change.op.seq),
      'b:1 is known once admitted',
    ).toEqual([2]);
    expect(replica.state.get('c', 'k2')).toMatchObject({ value: 'two' });
    expect(replica.log.versionVector.get('b'), 'nothing durable yet').toBe(0);
    let firstDurable = false;
    void first.durable.then(() => {
      firstDurable = true;
    });
    release();
    await second.durable;
    expect(firstDurable, 'the earlier batch is durable first').toBe(true);
    expect(replica.log.versionVector.get('b')).toBe(2);
    await replica.close();
  });

  it('throws a refusal at once, having applied nothing of the batch', async () => {
    const { replica } = await open();
    replica.admit([op('b', 1, 'one')]);
    const digest = replica.state.digest();
    expect(() => replica.admit([op('c', 1, 'fine'), op('b', 3, 'gap')])).toThrow(
      expect.objectContaining({ code: 'OP_GAP' }),
    );
    expect(replica.state.digest()).toBe(digest);
    expect(replica.state.versionVector.toJSON()).toEqual({ b: 1 });
    await replica.close();
  });

  it('a failed commit takes back the batches admitted behind it, and rejects their durability', async () => {
    const { disk, replica } = await open();
    await replica.admit([op('b', 1, 'durable')]).durable;
    const held = disk.holdCommits();
    const failing = replica.admit([op('b', 2, 'lost')]);
    await turn();
    const behind = replica.admit([op('b', 3, 'lost too')]);
    expect(replica.state.versionVector.get('b')).toBe(3);
    disk.failNextCommits(1);
    held();
    await expect(failing.durable).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    await expect(behind.durable).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    expect(replica.state.versionVector.toJSON(), 'rolled back to what is durable').toEqual({ b: 1 });
    expect(replica.state.get('c', 'k2')).toBeUndefined();
    expect(() => replica.admit([op('b', 2, 'again')])).toThrow(
      expect.objectContaining({ code: 'LOG_FAILED' }),
    );
    await replica.close().catch(() => {});
  });
});
