import type { Dot, Value, VersionVector } from '@driftless/core';
import type { CounterTotals, Mutation } from '../mutation.js';
import type { Stamp } from '../stamp.js';

/** The value types a key can hold. */
export type TypeName = 'register' | 'mv' | 'document' | 'counter' | 'set' | 'yjs';

/** A write that lost to, or replaced, a concurrent write; or siblings kept side by side. */
export type ConflictKind = 'overwrite' | 'discarded' | 'siblings' | 'type';

/** Reports a conflict the type resolved while applying an op. */
export type ConflictSink = (kind: ConflictKind, winner: Stamp, loser: Stamp) => void;

/** A delete as every type sees it: its stamp, and what its writer had seen of the key. */
export interface DeleteIntent {
  readonly stamp: Stamp;
  readonly seen: readonly Dot[];
  readonly counterSeen: readonly CounterTotals[];
}

/**
 * One CRDT: how its state is created, changed by its ops and by deletes, joined with another
 * replica's state, read, and encoded canonically (equal states encode to equal bytes).
 * `apply` and `delete` return whether the state changed.
 */
export interface CrdtType<S> {
  readonly name: TypeName;
  create(): S;
  apply(state: S, stamp: Stamp, mutation: Mutation, conflict: ConflictSink): boolean;
  delete(state: S, intent: DeleteIntent): boolean;
  /** The join of two states, given what each replica has seen. May reuse either argument. */
  merge(a: S, b: S, seenA: VersionVector, seenB: VersionVector): S;
  /** What a reader sees, or undefined when the key reads as absent. */
  read(state: S): Value | undefined;
  encode(state: S): Value;
  /** Reads an encoded state; throws SNAPSHOT_INVALID when it is not one. */
  decode(value: Value): S;
  /** The dots of the writes that make up the visible value: what a replacing write has seen. */
  liveDots(state: S): Dot[];
  /**
   * Forgets, in place, traces of deletes and overwritten writes whose stamps are in `stable`, which
   * is causally stable: every op still to arrive comes after all of it (a greater stamp, and it saw
   * every op there), so only an op concurrent with them could have needed the traces. Reads, now
   * and after any op or join still to come, are unchanged; and a state compacted once every op is
   * stable depends only on the ops, not on when it was compacted before. `everything` says
   * `stable` holds every op this replica has applied (so every delete of the key is stable too),
   * for a type whose state cannot tell which deletes removed what (yjs). Returns whether the state
   * changed.
   */
  compact(state: S, stable: VersionVector, everything: boolean): boolean;
}
