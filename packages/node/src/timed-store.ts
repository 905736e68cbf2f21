/**
 * A Store that times its commits: the node's storage latency as operators see it (for LMDB, the
 * transaction and its sync to disk; group commit shares one sync among concurrent writes, so one
 * timing covers many writes). Everything else passes straight through.
 */
import type { RangeOptions, Store, StoreEntry, StoreKey, StoreWrite } from '@driftless/core';

/** Called after every commit that resolved (`ok`) or rejected. */
export type CommitListener = (commit: {
  readonly seconds: number;
  readonly writes: number;
  readonly ok: boolean;
}) => void;

/** Wraps `store`; `listeners` are told about every commit. */
export class TimedStore implements Store {
  readonly #store: Store;
  readonly #listeners = new Set<CommitListener>();

  constructor(store: Store) {
    this.#store = store;
  }

  get kind(): string {
    return this.#store.kind;
  }

  /** Adds a listener; returns its removal. */
  onCommit(listener: CommitListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    const started = performance.now();
    let ok = false;
    try {
      await this.#store.commit(writes);
      ok = true;
    } finally {
      const commit = { seconds: (performance.now() - started) / 1000, writes: writes.length, ok };
      for (const listener of this.#listeners) {
        try {
          listener(commit);
        } catch {
          // A metrics failure must not fail a durable commit.
        }
      }
    }
  }

  get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    return this.#store.get(table, key);
  }

  range(table: string, options?: RangeOptions): AsyncIterable<StoreEntry> {
    return this.#store.range(table, options);
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}
