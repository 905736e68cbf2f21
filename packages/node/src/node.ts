/**
 * A running Driftless node: a replica (ReplicaStore over LMDB, or memory), its replication
 * (Replicator, peers on /v1/peers), and its client API (HTTP routes, the /v1/changes feed), all on
 * one port. Lifecycle:
 *
 *   start: check options → open store and replica → start replication → listen  (undone on failure)
 *   close: stop accepting → close feeds, release waiting reads → close replication (sessions end,
 *          ops in flight land) → let requests in flight finish → close connections → close replica
 *          and store
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Dot, MemoryStore } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { ReplicaStore } from '@driftless/crdt';
import { Replicator, type Role, syncReplicaOf } from '@driftless/sync';
import { listenOn, WsTransport } from '@driftless/sync/ws';
import { PEER_PATH, urlHost } from './addresses.js';
import { addAdminRoutes } from './admin-routes.js';
import { CausalReads } from './causal-reads.js';
import { type AckRequest, addDataRoutes, type DataHost, type WriteOutcome } from './data-routes.js';
import { ApiError } from './errors.js';
import { FEED_PATH, FeedEndpoint } from './feed-endpoint.js';
import { answer, type Dispatch, type RawRouteHandler } from './http-dispatch.js';
import { refuseUpgrade } from './http-reply.js';
import { LogRetention } from './log-retention.js';
import {
  type NodeEvent,
  type NodeOptions,
  type NodeStatus,
  type ResolvedOptions,
  resolveOptions,
} from './node-options.js';
import { PeerDirectory, type WritableNode } from './peer-directory.js';
import { Router, splitTarget } from './router.js';
import { type CommitListener, TimedStore } from './timed-store.js';

export type { RawRouteHandler } from './http-dispatch.js';
export type { NodeEvent, NodeOptions, NodeStatus } from './node-options.js';
export type { WritableNode } from './peer-directory.js';

/** How long close() lets peers and feed clients answer their close before dropping them. */
const CLOSE_GRACE_MS = 2_000;

/** A running node; see the module comment. */
export class DriftlessNode {
  readonly id: string;
  readonly clusterId: string;
  readonly server: Server;
  readonly replica: ReplicaStore;
  readonly replicator: Replicator;
  /** The log's retention policy: slots per peer, and what it deletes when. */
  readonly retention: LogRetention;
  readonly #options: ResolvedOptions;
  readonly #store: TimedStore;
  readonly #router = new Router();
  readonly #rawRoutes = new Map<string, RawRouteHandler>();
  readonly #dispatch: Dispatch = {
    router: this.#router,
    rawRoutes: this.#rawRoutes,
    closing: () => this.#closing !== undefined,
    emit: (event) => this.#emit(event),
  };
  readonly #feeds: FeedEndpoint;
  readonly #causal: CausalReads;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #peers: PeerDirectory;
  readonly #unsubscribe: () => void;
  #url = '';
  #digest = { key: '', value: '' };
  #closing: Promise<void> | undefined;

  private constructor(
    options: ResolvedOptions,
    store: TimedStore,
    replica: ReplicaStore,
    replicator: Replicator,
    retention: LogRetention,
    server: Server,
  ) {
    this.#options = options;
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.#store = store;
    this.replica = replica;
    this.replicator = replicator;
    this.retention = retention;
    this.server = server;
    this.#peers = new PeerDirectory(replicator, options.peers);
    this.#causal = new CausalReads(replica, {
      readTimeoutMs: options.readTimeoutMs,
      closing: () => this.#closing !== undefined,
      onBug: (error) => this.#emit({ type: 'error', where: 'causal-token', error }),
    });
    this.#unsubscribe = replica.onChanges(() => this.#causal.check());
    this.#feeds = new FeedEndpoint(replica, (event) => this.#emit(event));
    addDataRoutes(this.#router, this.#dataHost());
    this.#router.add('GET', '/v1/status', () => ({ status: 200, body: this.status() }));
    addAdminRoutes(this.#router, this, options.secret);
    this.#router.add('GET', FEED_PATH, ({ response }) => {
      response.setHeader('Upgrade', 'websocket');
      throw new ApiError('UPGRADE_REQUIRED', `${FEED_PATH} is a WebSocket: connect with a WebSocket client`);
    });
    server.on('request', (request, response) => this.#onRequest(request, response));
    server.on('upgrade', (request, socket, head) => this.#onUpgrade(request, socket, head));
  }

  /**
   * Starts a node: opens its store (LMDB in dataDir, or memory, or the store given), starts
   * replication and listens.
   * Throws DriftlessError INVALID_ARGUMENT for bad options, STORE_* when the data directory cannot
   * be used, TRANSPORT_ADDRESS_IN_USE when the port is taken; nothing is left open then.
   */
  static async start(options: NodeOptions): Promise<DriftlessNode> {
    const config = resolveOptions(options);
    const undo: (() => Promise<void>)[] = [];
    let node: DriftlessNode | undefined;
    try {
      const store = new TimedStore(
        config.store ??
          (config.dataDir === undefined ? await MemoryStore.open() : await LmdbStore.open(config.dataDir)),
      );
      undo.unshift(() => store.close());
      const clock = config.clock === undefined ? {} : { clock: { now: config.clock } };
      const replica = await ReplicaStore.open({ store, nodeId: config.id, ...clock });
      undo.unshift(() => replica.close());
      for (const [collection, mode] of Object.entries(config.collectionModes)) {
        replica.state.setCollectionMode(collection, mode);
      }
      const server = createServer();
      const transport = new WsTransport({ closeTimeoutMs: CLOSE_GRACE_MS });
      const replicator = await Replicator.start({
        replica: syncReplicaOf(replica),
        transport,
        clusterId: config.clusterId,
        secret: config.secret,
        role: config.role,
        peers: config.peers,
        members: config.members,
        attach: (accept) => transport.attach(server, PEER_PATH, accept),
        timing: config.timing,
        onEvent: (event) => {
          emitTo(config.onEvent, { type: 'peer', event });
          // Learn the peer's role and url while it is connected (after the replicator's own step).
          if (event.type === 'connected') {
            queueMicrotask(() => {
              if (node !== undefined) node.#peers.refresh();
            });
          }
        },
      });
      undo.unshift(() => replicator.close());
      const retention = await LogRetention.open(store, replica, replicator, {
        ...config.retention,
        configuredPeers: config.peers,
      });
      node = new DriftlessNode(config, store, replica, replicator, retention, server);
      await node.#listen();
      retention.start();
      return node;
    } catch (error) {
      for (const step of undo) await step().catch(() => {});
      throw error;
    }
  }

  /** The base url of the HTTP API, e.g. http://127.0.0.1:7070. */
  get url(): string {
    return this.#url;
  }

  /** The url peers dial: ws://host:port/v1/peers. */
  get peerUrl(): string {
    return `${this.#url.replace(/^http/, 'ws')}${PEER_PATH}`;
  }

  /** This node's role. */
  role(): Role {
    return this.replicator.role;
  }

  /**
   * Makes a replica writable (role 'multi'); a node that already accepts writes keeps its role.
   * Nothing the node holds changes: only its sessions restart, so peers learn the new role.
   */
  promote(): void {
    const previous = this.role();
    if (previous !== 'replica') return;
    this.replicator.setRole('multi');
    this.#emit({ type: 'role', role: 'multi', previous });
  }

  /** The node's state: role, vector, digest, op counts, conflicts, feeds and peers. */
  status(): NodeStatus {
    const vector = this.replica.state.versionVector;
    const conflicts: NodeStatus['conflicts'] = {};
    for (const [collection, counts] of this.replica.state.conflictCounts()) {
      conflicts[collection] = { ...counts };
    }
    return {
      id: this.id,
      role: this.role(),
      clusterId: this.clusterId,
      url: this.url,
      peerUrl: this.peerUrl,
      vector: vector.toJSON(),
      digest: this.#stateDigest(),
      ops: { written: vector.get(this.id), applied: vector.total },
      conflicts,
      feeds: this.#feeds.size,
      peers: this.replicator.status(),
      log: this.retention.status(),
      tombstones: this.#tombstones(),
      ...(this.replicator.rewound ? { rewound: this.replicator.rewound } : {}),
    };
  }

  #tombstones(): NodeStatus['tombstones'] {
    const { members, stable, waitingFor } = this.replicator.stability();
    return {
      members,
      stable: stable?.toJSON(),
      waitingFor,
      collectedBelow: this.replica.state.collectedBelow.toJSON(),
    };
  }

  /**
   * The state's digest, hashed again only when the state moved: replicas that applied the same ops
   * (and collected the same tombstones) hold the same state, so the vectors identify it.
   */
  #stateDigest(): string {
    const { state } = this.replica;
    const key = JSON.stringify([state.versionVector.toValue(), state.collectedBelow.toValue()]);
    if (key !== this.#digest.key) this.#digest = { key, value: state.digest() };
    return this.#digest.value;
  }

  /**
   * Calls `listener` after every store commit with its duration (for LMDB: the transaction and its
   * sync to disk). Returns its removal.
   */
  onStoreCommit(listener: CommitListener): () => void {
    return this.#store.onCommit(listener);
  }

  /**
   * Serves `method path` (an exact path, no parameters) with `handler`, ahead of the built-in
   * routes: e.g. `node.addRoute('GET', '/metrics', handler)`.
   */
  addRoute(method: string, path: string, handler: RawRouteHandler): void {
    if (!path.startsWith('/'))
      throw new ApiError('INVALID_QUERY', `a route path starts with "/", got ${path}`);
    this.#rawRoutes.set(`${method.toUpperCase()} ${path}`, handler);
  }

  /**
   * Shuts down gracefully (see the module comment): writes in flight finish and are durable, peers
   * and feed clients get a close frame. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  // --- HTTP -----------------------------------------------------------------------------------

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const task = answer(this.#dispatch, request, response);
    this.#inFlight.add(task);
    void task.finally(() => this.#inFlight.delete(task));
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { path, query } = splitTarget(request.url ?? '/');
    if (path === PEER_PATH) {
      // The replicator's listener answers peers; once it has closed, nobody else would.
      if (this.server.listenerCount('upgrade') <= 1) {
        const error = new ApiError('SHUTTING_DOWN', 'the node is shutting down');
        refuseUpgrade(socket, error.status, error.toJSON());
      }
      return;
    }
    if (path === FEED_PATH) {
      this.#feeds.upgrade(request, socket, head, query);
      return;
    }
    const error = new ApiError('ROUTE_NOT_FOUND', `no WebSocket endpoint at ${path}: use ${FEED_PATH}`);
    refuseUpgrade(socket, error.status, error.toJSON());
  }

  // --- what the data routes need --------------------------------------------------------------

  #dataHost(): DataHost {
    return {
      replica: this.replica,
      maxBodyBytes: this.#options.maxBodyBytes,
      awaitAfter: (query) => this.#causal.awaitAfter(query),
      assertWritable: () => this.#assertWritable(),
      replicate: (op, ack) => this.#replicate(op, ack),
      readDurable: (read) => this.#causal.readDurable(read),
      readDurableKey: (collection, key, read) => this.#causal.readDurableKey(collection, key, read),
      token: () => this.#causal.token(),
      wrote: (record) => this.#emit({ type: 'write', ...record }),
    };
  }

  #assertWritable(): void {
    if (this.role() !== 'replica') return;
    const writable = this.writableNodes();
    const where =
      writable.length === 0
        ? 'it knows no writable node yet'
        : `write to ${writable.map(({ id, url }) => (url === undefined ? id : `${id} (${url})`)).join(', ')}`;
    throw new ApiError('REPLICA_READ_ONLY', `node ${this.id} is a read-only replica: ${where}`, {
      details: { writable },
    });
  }

  /** The writable nodes among this node's peers, as far as it knows. */
  writableNodes(): WritableNode[] {
    return this.#peers.writable();
  }

  async #replicate(op: Dot, ack: AckRequest): Promise<WriteOutcome> {
    const k = ack === 'local' ? 0 : ack === 'all' ? this.#peers.count() : ack;
    if (k === 0) return { durable: 'local', acked: [], ackTimedOut: false };
    const result = await this.replicator.waitForAcks(op, k, this.#options.ackTimeoutMs);
    return {
      durable: result.complete ? 'replicated' : 'local',
      acked: [...result.peers].sort(),
      ackTimedOut: !result.complete,
    };
  }

  // --- lifecycle ------------------------------------------------------------------------------

  async #listen(): Promise<void> {
    const { host, port } = this.#options;
    await listenOn(this.server, host, port, `${host}:${port}`);
    const address = this.server.address() as AddressInfo;
    const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    this.#url = `http://${urlHost(shown)}:${address.port}`;
    this.#emit({ type: 'listening', url: this.url, peerUrl: this.peerUrl });
  }

  async #shutDown(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const feedsClosed = this.#feeds.close(CLOSE_GRACE_MS);
    this.#causal.close();
    await this.retention.stop();
    await this.replicator.close();
    await Promise.allSettled([...this.#inFlight]);
    await feedsClosed;
    this.server.closeIdleConnections();
    const grace = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    await serverClosed;
    clearTimeout(grace);
    this.#unsubscribe();
    await this.replica.close();
    await this.#store.close();
    this.#emit({ type: 'closed' });
  }

  #emit(event: NodeEvent): void {
    emitTo(this.#options.onEvent, event);
  }
}

function emitTo(listener: (event: NodeEvent) => void, event: NodeEvent): void {
  try {
    listener(event);
  } catch {
    // A logger's failure must not take the node down.
  }
}
