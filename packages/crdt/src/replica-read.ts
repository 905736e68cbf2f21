import { compareUtf8, DriftlessError, type Value } from '@driftless/core';
import type { KeyEntry } from './key-entry.js';
import type { KeyTable } from './key-table.js';
import type { TypeName } from './types/crdt-type.js';

/**
 * What a reader of a replica's state gets back: a key's type and value (and a multi-value
 * register's siblings), and listings in pages, in key order.
 */

/** The most keys one listing returns. */
export const MAX_LIST_LIMIT = 10_000;

/** What a read returns: the key's type and value; a multi-value register also lists its siblings. */
export interface ReadResult {
  readonly type: TypeName;
  /** The value; for a multi-value register, the value when there is exactly one sibling. */
  readonly value: Value | undefined;
  readonly siblings?: readonly { readonly value: Value; readonly origin: string; readonly hlc: number }[];
}

/** One page of a listing. */
export interface ListPage {
  readonly items: readonly ({ readonly key: string } & ReadResult)[];
  /** Pass as `cursor` to read the next page; absent on the last page. */
  readonly cursor?: string;
}

/** Options of a listing: keys starting with `prefix`, after `cursor`, at most `limit`. */
export interface ListOptions {
  readonly prefix?: string;
  readonly limit?: number;
  readonly cursor?: string;
}

/** What a reader sees of an entry, or undefined when it reads as absent. */
export function readEntry(entry: KeyEntry): ReadResult | undefined {
  const value = entry.read();
  if (value === undefined) return undefined;
  if (entry.type !== 'mv') return { type: entry.type, value };
  const siblings = value as unknown as { value: Value; origin: string; hlc: number }[];
  return { type: 'mv', value: siblings.length === 1 ? siblings[0]?.value : undefined, siblings };
}

/** The index of the first of the sorted `keys` not below `key` (UTF-8 order). */
export function lowerBound(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareUtf8(keys[mid] as string, key) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * A page of a collection's keys (`keys`, its keys sorted in UTF-8 order; undefined with `entries`
 * for a collection with none) as `options` ask, skipping keys that read as absent. Throws
 * INVALID_ARGUMENT for options out of range.
 */
export function listPage(
  entries: KeyTable<KeyEntry> | undefined,
  keys: () => readonly string[],
  options: ListOptions,
): ListPage {
  const { prefix = '', cursor, limit = 100 } = options;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new DriftlessError('INVALID_ARGUMENT', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  if (typeof prefix !== 'string' || (cursor !== undefined && typeof cursor !== 'string')) {
    throw new DriftlessError('INVALID_ARGUMENT', 'prefix and cursor must be strings');
  }
  if (!entries) return { items: [] };
  const sorted = keys();
  let index = lowerBound(sorted, cursor ?? prefix);
  if (cursor !== undefined && sorted[index] === cursor) index++;
  const items: ({ key: string } & ReadResult)[] = [];
  for (; index < sorted.length && items.length < limit; index++) {
    const key = sorted[index] as string;
    if (!key.startsWith(prefix)) break;
    const read = readEntry(entries.get(key) as KeyEntry);
    if (read) items.push({ key, ...read });
  }
  const more = index < sorted.length && (sorted[index] as string).startsWith(prefix);
  const last = items[items.length - 1];
  return more && last ? { items, cursor: last.key } : { items };
}
