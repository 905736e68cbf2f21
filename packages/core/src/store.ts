import { StorageError } from './errors.js';

/**
 * The storage port. A store holds named tables of ordered keys and byte values, and applies a
 * list of writes as one atomic, durable transaction. Every backend (memory, LMDB, IndexedDB, …)
 * implements this and proves it with `runStoreConformance` from `@driftless/core/testing`.
 *
 * Key order: numbers ascend numerically; strings ascend by their UTF-8 bytes (the order LMDB and
 * IndexedDB use). A table holds keys of one type only.
 */

/** A key inside a table. */
export type StoreKey = number | string;

/** One write: a value to put, or `undefined` to delete the key. */
export interface StoreWrite {
  readonly table: string;
  readonly key: StoreKey;
  readonly value: Uint8Array | undefined;
}

/** A key and its value, as a range read yields them. */
export interface StoreEntry {
  readonly key: StoreKey;
  readonly value: Uint8Array;
}

/** Bounds and direction of a range read. */
export interface RangeOptions {
  /** The first key (inclusive); in a reverse read, the highest key. Absent: from the table's edge. */
  readonly start?: StoreKey;
  /** The key to stop before (exclusive); in a reverse read, the low bound. Absent: to the table's edge. */
  readonly end?: StoreKey;
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** A durable, transactional, ordered key-value store. */
export interface Store {
  /** The backend's name, for logs and status ("memory", "lmdb", …). */
  readonly kind: string;
  /**
   * Applies every write atomically: after a crash either all of them are there or none is. Resolves
   * only once the transaction is durable (synced to disk, for a persistent backend); rejects with a
   * StorageError otherwise, and a rejected commit must not be assumed applied or not applied until
   * the store is reopened. Concurrent commits may share one sync.
   */
  commit(writes: readonly StoreWrite[]): Promise<void>;
  /** The value under `key`, or undefined. Sees every commit that has resolved. */
  get(table: string, key: StoreKey): Promise<Uint8Array | undefined>;
  /** The entries of `table` within the bounds, in key order, lazily. */
  range(table: string, options?: RangeOptions): AsyncIterable<StoreEntry>;
  /** Releases the store; later calls reject with STORE_CLOSED. Committed data stays. */
  close(): Promise<void>;
}

const TABLE_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Table names found valid. */
const validTables = new Set<string>();

/** Throws STORE_INVALID_WRITE unless every write is well-formed; called before anything is applied. */
export function validateWrites(writes: readonly StoreWrite[]): void {
  if (!Array.isArray(writes))
    throw new StorageError('STORE_INVALID_WRITE', 'commit takes an array of writes');
  for (const write of writes) {
    validateTable(write?.table);
    validateKey(write.key);
    if (write.value !== undefined && !(write.value instanceof Uint8Array)) {
      throw new StorageError(
        'STORE_INVALID_WRITE',
        `the value for ${String(write.key)} must be bytes or undefined`,
      );
    }
  }
}

/** Throws STORE_INVALID_WRITE unless `table` is a valid table name. */
export function validateTable(table: unknown): asserts table is string {
  // Every write names its table, and there are only a few of them.
  if (typeof table === 'string' && validTables.has(table)) return;
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw new StorageError('STORE_INVALID_WRITE', `invalid table name ${JSON.stringify(table)}`);
  }
  if (validTables.size < 256) validTables.add(table);
}

/** The longest string key a store must accept, in UTF-8 bytes (LMDB's limit in lmdb-js). */
export const MAX_STORE_KEY_BYTES = 1978;
const utf8 = new TextEncoder();

/** Throws STORE_INVALID_WRITE unless `key` is a finite number or a non-empty string of ≤ 1,978 UTF-8 bytes. */
export function validateKey(key: unknown): asserts key is StoreKey {
  const ok =
    (typeof key === 'number' && Number.isFinite(key)) ||
    (typeof key === 'string' &&
      key.length > 0 &&
      (key.length * 3 <= MAX_STORE_KEY_BYTES || utf8.encode(key).length <= MAX_STORE_KEY_BYTES));
  if (!ok)
    throw new StorageError('STORE_INVALID_WRITE', `invalid store key ${JSON.stringify(key)?.slice(0, 80)}`);
}

/** Orders store keys: numbers before strings, numbers numerically, strings by UTF-8 bytes. */
export function compareStoreKeys(a: StoreKey, b: StoreKey): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return compareUtf8(a, b);
}

/**
 * Compares strings by their UTF-8 encoding without encoding them. UTF-16 order differs from UTF-8
 * order only where a surrogate (U+D800–DFFF) meets a unit in U+E000–FFFF: surrogates encode code
 * points above U+FFFF, so they must sort after.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}
