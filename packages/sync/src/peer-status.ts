/**
 * Per-peer replication status, in the spirit of PostgreSQL's pg_stat_replication: what each peer
 * holds durably, how far it lags behind this node in ops, in log bytes (see LogBytes) and in time,
 * and one row per peer.
 *
 * Time lag comes from a history of (when, vector) taken after each durable entry here: a peer lags
 * by the age of the oldest entry its durable vector does not cover. History every known peer has
 * made durable is forgotten; past MAX_LAG_HISTORY entries every other one is dropped (the lag of a
 * peer far behind gets coarser). Lag in bytes is kept per origin instead (LogBytes): a peer's
 * durable vector need not cover a prefix of this node's log.
 */
import { type Dot, type LogChunk, VersionVector } from '@driftless/core';
import { LogBytes } from './log-bytes.js';
import type { Role } from './protocol/messages.js';
import type { SyncReplica } from './replica.js';
import type { PeerSession } from './session/peer-session.js';
import { type SessionStats, zeroStats } from './session/session-stats.js';

/** A peer's replication state, in the spirit of PostgreSQL's pg_stat_replication. */
export interface PeerStatus {
  /** The peer's node id, once it introduced itself. */
  readonly nodeId: string | undefined;
  /** The url this node dials, for configured peers. */
  readonly url: string | undefined;
  readonly direction: 'outbound' | 'inbound';
  readonly state: 'connecting' | 'handshaking' | 'catching-up' | 'streaming' | 'blocked' | 'disconnected';
  readonly role: Role | undefined;
  /** Ops this node holds that it has not sent the peer (and the peer has not acked). */
  readonly opsNotSent: number;
  /** Ops this node holds that the peer has not acked as durable. */
  readonly opsNotDurable: number;
  /**
   * Bytes of this node's log (its encoded entries) holding ops not sent to the peer, like
   * pg_stat_replication's current − sent LSN; 0 when the peer lacks no op. Exact, in whole entries
   * logged since replication started here (part of an entry counts as its ops' even share).
   * Approximate (see LogBytes) only for ops held before replication started, for a peer behind what
   * every peer known here holds (one never reached), and past MAX_POINTS_PER_ORIGIN entries of one
   * origin not yet durable at some peer.
   */
  readonly bytesNotSent: number;
  /** Bytes of this node's log holding ops the peer has not acked as durable (as bytesNotSent). */
  readonly bytesNotDurable: number;
  /** Bytes queued in the transport, not yet on the network. */
  readonly bytesQueued: number;
  /** How long the oldest op not yet durable at the peer has been durable here; 0 when caught up. */
  readonly lagMs: number;
  readonly rttMs: number | undefined;
  readonly stats: Readonly<SessionStats>;
  /** The last close code and reason, for a peer that is not connected. */
  readonly lastClose: { readonly code: number; readonly reason: string } | undefined;
}

/** What waitForAcks learned. */
export interface AckResult {
  /** Peers whose durable vector includes the dot. */
  readonly peers: readonly string[];
  /** False when the timeout came first. */
  readonly complete: boolean;
}

const MAX_LAG_HISTORY = 8192;

/**
 * What every peer holds durably, the history of this node's durable entries for time lag, and the
 * waits for acks (checked again on each ack).
 */
export class PeerDurability {
  readonly #replica: SyncReplica;
  readonly #now: () => number;
  /** Whether the replicator has closed: no more acks will come, so a wait ends at its next check. */
  readonly #closed: () => boolean;
  readonly #startedAt: number;
  /** Each peer's durable vector as last acknowledged (kept after it disconnects: it is durable there). */
  readonly #acked = new Map<string, VersionVector>();
  /** (when, vector) after each durable entry here, for time lag. */
  #history: { at: number; vector: VersionVector }[] = [];
  /** The bytes of each origin's ops in the log here, for lag in bytes. */
  readonly #bytes: LogBytes;
  readonly #ackWaiters = new Set<() => void>();

  constructor(replica: SyncReplica, now: () => number, closed: () => boolean) {
    this.#replica = replica;
    this.#now = now;
    this.#closed = closed;
    this.#startedAt = now();
    this.#bytes = new LogBytes(replica.versionVector);
  }

  /** Records a durable entry here: the replica's vector after it, and its bytes. */
  appended(chunk: LogChunk): void {
    this.#bytes.logged(chunk);
    this.#history.push({ at: this.#now(), vector: this.#replica.versionVector });
    if (this.#history.length > MAX_LAG_HISTORY) this.#history = this.#history.filter((_, i) => i % 2 === 0);
  }

  /**
   * Merges what `peer` acknowledged as durable, forgets history every known peer holds now, and
   * checks the waits.
   */
  acked(peer: string, vector: VersionVector): void {
    this.#acked.set(peer, (this.#acked.get(peer) ?? VersionVector.EMPTY).merge(vector));
    this.#prune();
    this.checkWaits();
  }

  /** Replicator.waitForAcks: resolves once `k` distinct peers acked `dot`, or after `timeoutMs`. */
  waitForAcks(dot: Dot, k: number, timeoutMs: number): Promise<AckResult> {
    const holders = () =>
      [...this.#acked].filter(([, vector]) => vector.includes(dot.origin, dot.seq)).map(([node]) => node);
    const now = holders();
    if (now.length >= k) return Promise.resolve({ peers: now, complete: true });
    return new Promise((resolve) => {
      const check = () => {
        const peers = holders();
        if (peers.length < k && !this.#closed()) return;
        finish({ peers, complete: peers.length >= k });
      };
      const timer = setTimeout(() => finish({ peers: holders(), complete: false }), timeoutMs);
      const finish = (result: AckResult) => {
        clearTimeout(timer);
        this.#ackWaiters.delete(check);
        resolve(result);
      };
      this.#ackWaiters.add(check);
    });
  }

  /** Checks every wait again: each resolves if enough peers acked, or if the replicator has closed. */
  checkWaits(): void {
    for (const check of this.#ackWaiters) check();
  }

  /** What each peer recorded by acked() holds durably (see durableAt), given this node's vector. */
  vectors(local: VersionVector): Map<string, VersionVector> {
    const vectors = new Map<string, VersionVector>();
    for (const peer of this.#acked.keys()) vectors.set(peer, this.durableAt(peer, local));
    return vectors;
  }

  /** What `peer` holds durably: its acks, and its own ops as far as this node holds them. */
  durableAt(peer: string, local: VersionVector): VersionVector {
    const acked = this.#acked.get(peer) ?? VersionVector.EMPTY;
    const own = local.get(peer);
    return own > acked.get(peer) ? acked.with(peer, own) : acked;
  }

  /** How long the oldest entry here that `durable` lacks has been durable here; 0 when it lacks none. */
  lagMs(durable: VersionVector): number {
    for (const { at, vector } of this.#history) {
      if (!durable.dominates(vector)) return Math.max(0, this.#now() - at);
    }
    // History is pruned by the peers known so far: a peer never reached may lack older ops still.
    if (!durable.dominates(this.#replica.versionVector)) return Math.max(0, this.#now() - this.#startedAt);
    return 0;
  }

  /** The bytes of this node's log holding ops `local` covers and `vector` lacks; 0 when it lacks none. */
  bytesMissing(local: VersionVector, vector: VersionVector): number {
    return this.#bytes.missing(local, vector);
  }

  /** Forgets history every known peer has made durable. */
  #prune(): void {
    const peers = [...this.vectors(this.#replica.versionVector).values()];
    if (peers.length > 0) this.#bytes.forget(peers.reduce((held, vector) => held.meet(vector)));
    let drop = 0;
    while (
      drop < this.#history.length &&
      peers.every((v) => v.dominates((this.#history[drop] as { vector: VersionVector }).vector))
    )
      drop++;
    if (drop > 0) this.#history = this.#history.slice(drop);
  }
}

/** What this node knows of a peer besides its session (all of it, for a peer not connected now). */
export interface KnownPeer {
  /** The url this node dials, for configured peers. */
  readonly url?: string | undefined;
  readonly lastClose?: { readonly code: number; readonly reason: string } | undefined;
  /** The peer's node id when its session does not tell it. */
  readonly nodeId?: string | undefined;
  /** Used without a session; default 'outbound'. */
  readonly direction?: PeerStatus['direction'];
}

/** The peers a node knows of, for status rows. */
export interface KnownPeers {
  /** The configured peers, each with its session while it has one. */
  readonly dialed: Iterable<KnownPeer & { readonly session: PeerSession | undefined }>;
  /** Every running session, dialed or accepted. */
  readonly sessions: Iterable<PeerSession>;
  /** Peers that dialed this node, by node id, with how their last session ended (while disconnected). */
  readonly inbound: ReadonlyMap<string, { readonly code: number; readonly reason: string } | undefined>;
}

/**
 * A row per peer: every configured peer, every other session, and every peer that dialed this node
 * and has no row yet (disconnected now: its lag keeps growing).
 */
export function peerStatuses(
  durability: PeerDurability,
  local: VersionVector,
  peers: KnownPeers,
): PeerStatus[] {
  const rows: PeerStatus[] = [];
  const seen = new Set<PeerSession>();
  const shown = new Set<string>();
  const established = new Map<string, PeerSession>();
  for (const session of peers.sessions) {
    if (session.phase === 'established' && session.peer) established.set(session.peer.nodeId, session);
  }
  for (const dialer of peers.dialed) {
    // A dialed session that lost to one the peer dialed (both dialed at once): that one is the link.
    const session =
      dialer.session ?? (dialer.nodeId === undefined ? undefined : established.get(dialer.nodeId));
    if (session) seen.add(session);
    if (dialer.nodeId !== undefined) shown.add(dialer.nodeId);
    rows.push(peerStatus(durability, local, session, dialer));
  }
  for (const session of peers.sessions) {
    if (seen.has(session)) continue;
    if (session.peer !== undefined) shown.add(session.peer.nodeId);
    rows.push(peerStatus(durability, local, session, {}));
  }
  for (const [nodeId, lastClose] of peers.inbound) {
    if (!shown.has(nodeId))
      rows.push(peerStatus(durability, local, undefined, { lastClose, nodeId, direction: 'inbound' }));
  }
  return rows;
}

/** One peer's status row, given this node's vector `local` and the peer's session, if any. */
export function peerStatus(
  durability: PeerDurability,
  local: VersionVector,
  session: PeerSession | undefined,
  known: KnownPeer,
): PeerStatus {
  const nodeId = session?.peer?.nodeId ?? known.nodeId;
  const durable = nodeId !== undefined ? durability.durableAt(nodeId, local) : VersionVector.EMPTY;
  const sent = session?.phase === 'established' ? session.sent.merge(durable) : durable;
  return {
    nodeId,
    url: known.url,
    direction: session ? (session.outbound ? 'outbound' : 'inbound') : (known.direction ?? 'outbound'),
    state: stateOf(session),
    role: session?.peer?.role,
    opsNotSent: local.opsMissingFrom(sent),
    opsNotDurable: local.opsMissingFrom(durable),
    bytesNotSent: durability.bytesMissing(local, sent),
    bytesNotDurable: durability.bytesMissing(local, durable),
    bytesQueued: session?.connection.bufferedBytes ?? 0,
    lagMs: durability.lagMs(durable),
    rttMs: session?.rttMs,
    stats: session ? { ...session.stats } : zeroStats(),
    lastClose: session ? undefined : known.lastClose,
  };
}

function stateOf(session: PeerSession | undefined): PeerStatus['state'] {
  if (!session) return 'disconnected';
  switch (session.phase) {
    case 'hello':
      return 'connecting';
    case 'auth':
      return 'handshaking';
    case 'closed':
      return 'disconnected';
    case 'established':
      return session.mode === 'live' ? 'streaming' : session.mode;
  }
}
