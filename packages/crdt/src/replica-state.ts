import {
  compareUtf8,
  DriftlessError,
  isCollectionName,
  isKey,
  type Op,
  OpLogError,
  type Value,
  VersionVector,
  type Write,
} from '@driftless/core';
import { type ConflictCounts, type ConflictEvent, ConflictTally } from './conflicts.js';
import { type CollectionMode, type Intent, validateIntent } from './intent.js';
import { KeyEntry } from './key-entry.js';
import { KeyTable } from './key-table.js';
import { decodeMutation, encodeMutation, type Mutation, type MutationKind } from './mutation.js';
import { type ListOptions, type ListPage, listPage, type ReadResult, readEntry } from './replica-read.js';
import type { Collections } from './snapshot.js';
import { stampOf } from './stamp.js';
import {
  collectTombstonesBelow,
  decodeState,
  digestState,
  encodeDelta,
  encodedEntryOf,
  encodeState,
  entryValueOf,
  joinState,
  type StateParts,
  stateFromEntries,
} from './state-join.js';
import type { StoredEntry } from './state-segments.js';
import { TYPE_OF_KIND } from './types/registry.js';
import { checkLocalUpdate, type YjsState } from './types/yjs.js';
import { mutationFor } from './write-mutation.js';

/** What applying an op did, for change feeds. */
export interface Change {
  readonly collection: string;
  readonly key: string;
  readonly op: Op;
  /** The mutation kind, or 'rejected' for an op whose mutation is invalid here (applied as a no-op). */
  readonly kind: MutationKind | 'rejected';
  /** Whether the key's state changed. */
  readonly changed: boolean;
}

/** Told of the changes ops make to entries: see ReplicaState.watchChanges. */
export interface ChangeWatcher {
  /**
   * An op is about to change `entry`, which still holds what it held (`created` when the op has
   * just created it).
   */
  beforeChange(collection: string, key: string, entry: KeyEntry, created: boolean): void;
  /** An op that created `entry` was refused: the state no longer holds it, nor ever will. */
  forgotten(entry: KeyEntry): void;
}

/**
 * A replica's state: collections of keys, each value a CRDT, changed only by ops. Pure: no I/O,
 * no clocks, no Node built-ins. Ops of each origin must be applied in seq order, and causally
 * (the sync layer delivers them so); applying an op twice is a no-op.
 */
export class ReplicaState {
  #collections: Collections = new Map();
  #vector = new Map<string, number>();
  #collected = VersionVector.EMPTY;
  #sortedKeys = new Map<string, string[]>();
  readonly #modes = new Map<string, CollectionMode>();
  readonly #conflicts = new ConflictTally();
  #rejected = 0;
  #watcher: ChangeWatcher | undefined;

  /** The ops applied, as a version vector. */
  get versionVector(): VersionVector {
    return VersionVector.from(this.#vector);
  }

  /** Keys held, including those that read as absent (deleted, not yet collected). */
  get keyCount(): number {
    let count = 0;
    for (const keys of this.#collections.values()) count += keys.size;
    return count;
  }

  /**
   * Every key held (see keyCount) and its entry, for ReplicaStore's checkpoints. Goes on through
   * keys added while it runs, and skips those removed before it reaches them (as a Map's iterator
   * does). Run it to its end or call its `return`: until then the key tables keep deleted keys'
   * holes (see KeyTable).
   */
  *keyEntries(): Generator<[collection: string, key: string, entry: KeyEntry]> {
    for (const [collection, keys] of this.#collections)
      for (const [key, entry] of keys) yield [collection, key, entry];
  }

  /**
   * A key's entry, or undefined when the state holds none: for ReplicaStore's checkpoints (read it
   * with `get`). The caller must not change it.
   */
  keyEntry(collection: string, key: string): KeyEntry | undefined {
    return this.#collections.get(collection)?.get(key);
  }

  /**
   * Calls `watcher` before each op changes an entry from now on (one watcher: this replaces the
   * last). Changes without an op (applyDelta, collectTombstones, replaceWith) are not reported:
   * the caller knows of them.
   */
  watchChanges(watcher: ChangeWatcher | undefined): void {
    this.#watcher = watcher;
  }

  /** Ops whose mutation was invalid and were applied as no-ops. */
  get rejectedOps(): number {
    return this.#rejected;
  }

  /** Sets how `set` resolves in a collection (default 'lww'); local configuration, not replicated. */
  setCollectionMode(collection: string, mode: CollectionMode): void {
    if (!isCollectionName(collection))
      throw new DriftlessError('INVALID_ARGUMENT', `invalid collection ${collection}`);
    if (mode !== 'lww' && mode !== 'mv') {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `unknown collection mode ${JSON.stringify(mode)}: use lww or mv`,
      );
    }
    this.#modes.set(collection, mode);
  }

  /** How `set` resolves in a collection. */
  collectionMode(collection: string): CollectionMode {
    return this.#modes.get(collection) ?? 'lww';
  }

  /**
   * Turns a caller's intent into a write for the op log, with what this replica has seen of the
   * key. Throws TYPE_CONFLICT when the key holds a value of another type, INVALID_ARGUMENT for a
   * malformed intent, YJS_MISSING_DEPENDENCY for a Yjs update that builds on what the key's
   * documents do not hold (the Yjs client must sync with the key first).
   */
  prepare(collection: string, key: string, intent: Intent): Write {
    if (!isCollectionName(collection))
      throw new DriftlessError('INVALID_ARGUMENT', `invalid collection ${collection}`);
    if (!isKey(key))
      throw new DriftlessError('INVALID_ARGUMENT', 'a key must be a non-empty string of ≤ 512 characters');
    validateIntent(intent);
    const entry = this.#collections.get(collection)?.get(key);
    const mutation = mutationFor(intent, entry, this.collectionMode(collection));
    if (mutation.kind !== 'del' && entry?.isPresent()) {
      const type = TYPE_OF_KIND[mutation.kind];
      if (type !== entry.type) {
        throw new DriftlessError(
          'TYPE_CONFLICT',
          `${collection}/${key} holds a ${entry.type}, so a ${intent.kind} cannot apply to it: delete the key first, or use a ${entry.type} write`,
        );
      }
    }
    if (mutation.kind === 'yjs')
      checkLocalUpdate(entry?.peek('yjs') as YjsState | undefined, mutation.update, mutation.base);
    return { collection, key, mutation: encodeMutation(mutation) };
  }

  /** Applies an op; returns what changed, or undefined when the op was applied before. */
  apply(op: Op): Change | undefined {
    const applied = this.#vector.get(op.origin) ?? 0;
    if (op.seq <= applied) return undefined;
    if (op.seq !== applied + 1) {
      throw new OpLogError('OP_GAP', `${op.origin}:${op.seq} arrived before ${op.origin}:${applied + 1}`);
    }
    const change = this.#applyOp(op);
    this.#vector.set(op.origin, op.seq);
    return change;
  }

  /**
   * Applies an op that the state's vector counts already but its key does not hold yet: how opening
   * replays a checkpoint's segment of ops (state-checkpoint.ts), each op once, in log order per key.
   */
  replayCounted(op: Op): void {
    this.#applyOp(op);
  }

  #applyOp(op: Op): Change {
    let mutation: Mutation;
    try {
      mutation = decodeMutation(op.mutation);
    } catch (error) {
      if (!(error instanceof DriftlessError)) throw error;
      return this.#reject(op);
    }
    // A Yjs update can be refused while it applies (see types/yjs.ts): keep what to undo then.
    const existing = mutation.kind === 'yjs' ? this.#collections.get(op.collection)?.get(op.key) : undefined;
    const saved = existing?.save();
    const entry = this.#entryToChange(op.collection, op.key, mutation);
    const stamp = stampOf(op);
    this.#conflicts.begin(op, stamp);
    let changed: boolean;
    try {
      changed =
        mutation.kind === 'del'
          ? entry.applyDelete({ stamp, seen: mutation.seen, counterSeen: mutation.counterSeen })
          : entry.applyValue(TYPE_OF_KIND[mutation.kind], stamp, mutation, this.#conflicts.sink);
    } catch (error) {
      if (mutation.kind !== 'yjs' || !(error instanceof DriftlessError) || error.code !== 'MUTATION_INVALID')
        throw error;
      if (existing && saved) existing.restore(saved);
      else {
        this.#forget(op.collection, op.key);
        this.#watcher?.forgotten(entry);
      }
      return this.#reject(op);
    }
    this.#conflicts.applied();
    return { collection: op.collection, key: op.key, op, kind: mutation.kind, changed };
  }

  /** Applies an op whose mutation is invalid here as a no-op, and counts it. */
  #reject(op: Op): Change {
    this.#rejected++;
    return { collection: op.collection, key: op.key, op, kind: 'rejected', changed: false };
  }

  /** Drops an entry an op created and then could not apply. */
  #forget(collection: string, key: string): void {
    this.#collections.get(collection)?.delete(key);
    this.#sortedKeys.delete(collection);
  }

  /** The key's type and value, or undefined when it reads as absent. */
  get(collection: string, key: string): ReadResult | undefined {
    const entry = this.#collections.get(collection)?.get(key);
    return entry ? readEntry(entry) : undefined;
  }

  /** Keys of a collection in key order (UTF-8 byte order), skipping absent ones. */
  list(collection: string, options: ListOptions = {}): ListPage {
    const entries = this.#collections.get(collection);
    return listPage(entries, () => this.#keysOf(collection, entries as KeyTable<KeyEntry>), options);
  }

  /** Calls `listener` with every conflict resolved from now on. Returns the unsubscribe function. */
  onConflict(listener: (event: ConflictEvent) => void): () => void {
    return this.#conflicts.listen(listener);
  }

  /** Conflicts resolved so far, per collection. */
  conflictCounts(): ReadonlyMap<string, Readonly<ConflictCounts>> {
    return this.#conflicts.counts;
  }

  /** The whole state in a compact binary form. */
  snapshot(): Uint8Array {
    return encodeState(this.#parts());
  }

  /** A replica state from a snapshot; throws SNAPSHOT_INVALID for anything else. */
  static restore(bytes: Uint8Array): ReplicaState {
    return ReplicaState.#holding(decodeState(bytes));
  }

  /**
   * A compacted delta of `ops`: the current state of every key they touched, with this replica's
   * version vector. A replica that lacks exactly those ops (or some of them) catches up by applying
   * it: the cost is what the final state of those keys costs, not what their history costs.
   */
  delta(ops: Iterable<Op>): Uint8Array {
    return encodeDelta(this.#parts(), ops);
  }

  /**
   * Joins a compacted delta or a whole snapshot into this state, atomically, and returns the keys
   * whose state changed. Throws REBOOTSTRAP_REQUIRED, changing nothing, when either side collected
   * tombstones below ops the other has not seen (joining could resurrect deleted keys): when the
   * other replica is behind what this one collected below, or when this one is behind what the
   * other collected below and holds keys (an empty replica may join anything). Throws
   * SNAPSHOT_INVALID for bytes that are not a snapshot.
   */
  applyDelta(bytes: Uint8Array): { collection: string; key: string }[] {
    const { keys, collected } = joinState(this.#parts(), bytes, this.#sortedKeys);
    this.#collected = collected;
    return keys;
  }

  /** Joins another replica's state (a snapshot) into this one: the bootstrap of a far-behind replica. */
  merge(snapshot: Uint8Array): void {
    this.applyDelta(snapshot);
  }

  /**
   * Compacts every key below `stable` (KeyEntry.compact): forgets stable tombstones and what they
   * hid, and drops the keys left with nothing, which read as absent. Returns the keys dropped;
   * `compacted` is called for each key kept whose stored form changed. Replicas that collect at
   * different moments end in the same state once they have all collected with the same vector.
   * From then on, a replica behind `stable` must re-bootstrap (see applyDelta).
   *
   * `stable` (supplied by the sync layer) must be causally stable here: every op this replica has
   * yet to apply must come causally after every op below it. The meet of what every member has
   * seen is not enough: a member may hold a write concurrent with a collected delete that this
   * replica has not received, and that write would then recreate the key here alone. Take the meet
   * of the version vectors members reported, each one only once this replica has applied
   * everything in it.
   */
  collectTombstones(
    stable: VersionVector,
    compacted?: (collection: string, key: string) => void,
  ): { collection: string; key: string }[] {
    const { keys, collected } = collectTombstonesBelow(this.#parts(), stable, this.#sortedKeys, compacted);
    this.#collected = collected;
    return keys;
  }

  /** Tombstones below this vector have been collected. */
  get collectedBelow(): VersionVector {
    return this.#collected;
  }

  /** The encoded form of one key's state (entryValue, encoded); undefined when the key has none. */
  encodedEntry(collection: string, key: string): Uint8Array | undefined {
    return encodedEntryOf(this.#collections, collection, key);
  }

  /**
   * The stored form of one key's state, for a persistent replica; undefined when the key has none.
   * Built afresh: later ops on the key leave it as it was (they replace values, never change one).
   */
  entryValue(collection: string, key: string): Value[] | undefined {
    return entryValueOf(this.#collections, collection, key);
  }

  /** A state rebuilt from stored entries (see encodedEntry); throws SNAPSHOT_INVALID for damaged ones. */
  static load(vector: VersionVector, collected: VersionVector, entries: Iterable<StoredEntry>): ReplicaState {
    return ReplicaState.#holding(stateFromEntries(vector, collected, entries));
  }

  /**
   * Takes over `other`'s keys and vectors, keeping this state's collection modes, listeners and
   * counts: how a persistent replica rolls back to what is durable after a failed commit. `other`
   * must not be used afterwards.
   */
  replaceWith(other: ReplicaState): void {
    this.#adopt(other.#parts());
  }

  /** A hash (hex SHA-256) of the canonical state: equal for replicas that applied the same ops. */
  digest(): string {
    return digestState(this.#collections);
  }

  /** A fresh state holding `parts`. */
  static #holding(parts: StateParts): ReplicaState {
    const state = new ReplicaState();
    state.#adopt(parts);
    return state;
  }

  /** This state's keys and vectors, for state-join.ts: the same maps, not copies. */
  #parts(): StateParts {
    return { collections: this.#collections, vector: this.#vector, collected: this.#collected };
  }

  /** Takes `parts` as this state's keys and vectors. */
  #adopt(parts: StateParts): void {
    this.#collections = parts.collections;
    this.#vector = parts.vector;
    this.#collected = parts.collected;
    this.#sortedKeys.clear();
  }

  /** The entry an op is about to change, created if the key has none; tells the watcher. */
  #entryToChange(collection: string, key: string, mutation: Mutation): KeyEntry {
    let entries = this.#collections.get(collection);
    if (!entries) {
      entries = new KeyTable();
      this.#collections.set(collection, entries);
    }
    let entry = entries.get(key);
    const created = entry === undefined;
    if (!entry) {
      entry = KeyEntry.create(mutation.kind === 'del' ? 'register' : TYPE_OF_KIND[mutation.kind]);
      entries.set(key, entry);
      this.#sortedKeys.delete(collection);
    }
    this.#watcher?.beforeChange(collection, key, entry, created);
    return entry;
  }

  #keysOf(collection: string, entries: KeyTable<KeyEntry>): string[] {
    let keys = this.#sortedKeys.get(collection);
    if (!keys) {
      keys = [...entries.keys()].sort(compareUtf8);
      this.#sortedKeys.set(collection, keys);
    }
    return keys;
  }
}
