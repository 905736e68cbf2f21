import {
  DAMAGED_STORE_ADVICE,
  DriftlessError,
  decode,
  decodeOps,
  isCollectionName,
  isKey,
  isNodeId,
  isWellFormed,
  type Op,
  type Store,
  type Value,
  VersionVector,
} from '@driftless/core';
import { SEGMENT_FORMAT_OPS } from './entry-capture.js';
import { plainRegisterEntry, STATE_DECODE_LIMITS } from './snapshot.js';
import {
  CELL,
  KEYS_AT,
  SEGMENT_FORMAT,
  SEGMENT_FORMAT_BYTES,
  SEGMENT_FORMAT_CELLS,
  SEGMENT_FORMAT_INLINE,
  SEGMENT_TABLE,
  SEGMENTS,
  SegmentLayout,
  STATE_META_TABLE,
  STATE_TABLE,
  STRINGS_AT,
  type StoredEntry,
} from './state-segments.js';

// Reading the checkpoint segments state-segments.ts describes, in every format written so far.

/** What a store's checkpoint holds. */
export interface StoredCheckpoint {
  /** Each key's entry as the cells (legacy rows, then the live segments in order) last hold it. */
  readonly entries: StoredEntry[];
  /**
   * The ops of segments of ops on keys no later cell holds, in log order per key: applied to the
   * entries (ReplicaState.replayCounted), they give the checkpoint's state.
   */
  readonly replay: Op[];
  readonly layout: SegmentLayout;
}

/**
 * What the store's checkpoint holds, and the segment layout. Throws SNAPSHOT_INVALID for a damaged
 * row or segment, STORE_CORRUPT for a damaged segment range.
 */
export async function loadEntries(store: Store): Promise<StoredCheckpoint> {
  const byKey = new Map<string, StoredEntry | undefined>();
  /** Ops to apply to each key (`<collection>/<key>`), in order; a later cell of the key drops them. */
  const replay = new Map<string, Op[]>();
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
    stored += readSegment(
      value,
      key,
      (collection, name, entry) => {
        const id = `${collection}/${name}`;
        byKey.set(id, entry && { collection, key: name, ...entry });
        if (replay.size > 0) replay.delete(id);
      },
      (op) => {
        const id = `${op.collection}/${op.key}`;
        const ops = replay.get(id);
        if (ops === undefined) replay.set(id, [op]);
        else ops.push(op);
      },
    );
  }
  if (expected !== next) corrupt(`segments ${expected} to ${next - 1} are missing`);
  const entries: StoredEntry[] = [];
  for (const entry of byKey.values()) if (entry !== undefined) entries.push(entry);
  const ops: Op[] = [];
  for (const list of replay.values()) for (const op of list) ops.push(op);
  return { entries, replay: ops, layout: new SegmentLayout(first, next, stored, legacy) };
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
 * Calls `visit` with each key of a segment of keys, in order, and its entry (undefined: the key
 * holds nothing), or `replay` with each op of a segment of ops. Returns how many keys or ops it
 * holds. Throws SNAPSHOT_INVALID for a damaged segment, before visiting any key or op.
 */
function readSegment(
  bytes: Uint8Array,
  number: number,
  visit: (collection: string, key: string, entry: SegmentEntry | undefined) => void,
  replay: (op: Op) => void,
): number {
  let segment: Value;
  try {
    segment = decode(bytes, STATE_DECODE_LIMITS);
  } catch (error) {
    return damaged(`segment ${number} is unreadable`, error);
  }
  const format = Array.isArray(segment) ? segment[0] : undefined;
  if (!Array.isArray(segment)) return damaged(`segment ${number} is not an array`);
  if (format === SEGMENT_FORMAT || format === SEGMENT_FORMAT_CELLS) return readCells(segment, number, visit);
  if (format === SEGMENT_FORMAT_OPS) return readOps(segment, number, replay);
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

/** The items of each cell, by its first item (CELL). */
const CELL_WIDTH: Readonly<Record<number, number>> = {
  [CELL.nothing]: 3,
  [CELL.entry]: 4,
  [CELL.register]: 7,
  [CELL.stringRegister]: 7,
};

/** True when `length` counts characters of a text from `at` within it. */
function fits(length: Value, at: number, text: string): length is number {
  return typeof length === 'number' && Number.isInteger(length) && length >= 0 && at + length <= text.length;
}

/**
 * readSegment of a segment of cells (formats 3 and 4): checks every cell, then visits them. In
 * format 4 a cell's key is a length into the segment's keys, a register's timestamp is the previous
 * register's plus a delta, and a string register's value is a length into its strings.
 */
function readCells(
  segment: Value[],
  number: number,
  visit: (collection: string, key: string, entry: SegmentEntry | undefined) => void,
): number {
  const [format, collections, origins] = segment;
  const joined = format === SEGMENT_FORMAT;
  const keys = joined ? segment[KEYS_AT] : '';
  const strings = joined ? segment[STRINGS_AT] : '';
  if (
    !Array.isArray(collections) ||
    !collections.every(isCollectionName) ||
    !Array.isArray(origins) ||
    !origins.every(isNodeId) ||
    typeof keys !== 'string' ||
    typeof strings !== 'string'
  ) {
    damaged(
      `segment ${number} is not [${format}, collections, origins, ${joined ? 'keys, strings, ' : ''}cell, …]`,
    );
  }
  const invalid = (): never => damaged(`segment ${number} holds an invalid cell`);
  const named = (names: readonly Value[], index: Value): index is number =>
    typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < names.length;
  const cells: [string, string, SegmentEntry | undefined][] = [];
  let keyAt = 0;
  let stringAt = 0;
  let hlc = 0;
  for (let i = joined ? STRINGS_AT + 1 : 3; i < segment.length; ) {
    const tag = segment[i] as Value;
    const size = typeof tag === 'number' ? CELL_WIDTH[tag] : undefined;
    const index = segment[i + 1] as Value;
    if (size === undefined || i + size > segment.length || !named(collections, index)) return invalid();
    if (!joined && tag === CELL.stringRegister) return invalid();
    let key = segment[i + 2] as Value;
    if (joined) {
      if (!fits(key, keyAt, keys)) return invalid();
      const end: number = keyAt + key;
      key = keys.slice(keyAt, end);
      keyAt = end;
    }
    if (!isKey(key)) return invalid();
    const collection = collections[index] as string;
    if (tag === CELL.nothing) cells.push([collection, key, undefined]);
    else if (tag === CELL.entry) {
      const entry = segment[i + 3] as Value;
      if (!Array.isArray(entry)) return invalid();
      cells.push([collection, key, { value: entry }]);
    } else {
      const [origin, seq] = [segment[i + 4] as Value, segment[i + 5] as Value];
      let stamp = segment[i + 3] as Value;
      let value = segment[i + 6] as Value;
      if (!named(origins, origin)) return invalid();
      if (joined) {
        // A delta from the previous register's timestamp.
        if (typeof stamp !== 'number' || !Number.isSafeInteger(stamp + hlc)) return invalid();
        hlc += stamp;
        stamp = hlc;
      }
      if (tag === CELL.stringRegister) {
        if (!fits(value, stringAt, strings)) return invalid();
        const end: number = stringAt + value;
        value = strings.slice(stringAt, end);
        stringAt = end;
        if (!isWellFormed(value)) return invalid();
      }
      cells.push([
        collection,
        key,
        { value: plainRegisterEntry(stamp, origins[origin] as Value, seq, value) },
      ]);
    }
    i += size;
  }
  if (keyAt !== keys.length || stringAt !== strings.length)
    damaged(`segment ${number} holds text no cell names`);
  for (const [collection, key, entry] of cells) visit(collection, key, entry);
  return cells.length;
}

/**
 * readSegment of a segment of ops (entry-capture.ts): checks that its entries hold each op of its
 * range exactly once, each origin's in order, then replays those.
 */
function readOps(segment: Value[], number: number, replay: (op: Op) => void): number {
  let from: VersionVector;
  let to: VersionVector;
  try {
    from = VersionVector.fromValue(segment[1] as Value);
    to = VersionVector.fromValue(segment[2] as Value);
  } catch (error) {
    return damaged(`segment ${number} is not [${SEGMENT_FORMAT_OPS}, from, to, entry, …]`, error);
  }
  if (segment.length < 4 || !to.dominates(from))
    damaged(`segment ${number} is not [${SEGMENT_FORMAT_OPS}, from, to, entry, …]`);
  const next = new Map<string, number>();
  const ops: Op[] = [];
  for (let i = 3; i < segment.length; i++) {
    const entry = segment[i];
    if (!(entry instanceof Uint8Array)) damaged(`segment ${number} holds an entry that is not bytes`);
    let decoded: Op[];
    try {
      decoded = decodeOps(entry, STATE_DECODE_LIMITS);
    } catch (error) {
      return damaged(`segment ${number} holds an unreadable entry`, error);
    }
    for (const op of decoded) {
      const low = from.get(op.origin);
      if (op.seq <= low || op.seq > to.get(op.origin)) continue;
      const expected = next.get(op.origin) ?? low + 1;
      if (op.seq !== expected)
        damaged(`segment ${number} holds ${op.origin}:${op.seq} where ${op.origin}:${expected} belongs`);
      next.set(op.origin, expected + 1);
      ops.push(op);
    }
  }
  for (const [origin, seq] of to.entries())
    if (seq > from.get(origin) && next.get(origin) !== seq + 1)
      damaged(`segment ${number} lacks ops of ${origin} up to ${seq}`);
  for (const op of ops) replay(op);
  return ops.length;
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
