import {
  DriftlessError,
  decode,
  encode,
  type OpLog,
  ProtocolError,
  type Store,
  type StoreWrite,
  VersionVector,
} from '@driftless/core';
import { ReplicaState } from './replica-state.js';
import {
  type CheckpointEntry,
  loadEntries,
  type SegmentLayout,
  type SegmentPacker,
  STATE_META_TABLE,
} from './state-segments.js';

/**
 * How a persistent replica keeps its state: the op log is the source of truth, and the state is
 * checkpointed now and then beside it, in the same store:
 *
 *   state_seg   the entries of the keys each checkpoint wrote (state-segments.ts)
 *   state_meta  "checkpoint" → the version vector the stored entries hold, exactly
 *               "collected"  → the vector below which tombstones were collected
 *
 * A checkpoint writes every key changed since the previous one, and the vectors, in one commit
 * appended to the log after every op of its vector (checkpointer.ts), so it always holds exactly the
 * ops of its vector. Opening loads it and replays, in log order, the ops of the log above its vector:
 * the log keeps them (OpLog.retain), so a crash between checkpoints loses nothing the log has.
 * Stores written before checkpoints existed have no "checkpoint": their entries were written with
 * every append, so they hold the log's whole version vector.
 */

const COLLECTED = 'collected';
const CHECKPOINT = 'checkpoint';

/** Keys changed since the last checkpoint, by collection. */
export class DirtyKeys {
  #keys = new Map<string, Set<string>>();
  #count = 0;
  /** Where take() goes on from. */
  #collections: Iterator<[string, Set<string>]> | undefined;
  #current: { collection: string; keys: Set<string>; iterator: Iterator<string> } | undefined;

  /** How many keys are dirty. */
  get count(): number {
    return this.#count;
  }

  /** Marks a key changed. */
  add(collection: string, key: string): void {
    let keys = this.#keys.get(collection);
    if (keys === undefined) {
      keys = new Set();
      this.#keys.set(collection, keys);
    }
    // One hash lookup, not two: this runs for every op.
    const size = keys.size;
    keys.add(key);
    if (keys.size !== size) this.#count++;
  }

  /** Unmarks a key; true when it was marked. */
  delete(collection: string, key: string): boolean {
    if (this.#count === 0 || !this.#keys.get(collection)?.delete(key)) return false;
    this.#count--;
    return true;
  }

  /** Every key `state` holds. */
  static all(state: ReplicaState): DirtyKeys {
    const keys = new DirtyKeys();
    for (const [collection, key] of state.entryKeys()) keys.add(collection, key);
    return keys;
  }

  /** Marks every key `other` marks or lists. */
  addAll(other: DirtyKeys | KeyList): void {
    if (other instanceof KeyList) {
      for (const [collection, key] of other.entries()) this.add(collection, key);
      return;
    }
    for (const [collection, keys] of other.#keys) for (const key of keys) this.add(collection, key);
  }

  /**
   * Adds dirty keys to `into` as `state` holds them (no entry for a key it no longer holds),
   * unmarking them and listing them in `taken`: all of them, or up to `max`, or until the host
   * clock (performance.now()) passes `until`.
   */
  take(state: ReplicaState, into: SegmentPacker, limits: TakeLimits = {}): void {
    const { max = Number.POSITIVE_INFINITY, until = Number.POSITIVE_INFINITY, taken } = limits;
    // Iterators carry on from where the last take stopped: a fresh one would step over every key
    // taken so far (a Set keeps deleted entries as holes until it shrinks), and a slice of a large
    // checkpoint would spend its time doing nothing else.
    this.#collections ??= this.#keys.entries();
    let added = 0;
    for (;;) {
      if (this.#current === undefined) {
        const next = this.#collections.next();
        if (next.done) {
          this.#collections = undefined;
          return;
        }
        const [collection, keys] = next.value;
        this.#current = { collection, keys, iterator: keys.values() };
      }
      const { collection, keys, iterator } = this.#current;
      for (;;) {
        if (added >= max) return;
        // The clock is read every few keys: a key takes about a microsecond.
        if ((added & 15) === 15 && clock.performance.now() > until) return;
        const next = iterator.next();
        if (next.done) break;
        const key = next.value;
        into.add(entryOf(state, collection, key));
        added++;
        keys.delete(key);
        this.#count--;
        taken?.push(collection, key);
      }
      this.#keys.delete(collection);
      this.#current = undefined;
    }
  }
}

/** How much DirtyKeys.take takes. */
export interface TakeLimits {
  readonly max?: number;
  /** A time on the host clock (performance.now()). */
  readonly until?: number;
  readonly taken?: KeyList;
}

/** The host's clock (this package's types name no host). */
const clock = globalThis as unknown as { performance: { now(): number } };

/**
 * Keys in a list, without the set's hashing: what a checkpoint under way has encoded, needed again
 * only if it is abandoned.
 */
export class KeyList {
  readonly #items: string[] = [];

  push(collection: string, key: string): void {
    this.#items.push(collection, key);
  }

  *entries(): Generator<[collection: string, key: string]> {
    const items = this.#items;
    for (let i = 0; i < items.length; i += 2) yield [items[i] as string, items[i + 1] as string];
  }
}

/** One key's entry as `state` holds it now (none when it holds nothing). */
export function entryOf(state: ReplicaState, collection: string, key: string): CheckpointEntry {
  return { collection, key, entry: state.entryValue(collection, key) };
}

/** The writes that make the stored entries a checkpoint at `vector`. */
export function checkpointMeta(vector: VersionVector, collected: VersionVector): StoreWrite[] {
  return [
    { table: STATE_META_TABLE, key: CHECKPOINT, value: encode(vector.toValue()) },
    { table: STATE_META_TABLE, key: COLLECTED, value: encode(collected.toValue()) },
  ];
}

/** A state loaded from its checkpoint and the log above it. */
export interface LoadedState {
  readonly state: ReplicaState;
  /** The vector the stored checkpoint holds. */
  readonly checkpoint: VersionVector;
  /** Keys the replay changed: not yet in the checkpoint. */
  readonly dirty: DirtyKeys;
  /** Ops replayed. */
  readonly replayed: number;
  /** The checkpoint segments the store holds. */
  readonly segments: SegmentLayout;
}

/**
 * The state as `store` holds it durably: its checkpoint, then the log's ops above it, in log order.
 * Throws SNAPSHOT_INVALID for a damaged entry, STORE_CORRUPT for damaged metadata; writes nothing.
 */
export async function loadState(store: Store, log: OpLog): Promise<LoadedState> {
  const { entries, layout } = await loadEntries(store);
  const collected = await readVector(store, COLLECTED);
  const stored = await readVector(store, CHECKPOINT);
  const checkpoint =
    stored ?? (entries.length > 0 || collected !== undefined ? log.versionVector : VersionVector.EMPTY);
  if (!log.canServe(checkpoint)) {
    throw new DriftlessError(
      'STORE_CORRUPT',
      'the op log no longer holds the ops above the state checkpoint: restore from a backup, or remove the ' +
        'data directory and let the replica re-bootstrap from a peer',
    );
  }
  const state = ReplicaState.load(checkpoint, collected ?? VersionVector.EMPTY, entries);
  const dirty = new DirtyKeys();
  let replayed = 0;
  for await (const chunk of log.readSince(checkpoint)) {
    for (const op of chunk.ops) {
      state.apply(op);
      dirty.add(op.collection, op.key);
      replayed++;
    }
  }
  return { state, checkpoint, dirty, replayed, segments: layout };
}

async function readVector(store: Store, key: string): Promise<VersionVector | undefined> {
  const bytes = await store.get(STATE_META_TABLE, key);
  if (bytes === undefined) return undefined;
  try {
    return VersionVector.fromValue(decode(bytes));
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new DriftlessError(
        'STORE_CORRUPT',
        'the replica state metadata is unreadable: restore from a backup',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
