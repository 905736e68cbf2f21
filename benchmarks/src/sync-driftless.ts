import { MemoryStore, type Store } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { ReplicaStore } from '@driftless/crdt';
import { closeCodeName, Replicator, type ReplicatorEvent, syncReplicaOf } from '@driftless/sync';
import { WsTransport } from '@driftless/sync/ws';
import { CountingTransport, countingReplica, TimedStore } from './sync-instruments.js';
import type { ChildOptions, PeerCounters, ReceiveCounts, StoreStats } from './sync-ipc.js';
import type { SyncNode } from './sync-node.js';
import {
  CLUSTER_ID,
  CLUSTER_SECRET,
  COLLECTION,
  InFlightWindow,
  NODE_A,
  type Traffic,
  type Workload,
} from './sync-workload.js';

/**
 * A Driftless node as a user runs one: a ReplicaStore (on a MemoryStore or an LmdbStore)
 * replicated by the sync Replicator over the WebSocket transport. A writes each op with its own
 * ReplicaStore.write call, keeping a window of them in flight; B holds what its log's version
 * vector says it holds durably. The transport counts every frame each side sends and receives, and
 * the store counts and times its commits (sync-instruments.ts: wrappers that only count).
 */

/** Sessions that closed while the node ran (not those its own close ends), the first few of them. */
class Disconnects {
  static readonly MAX = 20;
  readonly list: string[] = [];
  closing = false;

  record(event: ReplicatorEvent): void {
    if (event.type !== 'disconnected' || this.closing || this.list.length >= Disconnects.MAX) return;
    this.list.push(`${event.peer} ${closeCodeName(event.code)}: ${event.reason}`);
  }
}

/** A Driftless node; see the module comment. */
class DriftlessNode implements SyncNode {
  readonly #replica: ReplicaStore;
  readonly #replicator: Replicator;
  readonly #store: TimedStore;
  readonly #transport: CountingTransport;
  readonly #workload: Workload | undefined;
  readonly #window: InFlightWindow;
  readonly #counts: ReceiveCounts;
  readonly #disconnects: Disconnects;
  #written: ((i: number) => void) | undefined;

  constructor(
    replica: ReplicaStore,
    replicator: Replicator,
    store: TimedStore,
    transport: CountingTransport,
    workload: Workload | undefined,
    window: number,
    counts: ReceiveCounts,
    disconnects: Disconnects,
  ) {
    this.#window = new InFlightWindow(window);
    this.#counts = counts;
    this.#disconnects = disconnects;
    this.#replica = replica;
    this.#replicator = replicator;
    this.#store = store;
    this.#transport = transport;
    this.#workload = workload;
  }

  get url(): string | undefined {
    return this.#replicator.url;
  }

  get held(): number {
    return this.#replica.log.versionVector.get(NODE_A);
  }

  async connected(peers: number): Promise<void> {
    while (this.#replicator.connectedPeers.length < peers)
      await new Promise((resolve) => setTimeout(resolve, 5));
  }

  async burst(from: number, to: number): Promise<void> {
    const { keys, values } = this.#writable();
    const replica = this.#replica;
    const window = this.#window;
    for (let i = from; i < to; i++) {
      const wait = window.acquire();
      if (wait !== undefined) {
        await wait;
        // On a MemoryStore a write settles in microtasks alone: without a turn of the event loop
        // here the writer would never let the node read its sockets (as a writer serving
        // requests does between them).
        await new Promise((resolve) => setImmediate(resolve));
      }
      replica
        .write(COLLECTION, keys[i] as string, { kind: 'set', value: values[i] as string })
        .then(window.release, window.fail);
    }
    await window.drain();
  }

  write(i: number): Promise<void> | undefined {
    const { keys, values } = this.#writable();
    return this.#window.issue(() =>
      this.#replica
        .write(COLLECTION, keys[i] as string, { kind: 'set', value: values[i] as string })
        .then(() => this.#written?.(i)),
    );
  }

  onWritten(listener: (i: number) => void): void {
    this.#written = listener;
  }

  endTurn(): void {}

  settled(): Promise<void> {
    return this.#window.drain();
  }

  onHeld(listener: () => void): void {
    this.#replica.log.onAppend(listener);
  }

  traffic(): Traffic {
    return { ...this.#transport.traffic };
  }

  storeStats(): StoreStats {
    return { ...this.#store.stats };
  }

  receiveCounts(): ReceiveCounts {
    return { ...this.#counts };
  }

  disconnects(): readonly string[] {
    return [...this.#disconnects.list];
  }

  status(): PeerCounters[] {
    return peerCountersOf(this.#replicator);
  }

  async close(): Promise<void> {
    this.#disconnects.closing = true;
    await this.#replicator.close();
    await this.#replica.close();
    await this.#store.close();
  }

  #writable(): Workload {
    if (this.#workload === undefined) throw new Error('this node was started without a workload to write');
    return this.#workload;
  }
}

/** Every peer session's counters, as Replicator.status() reports them. */
export function peerCountersOf(replicator: Replicator): PeerCounters[] {
  return replicator.status().map(({ nodeId, stats }) => ({
    nodeId,
    opsSent: stats.opsSent,
    opsReceived: stats.opsReceived,
    opsDuplicate: stats.opsDuplicate,
    bytesSent: stats.bytesSent,
    framesSent: stats.framesSent,
    statesReceived: stats.statesReceived,
  }));
}

/** Starts a Driftless node: its store, replica and replicator (listening and dialing as asked). */
export async function startDriftless(
  options: ChildOptions,
  workload: Workload | undefined,
): Promise<SyncNode> {
  let inner: Store;
  if (options.system === 'driftless-lmdb') {
    if (options.dir === undefined) throw new Error('driftless-lmdb needs --dir');
    inner = await LmdbStore.open(options.dir);
  } else {
    inner = await MemoryStore.open();
  }
  const store = new TimedStore(inner);
  const replica = await ReplicaStore.open({ store, nodeId: options.nodeId });
  const transport = new CountingTransport(new WsTransport());
  const counts: ReceiveCounts = { received: 0, fresh: 0 };
  const disconnects = new Disconnects();
  const replicator = await Replicator.start({
    replica: countingReplica(syncReplicaOf(replica), counts),
    transport,
    clusterId: CLUSTER_ID,
    secret: CLUSTER_SECRET,
    ...(options.listen ? { listen: '127.0.0.1:0' } : {}),
    peers: options.peers,
    onEvent: (event) => disconnects.record(event),
  });
  return new DriftlessNode(
    replica,
    replicator,
    store,
    transport,
    workload,
    options.window,
    counts,
    disconnects,
  );
}
