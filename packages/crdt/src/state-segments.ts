import {
  DriftlessError,
  decode,
  encode,
  encodeValidated,
  isCollectionName,
  isKey,
  type Store,
  type StoreWrite,
  sizeBound,
  type Value,
} from '@driftless/core';
import type { KeyEntry } from './key-entry.js';
import { encodeEntry, STATE_DECODE_LIMITS } from './snapshot.js';

/**
 * Where a persistent replica's checkpoints keep the state of its keys: segments, numbered in the
 * order they are written.
 *
 *   state_seg   <n> → [2, collection, key, entry | null, …]: keys as of a checkpoint (an entry
 *               inline, as ReplicaState.entryValue gives it; null: the key holds nothing), a later
 *               segment overriding an earlier one. Format 1, which checkpoints wrote before, held
 *               each entry as its encoded bytes (ReplicaState.encodedEntry): it is still read.
 *   state_meta  "segments" → [first, next]: the live segments are first … next - 1
 *
 * A checkpoint appends segments holding the keys changed since the last one. Their store keys are
 * sequential, so LMDB appends pages where a row per key copied a page per key: here 4,096 rows of
 * random keys took 40 ms to commit, against 7.6 ms for as many sequential ones. Superseded entries
 * pile up: once the live segments hold twice as many entries as the state has keys, the next
 * checkpoint writes every key afresh and deletes the older segments (a compaction). Stores written
 * before segments keep a row per key in the `state` table: those rows are read first, and deleted
 * by the first compaction.
 *
 * Entries go inline, not as bytes of their own, because one encoding of the whole segment costs
 * half as much: 0.8 µs a key here against 1.65 µs for an encoding per entry and the segment's
 * encoding of those bytes (msgpackr spends about 0.4 µs on each call and on each byte string).
 */

export const SEGMENT_TABLE = 'state_seg';
/** Where stores written before segments keep a row per key: `<collection>/<key>` → entry. */
export const STATE_TABLE = 'state';
export const STATE_META_TABLE = 'state_meta';
const SEGMENTS = 'segments';
const SEGMENT_FORMAT = 2;
/** Segments of entries as encoded bytes, as checkpoints wrote them before format 2. */
const SEGMENT_FORMAT_BYTES = 1;
const SEGMENT_MAX_ENTRIES = 256;
const SEGMENT_MAX_BYTES = 256 * 1024;

/** A key's stored entry, as loading finds it: inline, or as its encoded bytes (format 1, legacy rows). */
export type StoredEntry =
  | { readonly collection: string; readonly key: string; readonly value: Value }
  | { readonly collection: string; readonly key: string; readonly bytes: Uint8Array };

/**
 * The segments a store holds, and what writing the next checkpoint takes. Advanced as each
 * checkpoint's writes are built, in the order they are committed; after a failed commit, load it
 * again from the store.
 */
export class SegmentLayout {
  #first: number;
  #next: number;
  /** Entries the live segments and the legacy rows hold, superseded ones included. */
  #stored: number;
  /** Keys of the legacy `state` table, deleted by the next compaction. */
  #legacy: string[];

  constructor(first: number, next: number, stored: number, legacy: string[]) {
    this.#first = first;
    this.#next = next;
    this.#stored = stored;
    this.#legacy = legacy;
  }

  /**
   * True when a checkpoint should write every key afresh: the segments hold more than twice as many
   * entries as the state has keys, or as `minKeys` (so a small state's segments compact rarely), or
   * the store still has per-key rows (their keys are held in memory until then).
   */
  compactionDue(keyCount: number, minKeys: number): boolean {
    return this.#legacy.length > 0 || this.#stored > 2 * Math.max(keyCount, minKeys);
  }

  /**
   * The store writes of a checkpoint whose entries `packer` holds: its segments, numbered from the
   * next free number, and the segment range. A compaction (the packer then holds every key) also
   * deletes every older segment and the legacy rows.
   */
  writes(packer: SegmentPacker): StoreWrite[] {
    const writes: StoreWrite[] = [];
    const start = this.#next;
    for (const value of packer.finish()) writes.push({ table: SEGMENT_TABLE, key: this.#next++, value });
    if (packer.compaction) {
      for (let n = this.#first; n < start; n++)
        writes.push({ table: SEGMENT_TABLE, key: n, value: undefined });
      for (const key of this.#legacy) writes.push({ table: STATE_TABLE, key, value: undefined });
      this.#first = start;
      this.#stored = packer.count;
      this.#legacy = [];
    } else {
      this.#stored += packer.count;
    }
    writes.push({ table: STATE_META_TABLE, key: SEGMENTS, value: encode([this.#first, this.#next]) });
    return writes;
  }
}

/**
 * A checkpoint's segments, filled entry by entry. Full segments are encoded when pack() is called,
 * so a checkpoint written a slice at a time encodes them a few at a time too: a checkpoint of
 * 4,096 keys encoded in one turn held the event loop for 2.5–3.5 ms here (over 10 ms for the larger
 * checkpoints of a large state), and a segment of 256 entries takes about 0.2 ms.
 */
export class SegmentPacker {
  /** Every key goes in (see SegmentLayout.writes): a key that holds nothing then needs no entry. */
  readonly compaction: boolean;
  #open: Value[] = [SEGMENT_FORMAT];
  #openBytes = 0;
  readonly #full: Value[][] = [];
  readonly #packed: Uint8Array[] = [];
  #count = 0;

  constructor(compaction: boolean) {
    this.compaction = compaction;
  }

  /** Entries added. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds a key as `keyEntry` holds it now (in its stored form, ReplicaState.entryValue), or as holding
   * nothing. Later ops on the key leave what was added as it was: they replace values, never change
   * one.
   */
  add(collection: string, key: string, keyEntry: KeyEntry | undefined): void {
    // A compaction drops every older segment: nothing is left for a deletion to override.
    if (this.compaction && keyEntry === undefined) return;
    const entry = keyEntry && encodeEntry(keyEntry);
    const open = this.#open;
    open.push(collection, key, entry ?? null);
    // An upper bound: entries hold only plain data (encodeEntry builds them from the state).
    this.#openBytes +=
      collection.length * 3 + key.length * 3 + (entry === undefined ? 1 : sizeBound(entry)) + 10;
    this.#count++;
    // open[0] is the format.
    if (open.length - 1 >= SEGMENT_MAX_ENTRIES * 3 || this.#openBytes >= SEGMENT_MAX_BYTES) {
      this.#full.push(open);
      this.#open = [SEGMENT_FORMAT];
      this.#openBytes = 0;
    }
  }

  /** Encodes the segments filled so far. */
  pack(): void {
    for (const segment of this.#full) this.#packed.push(encodeValidated(segment));
    this.#full.length = 0;
  }

  /** Every segment, encoded, in the order its entries came. */
  finish(): Uint8Array[] {
    if (this.#open.length > 1) {
      this.#full.push(this.#open);
      this.#open = [SEGMENT_FORMAT];
      this.#openBytes = 0;
    }
    this.pack();
    return this.#packed;
  }
}

/**
 * Every key's entry as the store's checkpoint holds it (legacy rows, then the live segments in
 * order), and the segment layout. Throws SNAPSHOT_INVALID for a damaged row or segment,
 * STORE_CORRUPT for a damaged segment range.
 */
export async function loadEntries(store: Store): Promise<{ entries: StoredEntry[]; layout: SegmentLayout }> {
  const byKey = new Map<string, StoredEntry | undefined>();
  const legacy: string[] = [];
  for await (const { key, value } of store.range(STATE_TABLE)) {
    const text = String(key);
    const slash = text.indexOf('/');
    const collection = text.slice(0, Math.max(0, slash));
    const name = text.slice(slash + 1);
    if (typeof key !== 'string' || !isCollectionName(collection) || !isKey(name)) {
      damaged(`a stored state key (${JSON.stringify(text.slice(0, 80))}) is not <collection>/<key>`);
    }
    legacy.push(key);
    byKey.set(key, { collection, key: name, bytes: value });
  }
  const [first, next] = await readRange(store);
  let stored = legacy.length;
  let expected = first;
  for await (const { key, value } of store.range(SEGMENT_TABLE, { start: first, end: next })) {
    if (key !== expected) corrupt(`segment ${expected} is missing`);
    expected++;
    const segment = decodeSegment(value, key);
    for (let i = 1; i < segment.length; i += 3) {
      const collection = segment[i] as string;
      const name = segment[i + 1] as string;
      const entry = segment[i + 2] as Value;
      byKey.set(
        `${collection}/${name}`,
        entry === null
          ? undefined
          : entry instanceof Uint8Array
            ? { collection, key: name, bytes: entry }
            : { collection, key: name, value: entry },
      );
      stored++;
    }
  }
  if (expected !== next) corrupt(`segments ${expected} to ${next - 1} are missing`);
  const entries: StoredEntry[] = [];
  for (const entry of byKey.values()) if (entry !== undefined) entries.push(entry);
  return { entries, layout: new SegmentLayout(first, next, stored, legacy) };
}

async function readRange(store: Store): Promise<[number, number]> {
  const bytes = await store.get(STATE_META_TABLE, SEGMENTS);
  if (bytes === undefined) {
    // Segments are only ever written with their range.
    for await (const _ of store.range(SEGMENT_TABLE, { limit: 1 })) corrupt('segments without a range');
    return [0, 0];
  }
  let range: Value;
  try {
    range = decode(bytes);
  } catch (error) {
    return corrupt('the segment range is unreadable', error);
  }
  const [first, next] = Array.isArray(range) ? range : [];
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !Number.isSafeInteger(first) ||
    !Number.isSafeInteger(next) ||
    (first as number) < 0 ||
    (first as number) > (next as number)
  ) {
    corrupt('the segment range is not [first, next]');
  }
  return [first as number, next as number];
}

function decodeSegment(bytes: Uint8Array, number: number): Value[] {
  let segment: Value;
  try {
    segment = decode(bytes, STATE_DECODE_LIMITS);
  } catch (error) {
    return damaged(`segment ${number} is unreadable`, error);
  }
  const format = Array.isArray(segment) ? segment[0] : undefined;
  if (
    !Array.isArray(segment) ||
    (format !== SEGMENT_FORMAT && format !== SEGMENT_FORMAT_BYTES) ||
    (segment.length - 1) % 3 !== 0
  ) {
    damaged(`segment ${number} is not [format, collection, key, entry, …]`);
  }
  for (let i = 1; i < segment.length; i += 3) {
    const entry = segment[i + 2];
    if (
      !isCollectionName(segment[i]) ||
      !isKey(segment[i + 1]) ||
      !(entry === null || (format === SEGMENT_FORMAT ? Array.isArray(entry) : entry instanceof Uint8Array))
    )
      damaged(`segment ${number} holds an invalid entry`);
  }
  return segment;
}

function damaged(what: string, cause?: unknown): never {
  throw new DriftlessError(
    'SNAPSHOT_INVALID',
    `${what}: the store is damaged; restore it from a backup, or remove it and let the replica re-bootstrap from a peer`,
    cause === undefined ? undefined : { cause },
  );
}

function corrupt(what: string, cause?: unknown): never {
  throw new DriftlessError(
    'STORE_CORRUPT',
    `the replica state metadata is damaged (${what}): restore from a backup`,
    cause === undefined ? undefined : { cause },
  );
}
