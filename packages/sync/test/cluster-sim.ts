/**
 * A seeded cluster of real replicas (ReplicaStore on MemoryStore) replicating through the real
 * Replicator over the in-memory network: random writes on every writable node, partitions,
 * heals, restarts (a restart reopens the node from its store's volume), crashes (commits not
 * yet made never reach the volume, as with kill -9; the node reopens from what did) and slow disks. It records
 * what a correct cluster must show: every acknowledged write on every node in the end, equal
 * digests, no op applied before an op its writer had seen, and at every step each replica's state
 * holding everything its durable log holds, and the past of every op it holds.
 */
import { type Dot, MemoryStore, MemoryVolume, type Op, type VersionVector } from '@driftless/core';
import { FaultyStore, seededRandom } from '@driftless/core/testing';
import { ReplicaStore } from '@driftless/crdt';
import {
  MemoryNetwork,
  type PeerStatus,
  Replicator,
  type Role,
  type SyncReplica,
  syncReplicaOf,
} from '@driftless/sync';
import { layout, randomIntent, type Topology } from './cluster-plan.js';

interface SimNode {
  readonly id: string;
  readonly role: Role;
  readonly dials: readonly string[];
  readonly volume: MemoryVolume;
  /** The store over `volume`: crash() fails its commits. */
  disk: FaultyStore | undefined;
  store: ReplicaStore | undefined;
  replicator: Replicator | undefined;
}

const SECRET = 'cluster-sim-secret-0123456789';
const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5'];

/** A running simulated cluster. */
export class ClusterSim {
  readonly random: () => number;
  readonly network: MemoryNetwork;
  readonly faults: 'none' | 'lossy links' | 'unreliable';
  readonly nodes: SimNode[];
  /** Dots of acknowledged (durable) writes. */
  readonly acknowledged: Dot[] = [];
  /** What each op's writer had applied when it wrote: the op's causal past. */
  readonly #pasts = new Map<string, VersionVector>();
  readonly violations: string[] = [];
  /** Deltas and snapshots installed, across nodes. */
  statesInstalled = 0;
  /** Keys whose tombstones were collected, across nodes. */
  keysCollected = 0;
  /** Writes a crash took back before they were durable. */
  writesLost = 0;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(seed: number, topology: Topology) {
    this.random = seededRandom(seed);
    // A third of the schedules run on a clean network, a third with latency and broken
    // connections, a third also losing, duplicating and reordering frames.
    const kind = seed % 3;
    this.faults = kind === 0 ? 'none' : kind === 1 ? 'lossy links' : 'unreliable';
    this.network = new MemoryNetwork({
      seed,
      faults:
        kind === 0
          ? {}
          : {
              latencyMs: { min: 0, max: 3 },
              dropProbability: 0.01,
              ...(kind === 2
                ? {
                    unreliable: {
                      lossProbability: 0.01,
                      duplicateProbability: 0.02,
                      reorderProbability: 0.02,
                    },
                  }
                : {}),
            },
    });
    this.nodes = layout(topology).map((node) => ({
      ...node,
      volume: new MemoryVolume(),
      disk: undefined,
      store: undefined,
      replicator: undefined,
    }));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  async startAll(): Promise<void> {
    for (const node of this.nodes) await this.start(node);
  }

  async start(node: SimNode): Promise<void> {
    if (node.store) return;
    const disk = new FaultyStore(await MemoryStore.open(node.volume));
    // Nodes n1 and n3 checkpoint every few ops, so background checkpoints (of cells and of ops) run
    // under partitions, relays, installs, collections and crashes; the others at the default.
    const checkpointOps = node.id === 'n1' || node.id === 'n3' ? 8 : undefined;
    const store = await ReplicaStore.open({
      store: disk,
      nodeId: node.id,
      ...(checkpointOps === undefined ? {} : { checkpointOps }),
    });
    node.disk = disk;
    node.store = store;
    if (!store.state.versionVector.equals(store.log.versionVector)) {
      this.violations.push(
        `${node.id} reopened with state ${JSON.stringify(store.state.versionVector)} and log ${JSON.stringify(store.log.versionVector)}`,
      );
    }
    this.checkNode(node, 'reopened');
    node.replicator = await Replicator.start({
      replica: this.#checked(node.id, syncReplicaOf(store), store),
      transport: this.network.transport({ host: `mem://${node.id}` }),
      clusterId: 'sim',
      secret: SECRET,
      role: node.role,
      listen: `mem://${node.id}`,
      peers: node.dials.map((id) => `mem://${id}`),
      timing: {
        reconnectBaseMs: 2,
        reconnectMaxMs: 40,
        handshakeTimeoutMs: 200,
        heartbeatIntervalMs: 50,
        heartbeatTimeoutMs: 400,
        // Small thresholds, so catch-ups by compacted delta and chunked states happen often.
        deltaMinOps: 5,
        stateChunkBytes: 200,
        collectIntervalMs: 20,
      },
      // Every node is a member: tombstones are collected once all five hold a delete.
      members: this.nodes.map((other) => other.id),
      onEvent: (event) => {
        if (event.type === 'collected') this.keysCollected += event.keys;
        // A collection whose commit a crash failed (the log failed with it) was never made.
        if (event.type === 'collect-failed' && store.log.failure === undefined)
          this.violations.push(`${node.id} failed to collect: ${event.message}`);
      },
      random: this.random,
    });
  }

  async stop(node: SimNode): Promise<void> {
    const { store, replicator } = node;
    if (!store || !replicator) return;
    node.store = undefined;
    node.replicator = undefined;
    await replicator.close();
    await store.close();
  }

  /** A random write at `at` or a random running writable node; acknowledged ones are recorded. */
  write(at?: SimNode): void {
    const writers = this.nodes.filter((node) => node.store && node.role !== 'replica');
    if (writers.length === 0) return;
    const node = at ?? this.pick(writers);
    const store = node.store as ReplicaStore;
    const [collection, intent] = randomIntent(this.random);
    const past = store.state.versionVector;
    const before = past.get(node.id);
    let written: Promise<{ op: Op }>;
    try {
      written = store.write(collection, this.pick(KEYS), intent);
    } catch (error) {
      if ((error as { code?: string }).code === 'TYPE_CONFLICT') return;
      throw error;
    }
    const promise = written.then(
      ({ op }) => {
        this.acknowledged.push({ origin: op.origin, seq: op.seq });
      },
      (error: { code?: string }) => {
        // A write cut off by a restart was never acknowledged; anything else is a failure.
        // A crash fails it with STORE_WRITE_FAILED, or LOG_FAILED when it joined the log after.
        if (error.code === 'STORE_WRITE_FAILED') this.writesLost++;
        if (!['STORE_CLOSED', 'LOG_FAILED', 'TYPE_CONFLICT', 'STORE_WRITE_FAILED'].includes(error.code ?? ''))
          this.violations.push(`write failed: ${String(error)}`);
      },
    );
    // The op is admitted and applied synchronously, so its seq is known at once. A write refused
    // (TYPE_CONFLICT rejects the promise, it does not throw) admits nothing: recording its past
    // under the last seq would give that op a past it never had.
    const seq = store.state.versionVector.get(node.id);
    if (seq > before) this.#pasts.set(`${node.id}:${seq}`, past);
    this.#track(promise);
  }

  /** Cuts the cluster in two random, non-empty halves. */
  partition(): void {
    const shuffled = [...this.nodes].sort(() => this.random() - 0.5);
    const cut = 1 + Math.floor(this.random() * (shuffled.length - 1));
    this.network.partition(
      shuffled.slice(0, cut).map((node) => `mem://${node.id}`),
      shuffled.slice(cut).map((node) => `mem://${node.id}`),
    );
  }

  heal(): void {
    this.network.heal();
  }

  /** Drops a random node's whole log: peers behind it must then be sent a snapshot. */
  async truncate(): Promise<void> {
    const node = this.pick(this.nodes.filter((n) => n.store));
    const store = node?.store;
    if (!store) return;
    await store.log.truncate(store.log.versionVector).catch((error: { code?: string }) => {
      if (error.code !== 'STORE_CLOSED' && error.code !== 'LOG_FAILED') throw error;
    });
  }

  async restart(): Promise<void> {
    const node = this.pick(this.nodes);
    await this.stop(node);
    await this.start(node);
  }

  /**
   * kill -9 of a random running node, then a restart: every commit not yet made fails, so what
   * it had admitted but not made durable is lost (and its seqs go to its next writes).
   */
  async crash(): Promise<void> {
    const node = this.pick(this.nodes.filter((n) => n.store));
    if (!node) return;
    // Writes in flight: admitted and applied, their commit not yet made.
    if (node.role !== 'replica') for (let i = Math.floor(this.random() * 3); i > 0; i--) this.write(node);
    node.disk?.failNextCommits(Number.POSITIVE_INFINITY);
    await this.stop(node);
    await this.start(node);
  }

  /**
   * A slow disk: a random running node's commits wait 1–4 ms, so what it receives meanwhile is
   * applied before the commit in flight is durable, and frames queue behind it (a crash or a
   * restart may come while they wait).
   */
  slowDisk(): void {
    const node = this.pick(this.nodes.filter((n) => n.store));
    const release = node?.disk?.holdCommits();
    if (release) setTimeout(release, 1 + Math.floor(this.random() * 4));
  }

  /** Checks every running node (see checkNode). */
  checkAll(when: string): void {
    for (const node of this.nodes) this.checkNode(node, when);
  }

  /**
   * The state holds everything the durable log holds (it applies ops as the log admits them), and
   * the past of every op it holds.
   */
  checkNode(node: SimNode, when: string): void {
    const store = node.store;
    if (!store || store.log.failure) return;
    const state = store.state.versionVector;
    const durable = store.log.versionVector;
    if (!state.dominates(durable)) {
      this.violations.push(
        `${node.id} ${when}: state ${JSON.stringify(state)} lacks ops of its durable log ${JSON.stringify(durable)}`,
      );
    }
    for (const [dot, past] of this.#pasts) {
      const [origin, seq] = dot.split(':') as [string, string];
      if (state.includes(origin, Number(seq)) && !state.dominates(past)) {
        this.violations.push(`${node.id} ${when}: holds ${dot} but not its past ${JSON.stringify(past)}`);
        return;
      }
    }
  }

  /** Lets writes, deliveries and reconnects run for a moment. */
  async settle(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await Promise.all([...this.#pending]);
  }

  /** Waits until every node holds the same ops and the same digest, or `timeoutMs` passes. */
  async converge(timeoutMs: number): Promise<boolean> {
    this.heal();
    for (const node of this.nodes) await this.start(node);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.settle(5);
      if (this.converged()) return true;
    }
    return false;
  }

  converged(): boolean {
    const stores = this.nodes.map((node) => node.store as ReplicaStore);
    const first = stores[0] as ReplicaStore;
    return stores.every(
      (store) =>
        store.log.versionVector.equals(first.log.versionVector) &&
        store.state.digest() === first.state.digest(),
    );
  }

  /** Acknowledged writes some node lacks at the end. */
  lost(): string[] {
    const lost: string[] = [];
    for (const node of this.nodes) {
      const vector = (node.store as ReplicaStore).log.versionVector;
      for (const dot of this.acknowledged)
        if (!vector.includes(dot.origin, dot.seq)) lost.push(`${node.id} lacks ${dot.origin}:${dot.seq}`);
    }
    return lost;
  }

  describe(): string {
    const peer = ({ nodeId, url, state, opsNotSent, opsNotDurable, stats, lastClose }: PeerStatus) =>
      `${nodeId ?? url ?? 'inbound'}:${state} (not sent ${opsNotSent}, not durable ${opsNotDurable}; in ${stats.opsReceived} ` +
      `ops ${stats.statesReceived} states, out ${stats.opsSent} ops ${stats.statesSent} states` +
      `${lastClose ? `; last closed ${lastClose.code} ${lastClose.reason}` : ''})`;
    const lines = this.nodes.map(({ id, store, replicator }) => {
      const ahead = store && !store.state.versionVector.equals(store.log.versionVector);
      return `${id} ${JSON.stringify(store?.log.versionVector)}${ahead ? ` applied ${JSON.stringify(store.state.versionVector)}` : ''}${store?.log.failure ? ' FAILED' : ''} collected ${JSON.stringify(store?.state.collectedBelow)} ${store?.state.digest().slice(0, 8)} ${(replicator?.status() ?? []).map(peer).join(', ')}`;
    });
    return [`network: ${this.faults}`, ...lines].join('\n');
  }

  async closeAll(): Promise<void> {
    for (const node of this.nodes) await this.stop(node);
  }

  #track(promise: Promise<unknown>): void {
    this.#pending.add(promise);
    void promise.finally(() => this.#pending.delete(promise));
  }

  /** Checks causal delivery on every receive: each new op's writer's past is already applied here. */
  #checked(id: string, replica: SyncReplica, store: ReplicaStore): SyncReplica {
    return {
      get nodeId() {
        return replica.nodeId;
      },
      get versionVector() {
        return replica.versionVector;
      },
      readSince: (since) => replica.readSince(since),
      canServe: (since) => replica.canServe(since),
      stateFor: (since, kind) => replica.stateFor(since, kind),
      onAppend: (listener) => replica.onAppend(listener),
      onInstall: (listener) => replica.onInstall(listener),
      get collectedBelow() {
        return store.state.collectedBelow;
      },
      collectTombstones: (stable) => store.collectTombstones(stable),
      installState: async (bytes, check) => {
        const changed = await replica.installState(bytes, check);
        // A state must be causally closed: it holds the past of every op it holds.
        const vector = store.state.versionVector;
        for (const [dot, past] of this.#pasts) {
          const [origin, seq] = dot.split(':') as [string, string];
          if (vector.includes(origin, Number(seq)) && !vector.dominates(past))
            this.violations.push(
              `${id} installed a state holding ${dot} but not its past ${JSON.stringify(past)}`,
            );
        }
        this.statesInstalled++;
        return changed;
      },
      receive: (ops) => {
        let applied = store.state.versionVector;
        for (const op of ops) {
          if (op.seq <= applied.get(op.origin)) continue;
          // A gap makes the log refuse the whole batch (OP_GAP): nothing of it is applied.
          if (op.seq > applied.get(op.origin) + 1) break;
          const past = this.#pasts.get(`${op.origin}:${op.seq}`);
          if (past && !applied.dominates(past))
            this.violations.push(
              `${id} applied ${op.origin}:${op.seq} before its past ${JSON.stringify(past)} (it held ${JSON.stringify(applied)})`,
            );
          applied = applied.with(op.origin, op.seq);
        }
        return replica.receive(ops);
      },
    };
  }
}
