import type { Traffic } from './sync-workload.js';

/**
 * What the benchmark's parent process and its node processes (sync-child.ts) say to each other
 * over Node's IPC channel. The parent sends requests with an id; the child answers each with the
 * same id, in whatever order they finish. A child announces itself once, unasked, with `started`.
 */

/** What a node process runs: a Driftless node on either store, or one end of a baseline. */
export type SystemName = 'driftless-memory' | 'driftless-lmdb' | 'raw' | 'yjs';

/** Every system, in the order the report shows them. */
export const SYSTEMS: readonly SystemName[] = ['driftless-memory', 'driftless-lmdb', 'raw', 'yjs'];

/** A node process's part: A writes and dials B; B listens and receives; a mesh node does both. */
export type Role = 'sender' | 'receiver' | 'mesh';

/** What a process has cost so far. */
export interface Usage {
  /** CPU time, every thread included, since the process started. */
  readonly userMs: number;
  readonly systemMs: number;
  /** The largest resident set the process has had. */
  readonly maxRssMiB: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  /** Memory outside the JS heap that V8 accounts for (ArrayBuffers, Buffers). */
  readonly externalMiB: number;
  /** Garbage collections that paused the main thread since the process started, and for how long. */
  readonly gcPauses: number;
  readonly gcMs: number;
  /** Those pauses of LONG_GC_PAUSE_MS or more. */
  readonly gcLongPauses: number;
}

/** A GC pause at least this long counts as long: enough to show in a replication latency's p99. */
export const LONG_GC_PAUSE_MS = 2;

/** A Driftless node's store commits (each one a log group commit, or an install). */
export interface StoreStats {
  commits: number;
  /** Store writes (log entries, index entries, state entries, metadata) in them. */
  writes: number;
  /** Time from each commit call until it resolved (durable), summed. */
  commitMs: number;
  maxCommitMs: number;
}

/** Driftless: the peers' ops a node applied, over all its sessions. */
export interface ReceiveCounts {
  received: number;
  /** Those it did not hold yet. */
  fresh: number;
}

/** One Driftless peer's counters, as Replicator.status() reports them. */
export interface PeerCounters {
  readonly nodeId: string | undefined;
  readonly opsSent: number;
  readonly opsReceived: number;
  readonly opsDuplicate: number;
  readonly bytesSent: number;
  readonly framesSent: number;
  /** State transfers (deltas and snapshots) installed from the peer. */
  readonly statesReceived?: number;
}

/** The requests and what each one resolves with. */
export interface Requests {
  /** Resolves once the node is connected to `peers` peers (for A and mesh nodes: handshakes done). */
  connected: { args: { peers: number }; result: Record<string, never> };
  /** A writes ops [from, to) as fast as its flow control allows; resolves once every write was issued and settled. */
  burst: { args: { from: number; to: number }; result: { startMs: number; endMs: number } };
  /** A writes ops [from, to) at `ratePerS`, recording the time of each write call. */
  paced: {
    args: { from: number; to: number; ratePerS: number };
    /** `written`: Driftless, when each write became durable in A's own log (SyncNode.onWritten). */
    result: { startMs: number; endMs: number; times: Float64Array; written?: Float64Array };
  };
  /**
   * B resolves once it holds A's first `count` ops, with the time it noticed; with `record`, also
   * the time at which each op of [record.from, record.to) became held. With `origin` (a cluster
   * node), the ops counted are that writer's; without, every write held.
   */
  hold: {
    args: { count: number; origin?: string; record?: { from: number; to: number } };
    result: { atMs: number; arrivals?: Float64Array };
  };
  /** The clock, the cost and the WebSocket traffic so far. */
  probe: {
    args: Record<string, never>;
    result: {
      nowMs: number;
      usage: Usage;
      traffic: Traffic;
      store: StoreStats | undefined;
      /** Driftless: every session that closed so far (`peer code reason`). */
      disconnects: readonly string[];
    };
  };
  /** Driftless: every peer's session counters. */
  status: {
    args: Record<string, never>;
    result: { peers: PeerCounters[]; counts: ReceiveCounts | undefined; disconnects: readonly string[] };
  };
  /** A cluster node: the digest of its state, and how many writes it holds. */
  digest: { args: Record<string, never>; result: { digest: string; held: number } };
  /** A Driftless cluster node: truncates its whole log (a peer behind it then needs a snapshot). */
  truncate: { args: Record<string, never>; result: Record<string, never> };
  /** Closes the node gracefully; the process exits after answering. */
  exit: { args: Record<string, never>; result: Record<string, never> };
}

/** A request's name. */
export type RequestType = keyof Requests;

/** A request on the wire. */
export type RequestMessage = {
  [T in RequestType]: { readonly id: number; readonly type: T } & Requests[T]['args'];
}[RequestType];

/** An answer on the wire. */
export type ReplyMessage =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** The one unasked message: the node is up (a listening node gives its url). */
export interface StartedMessage {
  readonly type: 'started';
  readonly url: string | undefined;
  /** When (monotonicMs) the child began to start its node: catch-up is timed from here. */
  readonly startedMs?: number;
}

/** The command line of a node process. */
export interface ChildOptions {
  readonly system: SystemName;
  readonly role: Role;
  /** This node's id (Driftless). */
  readonly nodeId: string;
  /** Whether to listen on 127.0.0.1 (port 0). */
  readonly listen: boolean;
  /** Urls to dial. */
  readonly peers: readonly string[];
  /** The LMDB data directory (driftless-lmdb). */
  readonly dir: string | undefined;
  /** Ops of the workload (the sender makes them all before it is timed). */
  readonly ops: number;
  /** Driftless writes A keeps in flight. */
  readonly window: number;
}

/** ChildOptions as command-line arguments. */
export function childArgs(options: ChildOptions): string[] {
  return [
    `--system=${options.system}`,
    `--role=${options.role}`,
    `--node-id=${options.nodeId}`,
    `--listen=${options.listen}`,
    `--peers=${options.peers.join(',')}`,
    `--dir=${options.dir ?? ''}`,
    `--ops=${options.ops}`,
    `--window=${options.window}`,
  ];
}
