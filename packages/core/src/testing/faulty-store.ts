import { StorageError } from '../errors.js';
import type { RangeOptions, Store, StoreEntry, StoreKey, StoreWrite } from '../store.js';

/**
 * A Store wrapper that counts commits, fails them on demand and holds them back on demand, to test
 * what callers do when a sync fails or takes long. A failed commit applies nothing (as a failed
 * LMDB transaction does); a held one applies nothing until released.
 */
export class FaultyStore implements Store {
  readonly kind: string;
  readonly inner: Store;
  /** Commits that reached the inner store. */
  commits = 0;
  #failures = 0;
  #held: Promise<void> | undefined;

  constructor(inner: Store) {
    this.inner = inner;
    this.kind = `faulty(${inner.kind})`;
  }

  /** Makes the next `count` commits fail without applying anything. */
  failNextCommits(count = 1): void {
    this.#failures += count;
  }

  /**
   * Holds every commit from now on (those under way already go ahead) until the returned function
   * is called; each held commit then applies, or fails if failNextCommits was called meanwhile.
   */
  holdCommits(): () => void {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = held;
    return () => {
      if (this.#held === held) this.#held = undefined;
      release();
    };
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    if (this.#held !== undefined) await this.#held;
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
