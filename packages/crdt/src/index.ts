/**
 * @driftless/crdt: a replica's state as collections of keys, each value a CRDT, changed only by
 * ops from @driftless/core. Pure: no I/O and no Node built-ins, so it runs in browsers.
 */

export type { ConflictCounts, ConflictEvent } from './conflicts.js';
export type { DurableChanges } from './durable-changes.js';
export type { CollectionMode, Intent } from './intent.js';
export {
  type CounterTotals,
  decodeMutation,
  encodeMutation,
  type Mutation,
  type MutationKind,
} from './mutation.js';
export {
  type ListOptions,
  type ListPage,
  MAX_LIST_LIMIT,
  type ReadResult,
} from './replica-read.js';
export { type Change, ReplicaState } from './replica-state.js';
export { DEFAULT_CHECKPOINT_OPS, ReplicaStore, type ReplicaStoreOptions } from './replica-store.js';
export { SNAPSHOT_FORMAT } from './snapshot.js';
export { compareStamps, type Stamp } from './stamp.js';
export { SEGMENT_TABLE, STATE_TABLE, type StoredEntry } from './state-segments.js';
export type { ConflictKind, TypeName } from './types/crdt-type.js';
export { MAX_YJS_PENDING_BYTES, MAX_YJS_PENDING_UPDATES } from './types/yjs.js';
