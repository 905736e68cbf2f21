import { DriftlessError, StorageError } from './errors.js';
import {
  compareStoreKeys,
  type RangeOptions,
  type Store,
  type StoreEntry,
  type StoreKey,
  type StoreWrite,
  validateKey,
  validateTable,
  validateWrites,
} from './store.js';

/**
 * One table's entries and its keys in order. Keys are kept sorted incrementally for the common
 * patterns (appending past the end, deleting from either end) and re-sorted lazily otherwise.
 */
class SortedTable {
  readonly values = new Map<StoreKey, Uint8Array>();
  #sorted: StoreKey[] = [];
  #head = 0;
  #stale = false;

  set(key: StoreKey, value: Uint8Array): void {
    // One hash lookup, not two: a new key is one that grew the map.
    const size = this.values.size;
    this.values.set(key, value);
    if (this.values.size === size || this.#stale) return;
    const last = this.#sorted[this.#sorted.length - 1];
    if (this.#head === this.#sorted.length || (last !== undefined && compareStoreKeys(key, last) > 0)) {
      this.#sorted.push(key);
    } else {
      this.#stale = true;
    }
  }

  delete(key: StoreKey): void {
    if (!this.values.delete(key) || this.#stale) return;
    if (this.#sorted[this.#head] === key) {
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#sorted.length) {
        this.#sorted = this.#sorted.slice(this.#head);
        this.#head = 0;
      }
    } else if (this.#sorted[this.#sorted.length - 1] === key) {
      this.#sorted.pop();
    } else {
      this.#stale = true;
    }
  }

  /** Index of the first key ≥ `key` (or > `key` when `after`), within the live range. */
  seek(key: StoreKey | undefined, after: boolean): number {
    const sorted = this.#keys();
    let low = this.#head;
    let high = sorted.length;
    if (key === undefined) return low;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const order = compareStoreKeys(sorted[mid] as StoreKey, key);
      if (order < 0 || (after && order === 0)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** One past the index of the last key. */
  endIndex(): number {
    return this.#keys().length;
  }

  keyAt(index: number): StoreKey | undefined {
    const sorted = this.#keys();
    return index >= this.#head ? sorted[index] : undefined;
  }

  #keys(): StoreKey[] {
    if (this.#stale) {
      this.#sorted = [...this.values.keys()].sort(compareStoreKeys);
      this.#head = 0;
      this.#stale = false;
    }
    return this.#sorted;
  }
}

/** The data behind memory stores; outlives a store, so a node can be "restarted" on the same data. */
export class MemoryVolume {
  readonly tables = new Map<string, SortedTable>();

  /** The table, created empty on first use. */
  table(name: string): SortedTable {
    let table = this.tables.get(name);
    if (!table) {
      table = new SortedTable();
      this.tables.set(name, table);
    }
    return table;
  }
}

/**
 * A store in memory: for tests and ephemeral replicas. Commits are atomic and immediately
 * "durable" for the life of the volume. Reopen the same data with `MemoryStore.open(volume)`.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly volume: MemoryVolume;
  #closed = false;

  private constructor(volume: MemoryVolume) {
    // JavaScript can call the constructor, or pass open() anything: refuse it here, not at first use.
    if (!(volume instanceof MemoryVolume)) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        'open a memory store with `await MemoryStore.open()`, or `MemoryStore.open(volume)` with a MemoryVolume',
      );
    }
    this.volume = volume;
  }

  /** Opens a store on `volume` (a new, empty one by default). */
  static async open(volume: MemoryVolume = new MemoryVolume()): Promise<MemoryStore> {
    return new MemoryStore(volume);
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    this.#assertOpen();
    validateWrites(writes);
    for (const { table, key, value } of writes) {
      const entries = this.volume.table(table);
      if (value === undefined) entries.delete(key);
      else entries.set(key, value.slice());
    }
  }

  async get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    validateTable(table);
    validateKey(key);
    return this.volume.tables.get(table)?.values.get(key)?.slice();
  }

  async *range(table: string, options: RangeOptions = {}): AsyncIterable<StoreEntry> {
    this.#assertOpen();
    validateTable(table);
    const { start, end, reverse = false, limit = Number.POSITIVE_INFINITY } = options;
    if (start !== undefined) validateKey(start);
    if (end !== undefined) validateKey(end);
    const entries = this.volume.table(table);
    // Each step re-seeks from the last key yielded, so commits between steps are safe.
    let last: StoreKey | undefined;
    for (let count = 0; count < limit; count++) {
      const key = reverse
        ? previousKey(entries, last ?? start, last === undefined)
        : nextKey(entries, last ?? start, last !== undefined);
      if (key === undefined) return;
      if (end !== undefined && (reverse ? compareStoreKeys(key, end) <= 0 : compareStoreKeys(key, end) >= 0))
        return;
      last = key;
      const value = entries.values.get(key);
      if (value) yield { key, value: value.slice() };
      this.#assertOpen();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError('STORE_CLOSED', 'the store is closed; open it again to use it');
  }
}

function nextKey(table: SortedTable, from: StoreKey | undefined, exclusive: boolean): StoreKey | undefined {
  return table.keyAt(table.seek(from, exclusive));
}

function previousKey(
  table: SortedTable,
  from: StoreKey | undefined,
  inclusive: boolean,
): StoreKey | undefined {
  // The last key ≤ from (inclusive) or < from; the table's last key when from is absent.
  const index = from === undefined ? table.endIndex() : table.seek(from, inclusive);
  return table.keyAt(index - 1);
}
