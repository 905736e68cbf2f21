/**
 * A node that comes back without ops of its own origin that its peers hold (its store wiped, or
 * restored from an older backup) must not write: its next op would take a seq one of those ops
 * has, and every peer would drop it as known. The handshake's vectors show it (origin-check.ts).
 */
import { MemoryStore, MemoryVolume, type StoreWrite } from '@driftless/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, type ReplicatorEvent } from '../src/index.js';
import { node, stopNodes, type TestNode, until, write } from './test-nodes.js';

afterEach(stopNodes);

const origins = (events: readonly ReplicatorEvent[]) => events.filter((event) => event.type === 'rewound');

/** A copy of everything `volume` holds, as a backup taken now would. */
async function backupOf(volume: MemoryVolume): Promise<MemoryVolume> {
  const copy = new MemoryVolume();
  const from = await MemoryStore.open(volume);
  const to = await MemoryStore.open(copy);
  const writes: StoreWrite[] = [];
  for (const table of volume.tables.keys()) {
    for await (const { key, value } of from.range(table)) writes.push({ table, key, value });
  }
  await to.commit(writes);
  return copy;
}

/** a writes k1…k3, b holds them; then a stops. */
async function twoNodes(network: MemoryNetwork, disk: MemoryVolume, beforeK2?: () => Promise<void>) {
  const a = await node(network, 'a', { disk: await MemoryStore.open(disk), options: { peers: ['mem://b'] } });
  const b = await node(network, 'b');
  await write(a, 'k1');
  await beforeK2?.();
  await write(a, 'k2');
  await write(a, 'k3');
  await until(() => b.store.log.versionVector.get('a') === 3, 'b holds a:3');
  await a.stop();
  return b;
}

async function expectRefused(a: TestNode, b: TestNode, held: number, own: number): Promise<void> {
  await until(() => a.replicator.rewound !== undefined, 'a learns it lost ops of its own origin');
  expect(a.replicator.rewound).toEqual({ peer: 'b', held, own });
  expect(origins(a.events)).toEqual([{ type: 'rewound', peer: 'b', held, own }]);
  expect(origins(b.events), 'only the node itself can tell').toEqual([]);
  const refused = await write(a, 'k4').then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(refused).toMatchObject({ code: 'ORIGIN_REWOUND' });
  expect((refused as Error).message).toMatch(/holds ops of this node's origin up to a:3.*new node id/);
  expect(a.store.log.versionVector.get('a'), 'no seq was taken').toBe(own);
  // Still a replica: it takes every other origin's ops, and peers keep theirs.
  await write(b, 'from-b');
  await until(() => a.store.state.get('c', 'from-b') !== undefined, 'a receives b writes');
  expect(b.store.state.get('c', 'k4')).toBeUndefined();
  expect(b.store.log.versionVector.get('a')).toBe(3);
}

describe('a node behind its own origin', () => {
  it('refuses writes once a peer shows it lost its store (same id, empty store)', async () => {
    const network = new MemoryNetwork({ seed: 41 });
    const b = await twoNodes(network, new MemoryVolume());
    const a = await node(network, 'a', { options: { peers: ['mem://b'] } });
    await expectRefused(a, b, 3, 0);
  });

  it('refuses writes once a peer shows it came back from an older backup', async () => {
    const network = new MemoryNetwork({ seed: 42 });
    const disk = new MemoryVolume();
    let backup: MemoryVolume | undefined;
    const b = await twoNodes(network, disk, async () => {
      backup = await backupOf(disk);
    });
    const a = await node(network, 'a', {
      disk: await MemoryStore.open(backup as MemoryVolume),
      options: { peers: ['mem://b'] },
    });
    expect(a.store.log.versionVector.get('a'), 'the backup holds a:1').toBe(1);
    await expectRefused(a, b, 3, 1);
  });

  it('writes on after a restart that lost nothing, and nobody reports a loss', async () => {
    const network = new MemoryNetwork({ seed: 43 });
    const disk = new MemoryVolume();
    const b = await twoNodes(network, disk);
    const a = await node(network, 'a', {
      disk: await MemoryStore.open(disk),
      options: { peers: ['mem://b'] },
    });
    await until(() => a.events.some((event) => event.type === 'connected'), 'a reconnects');
    const { op } = await write(a, 'k4');
    expect(op.seq).toBe(4);
    await until(() => b.store.state.get('c', 'k4') !== undefined, 'b receives a:4');
    expect(a.replicator.rewound).toBeUndefined();
    expect([...origins(a.events), ...origins(b.events)]).toEqual([]);
  });
});
