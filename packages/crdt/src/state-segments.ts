import {
  DriftlessError,
  decode,
  encode,
  encodeValidated,
  isCollectionName,
  isKey,
  type Store,
  type StoreWrite,
  type Value,
} from '@driftless/core';

/**
 * Where a persistent replica's checkpoints keep the state of its keys: segments, numbered in the
 * order they are written.
 *
 *   state_seg   <n> → [SEGMENT_FORMAT, collection, key, entry | null, …]: keys as of a checkpoint
 *               (an entry as ReplicaState.encodedEntry gives it; null: the key holds nothing),
 *               a later segment overriding an earlier one
 *   state_meta  "segments" → [first, next]: the live segments are first … next - 1
 *
 * A checkpoint appends segments holding the keys changed since the last one. Their store keys are
 * sequential, so LMDB appends pages where a row per key copied a page per key: here 4,096 rows of
 * random keys took 40 ms to commit, against 7.6 ms for as many sequential ones. Superseded entries
 * pile up: once the live segments hold twice as many entries as the state has keys, the next
 * checkpoint writes every key afresh and deletes the older segments (a compaction). Stores written
 * before segments keep a row per key in the `state` table: those rows are read first, and deleted
 * by the first compaction.
 */

export const SEGMENT_TABLE = 'state_seg';
/** Where stores written before segments keep a row per key: `<collection>/<key>` → entry. */
export const STATE_TABLE = 'state';
export const STATE_META_TABLE = 'state_meta';
const SEGMENTS = 'segments';
const SEGMENT_FORMAT = 1;
const SEGMENT_MAX_ENTRIES = 1024;
const SEGMENT_MAX_BYTES = 256 * 1024;
const SEGMENT_DECODE_LIMITS = { maxFrameBytes: 1024 * 1024 * 1024, maxDepth: 64, maxItems: 200_000_000 };

/** One key's state in a checkpoint: its encoded entry, or undefined when the key holds nothing. */
export interface CheckpointEntry {
  readonly collection: string;
  readonly key: string;
  readonly bytes: Uint8Array | undefined;
}

/** A key's stored entry, as loading finds it. */
export interface StoredEntry {
  readonly collection: string;
  readonly key: string;
  readonly bytes: Uint8Array;
}

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
   * The store writes of a checkpoint of `entries`: new segments and the segment range. A compaction
   * (`entries` then holds every key) also deletes every older segment and the legacy rows.
   */
  writes(entries: readonly CheckpointEntry[], compaction: boolean): StoreWrite[] {
    const writes: StoreWrite[] = [];
    const start = this.#next;
    let segment: Value[] = [SEGMENT_FORMAT];
    let bytes = 0;
    let count = 0;
    for (const { collection, key, bytes: entry } of entries) {
      // A compaction drops every older segment: nothing is left for a deletion to override.
      if (compaction && entry === undefined) continue;
      segment.push(collection, key, entry ?? null);
      bytes += collection.length * 3 + key.length * 3 + (entry?.length ?? 1) + 12;
      count++;
      if (segment.length > SEGMENT_MAX_ENTRIES * 3 || bytes >= SEGMENT_MAX_BYTES) {
        writes.push({ table: SEGMENT_TABLE, key: this.#next++, value: encodeValidated(segment) });
        segment = [SEGMENT_FORMAT];
        bytes = 0;
      }
    }
    if (segment.length > 1)
      writes.push({ table: SEGMENT_TABLE, key: this.#next++, value: encodeValidated(segment) });
    if (compaction) {
      for (let n = this.#first; n < start; n++)
        writes.push({ table: SEGMENT_TABLE, key: n, value: undefined });
      for (const key of this.#legacy) writes.push({ table: STATE_TABLE, key, value: undefined });
      this.#first = start;
      this.#stored = count;
      this.#legacy = [];
    } else {
      this.#stored += count;
    }
    writes.push({ table: STATE_META_TABLE, key: SEGMENTS, value: encode([this.#first, this.#next]) });
    return writes;
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
      const bytes = segment[i + 2];
      byKey.set(
        `${collection}/${name}`,
        bytes instanceof Uint8Array ? { collection, key: name, bytes } : undefined,
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
    // An entry may be far larger than a frame from a peer (a long-edited Yjs document).
    segment = decode(bytes, SEGMENT_DECODE_LIMITS);
  } catch (error) {
    return damaged(`segment ${number} is unreadable`, error);
  }
  if (!Array.isArray(segment) || segment[0] !== SEGMENT_FORMAT || (segment.length - 1) % 3 !== 0) {
    damaged(`segment ${number} is not [format, collection, key, entry, …]`);
  }
  for (let i = 1; i < segment.length; i += 3) {
    const entry = segment[i + 2];
    if (
      !isCollectionName(segment[i]) ||
      !isKey(segment[i + 1]) ||
      !(entry === null || entry instanceof Uint8Array)
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
