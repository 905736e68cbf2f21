/**
 * What the tests of replication build on: nodes (a ReplicaStore and a Replicator listening at
 * mem://<id> on an in-memory network), a wait for a condition, and a raw peer that records what a
 * node sends it. A test file calls `afterEach(stopNodes)`: every node started since is stopped,
 * the last first (vitest gives each test file its own copy of this module).
 */
import { MemoryStore, type OpTip, type Store, VersionVector } from '@driftless/core';
import { type Intent, ReplicaStore } from '@driftless/crdt';
import {
  authProof,
  type Connection,
  createNonce,
  decodeMessage,
  encodeMessage,
  type MemoryNetwork,
  PROTOCOL_VERSION,
  Replicator,
  type ReplicatorEvent,
  type ReplicatorOptions,
  type SyncReplica,
  syncReplicaOf,
  type Transport,
} from '../src/index.js';

export const SECRET = 'sync-test-secret-0123456789';

export interface TestNode {
  readonly id: string;
  readonly store: ReplicaStore;
  readonly replicator: Replicator;
  /** Every event the replicator reported. */
  readonly events: ReplicatorEvent[];
  /** Closes the replicator, then the store (once; stopNodes does it otherwise). */
  stop(): Promise<void>;
}

export interface NodeSetup {
  /**
   * Replicator options; `timing` is merged over fast reconnects (5 ms, at most 50 ms apart), and
   * `onEvent` hears every event after TestNode.events has it.
   */
  readonly options?: Partial<Omit<ReplicatorOptions, 'replica' | 'transport'>>;
  /** The node's disk (default: a new MemoryStore). */
  readonly disk?: Store;
  /** The node's transport limits (default: the transport's). */
  readonly limits?: { readonly highWaterBytes?: number; readonly lowWaterBytes?: number };
  /** Wraps the node's transport, e.g. to record its frames. */
  readonly transport?: (transport: Transport) => Transport;
  /** Wraps the replica port, e.g. to count what it receives. */
  readonly replica?: (replica: SyncReplica) => SyncReplica;
}

const running: (() => Promise<void>)[] = [];

/** Stops every node started since the last call, the last first. */
export async function stopNodes(): Promise<void> {
  for (const stop of running.splice(0).reverse()) await stop();
}

/** Runs `stop` with stopNodes, for what a test starts besides nodes. */
export function onStop(stop: () => Promise<void>): void {
  running.push(stop);
}

export async function openStore(id: string, disk?: Store): Promise<ReplicaStore> {
  return ReplicaStore.open({ store: disk ?? (await MemoryStore.open()), nodeId: id });
}

/** Starts a replicator for `store`, listening at mem://<its node id>. */
export async function startNode(
  network: MemoryNetwork,
  store: ReplicaStore,
  setup: NodeSetup = {},
): Promise<TestNode> {
  const id = store.log.nodeId;
  const events: ReplicatorEvent[] = [];
  const base = network.transport({ host: `mem://${id}`, ...setup.limits });
  const replica = syncReplicaOf(store);
  const replicator = await Replicator.start({
    replica: setup.replica ? setup.replica(replica) : replica,
    transport: setup.transport ? setup.transport(base) : base,
    clusterId: 'test',
    secret: SECRET,
    listen: `mem://${id}`,
    ...setup.options,
    timing: { reconnectBaseMs: 5, reconnectMaxMs: 50, ...setup.options?.timing },
    onEvent: (event) => {
      events.push(event);
      setup.options?.onEvent?.(event);
    },
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await replicator.close();
    await store.close();
  };
  running.push(stop);
  return { id, store, replicator, events, stop };
}

/** A node `id` on a store of its own (setup.disk, or a new MemoryStore). */
export async function node(network: MemoryNetwork, id: string, setup: NodeSetup = {}): Promise<TestNode> {
  return startNode(network, await openStore(id, setup.disk), setup);
}

/** Waits until `condition` holds, polling every 2 ms; throws after `timeoutMs` naming `what`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Writes `intent` (by default the key itself as a register's value) to key `key` of collection c. */
export const write = (n: TestNode, key: string, intent: Intent = { kind: 'set', value: key }) =>
  n.store.write('c', key, intent);

/** A raw connection from `host` to `url` that records every frame and the close. */
export async function rawPeer(network: MemoryNetwork, url: string, host = 'mem://raw') {
  const connection: Connection = await network.transport({ host }).dial(url);
  const frames: Uint8Array[] = [];
  let closed: { code: number; reason: string } | undefined;
  connection.open({
    message: (frame) => frames.push(frame),
    drain: () => {},
    close: (code, reason) => {
      closed = { code, reason };
    },
  });
  return {
    connection,
    frames,
    closed: () => closed,
    types: () => frames.map((frame) => decodeMessage(frame).type),
    messages: () => frames.map((frame) => decodeMessage(frame)),
  };
}

/** A raw peer that completes the handshake with node `target` as `nodeId`. */
export async function authenticatedPeer(
  network: MemoryNetwork,
  target: string,
  nodeId: string,
  role: 'multi' | 'replica' = 'multi',
  said: { readonly vector?: VersionVector; readonly tip?: OpTip } = {},
) {
  const peer = await rawPeer(network, `mem://${target}`, `mem://${nodeId}`);
  const nonce = createNonce();
  peer.connection.send(
    encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, clusterId: 'test', nodeId, role, nonce }),
  );
  await until(() => peer.frames.length > 0, 'HELLO');
  const theirs = peer.messages()[0];
  if (theirs?.type !== 'hello') throw new Error('expected HELLO');
  const proof = authProof(new TextEncoder().encode(SECRET), 'test', nodeId, target, theirs.nonce, nonce);
  const { vector = VersionVector.EMPTY, tip } = said;
  peer.connection.send(encodeMessage({ type: 'auth', proof, vector, tip }));
  await until(() => peer.messages().some((m) => m.type === 'auth'), 'AUTH');
  return peer;
}
