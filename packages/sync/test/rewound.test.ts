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
async function twoNodes(
  network: MemoryNetwork,
  disk: MemoryVolume,
  beforeK2?: () => Promise<void>,
  bDisk = new MemoryVolume(),
) {
  const a = await node(network, 'a', { disk: await MemoryStore.open(disk), options: { peers: ['mem://b'] } });
  const b = await node(network, 'b', { disk: await MemoryStore.open(bDisk) });
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

  // Wrote as many as it lost (its own tip is the peer's: compared at once) and more (read from its log).
  for (const written of [3, 5]) {
    it(`refuses writes once a peer shows it wrote again over ops it lost (${written} new ops)`, async () => {
      const network = new MemoryNetwork({ seed: 44 + written });
      const b = await twoNodes(network, new MemoryVolume());
      const disk = new MemoryVolume();
      // Back without its data and apart from its peers: its vector catches up with what b holds.
      const alone = await node(network, 'a', { disk: await MemoryStore.open(disk) });
      for (let i = 1; i <= written; i++) await write(alone, `new${i}`);
      await alone.stop();
      const a = await node(network, 'a', {
        disk: await MemoryStore.open(disk),
        options: { peers: ['mem://b'] },
      });
      await until(() => a.replicator.rewound !== undefined, 'a learns its ops differ from b');
      const rewound = { peer: 'b', held: 3, own: written, conflict: 3 };
      expect(a.replicator.rewound).toEqual(rewound);
      expect(origins(a.events)).toEqual([{ type: 'rewound', ...rewound }]);
      expect(origins(b.events), 'only the node itself can tell').toEqual([]);
      const refused = await write(a, 'k9').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: 'ORIGIN_REWOUND' });
      expect((refused as Error).message).toMatch(/holds an op a:3 other than the one this node's log holds/);
      expect(a.store.log.versionVector.get('a'), 'no seq was taken').toBe(written);
    });
  }

  it('refuses writes when the peer holds its lost ops only as state (its log truncated, then restarted)', async () => {
    const network = new MemoryNetwork({ seed: 49 });
    const bDisk = new MemoryVolume();
    const b = await twoNodes(network, new MemoryVolume(), undefined, bDisk);
    await b.store.checkpoint();
    await b.store.log.truncate(b.store.log.versionVector);
    expect(await b.store.log.opAt('a', 3), 'truncated').toBeUndefined();
    await b.stop();
    const disk = new MemoryVolume();
    const alone = await node(network, 'a', { disk: await MemoryStore.open(disk) });
    for (let i = 1; i <= 4; i++) await write(alone, `new${i}`);
    await alone.stop();
    const back = await node(network, 'b', { disk: await MemoryStore.open(bDisk) });
    expect(back.store.log.tipOf('a')?.seq, 'the tip its truncation stored').toBe(3);
    const a = await node(network, 'a', {
      disk: await MemoryStore.open(disk),
      options: { peers: ['mem://b'] },
    });
    await until(() => a.replicator.rewound !== undefined, 'a learns its ops differ from b');
    expect(a.replicator.rewound).toEqual({ peer: 'b', held: 3, own: 4, conflict: 3 });
  });

  it('refuses writes when every op of its origin reached the peer in a state (the tip its stamps showed)', async () => {
    const network = new MemoryNetwork({ seed: 51 });
    const b = await twoNodes(network, new MemoryVolume());
    await b.store.checkpoint();
    await b.store.log.truncate(b.store.log.versionVector);
    // c joins after the truncation: b sends it a snapshot, so c's log holds no op of a's.
    const cDisk = new MemoryVolume();
    const c = await node(network, 'c', {
      disk: await MemoryStore.open(cDisk),
      options: { peers: ['mem://b'] },
    });
    await until(() => c.store.log.versionVector.get('a') === 3, 'c holds a:3');
    expect(await c.store.log.opAt('a', 3), 'in no entry of its log').toBeUndefined();
    expect(c.store.log.tipOf('a')?.seq, "shown by k3's stamp").toBe(3);
    await b.stop();
    await c.stop();
    const disk = new MemoryVolume();
    const alone = await node(network, 'a', { disk: await MemoryStore.open(disk) });
    for (let i = 1; i <= 4; i++) await write(alone, `new${i}`);
    await alone.stop();
    await node(network, 'c', { disk: await MemoryStore.open(cDisk) });
    const a = await node(network, 'a', {
      disk: await MemoryStore.open(disk),
      options: { peers: ['mem://c'] },
    });
    await until(() => a.replicator.rewound !== undefined, 'a learns its ops differ from c');
    expect(a.replicator.rewound).toEqual({ peer: 'c', held: 3, own: 4, conflict: 3 });
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

  it('writes on when a peer holds fewer of its ops than its log (its tip read back from the log)', async () => {
    const network = new MemoryNetwork({ seed: 50 });
    const disk = new MemoryVolume();
    const bDisk = new MemoryVolume();
    const b = await twoNodes(network, disk, undefined, bDisk);
    await b.stop();
    // a writes on while b is away, and restarts: b's tip (a:3) is behind a's own (a:5).
    const alone = await node(network, 'a', { disk: await MemoryStore.open(disk) });
    await write(alone, 'k4');
    await write(alone, 'k5');
    await alone.stop();
    const back = await node(network, 'b', { disk: await MemoryStore.open(bDisk) });
    const a = await node(network, 'a', {
      disk: await MemoryStore.open(disk),
      options: { peers: ['mem://b'] },
    });
    expect(a.store.log.tipOf('a')?.seq, 'the tip recovered on opening').toBe(5);
    await until(() => back.store.log.versionVector.get('a') === 5, 'b catches up to a:5');
    const { op } = await write(a, 'k6');
    expect(op.seq).toBe(6);
    expect(a.replicator.rewound).toBeUndefined();
    expect([...origins(a.events), ...origins(back.events)]).toEqual([]);
  });
});
