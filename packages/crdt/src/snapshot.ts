import {
  DriftlessError,
  decode,
  encode,
  isCollectionName,
  isKey,
  type OpTip,
  ProtocolError,
  type Value,
  VersionVector,
} from '@driftless/core';
import { KeyEntry, type Tombstone, typeOf } from './key-entry.js';
import { KeyTable } from './key-table.js';
import { compareStamps } from './stamp.js';
import { badSnapshot, decodeStamp, encodeStamp } from './types/codec-helpers.js';
import type { TypeName } from './types/crdt-type.js';
import type { RegisterState } from './types/register.js';
import { TYPE_NAMES } from './types/registry.js';

/**
 * The binary form of a replica's state, canonical so that equal states give equal bytes:
 *
 *   snapshot   = [SNAPSHOT_FORMAT, versionVector, collected, collection, …]   (collections by name)
 *   collected  = the version vector below which tombstones were collected
 *   collection = [name, key, entry, key, entry, …]                          (keys in code-unit order)
 *   entry      = [typeCode, winner | [], tombstone | [], state, (typeCode, state) for hidden types…]
 *   tombstone  = [hlc, origin, seq, [origin, up, down, …]]
 */
export const SNAPSHOT_FORMAT = 1;

/**
 * Limits for decoding a stored or transferred state, or a stored entry: far above a frame's, since an
 * entry may be far larger than one (a long-edited Yjs document).
 */
export const STATE_DECODE_LIMITS = { maxFrameBytes: 1024 * 1024 * 1024, maxDepth: 64, maxItems: 200_000_000 };

/** Collections of keys to entries. */
export type Collections = Map<string, KeyTable<KeyEntry>>;

function sortedKeys(map: { keys(): Iterable<string> }): string[] {
  return [...map.keys()].sort();
}

/** The canonical encoded form of one entry. */
export function encodeEntry(entry: KeyEntry): Value[] {
  const fields: Value[] = [
    TYPE_NAMES.indexOf(entry.type),
    entry.winner ? encodeStamp(entry.winner) : [],
    entry.tombstone ? encodeTombstone(entry.tombstone) : [],
    typeOf(entry.type).encode(entry.state),
  ];
  if (entry.hidden) {
    for (const type of [...entry.hidden.keys()].sort(
      (a, b) => TYPE_NAMES.indexOf(a) - TYPE_NAMES.indexOf(b),
    )) {
      // A hidden state with nothing in it but the tombstone's effect exists on some replicas and
      // not others, depending on arrival order; leaving it out keeps the encoding canonical.
      if (entry.isBlank(type)) continue;
      fields.push(TYPE_NAMES.indexOf(type), typeOf(type).encode(entry.hidden.get(type)));
    }
  }
  return fields;
}

/**
 * The register state of an entry that is a plain register: a last-writer-wins value set by the op
 * that won, with no tombstone and no state of another type. Most keys of a key-value workload are
 * one; their entries are [0, stamp, [], [...stamp, value]] (plainRegisterEntry), so a checkpoint
 * stores only the stamp and the value (state-segments.ts). Undefined for any other entry.
 */
export function plainRegister(entry: KeyEntry): RegisterState | undefined {
  if (entry.type !== 'register' || entry.tombstone !== undefined || entry.hidden !== undefined)
    return undefined;
  const state = entry.state as RegisterState;
  const { winner } = entry;
  if (state.value === undefined || state.stamp === undefined || winner === undefined) return undefined;
  return compareStamps(winner, state.stamp) === 0 ? state : undefined;
}

/** encodeEntry of the plain register (see plainRegister) holding `value` as written at this stamp. */
export function plainRegisterEntry(hlc: Value, origin: Value, seq: Value, value: Value): Value[] {
  return [REGISTER_CODE, [hlc, origin, seq], [], [hlc, origin, seq, value]];
}

const REGISTER_CODE = TYPE_NAMES.indexOf('register');

function encodeTombstone(tombstone: Tombstone): Value[] {
  const totals: Value[] = [];
  for (const origin of sortedKeys(tombstone.counterSeen)) {
    const { up, down } = tombstone.counterSeen.get(origin) as { up: number; down: number };
    totals.push(origin, up, down);
  }
  return [...encodeStamp(tombstone.stamp), totals];
}

/** The canonical encoding of every collection (without the version vector): what the digest hashes. */
export function encodeCollections(collections: Collections): Value[] {
  const encoded: Value[] = [];
  for (const name of sortedKeys(collections)) {
    const keys = collections.get(name) as KeyTable<KeyEntry>;
    if (keys.size === 0) continue;
    const collection: Value[] = [name];
    for (const key of sortedKeys(keys)) collection.push(key, encodeEntry(keys.get(key) as KeyEntry));
    encoded.push(collection);
  }
  return encoded;
}

/** A decoded snapshot (or compacted delta: a snapshot of some keys). */
export interface DecodedSnapshot {
  readonly vector: VersionVector;
  readonly collected: VersionVector;
  readonly collections: Collections;
}

/**
 * What the stamps a state's entries remember (each key's latest write and latest delete) show:
 * the latest timestamp among them (undefined when none), and per origin the op of it with the
 * highest seq within `vector` (OpLog.install's tips). A stamp is an op's identity, so each tip is an
 * op its origin wrote; stamps beyond `vector` (which only a forged state holds) are left out.
 */
export function stateStamps(
  collections: Collections,
  vector: VersionVector,
): { latestHlc: number | undefined; tips: Map<string, OpTip> } {
  let latest: number | undefined;
  const tips = new Map<string, OpTip>();
  for (const entries of collections.values()) {
    for (const entry of entries.values()) {
      for (const stamp of [entry.winner, entry.tombstone?.stamp]) {
        if (stamp === undefined) continue;
        if (latest === undefined || stamp.hlc > latest) latest = stamp.hlc;
        const { origin, seq, hlc } = stamp;
        if (seq <= vector.get(origin) && seq > (tips.get(origin)?.seq ?? 0)) tips.set(origin, { seq, hlc });
      }
    }
  }
  return { latestHlc: latest, tips };
}

/** Encodes a whole state, or the part of it in `collections`. */
export function encodeSnapshot(
  vector: VersionVector,
  collected: VersionVector,
  collections: Collections,
): Uint8Array {
  return encode([SNAPSHOT_FORMAT, vector.toValue(), collected.toValue(), ...encodeCollections(collections)]);
}

/** Decodes a snapshot; throws SNAPSHOT_INVALID for anything that is not one. */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  let value: Value;
  let vector: VersionVector;
  let collected: VersionVector;
  try {
    value = decode(bytes, STATE_DECODE_LIMITS);
    if (!Array.isArray(value) || value[0] !== SNAPSHOT_FORMAT || value.length < 3) badSnapshot('the header');
    vector = VersionVector.fromValue(value[1] as Value);
    collected = VersionVector.fromValue(value[2] as Value);
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new DriftlessError('SNAPSHOT_INVALID', `not a Driftless snapshot: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  const collections: Collections = new Map();
  for (const collection of (value as Value[]).slice(3)) {
    if (!Array.isArray(collection) || collection.length % 2 !== 1 || !isCollectionName(collection[0])) {
      badSnapshot('a collection');
    }
    const keys = new KeyTable<KeyEntry>();
    for (let i = 1; i < collection.length; i += 2) {
      const key = collection[i];
      if (!isKey(key)) badSnapshot('a key');
      keys.set(key, decodeEntry(collection[i + 1] as Value));
    }
    collections.set(collection[0] as string, keys);
  }
  return { vector, collected, collections };
}

function typeAt(code: Value | undefined): TypeName {
  const type = typeof code === 'number' ? TYPE_NAMES[code] : undefined;
  if (type === undefined) badSnapshot('a type code');
  typeOf(type);
  return type;
}

/** Decodes one entry (as stored by a persistent replica); throws SNAPSHOT_INVALID. */
export function decodeEntry(value: Value): KeyEntry {
  if (!Array.isArray(value) || value.length < 4 || value.length % 2 !== 0) badSnapshot('an entry');
  const [code, winner, tombstone, state] = value as Value[];
  const type = typeAt(code);
  if (!Array.isArray(winner) || !Array.isArray(tombstone)) badSnapshot('an entry');
  const entry = new KeyEntry(
    type,
    winner.length === 0 ? undefined : decodeStamp(winner, 0, 'a winner stamp'),
    typeOf(type).decode(state as Value),
  );
  if (tombstone.length > 0) entry.tombstone = decodeTombstone(tombstone);
  for (let i = 4; i < value.length; i += 2) {
    const hiddenType = typeAt(value[i]);
    entry.hidden ??= new Map();
    entry.hidden.set(hiddenType, typeOf(hiddenType).decode(value[i + 1] as Value));
  }
  return entry;
}

function isTotal(value: Value | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function decodeTombstone(value: readonly Value[]): Tombstone {
  if (value.length !== 4 || !Array.isArray(value[3]) || value[3].length % 3 !== 0) badSnapshot('a tombstone');
  const totals = value[3] as Value[];
  const counterSeen = new Map<string, { up: number; down: number }>();
  for (let i = 0; i < totals.length; i += 3) {
    const [origin, up, down] = [totals[i], totals[i + 1], totals[i + 2]];
    // As strict as a counter's own totals: a delete copies these into the counter it resets.
    if (typeof origin !== 'string' || !isTotal(up) || !isTotal(down)) badSnapshot('a tombstone');
    counterSeen.set(origin, { up, down });
  }
  return { stamp: decodeStamp(value, 0, 'a tombstone'), counterSeen };
}
