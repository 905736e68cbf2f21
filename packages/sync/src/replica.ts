import type { LogChunk, Op, VersionVector } from '@driftless/core';

/**
 * What replication needs of a replica: its durable version vector, its log in local order (read
 * from a vector, and each new durable entry as it lands), and a way to apply a peer's ops
 * durably. A ReplicaStore from @driftless/crdt provides it through `syncReplicaOf`.
 */
export interface SyncReplica {
  readonly nodeId: string;
  /** The ops durably applied here. */
  readonly versionVector: VersionVector;
  /** The durable ops a replica at `since` lacks, entry by entry, in local log order. */
  readSince(since: VersionVector): AsyncIterable<LogChunk>;
  /** Calls `listener` with each new durable entry, in log order. Returns the unsubscribe function. */
  onAppend(listener: (chunk: LogChunk) => void): () => void;
  /**
   * Applies a peer's ops (each origin's in order; some may be known already) and resolves once
   * they are durable, with how many were new.
   */
  receive(ops: readonly Op[]): Promise<number>;
}

/** The parts of a ReplicaStore (from @driftless/crdt) that replication uses. */
export interface ReplicaStoreLike {
  readonly log: {
    readonly nodeId: string;
    readonly versionVector: VersionVector;
    readSince(since: VersionVector): AsyncIterable<LogChunk>;
    onAppend(listener: (chunk: LogChunk) => void): () => void;
  };
  receive(ops: readonly Op[]): Promise<readonly unknown[]>;
}

/** The SyncReplica of a persistent replica (a ReplicaStore). */
export function syncReplicaOf(store: ReplicaStoreLike): SyncReplica {
  return {
    get nodeId() {
      return store.log.nodeId;
    },
    get versionVector() {
      return store.log.versionVector;
    },
    readSince: (since) => store.log.readSince(since),
    onAppend: (listener) => store.log.onAppend(listener),
    receive: async (ops) => (await store.receive(ops)).length,
  };
}
