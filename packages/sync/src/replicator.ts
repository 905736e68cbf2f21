import { type Dot, DriftlessError, type VersionVector } from '@driftless/core';
import { type BackoffTiming, DEFAULT_BACKOFF } from './backoff.js';
import { CLOSE_CODES, type CloseCode } from './close-codes.js';
import { Dialers } from './dialers.js';
import { type OriginEvent, OriginGuard } from './origin-check.js';
import { type AckResult, PeerDurability, type PeerStatus, peerStatuses } from './peer-status.js';
import { MIN_SECRET_BYTES } from './protocol/auth.js';
import { isClusterId, ROLES, type Role } from './protocol/messages.js';
import type { SyncReplica } from './replica.js';
import { PeerSession, type SessionHost } from './session/peer-session.js';
import { DEFAULT_SESSION_TIMING, type SessionTiming } from './session/timing.js';
import type { StabilityStatus } from './stability.js';
import { type CollectEvent, TombstoneCollector } from './tombstone-collector.js';
import type { Connection, Listener, Transport } from './transport.js';

/** Options of Replicator.start. */
export interface ReplicatorOptions {
  readonly replica: SyncReplica;
  readonly transport: Transport;
  /** Nodes of different clusters refuse each other. */
  readonly clusterId: string;
  /** The shared cluster secret (at least 16 bytes); it never crosses the wire. */
  readonly secret: Uint8Array | string;
  /** Default 'multi'. */
  readonly role?: Role;
  /** Where to accept peers (a transport address); omit to only dial. */
  readonly listen?: string;
  /**
   * Another way to accept peers: called once with the connection handler, returns the listener
   * (for example `(accept) => wsTransport.attach(httpServer, '/v1/peers', accept)`, to serve peers on
   * the port of an HTTP API).
   */
  readonly attach?: (onConnection: (connection: Connection) => void) => Listener | Promise<Listener>;
  /** Peers to dial and keep dialing. */
  readonly peers?: readonly string[];
  readonly timing?: Partial<SessionTiming & BackoffTiming & CollectTiming>;
  /**
   * Every node of the cluster, by id: tombstones are collected once all of them hold a delete
   * durably (see StabilityTracker). Omitted or empty: nothing is collected.
   */
  readonly members?: readonly string[];
  /** Random source for backoff jitter (seeded in tests). */
  readonly random?: () => number;
  /** Clock (ms since the epoch). */
  readonly now?: () => number;
  /** Session and connection events, for logs. */
  readonly onEvent?: (event: ReplicatorEvent) => void;
}

/** How often tombstone collection is tried (when members are configured). */
export interface CollectTiming {
  /** Default 5,000 ms. */
  readonly collectIntervalMs: number;
}

const DEFAULT_COLLECT_INTERVAL_MS = 5_000;

/** Something worth a log line. */
export type ReplicatorEvent =
  | { readonly type: 'connected'; readonly peer: string; readonly outbound: boolean }
  | {
      readonly type: 'disconnected';
      readonly peer: string;
      readonly code: number;
      readonly reason: string;
      /**
       * A session this node dialed: when it dials again. Absent for a session the peer dialed, when
       * this node is closing, and while this node has another session with the same peer (it dials
       * again once that one ends).
       */
      readonly retryInMs?: number;
    }
  | CollectEvent
  | OriginEvent
  | {
      readonly type: 'dial-failed';
      readonly url: string;
      readonly message: string;
      readonly retryInMs: number;
    };

/**
 * Replication for one node: accepts peers, dials and re-dials configured peers with backoff,
 * runs a PeerSession per connection, keeps one session per peer node, and tracks what every
 * peer holds durably (for `ack: k` writes, lag and retention).
 */
export class Replicator {
  readonly replica: SyncReplica;
  readonly #transport: Transport;
  readonly #host: SessionHost;
  readonly #now: () => number;
  readonly #onEvent: (event: ReplicatorEvent) => void;
  #role: Role;
  #listener: Listener | undefined;
  readonly #dialers: Dialers;
  readonly #sessions = new Set<PeerSession>();
  /** The established session of each peer node. */
  readonly #byNode = new Map<string, PeerSession>();
  /** What each peer holds durably (kept after it disconnects: it is durable there), and time lag. */
  readonly #durability: PeerDurability;
  /** Peers that dialed this node, by node id, with how their last session ended (while disconnected). */
  readonly #inbound = new Map<string, { code: number; reason: string } | undefined>();
  readonly #unsubscribe: () => void;
  #closed = false;
  readonly #collector: TombstoneCollector;
  /** What handshakes showed about this node's own origin (see origin-check.ts). */
  readonly #origin: OriginGuard;

  private constructor(options: ReplicatorOptions, secret: Uint8Array) {
    this.replica = options.replica;
    this.#transport = options.transport;
    this.#role = options.role ?? 'multi';
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#durability = new PeerDurability(options.replica, this.#now, () => this.#closed);
    this.#collector = new TombstoneCollector(options.replica, options.members ?? [], (event) =>
      this.#onEvent(event),
    );
    this.#origin = new OriginGuard(options.replica, (event) => this.#onEvent(event));
    const timing: SessionTiming = { ...DEFAULT_SESSION_TIMING, ...sessionTiming(options.timing) };
    const random = options.random ?? Math.random;
    this.#dialers = new Dialers({
      dial: (url) => this.#transport.dial(url),
      run: (connection) => {
        if (this.#closed) {
          connection.close(CLOSE_CODES.SHUTDOWN, 'the node is shutting down');
          return undefined;
        }
        const session = new PeerSession(this.#host, connection, true);
        this.#run(session);
        return session;
      },
      backoff: { ...DEFAULT_BACKOFF, ...pick(options.timing, ['reconnectBaseMs', 'reconnectMaxMs']) },
      stableMs: timing.heartbeatIntervalMs,
      random,
      now: this.#now,
      closed: () => this.#closed,
      connected: (nodeId) => this.#byNode.has(nodeId),
      dialFailed: (url, message, retryInMs) =>
        this.#onEvent({ type: 'dial-failed', url, message, retryInMs }),
    });
    this.#host = {
      replica: options.replica,
      clusterId: options.clusterId,
      secret,
      timing,
      role: () => this.#role,
      now: this.#now,
      admit: (session) => this.#admit(session),
      acked: (session) => this.#acked(session),
      reports: () => this.#collector.reports(),
      reported: (_session, reports) => {
        for (const [node, vector] of reports) this.#collector.report(node, vector);
      },
      closed: (session, code, reason) => this.#sessionClosed(session, code, reason),
      transfers: { outgoing: new Map(), incoming: new Map() },
    };
    this.#unsubscribe = options.replica.onAppend((chunk) => {
      this.#durability.appended(chunk);
      // Acks tell peers which of the ops they could send this node are durable here; an entry of
      // only this node's own writes tells them nothing (it reaches them as OPS anyway).
      const me = this.replica.nodeId;
      if (chunk.ops.some((op) => op.origin !== me)) {
        for (const session of this.#byNode.values()) session.scheduleAck();
      }
    });
  }

  /** Starts listening (if asked) and dialing every configured peer. */
  static async start(options: ReplicatorOptions): Promise<Replicator> {
    if (!isClusterId(options.clusterId)) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `invalid cluster id ${JSON.stringify(options.clusterId)}: use 1-64 characters from A-Z a-z 0-9 . _ -`,
      );
    }
    if (options.role !== undefined && !ROLES.includes(options.role)) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `unknown role ${JSON.stringify(options.role)}: use ${ROLES.join(', ')}`,
      );
    }
    const secret =
      typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
    if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `the cluster secret must be at least ${MIN_SECRET_BYTES} bytes`,
      );
    }
    const replicator = new Replicator(options, secret);
    const accept = (connection: Connection) => {
      if (replicator.#closed) {
        connection.close(CLOSE_CODES.SHUTDOWN, 'this node is shutting down');
        return;
      }
      replicator.#run(new PeerSession(replicator.#host, connection, false));
    };
    if (options.listen !== undefined && options.attach !== undefined) {
      throw new DriftlessError('INVALID_ARGUMENT', 'give either listen or attach, not both');
    }
    if (options.listen !== undefined)
      replicator.#listener = await options.transport.listen(options.listen, accept);
    if (options.attach !== undefined) replicator.#listener = await options.attach(accept);
    replicator.#collector.start(options.timing?.collectIntervalMs ?? DEFAULT_COLLECT_INTERVAL_MS);
    for (const url of options.peers ?? []) replicator.#dialers.add(url);
    return replicator;
  }

  /** The address peers dial to reach this node, when it listens. */
  get url(): string | undefined {
    return this.#listener?.url;
  }

  /** This node's role. */
  get role(): Role {
    return this.#role;
  }

  /**
   * The first peer that showed this node lost ops of its own origin, with how far each holds them
   * (see origin-check.ts); the replica refuses local writes since. Undefined when none has.
   */
  get rewound():
    | { readonly peer: string; readonly held: number; readonly own: number; readonly conflict?: number }
    | undefined {
    const rewound = this.#origin.rewound;
    if (rewound === undefined) return undefined;
    const { peer, held, own, conflict } = rewound;
    return conflict === undefined ? { peer, held, own } : { peer, held, own, conflict };
  }

  /**
   * Changes this node's role (a replica's promotion). Sessions are re-established so every peer
   * learns the new role.
   */
  setRole(role: Role): void {
    if (!ROLES.includes(role))
      throw new DriftlessError('INVALID_ARGUMENT', `unknown role ${JSON.stringify(role)}`);
    if (role === this.#role) return;
    this.#role = role;
    for (const session of this.#sessions) session.close(CLOSE_CODES.GOING_AWAY, `role changed to ${role}`);
  }

  /** Node ids of the peers with an established session. */
  get connectedPeers(): string[] {
    return [...this.#byNode.keys()].sort();
  }

  /**
   * What each peer holds durably, including disconnected peers: its last acknowledged vector, and
   * every op of its own that this node holds (a node sends only ops it made durable, and does not
   * ack entries of only its own writes).
   */
  get peerVectors(): ReadonlyMap<string, VersionVector> {
    return this.#durability.vectors(this.replica.versionVector);
  }

  /**
   * Replication state per peer: every configured peer, every connected inbound one, and every
   * peer that dialed this node since it started and is disconnected now (its lag keeps growing).
   */
  status(): PeerStatus[] {
    const peers = { dialed: this.#dialers.list, sessions: this.#sessions, inbound: this.#inbound };
    return peerStatuses(this.#durability, this.replica.versionVector, peers);
  }

  /**
   * Resolves once `k` distinct peers hold `dot` durably, or after `timeoutMs` with the peers that
   * do so far (the write is still durable here and still replicating).
   */
  waitForAcks(dot: Dot, k: number, timeoutMs: number): Promise<AckResult> {
    return this.#durability.waitForAcks(dot, k, timeoutMs);
  }

  /** Stops dialing and listening, closes every session, and waits for ops in flight to be applied. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    await this.#collector.stop();
    this.#dialers.stop();
    const sessions = [...this.#sessions];
    for (const session of sessions) session.close(CLOSE_CODES.SHUTDOWN, 'the node is shutting down');
    await this.#listener?.close();
    await Promise.all(sessions.map((session) => session.settled()));
    this.#durability.checkWaits();
  }

  // --- sessions -------------------------------------------------------------------------------

  #run(session: PeerSession): void {
    this.#sessions.add(session);
    session.start();
  }

  #admit(session: PeerSession): { code: CloseCode; reason: string } | undefined {
    const peer = session.peer?.nodeId as string;
    this.#origin.check(peer, session.acked, session.peerTip);
    this.#dialers.authenticated(session, peer);
    const existing = this.#byNode.get(peer);
    if (existing && existing !== session) {
      // Two nodes that dial each other keep the connection dialed by the smaller node id; both
      // sides apply the same rule, so they agree on which one stays.
      const keepOutbound = this.replica.nodeId < peer;
      const keepNew = session.outbound === keepOutbound;
      const loser = keepNew ? existing : session;
      if (!keepNew) return { code: CLOSE_CODES.DUPLICATE_NODE, reason: `already connected to ${peer}` };
      loser.close(CLOSE_CODES.DUPLICATE_NODE, `already connected to ${peer}`);
    }
    this.#byNode.set(peer, session);
    this.#dialers.established(session);
    if (!session.outbound) this.#inbound.set(peer, undefined);
    this.#acked(session);
    this.#onEvent({ type: 'connected', peer, outbound: session.outbound });
    return undefined;
  }

  #acked(session: PeerSession): void {
    const peer = session.peer?.nodeId;
    if (peer === undefined) return;
    this.#durability.acked(peer, session.acked);
    this.#collector.report(peer, session.acked);
  }

  #sessionClosed(session: PeerSession, code: number, reason: string): void {
    this.#sessions.delete(session);
    const peer = session.peer?.nodeId;
    if (peer !== undefined && this.#byNode.get(peer) === session) {
      this.#byNode.delete(peer);
      if (this.#inbound.has(peer)) this.#inbound.set(peer, { code, reason });
    }
    const retryInMs = this.#dialers.closed(session, code, reason);
    this.#onEvent({
      type: 'disconnected',
      peer: peer ?? session.connection.label,
      code,
      reason,
      ...(retryInMs === undefined ? {} : { retryInMs }),
    });
    if (peer !== undefined && !this.#byNode.has(peer)) this.#dialers.disconnected(peer);
  }

  // --- tombstone collection -------------------------------------------------------------------

  /**
   * The configured members, the causally stable vector (undefined while a member's report is
   * missing) and the members still waited for.
   */
  stability(): StabilityStatus {
    return this.#collector.stability();
  }

  /**
   * Collects the tombstones every member holds (when members are configured and the replica can
   * collect); resolves with how many keys were dropped. A timer does this on its own.
   */
  collectTombstones(): Promise<number> {
    return this.#collector.collect();
  }
}

function pick<T extends object, K extends keyof T>(
  value: Partial<T> | undefined,
  keys: K[],
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value?.[key] !== undefined) out[key] = value[key];
  return out;
}

function sessionTiming(timing: Partial<SessionTiming & BackoffTiming> | undefined): Partial<SessionTiming> {
  return pick(timing as Partial<SessionTiming> | undefined, [
    'handshakeTimeoutMs',
    'heartbeatIntervalMs',
    'heartbeatTimeoutMs',
    'maxBatchBytes',
    'receiveWindowBytes',
    'deltaMinOps',
    'stateChunkBytes',
  ]);
}
