/**
 * What a divergence is made of. The checker sees survivors disagree by their digests; this stops
 * them, reads each one's stored state back, and names every workload key whose stored entry (its
 * type, stamps, tombstone and value: what the digest covers) differs between them. When the stored
 * states agree, the difference was only in the nodes' memory, which says as much.
 */
import { join } from 'node:path';
import { LmdbStore } from '@driftless/core/lmdb';
import { ReplicaStore } from '@driftless/crdt';
import type { FaultCluster } from './fault-cluster.js';
import type { Violation } from './read-checks.js';
import { workloadKeys } from './workload.js';

/** Most keys named per node. */
const MAX_KEYS = 5;

/** Each node's stored entries, by `collection/key`, as JSON ('absent' for none). */
export type StoredEntries = ReadonlyMap<string, ReadonlyMap<string, string>>;

/** Kills `nodes` (their data stays) and reads every workload key's stored entry on each. */
export async function storedEntries(cluster: FaultCluster, nodes: readonly string[]): Promise<StoredEntries> {
  const entries = new Map<string, Map<string, string>>();
  for (const id of nodes) {
    await cluster.kill(id);
    const store = await LmdbStore.open(join(cluster.harness.dir, id));
    try {
      const replica = await ReplicaStore.open({ store, nodeId: id });
      const own = new Map<string, string>();
      own.set('(collected below)', JSON.stringify(replica.state.collectedBelow));
      for (const { collection, key } of workloadKeys()) {
        const entry = replica.state.entryValue(collection, key);
        own.set(`${collection}/${key}`, entry === undefined ? 'absent' : JSON.stringify(entry));
      }
      entries.set(id, own);
      await replica.close();
    } finally {
      await store.close();
    }
  }
  return entries;
}

/** The keys on which each node's stored entry differs from the first node's, as violations. */
export function differingEntries(entries: StoredEntries, label: string): Violation[] {
  const [first, ...others] = [...entries];
  if (first === undefined) return [];
  const [firstId, reference] = first;
  const violations: Violation[] = [];
  for (const [id, own] of others) {
    const keys = [...new Set([...reference.keys(), ...own.keys()])].filter(
      (key) => reference.get(key) !== own.get(key),
    );
    for (const key of keys.slice(0, MAX_KEYS)) {
      violations.push({
        kind: 'diverged',
        message: `${label}: ${key} is stored as ${own.get(key) ?? 'absent'} on ${id}, ${reference.get(key) ?? 'absent'} on ${firstId}`,
        operations: [],
      });
    }
  }
  if (violations.length === 0 && entries.size > 1) {
    violations.push({
      kind: 'diverged',
      message: `${label}: the stored states agree on every key; the difference was only in memory`,
      operations: [],
    });
  }
  return violations;
}

/**
 * Names what `nodes` disagree on (see the module comment); they are stopped to read their stores,
 * and started again when `restart` (the schedule goes on).
 */
export async function explainDivergence(
  cluster: FaultCluster,
  nodes: readonly string[],
  label: string,
  restart: boolean,
): Promise<Violation[]> {
  const entries = await storedEntries(cluster, nodes);
  if (restart) await Promise.all(nodes.map((id) => cluster.startNode(id)));
  return differingEntries(entries, label);
}
