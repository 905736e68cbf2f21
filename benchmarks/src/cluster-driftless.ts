import type { Intent } from '@driftless/crdt';
import { DriftlessNode } from '@driftless/node';
import * as Y from 'yjs';
import type { ClusterNodeSpec } from './cluster-spec.js';
import { type ClusterWrite, KV_COLLECTION, nodeIdOf, TEXT_COLLECTION, TEXT_KEY } from './cluster-workload.js';
import { peerCountersOf } from './sync-driftless.js';
import type { PeerCounters, ReceiveCounts, StoreStats } from './sync-ipc.js';
import type { SyncNode } from './sync-node.js';
import {
  CLUSTER_ID,
  CLUSTER_SECRET,
  InFlightWindow,
  noTraffic,
  type Traffic,
  WRITE_WINDOW,
} from './sync-workload.js';

/**
 * A Driftless cluster node: the real node (DriftlessNode from @driftless/node, as `driftless start`
 * runs it: replica, replication and API on one port, peers dialed at /v1/peers), on a memory store
 * or LMDB in its data directory. Writes go to its replica in-process (ReplicaStore.write, the call
 * behind PUT /v1/…), keeping WRITE_WINDOW of them in flight, so that HTTP does not stand between
 * the writer and replication. Text edits are made on a local Y.Doc and written as `yjs` ops,
 * one update per edit, as a Yjs provider would. What the node holds is its durable log's vector.
 */

/** Replication retries quickly, so that a healed partition or a restarted peer reconnects at once. */
const TIMING = { reconnectBaseMs: 50, reconnectMaxMs: 200 };

/** A Driftless cluster node. */
class DriftlessClusterNode implements SyncNode {
  readonly #node: DriftlessNode;
  readonly #writes: readonly ClusterWrite[];
  readonly #window = new InFlightWindow(WRITE_WINDOW);
  /** The writer's own Y.Doc (text scenario) and the update its last edit made. */
  readonly #text = new Y.Doc();
  #update: Uint8Array | undefined;

  constructor(node: DriftlessNode, writes: readonly ClusterWrite[]) {
    this.#node = node;
    this.#writes = writes;
    this.#text.on('update', (update: Uint8Array) => {
      this.#update = update;
    });
  }

  get url(): string {
    return this.#node.peerUrl;
  }

  get held(): number {
    return this.#node.replica.log.versionVector.total;
  }

  heldFrom(origin: string): number {
    return this.#node.replica.log.versionVector.get(origin);
  }

  async connected(peers: number): Promise<void> {
    while (this.#node.replicator.connectedPeers.length < peers)
      await new Promise((resolve) => setTimeout(resolve, 5));
  }

  async burst(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      const wait = this.write(i);
      // On a memory store a write settles in microtasks alone: let the node read its sockets.
      if (wait !== undefined) await wait.then(() => new Promise((resolve) => setImmediate(resolve)));
    }
    await this.#window.drain();
  }

  write(i: number): Promise<void> | undefined {
    const write = this.#writes[i];
    if (write === undefined) throw new Error(`driftless ${this.#node.id} has no write ${i}`);
    return this.#window.issue(() => {
      const [collection, key, intent] = this.#intentOf(write);
      return this.#node.replica.write(collection, key, intent);
    });
  }

  #intentOf(write: ClusterWrite): [string, string, Intent] {
    if (write.kind === 'set') return [KV_COLLECTION, write.key, { kind: 'set', value: write.value }];
    if (write.kind === 'incr') return [KV_COLLECTION, write.key, { kind: 'incr', delta: write.delta }];
    const text = this.#text.getText('t');
    this.#text.transact(() => {
      if (write.del > 0) text.delete(write.pos, write.del);
      if (write.text.length > 0) text.insert(write.pos, write.text);
    });
    const update = this.#update;
    if (update === undefined) throw new Error('the text edit made no Yjs update');
    this.#update = undefined;
    return [TEXT_COLLECTION, TEXT_KEY, { kind: 'yjs', update }];
  }

  endTurn(): void {}

  settled(): Promise<void> {
    return this.#window.drain();
  }

  onHeld(listener: () => void): void {
    // Every commit (ops, and installed snapshots) moves the durable vector.
    this.#node.replica.onChanges(listener);
  }

  digest(): string {
    return this.#node.status().digest;
  }

  async truncate(): Promise<void> {
    const { log } = this.#node.replica;
    await log.truncate(log.versionVector);
  }

  /** Bytes the replication sessions sent and received (a replaced session starts from zero). */
  traffic(): Traffic {
    const traffic = noTraffic();
    for (const { stats } of this.#node.replicator.status()) {
      traffic.sentBytes += stats.bytesSent;
      traffic.sentFrames += stats.framesSent;
      traffic.receivedBytes += stats.bytesReceived;
    }
    return traffic;
  }

  storeStats(): StoreStats | undefined {
    return undefined;
  }

  status(): PeerCounters[] {
    return peerCountersOf(this.#node.replicator);
  }

  receiveCounts(): ReceiveCounts | undefined {
    return undefined;
  }

  disconnects(): readonly string[] {
    return [];
  }

  close(): Promise<void> {
    return this.#node.close();
  }
}

/** Starts the real node for `spec`, dialing its peers. */
export async function startDriftlessNode(
  spec: ClusterNodeSpec,
  writes: readonly ClusterWrite[],
): Promise<SyncNode> {
  const node = await DriftlessNode.start({
    id: nodeIdOf(spec.index),
    ...(spec.dataDir === undefined ? {} : { dataDir: spec.dataDir }),
    listen: `127.0.0.1:${spec.port}`,
    peers: spec.peers,
    clusterId: CLUSTER_ID,
    secret: CLUSTER_SECRET,
    timing: TIMING,
  });
  return new DriftlessClusterNode(node, writes);
}
