import type { Op, OpLog, VersionVector } from '@driftless/core';
import type { ReplicaState } from './replica-state.js';

/**
 * Reads that answer only what is durable (ReplicaStore.readDurable and readDurableKey). A replica
 * applies an op when its log admits it, before the commit: a read that saw it waits until it is
 * durable, since a crash would take it back and the restarted node would give its seq to another
 * write.
 *
 * A whole-state read (a listing) waits whenever the state holds ops not yet durable. A read of one
 * key waits only when a change not yet durable touched that key: from the first such read on, the
 * keys each admitted op or installed state changes are kept until their commit (a string key and a
 * map entry for each op, about 0.2 µs; a replica nobody reads through here pays nothing). A key
 * with no change under way reads as the durable log holds it, so its token is the log's vector.
 */
export class DurableReads {
  readonly #state: ReplicaState;
  readonly #log: OpLog;
  /** Waits for every commit issued so far; throws LOG_FAILED if one failed. */
  readonly #settled: () => Promise<void>;
  /** Keys changed and not yet durable, with what changed them last; undefined until a key read. */
  #pending: Map<string, Op | object> | undefined;
  /** True once every change admitted before #pending existed is durable. */
  #tracked = false;

  constructor(state: ReplicaState, log: OpLog, settled: () => Promise<void>) {
    this.#state = state;
    this.#log = log;
    this.#settled = settled;
  }

  /** See ReplicaStore.readDurable. */
  async read<T>(read: (state: ReplicaState) => T): Promise<{ value: T; vector: VersionVector }> {
    const vector = this.#state.versionVector;
    const value = read(this.#state);
    if (!this.#log.versionVector.dominates(vector)) {
      // Appends commit in order: once the lane is settled, everything admitted before is durable.
      await this.#settled();
      const durable = this.#log.versionVector;
      if (!durable.dominates(vector)) {
        // A bug, not a failure a caller can act on: never answer from ops the log does not hold.
        throw new Error(
          `the state holds ops its log never made durable: applied ${JSON.stringify(vector.toValue())}, ` +
            `durable ${JSON.stringify(durable.toValue())}`,
        );
      }
    }
    return { value, vector };
  }

  /** See ReplicaStore.readDurableKey. */
  readKey<T>(
    collection: string,
    key: string,
    read: (state: ReplicaState) => T,
  ): Promise<{ value: T; vector: VersionVector }> {
    if (this.#pending === undefined) {
      this.#pending = new Map();
      // Changes admitted before now were not kept: they are durable once the lane settles.
      void this.#settled().then(
        () => {
          this.#tracked = true;
        },
        () => {},
      );
    }
    if (!this.#tracked || this.#pending.has(keyOf(collection, key))) return this.read(read);
    // Every change of this key is durable, and the state holds every durable op: the key reads as
    // it does at the log's durable vector.
    return Promise.resolve({ value: read(this.#state), vector: this.#log.versionVector });
  }

  /** An op admitted and applied. */
  admitted(op: Op): void {
    this.#pending?.set(keyOf(op.collection, op.key), op);
  }

  /** Ops made durable, in log order. */
  durable(ops: readonly Op[]): void {
    const pending = this.#pending;
    if (pending === undefined || pending.size === 0) return;
    for (const op of ops) {
      const name = keyOf(op.collection, op.key);
      const last = pending.get(name) as Op | undefined;
      if (last !== undefined && last.origin === op.origin && last.seq === op.seq) pending.delete(name);
    }
  }

  /** A state is being installed, changing `keys`; call the returned function once it is durable. */
  installing(keys: readonly { collection: string; key: string }[]): () => void {
    const pending = this.#pending;
    if (pending === undefined) return () => {};
    const install = {};
    for (const { collection, key } of keys) pending.set(keyOf(collection, key), install);
    return () => {
      for (const { collection, key } of keys) {
        const name = keyOf(collection, key);
        if (pending.get(name) === install) pending.delete(name);
      }
    };
  }

  /** The state was reloaded from what is durable (after a failed commit): nothing is pending. */
  reset(): void {
    this.#pending?.clear();
  }
}

function keyOf(collection: string, key: string): string {
  return `${collection}\u0000${key}`;
}
