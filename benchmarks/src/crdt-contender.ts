/**
 * The one shape in which the CRDT benchmarks drive Driftless, Yjs and Automerge, so that every
 * system does exactly the same work: writers set keys and hand out one update per set, and fresh
 * replicas apply those updates.
 */

/** The systems compared. */
export type SystemName = 'Driftless' | 'Yjs' | 'Automerge';

/**
 * One replica of a system. `U` is what travels between replicas: a Driftless op, a Yjs update, an
 * Automerge change. A replica writes first and receives afterwards (no workload needs the reverse).
 */
export interface Replica<U> {
  /** Sets `key` to `value` here (one op, update or change) and returns what peers need. */
  set(key: string, value: number): U;
  /** Applies peers' updates, in the order given: the timed part of every throughput figure. */
  receive(updates: readonly U[]): void;
  /** The value `key` reads as here, or undefined when it is absent. */
  read(key: string): unknown;
  /** A string equal on two replicas of the same system exactly when they hold the same state. */
  fingerprint(): string;
  /** The bytes a new replica (lacking every update) would download to catch up with this one. */
  stateBytes(): number;
  /** Driftless only: the bytes of a whole-state snapshot, the bootstrap form, beside its delta. */
  snapshotBytes?(): number;
  /** An independent replica holding this one's state, ready to receive (untimed setup). */
  copy(): Replica<U>;
}

/** A system under test: how to open its replicas and how big its updates are on the wire. */
export interface Contender<U> {
  readonly name: SystemName;
  /** A fresh, empty replica; `writer` (0, 1, 2, …) tells apart replicas that write concurrently. */
  open(writer: number): Replica<U>;
  /** The bytes `updates` take on the wire, sent as the system would send them. */
  wireBytes(updates: readonly U[]): number;
  /**
   * For a system that sends each update as made, the bytes of the same updates merged into batches
   * of 1,000 (as Driftless sends ops): the like-for-like comparison of update encodings.
   */
  batchedWireBytes?(updates: readonly U[]): number;
}

/**
 * A contender of whatever update type, for lists of all three (its methods are bivariant in `U`).
 * Sound as used: a benchmark only hands a replica updates made by replicas of the same contender.
 */
export type SomeContender = Contender<unknown>;
