import { encode, encodeValidated, type StoreWrite, sizeBound, type Value } from '@driftless/core';
import type { KeyEntry } from './key-entry.js';
import { encodeEntry, plainRegister } from './snapshot.js';

/**
 * Where a persistent replica's checkpoints keep the state of its keys: segments, numbered in the
 * order they are written.
 *
 *   state_seg   <n> → [4, collections, origins, keys, strings, cell, …]: keys as of a checkpoint, a
 *               later segment overriding an earlier one. Each cell is one key, its collection an
 *               index into `collections`, its key the next `keyLength` characters of `keys`:
 *                 0, collection, keyLength                        the key holds nothing
 *                 1, collection, keyLength, entry                 an entry inline (ReplicaState.entryValue)
 *                 2, collection, keyLength, hlcDelta, origin, seq, value
 *                                                                 a plain register (snapshot.ts), its
 *                                                                 origin an index into `origins`, its
 *                                                                 hlc the previous register's + hlcDelta
 *                 3, collection, keyLength, hlcDelta, origin, seq, valueLength
 *                                                                 the same, its value a string: the
 *                                                                 next `valueLength` characters of `strings`
 *               Formats 3 ([3, collections, origins, cell, …], cells 0 to 2 with each key inline
 *               and each hlc whole), 2 ([2, collection, key, entry | null, …]) and 1 (the same with
 *               each entry as its encoded bytes, ReplicaState.encodedEntry), which checkpoints
 *               wrote before, are still read. Format 5 is a segment of ops (entry-capture.ts).
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
 * Format 3 names each collection and origin once a segment and stores a plain register as its
 * stamp and value, not as its entry (which holds the stamp twice, in four arrays): for keys of
 * 16 characters and values of 32, 0.48 µs and 68 B a key against 0.88 µs and 126 B in format 2.
 * Format 4 joins the keys, and the string values, because msgpackr writes a string under 64
 * characters one character at a time (about 6 ns each here) and a longer one natively: the same
 * keys of a 200k-key state took 0.29–0.32 µs and 59 B a key against 0.48–0.93 µs and 68 B in
 * format 3 (three interleaved runs); opening reads both at the same speed.
 */

export const SEGMENT_TABLE = 'state_seg';
/** Where stores written before segments keep a row per key: `<collection>/<key>` → entry. */
export const STATE_TABLE = 'state';
export const STATE_META_TABLE = 'state_meta';
/** The state_meta key of the live segment range. */
export const SEGMENTS = 'segments';
export const SEGMENT_FORMAT = 4;
/** Segments of cells with their keys inline, as checkpoints wrote them before format 4. */
export const SEGMENT_FORMAT_CELLS = 3;
/** Segments of [collection, key, entry | null] triples, as checkpoints wrote them before format 3. */
export const SEGMENT_FORMAT_INLINE = 2;
/** Segments of entries as encoded bytes, as checkpoints wrote them before format 2. */
export const SEGMENT_FORMAT_BYTES = 1;
/** The cells of a segment of format 3 (0 to 2) or 4, by their first item. */
export const CELL = { nothing: 0, entry: 1, register: 2, stringRegister: 3 } as const;
/** Where a format-4 segment holds its keys, and its string registers' values. */
export const KEYS_AT = 3;
export const STRINGS_AT = 4;
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
    return this.#writes(packer.finish(), packer.count, packer.compaction);
  }

  /** The store writes of a checkpoint of segments of ops (entry-capture.ts) holding `ops` ops. */
  opsWrites(segments: readonly Uint8Array[], ops: number): StoreWrite[] {
    return this.#writes(segments, ops, false);
  }

  #writes(segments: readonly Uint8Array[], count: number, compaction: boolean): StoreWrite[] {
    const writes: StoreWrite[] = [];
    const start = this.#next;
    for (const value of segments) writes.push({ table: SEGMENT_TABLE, key: this.#next++, value });
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
 * A checkpoint's segments, filled entry by entry. Full segments are encoded when pack() is called,
 * so a checkpoint written a slice at a time encodes them a few at a time too: a checkpoint of
 * 4,096 keys encoded in one turn held the event loop for 2.5–3.5 ms here (over 10 ms for the larger
 * checkpoints of a large state), and a segment of 256 entries takes about 0.2 ms.
 */
export class SegmentPacker {
  /** Every key goes in (see SegmentLayout.writes): a key that holds nothing then needs no entry. */
  readonly compaction: boolean;
  #open!: OpenSegment;
  readonly #full: Value[][] = [];
  readonly #packed: Uint8Array[] = [];
  #count = 0;

  constructor(compaction: boolean) {
    this.compaction = compaction;
    this.#startSegment();
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
    const open = this.#open;
    const cells = open.cells;
    const index = indexIn(open, open.collections, collection);
    open.keys += key;
    // Upper bounds: entries hold only plain data (encodeEntry builds them from the state).
    open.bytes += key.length * 3 + 12;
    const register = keyEntry && plainRegister(keyEntry);
    if (keyEntry === undefined) {
      cells.push(CELL.nothing, index, key.length);
    } else if (register !== undefined) {
      const { hlc, origin, seq } = register.stamp as { hlc: number; origin: string; seq: number };
      const value = register.value as Value;
      const delta = hlc - open.hlc;
      open.hlc = hlc;
      const originIndex = indexIn(open, open.origins, origin);
      if (typeof value === 'string') {
        open.strings += value;
        cells.push(CELL.stringRegister, index, key.length, delta, originIndex, seq, value.length);
        open.bytes += 24 + value.length * 3;
      } else {
        cells.push(CELL.register, index, key.length, delta, originIndex, seq, value);
        open.bytes += 24 + sizeBound(value);
      }
    } else {
      const entry = encodeEntry(keyEntry);
      cells.push(CELL.entry, index, key.length, entry);
      open.bytes += sizeBound(entry);
    }
    this.#count++;
    if (++open.entries >= SEGMENT_MAX_ENTRIES || open.bytes >= SEGMENT_MAX_BYTES) this.#close();
  }

  /** Encodes the segments filled so far. */
  pack(): void {
    for (const segment of this.#full) this.#packed.push(encodeValidated(segment));
    this.#full.length = 0;
  }

  /** Every segment, encoded, in the order its entries came. */
  finish(): Uint8Array[] {
    if (this.#open.entries > 0) this.#close();
    this.pack();
    return this.#packed;
  }

  /** Moves the open segment, full or last, to those to encode, and opens the next. */
  #close(): void {
    const open = this.#open;
    open.cells[KEYS_AT] = open.keys;
    open.cells[STRINGS_AT] = open.strings;
    this.#full.push(open.cells);
    this.#startSegment();
  }

  #startSegment(): void {
    const collections: string[] = [];
    const origins: string[] = [];
    this.#open = {
      cells: [SEGMENT_FORMAT, collections, origins, '', ''],
      collections: { names: collections, indexes: new Map() },
      origins: { names: origins, indexes: new Map() },
      keys: '',
      strings: '',
      hlc: 0,
      entries: 0,
      bytes: 0,
    };
  }
}

/** A segment being filled. */
interface OpenSegment {
  /** The segment: format, collections, origins, keys and strings (filled in once it is full), cells. */
  readonly cells: Value[];
  readonly collections: NameTable;
  readonly origins: NameTable;
  /** Its cells' keys, one after the other. */
  keys: string;
  /** Its string registers' values, one after the other. */
  strings: string;
  /** The timestamp of its last register cell (0 before the first). */
  hlc: number;
  entries: number;
  /** An upper bound of its encoded size. */
  bytes: number;
}

/** Names a segment stores once, each cell naming one by its index. */
interface NameTable {
  readonly names: string[];
  readonly indexes: Map<string, number>;
}

/** The index of `name` in `table`, added to it if absent. */
function indexIn(open: OpenSegment, table: NameTable, name: string): number {
  let index = table.indexes.get(name);
  if (index === undefined) {
    index = table.names.length;
    table.names.push(name);
    table.indexes.set(name, index);
    open.bytes += name.length * 3 + 5;
  }
  return index;
}
