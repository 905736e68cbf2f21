import { StorageError } from '../errors.js';
import type { RangeOptions, Store, StoreEntry, StoreKey, StoreWrite } from '../store.js';

/**
 * A Store wrapper that counts commits and fails them on demand, to test what callers do when a
 * sync fails. A failed commit applies nothing (as a failed LMDB transaction does).
 */
export class FaultyStore implements Store {
  readonly kind: string;
  readonly inner: Store;
  /** Commits that reached the inner store. */
  commits = 0;
  #failures = 0;

  constructor(inner: Store) {
    this.inner = inner;
    this.kind = `faulty(${inner.kind})`;
  }

  /** Makes the next `count` commits fail without applying anything. */
  failNextCommits(count = 1): void {
    this.#failures += count;
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    if (this.#failures > 0) {
      this.#failures--;
      throw new StorageError('STORE_WRITE_FAILED', 'injected fault: the sync failed');
    }
    this.commits++;
    await this.inner.commit(writes);
  }

  get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    return this.inner.get(table, key);
  }

  range(table: string, options?: RangeOptions): AsyncIterable<StoreEntry> {
    return this.inner.range(table, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
