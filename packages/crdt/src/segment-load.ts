import {
  DAMAGED_STORE_ADVICE,
  DriftlessError,
  decode,
  isCollectionName,
  isKey,
  isNodeId,
  type Store,
  type Value,
} from '@driftless/core';
import { plainRegisterEntry, STATE_DECODE_LIMITS } from './snapshot.js';
import {
  CELL,
  SEGMENT_FORMAT,
  SEGMENT_FORMAT_BYTES,
  SEGMENT_FORMAT_INLINE,
  SEGMENT_TABLE,
  SEGMENTS,
  SegmentLayout,
  STATE_META_TABLE,
  STATE_TABLE,
  type StoredEntry,
} from './state-segments.js';

// Reading the checkpoint segments state-segments.ts describes, in every format written so far.

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
    stored += readSegment(value, key, (collection, name, entry) =>
      byKey.set(`${collection}/${name}`, entry && { collection, key: name, ...entry }),
    );
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

/** A key's stored entry, as a segment holds it. */
type SegmentEntry = { readonly value: Value } | { readonly bytes: Uint8Array };

/**
 * Calls `visit` with each key of a segment, in order, and its entry (undefined: the key holds
 * nothing). Returns how many keys it holds. Throws SNAPSHOT_INVALID for a damaged segment, before
 * visiting any key.
 */
function readSegment(
  bytes: Uint8Array,
  number: number,
  visit: (collection: string, key: string, entry: SegmentEntry | undefined) => void,
): number {
  let segment: Value;
  try {
    segment = decode(bytes, STATE_DECODE_LIMITS);
  } catch (error) {
    return damaged(`segment ${number} is unreadable`, error);
  }
  const format = Array.isArray(segment) ? segment[0] : undefined;
  if (!Array.isArray(segment)) return damaged(`segment ${number} is not an array`);
  if (format === SEGMENT_FORMAT) return readCells(segment, number, visit);
  if (
    (format !== SEGMENT_FORMAT_INLINE && format !== SEGMENT_FORMAT_BYTES) ||
    (segment.length - 1) % 3 !== 0
  ) {
    damaged(`segment ${number} is not [format, collection, key, entry, …]`);
  }
  for (let i = 1; i < segment.length; i += 3) {
    const entry = segment[i + 2];
    if (
      !isCollectionName(segment[i]) ||
      !isKey(segment[i + 1]) ||
      !(
        entry === null ||
        (format === SEGMENT_FORMAT_INLINE ? Array.isArray(entry) : entry instanceof Uint8Array)
      )
    )
      damaged(`segment ${number} holds an invalid entry`);
  }
  for (let i = 1; i < segment.length; i += 3) {
    const entry = segment[i + 2] as Value;
    visit(
      segment[i] as string,
      segment[i + 1] as string,
      entry === null ? undefined : entry instanceof Uint8Array ? { bytes: entry } : { value: entry },
    );
  }
  return (segment.length - 1) / 3;
}

/** readSegment of a format-3 segment: checks every cell, then visits them. */
function readCells(
  segment: Value[],
  number: number,
  visit: (collection: string, key: string, entry: SegmentEntry | undefined) => void,
): number {
  const [, collections, origins] = segment;
  if (
    !Array.isArray(collections) ||
    !collections.every(isCollectionName) ||
    !Array.isArray(origins) ||
    !origins.every(isNodeId)
  ) {
    damaged(`segment ${number} is not [3, collections, origins, cell, …]`);
  }
  const invalid = () => damaged(`segment ${number} holds an invalid cell`);
  const named = (names: readonly Value[], index: Value) =>
    typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < names.length;
  const width = { [CELL.nothing]: 3, [CELL.entry]: 4, [CELL.register]: 7 } as Record<number, number>;
  const starts: number[] = [];
  for (let i = 3; i < segment.length; ) {
    const tag = segment[i];
    const size = typeof tag === 'number' ? width[tag] : undefined;
    if (
      size === undefined ||
      i + size > segment.length ||
      !named(collections, segment[i + 1] as Value) ||
      !isKey(segment[i + 2]) ||
      (segment[i] === CELL.entry && !Array.isArray(segment[i + 3])) ||
      (segment[i] === CELL.register && !named(origins, segment[i + 4] as Value))
    )
      invalid();
    starts.push(i);
    i += size as number;
  }
  for (const i of starts) {
    const collection = collections[segment[i + 1] as number] as string;
    const key = segment[i + 2] as string;
    const cell = segment[i];
    if (cell === CELL.nothing) visit(collection, key, undefined);
    else if (cell === CELL.entry) visit(collection, key, { value: segment[i + 3] as Value });
    else {
      const origin = origins[segment[i + 4] as number] as Value;
      const [hlc, seq, value] = [segment[i + 3] as Value, segment[i + 5] as Value, segment[i + 6] as Value];
      visit(collection, key, { value: plainRegisterEntry(hlc, origin, seq, value) });
    }
  }
  return starts.length;
}

function damaged(what: string, cause?: unknown): never {
  throw new DriftlessError(
    'SNAPSHOT_INVALID',
    `${what}: the store is damaged; ${DAMAGED_STORE_ADVICE}`,
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
