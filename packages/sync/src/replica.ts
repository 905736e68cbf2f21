import {
  DriftlessError,
  type LogChunk,
  measureValue,
  type Op,
  type OpTip,
  type VersionVector,
} from '@driftless/core';
import type { StateKind } from './protocol/messages.js';

/** A state to send a peer instead of ops: a compacted delta or a whole snapshot. */
export interface StateBlob {
  readonly kind: StateKind;
  readonly bytes: Uint8Array;
  /** The vector of the replica the state was taken from. */
  readonly vector: VersionVector;
  /** About how many bytes the ops it replaces would take (Infinity for a snapshot). */
  readonly opsBytes: number;
}

/**
 * What replication needs of a replica: its durable version vector, its log in local order (read
 * from a vector, and each new durable entry as it lands), a way to apply a peer's ops durably,
 * and states (compacted deltas and snapshots) to send and install. A ReplicaStore from
 * @driftless/crdt provides it through `syncReplicaOf`.
 */
export interface SyncReplica {
  readonly nodeId: string;
  /** The ops durably applied here. */
  readonly versionVector: VersionVector;
  /** The durable ops a replica at `since` lacks, entry by entry, in local log order. */
  readSince(since: VersionVector): AsyncIterable<LogChunk>;
  /** True when the log still holds every op a replica at `since` lacks. */
  canServe(since: VersionVector): boolean;
  /** Calls `listener` with each new durable entry, in log order. Returns the unsubscribe function. */
  onAppend(listener: (chunk: LogChunk) => void): () => void;
  /**
   * Calls `listener` synchronously when a state is being installed here: ops appended from then on
   * may build on ops that are not in the log, so a stream that follows the log must catch up again.
   */
  onInstall(listener: () => void): () => void;
  /**
   * Applies a peer's ops at once (each origin's in order; some may be known already) and returns
   * how many were new, beside a promise that resolves once they are durable. Throws, having applied
   * none of them, when they cannot be appended (OP_GAP, CLOCK_SKEW, a failed log, ...). Ops received
   * next may be applied before these are durable: they never become durable before these.
   * `batch`, when given, is the op-codec encoding the ops were decoded from: a log may store it as is.
   */
  receive(ops: readonly Op[], batch?: Uint8Array): { fresh: number; durable: Promise<void> };
  /**
   * A state for a replica at `since`, holding only durable writes: a snapshot of everything, or a
   * compacted delta of the ops it lacks (undefined when no consistent delta could be taken, for
   * example under a steady stream of writes, or when the ops touch so many keys that a delta could
   * not be much smaller: send the ops).
   */
  stateFor(since: VersionVector, kind: StateKind): Promise<StateBlob | undefined>;
  /**
   * Joins a state from a peer durably; resolves with how many keys changed. `check` is called with
   * the vector the state holds before anything changes, and may throw to refuse it.
   */
  installState(bytes: Uint8Array, check?: (vector: VersionVector) => void): Promise<number>;
  /**
   * Refuses every local write from now on with `error` (OpLog.refuseLocalWrites): a peer holds ops
   * of this replica's own origin that it lacks, so a new write would reuse a dot. Absent: the
   * replica takes no local writes through anything replication could stop.
   */
  refuseLocalWrites?(error: DriftlessError): void;
  /**
   * The seq and timestamp of the last op of `origin` the log holds (OpLog.tipOf), sent to that
   * origin's node at the handshake. Absent: the replica tells no tips, and peers skip that check.
   */
  tipOf?(origin: string): OpTip | undefined;
  /** The durable op `origin:seq` if the log holds it (OpLog.opAt). Absent: as tipOf. */
  opAt?(origin: string, seq: number): Promise<Op | undefined>;
  /** Tombstones below this vector have been collected (absent: the replica never collects). */
  readonly collectedBelow?: VersionVector;
  /**
   * Drops tombstones below `stable` (a vector every cluster member holds durably, applied here),
   * durably; resolves with how many keys were dropped. Absent: the replica never collects.
   */
  collectTombstones?(stable: VersionVector): Promise<number>;
}

/** The parts of a ReplicaStore (from @driftless/crdt) that replication uses. */
export interface ReplicaStoreLike {
  readonly log: {
    readonly nodeId: string;
    readonly versionVector: VersionVector;
    readSince(since: VersionVector): AsyncIterable<LogChunk>;
    canServe(since: VersionVector): boolean;
    onAppend(listener: (chunk: LogChunk) => void): () => void;
    onInstall(listener: () => void): () => void;
    settled(): Promise<void>;
    refuseLocalWrites(error: DriftlessError): void;
    tipOf(origin: string): OpTip | undefined;
    opAt(origin: string, seq: number): Promise<Op | undefined>;
  };
  readonly state: {
    readonly versionVector: VersionVector;
    readonly collectedBelow: VersionVector;
    snapshot(): Uint8Array;
    delta(ops: Iterable<Op>): Uint8Array;
  };
  admit(ops: readonly Op[], batch?: Uint8Array): { changes: readonly unknown[]; durable: Promise<void> };
  installState(bytes: Uint8Array, check?: (vector: VersionVector) => void): Promise<number>;
  collectTombstones(stable: VersionVector): Promise<number>;
}

/** Attempts at a quiet moment (nothing admitted and not yet durable) for a consistent delta. */
const DELTA_ATTEMPTS = 3;

/** The SyncReplica of a persistent replica (a ReplicaStore). */
export function syncReplicaOf(store: ReplicaStoreLike): SyncReplica {
  const { log, state } = store;
  /** Resolves once every op of `vector` is durable; the state holds ops as soon as they are admitted. */
  const durable = async (vector: VersionVector) => {
    await log.settled();
    if (!log.versionVector.dominates(vector)) {
      throw new DriftlessError('LOG_FAILED', 'writes in the state never became durable: the log failed');
    }
  };
  return {
    get nodeId() {
      return log.nodeId;
    },
    get versionVector() {
      return log.versionVector;
    },
    readSince: (since) => log.readSince(since),
    canServe: (since) => log.canServe(since),
    onAppend: (listener) => log.onAppend(listener),
    onInstall: (listener) => log.onInstall(listener),
    receive(ops, batch) {
      const { changes, durable } = store.admit(ops, batch);
      return { fresh: changes.length, durable };
    },
    installState: (bytes, check) => store.installState(bytes, check),
    refuseLocalWrites: (error) => log.refuseLocalWrites(error),
    tipOf: (origin) => log.tipOf(origin),
    opAt: (origin, seq) => log.opAt(origin, seq),
    get collectedBelow() {
      return state.collectedBelow;
    },
    collectTombstones: (stable) => store.collectTombstones(stable),
    async stateFor(since, kind) {
      if (kind === 'snapshot') {
        // Taken at once (consistent at the state's vector), sent only once all of it is durable.
        const bytes = state.snapshot();
        const vector = state.versionVector;
        await durable(vector);
        return { kind, bytes, vector, opsBytes: Number.POSITIVE_INFINITY };
      }
      // A delta must hold every key an op in (since, vector] touched: read the log until it covers
      // everything the state holds, then take the delta before anything else can be admitted.
      const touched: Op[] = [];
      const keys = new Set<string>();
      let covered = since;
      for (let attempt = 0; attempt < DELTA_ATTEMPTS; attempt++) {
        for await (const chunk of log.readSince(covered)) {
          for (const op of chunk.ops) {
            touched.push(op);
            keys.add(`${op.collection}/${op.key}`);
            covered = covered.with(op.origin, op.seq);
          }
        }
        if (covered.dominates(state.versionVector)) {
          // A key's entry holds at least what any one op on it wrote: with more than one key for
          // every two ops, a delta is not worth building (it cost a catch-up of fresh keys more
          // than sending the ops).
          if (keys.size * 2 > touched.length) return undefined;
          let opsBytes = 0;
          for (const op of touched)
            opsBytes += op.key.length + op.collection.length + Math.max(0, measureValue(op.mutation)) + 4;
          return { kind, bytes: state.delta(touched), vector: state.versionVector, opsBytes };
        }
        await log.settled();
      }
      return undefined;
    },
  };
}
