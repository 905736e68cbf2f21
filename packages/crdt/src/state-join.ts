import {
  DriftlessError,
  decode,
  encode,
  encodeValidated,
  type Op,
  type Value,
  VersionVector,
} from '@driftless/core';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeyEntry } from './key-entry.js';
import { KeyTable } from './key-table.js';
import {
  type Collections,
  decodeEntry,
  decodeSnapshot,
  encodeCollections,
  encodeEntry,
  encodeSnapshot,
  STATE_DECODE_LIMITS,
} from './snapshot.js';
import type { StoredEntry } from './state-segments.js';

/**
 * A replica's state as a whole: its snapshots and compacted deltas, joining another replica's state
 * into it, collecting its tombstones, its stored entries and its digest. ReplicaState
 * (replica-state.ts) applies ops and reads; these are the bodies of its whole-state methods, which
 * hand them its keys and vectors as StateParts. They report no changes to a ChangeWatcher and no
 * conflicts: a caller that changes a state here knows of it.
 */

/**
 * A replica state's keys and vectors: the very maps ReplicaState holds, which joining and collecting
 * change in place. Internal to this package (not exported from its index).
 */
export interface StateParts {
  /** Every key held (including those that read as absent), by collection. */
  readonly collections: Collections;
  /** The ops applied: each origin's highest seq. */
  readonly vector: Map<string, number>;
  /** Tombstones below this vector have been collected; a join or a collection gives the next one. */
  readonly collected: VersionVector;
}

/** What a join or a collection did: the keys it changed or dropped, and the new collected vector. */
export interface StateChange {
  readonly keys: { collection: string; key: string }[];
  /** The vector the state's `collected` must become: the caller stores it. */
  readonly collected: VersionVector;
}

/** The whole state in a compact binary form (ReplicaState.snapshot). */
export function encodeState(parts: StateParts): Uint8Array {
  return encodeSnapshot(VersionVector.from(parts.vector), parts.collected, parts.collections);
}

/** The parts of a snapshot (ReplicaState.restore); throws SNAPSHOT_INVALID for anything else. */
export function decodeState(bytes: Uint8Array): StateParts {
  const { vector, collected, collections } = decodeSnapshot(bytes);
  return { collections, vector: new Map(vector.entries()), collected };
}

/** A compacted delta of `ops` (ReplicaState.delta): the current state of every key they touched. */
export function encodeDelta(parts: StateParts, ops: Iterable<Op>): Uint8Array {
  const touched: Collections = new Map();
  for (const { collection, key } of ops) {
    const entry = parts.collections.get(collection)?.get(key);
    if (!entry) continue;
    let keys = touched.get(collection);
    if (!keys) {
      keys = new KeyTable();
      touched.set(collection, keys);
    }
    keys.set(key, entry);
  }
  return encodeSnapshot(VersionVector.from(parts.vector), parts.collected, touched);
}

/**
 * Joins a compacted delta or a whole snapshot into `parts`' collections and vector, in place
 * (ReplicaState.applyDelta says when it throws, changing nothing). Drops from `sortedKeys` the
 * sorted key list of every collection it joins into. Returns the keys whose state changed, and the
 * collected vector the state has from then on: the caller keeps it.
 */
export function joinState(
  parts: StateParts,
  bytes: Uint8Array,
  sortedKeys: Map<string, string[]>,
): StateChange {
  const other = decodeSnapshot(bytes);
  if (!other.vector.dominates(parts.collected)) {
    throw new DriftlessError(
      'REBOOTSTRAP_REQUIRED',
      `the other replica is behind ${JSON.stringify(parts.collected)}, below which this one collected tombstones: ` +
        'it must bootstrap from a snapshot of this replica instead',
    );
  }
  const seenHere = VersionVector.from(parts.vector);
  // The other side dropped keys whose ops are all below its collected vector, so its delta or
  // snapshot says nothing of them: a key here that one of the ops this side lacks deleted would stay.
  if (!seenHere.dominates(other.collected) && holdsKeys(parts.collections)) {
    throw new DriftlessError(
      'REBOOTSTRAP_REQUIRED',
      `this replica lacks ops below ${JSON.stringify(other.collected)}, below which the other collected tombstones: ` +
        'replace its state with a snapshot of the other (ReplicaState.restore) instead of joining it',
    );
  }
  // Once joined, this side holds every op either side held: what either collected below is
  // stable here. Each joined key is compacted below both, as collecting would leave it.
  const collected = parts.collected.merge(other.collected);
  const changed: { collection: string; key: string }[] = [];
  for (const [name, theirs] of other.collections) {
    const ours = parts.collections.get(name) ?? new KeyTable<KeyEntry>();
    parts.collections.set(name, ours);
    for (const [key, entry] of theirs) {
      const before = ours.get(key);
      // Encoded first: merging and compacting may change the states they reuse.
      const was = before && encode(encodeEntry(before));
      // A key this side lacks merges with a fresh empty entry (merges may reuse their arguments).
      const merged = (before ?? KeyEntry.create('register')).merge(entry, seenHere, other.vector);
      if (merged.compact(collected, false) === 'drop') {
        ours.delete(key);
        if (before) changed.push({ collection: name, key });
        continue;
      }
      ours.set(key, merged);
      if (!was || !sameBytes(was, encode(encodeEntry(merged)))) changed.push({ collection: name, key });
    }
    sortedKeys.delete(name);
  }
  for (const [origin, seq] of other.vector.entries()) {
    if (seq > (parts.vector.get(origin) ?? 0)) parts.vector.set(origin, seq);
  }
  return { keys: changed, collected };
}

/**
 * Compacts every key of `parts` below `stable`, in place (ReplicaState.collectTombstones says when
 * `stable` may be used), calling `compacted` for each key kept whose stored form changed. Drops
 * from `sortedKeys` the sorted key list of every collection that lost keys. Returns the keys
 * dropped, and the collected vector the state has from then on: the caller keeps it.
 */
export function collectTombstonesBelow(
  parts: StateParts,
  stable: VersionVector,
  sortedKeys: Map<string, string[]>,
  compacted?: (collection: string, key: string) => void,
): StateChange {
  const dropped: { collection: string; key: string }[] = [];
  const seen = VersionVector.from(parts.vector);
  const below = stable.meet(seen);
  const everything = below.dominates(seen);
  for (const [collection, entries] of parts.collections) {
    const before = dropped.length;
    for (const [key, entry] of entries) {
      const outcome = entry.compact(below, everything);
      if (outcome === 'changed') compacted?.(collection, key);
      if (outcome !== 'drop') continue;
      entries.delete(key);
      dropped.push({ collection, key });
    }
    if (dropped.length > before) sortedKeys.delete(collection);
  }
  return { keys: dropped, collected: parts.collected.merge(below) };
}

/** One key's state in its stored form (ReplicaState.entryValue); undefined when the key has none. */
export function entryValueOf(collections: Collections, collection: string, key: string): Value[] | undefined {
  const entry = collections.get(collection)?.get(key);
  return entry ? encodeEntry(entry) : undefined;
}

/** One key's state, encoded (ReplicaState.encodedEntry); undefined when the key has none. */
export function encodedEntryOf(
  collections: Collections,
  collection: string,
  key: string,
): Uint8Array | undefined {
  const entry = entryValueOf(collections, collection, key);
  // Entries hold only plain data: ops the log validated, and states decoded as plain data.
  return entry ? encodeValidated(entry) : undefined;
}

/**
 * The parts of a state rebuilt from stored entries (ReplicaState.load); throws SNAPSHOT_INVALID for
 * damaged ones.
 */
export function stateFromEntries(
  vector: VersionVector,
  collected: VersionVector,
  entries: Iterable<StoredEntry>,
): StateParts {
  const collections: Collections = new Map();
  for (const stored of entries) {
    const { collection, key } = stored;
    let keys = collections.get(collection);
    if (!keys) {
      keys = new KeyTable();
      collections.set(collection, keys);
    }
    keys.set(key, decodeEntry('value' in stored ? stored.value : decodeStored(stored.bytes)));
  }
  return { collections, vector: new Map(vector.entries()), collected };
}

/** A hash (hex SHA-256) of the canonical state of `collections` (ReplicaState.digest). */
export function digestState(collections: Collections): string {
  return bytesToHex(sha256(encode(encodeCollections(collections))));
}

function holdsKeys(collections: Collections): boolean {
  for (const keys of collections.values()) if (keys.size > 0) return true;
  return false;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function decodeStored(bytes: Uint8Array): Value {
  try {
    return decode(bytes, STATE_DECODE_LIMITS);
  } catch (error) {
    throw new DriftlessError(
      'SNAPSHOT_INVALID',
      `a stored entry is unreadable: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
