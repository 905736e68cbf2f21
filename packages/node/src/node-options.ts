/** The options, events and status of a DriftlessNode, and how options are checked. */
import { assertNodeId, DriftlessError, isCollectionName, isNodeId, type Store } from '@driftless/core';
import type { CollectionMode, ConflictCounts } from '@driftless/crdt';
import {
  type BackoffTiming,
  type CollectTiming,
  isClusterId,
  MIN_SECRET_BYTES,
  type PeerStatus,
  type ReplicatorEvent,
  ROLES,
  type Role,
  type SessionTiming,
} from '@driftless/sync';
import { parseListen, peerDialUrl } from './addresses.js';
import type { AckRequest, WriteOutcome } from './data-routes.js';
import { DEFAULT_RETENTION, type RetentionStatus } from './log-retention.js';

/** How to start a node; only `id` and `secret` are required. */
export interface NodeOptions {
  /** The node id, also the origin of every op it writes: 1-64 characters from A-Z a-z 0-9 . _ - */
  readonly id: string;
  /** The LMDB data directory; omitted, the node keeps everything in memory (tests, ephemeral replicas). */
  readonly dataDir?: string;
  /**
   * A store to run on instead (not with `dataDir`), such as a MemoryStore on a volume that outlives
   * the node, or a store wrapped to count or hold its commits. The node closes it when it closes.
   */
  readonly store?: Store;
  /** "host:port" of the HTTP API, which also serves peers at /v1/peers; default "127.0.0.1:0" (a free port). */
  readonly listen?: string;
  /** Peers to dial and keep dialing: http://host:port (a node's API) or ws://host:port/v1/peers. */
  readonly peers?: readonly string[];
  /** Default 'multi' (accepts writes); a 'replica' refuses them until promoted. */
  readonly role?: Role;
  /** Nodes of different clusters refuse each other; default 'driftless'. */
  readonly clusterId?: string;
  /** The cluster secret (at least 16 bytes): peers authenticate with it, and /v1/admin/* requires it. */
  readonly secret: Uint8Array | string;
  /** Longest wait for `ack=k|all` writes before answering 202 (durable here, still replicating); default 5000. */
  readonly ackTimeoutMs?: number;
  /** Longest wait for `after=<token>` before answering 504 READ_TIMEOUT; default 5000. */
  readonly readTimeoutMs?: number;
  /** Largest request body; larger ones get 413 BODY_TOO_LARGE unread; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** How `PUT` resolves concurrent writes per collection: last writer wins (default) or siblings ('mv'). */
  readonly collectionModes?: Readonly<Record<string, CollectionMode>>;
  /** Replication timers and reconnect backoff (tests, tuning); see @driftless/sync. */
  readonly timing?: Partial<SessionTiming & BackoffTiming & CollectTiming>;
  /**
   * Every node of the cluster, by id (this one included or not): deletes are forgotten (tombstones
   * collected) once all of them hold the delete durably. Omitted: tombstones are kept forever.
   */
  readonly members?: readonly string[];
  /** Called with everything worth a log line or a metric; see NodeEvent. Must not throw. */
  readonly onEvent?: (event: NodeEvent) => void;
  /**
   * The wall clock (ms since the epoch) behind the node's HLC timestamps; default Date.now. Only
   * for tests and clock-fault injection: a skewed or jumping clock must never break convergence.
   */
  readonly clock?: () => number;
  /**
   * Log retention (see LogRetention): entries are kept at least `keepMs` (default 10 min, so change
   * feeds can resume from recent tokens), deleted once every peer holds them durably, and deleted
   * anyway after `maxAgeMs` (default 7 days; 0: never). Checked every `checkIntervalMs` (default
   * 10 s; 0: only when asked).
   */
  readonly retention?: {
    readonly keepMs?: number;
    readonly maxAgeMs?: number;
    readonly checkIntervalMs?: number;
  };
}

/**
 * What a node reports as it runs:
 * - `listening`: the node serves its API at `url` and peers at `peerUrl`.
 * - `request`: an HTTP request was answered (`route` is the pattern, undefined when none matched).
 * - `write`: a write was answered, with its op and how far it replicated.
 * - `peer`: a replication event (a peer connected, disconnected, or a dial failed).
 * - `role`: the node's role changed (a promotion).
 * - `feed`: a change feed opened or closed (with its close code).
 * - `error`: something failed that the node did not expect (a bug; the request got 500 INTERNAL).
 * - `closed`: close() finished: the store is closed.
 */
export type NodeEvent =
  | { readonly type: 'listening'; readonly url: string; readonly peerUrl: string }
  | {
      readonly type: 'request';
      readonly method: string;
      readonly route: string | undefined;
      readonly path: string;
      readonly status: number;
      readonly durationMs: number;
    }
  | {
      readonly type: 'write';
      readonly collection: string;
      readonly key: string;
      readonly kind: string;
      readonly op: { readonly origin: string; readonly seq: number };
      readonly ack: AckRequest;
      readonly outcome: WriteOutcome;
    }
  | { readonly type: 'peer'; readonly event: ReplicatorEvent }
  | { readonly type: 'role'; readonly role: Role; readonly previous: Role }
  | {
      readonly type: 'feed';
      readonly state: 'opened' | 'closed';
      readonly collection: string | undefined;
      readonly code?: number;
    }
  | { readonly type: 'error'; readonly where: string; readonly error: unknown }
  | { readonly type: 'closed' };

/** A node's state, as GET /v1/status answers it. */
export interface NodeStatus {
  readonly id: string;
  readonly role: Role;
  readonly clusterId: string;
  readonly url: string;
  readonly peerUrl: string;
  /** The ops applied here, per origin (what a token from this node would hold now). */
  readonly vector: Record<string, number>;
  /** Hash of the state: equal on nodes that applied the same ops. */
  readonly digest: string;
  /** Ops written by this node (its own seq), and applied here from every origin, all time. */
  readonly ops: { readonly written: number; readonly applied: number };
  /** Conflicts resolved here since start, per collection and kind. */
  readonly conflicts: Record<string, ConflictCounts>;
  /** Change feeds open now. */
  readonly feeds: number;
  /** Replication state per peer (see @driftless/sync PeerStatus). */
  readonly peers: PeerStatus[];
  /** The log: its base, the ops it retains, and each peer's slot. */
  readonly log: RetentionStatus;
  /**
   * Tombstone collection: the configured members (empty: off), the vector every member holds
   * durably (undefined while a member has not been heard from), the members still waited for, and
   * the vector below which tombstones have been collected here.
   */
  readonly tombstones: {
    readonly members: readonly string[];
    readonly stable: Record<string, number> | undefined;
    readonly waitingFor: readonly string[];
    readonly collectedBelow: Record<string, number>;
  };
  /**
   * Present once a peer showed that this node lost ops of its own origin (its data wiped, or
   * restored from an older backup): the peer, the seq it holds, and where this node's log ends;
   * `conflict` when the peer holds an op of this node's origin other than this node's own at that
   * seq (the node wrote again after the loss). The node refuses writes from then on (ORIGIN_REWOUND).
   */
  readonly rewound?: {
    readonly peer: string;
    readonly held: number;
    readonly own: number;
    readonly conflict?: number;
  };
}

/** NodeOptions checked, with every default filled in. */
export interface ResolvedOptions {
  readonly id: string;
  readonly dataDir: string | undefined;
  readonly store: Store | undefined;
  readonly host: string;
  readonly port: number;
  readonly peers: readonly string[];
  readonly role: Role;
  readonly clusterId: string;
  readonly secret: Uint8Array;
  readonly ackTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly collectionModes: Readonly<Record<string, CollectionMode>>;
  readonly timing: Partial<SessionTiming & BackoffTiming & CollectTiming>;
  readonly members: readonly string[];
  readonly onEvent: (event: NodeEvent) => void;
  /** Undefined: the HLC reads Date.now. */
  readonly clock: (() => number) | undefined;
  readonly retention: {
    readonly keepMs: number;
    readonly maxAgeMs: number;
    readonly checkIntervalMs: number;
  };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function invalid(message: string): never {
  throw new DriftlessError('INVALID_ARGUMENT', message);
}

/** The longest log retention accepted: a hundred years of milliseconds. */
const MAX_RETENTION_MS = 100 * 365 * 24 * 3_600_000;

function atLeastZero(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    invalid(`${name} must be a whole number from 0 to ${max}, got ${value}`);
  }
  return value;
}

function resolveRetention(retention: NodeOptions['retention']): ResolvedOptions['retention'] {
  if (retention !== undefined && (typeof retention !== 'object' || retention === null)) {
    invalid('retention must be an object: { keepMs, maxAgeMs, checkIntervalMs }');
  }
  const keepMs = atLeastZero(
    'retention.keepMs',
    retention?.keepMs,
    DEFAULT_RETENTION.keepMs,
    MAX_RETENTION_MS,
  );
  const maxAgeMs = atLeastZero(
    'retention.maxAgeMs',
    retention?.maxAgeMs,
    DEFAULT_RETENTION.maxAgeMs,
    MAX_RETENTION_MS,
  );
  if (maxAgeMs > 0 && maxAgeMs < keepMs) {
    invalid(`retention.maxAgeMs (${maxAgeMs}) must be 0 (never) or at least retention.keepMs (${keepMs})`);
  }
  const checkIntervalMs = atLeastZero(
    'retention.checkIntervalMs',
    retention?.checkIntervalMs,
    DEFAULT_RETENTION.checkIntervalMs,
    MAX_TIMER_MS,
  );
  return { keepMs, maxAgeMs, checkIntervalMs };
}

function positive(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    invalid(`${name} must be a whole number from 1 to ${max}, got ${value}`);
  }
  return value;
}

function resolveMembers(members: NodeOptions['members']): readonly string[] {
  if (members === undefined) return [];
  if (!Array.isArray(members)) invalid('members must be an array of node ids');
  for (const member of members) {
    if (!isNodeId(member)) invalid(`invalid member ${JSON.stringify(member)}: members are node ids`);
  }
  return [...new Set(members)].sort();
}

/** Checks `options` (INVALID_ARGUMENT naming the bad one) and fills in the defaults. */
export function resolveOptions(options: NodeOptions): ResolvedOptions {
  assertNodeId(options.id);
  const secret =
    typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
    invalid(`the cluster secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  const clusterId = options.clusterId ?? 'driftless';
  if (!isClusterId(clusterId)) {
    invalid(`invalid cluster id ${JSON.stringify(clusterId)}: use 1-64 characters from A-Z a-z 0-9 . _ -`);
  }
  const role = options.role ?? 'multi';
  if (!ROLES.includes(role)) invalid(`unknown role ${JSON.stringify(role)}: use ${ROLES.join(', ')}`);
  const modes = options.collectionModes ?? {};
  for (const [collection, mode] of Object.entries(modes)) {
    if (!isCollectionName(collection)) invalid(`invalid collection name ${JSON.stringify(collection)}`);
    if (mode !== 'lww' && mode !== 'mv') {
      invalid(`unknown collection mode ${JSON.stringify(mode)} for ${collection}: use lww or mv`);
    }
  }
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
    invalid('dataDir must be a directory path');
  }
  if (options.store !== undefined && options.dataDir !== undefined) {
    invalid('give dataDir or store, not both');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    invalid('clock must be a function returning the wall clock in milliseconds');
  }
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:0');
  return {
    id: options.id,
    dataDir: options.dataDir,
    store: options.store,
    host,
    port,
    peers: [...new Set((options.peers ?? []).map(peerDialUrl))],
    role,
    clusterId,
    secret,
    ackTimeoutMs: positive('ackTimeoutMs', options.ackTimeoutMs, 5_000, MAX_TIMER_MS),
    readTimeoutMs: positive('readTimeoutMs', options.readTimeoutMs, 5_000, MAX_TIMER_MS),
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 1024 * 1024, 2 ** 30),
    collectionModes: { ...modes },
    timing: { ...options.timing },
    members: resolveMembers(options.members),
    onEvent: options.onEvent ?? (() => {}),
    clock: options.clock,
    retention: resolveRetention(options.retention),
  };
}
