import {
  DriftlessError,
  decode,
  encode,
  type Op,
  OpLog,
  type OpLogOptions,
  ProtocolError,
  type Store,
  type StoreWrite,
  VersionVector,
} from '@driftless/core';
import type { Intent } from './intent.js';
import { type Change, ReplicaState } from './replica-state.js';

/** Where a persistent replica keeps each key's state: `<collection>/<key>` → encoded entry. */
export const STATE_TABLE = 'state';
const STATE_META_TABLE = 'state_meta';
const COLLECTED = 'collected';

/** Options of ReplicaStore.open. */
export type ReplicaStoreOptions = OpLogOptions;

/**
 * A replica that persists: its op log and its state in one Store. Every append commits the log
 * entry and the new state of the keys it touched in one transaction, so after a crash the two
 * always agree, and reopening restores the same state (and digest).
 *
 * Ops are applied to the in-memory state when they are admitted to the log, in log order, and
 * acknowledged only once durable. A local read in that window can see a write that is not yet
 * durable; if its commit fails, the log refuses further writes until the replica is reopened
 * from what is on disk.
 */
export class ReplicaStore {
  readonly log: OpLog;
  readonly state: ReplicaState;
  readonly #store: Store;

  private constructor(store: Store, log: OpLog, state: ReplicaState) {
    this.#store = store;
    this.log = log;
    this.state = state;
  }

  /** Opens the log and loads the state from `store`. */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    const log = await OpLog.open(options);
    const entries: { collection: string; key: string; bytes: Uint8Array }[] = [];
    for await (const { key, value } of options.store.range(STATE_TABLE)) {
      const text = String(key);
      const slash = text.indexOf('/');
      entries.push({ collection: text.slice(0, slash), key: text.slice(slash + 1), bytes: value });
    }
    const collected = await readVector(options.store);
    return new ReplicaStore(options.store, log, ReplicaState.load(log.versionVector, collected, entries));
  }

  /** Writes at this replica: prepares the intent, appends the op, and resolves once it is durable. */
  async write(
    collection: string,
    key: string,
    intent: Intent,
  ): Promise<{ op: Op; change: Change | undefined }> {
    const write = this.state.prepare(collection, key, intent);
    let change: Change | undefined;
    const [op] = await this.log.appendLocal([write], {
      writes: (ops) => {
        const { changes, writes } = this.#applyAll(ops);
        change = changes[0];
        return writes;
      },
    });
    return { op: op as Op, change };
  }

  /** Applies ops from other replicas (each origin's in order, causally); resolves with the changes once durable. */
  async receive(ops: readonly Op[]): Promise<Change[]> {
    let changes: Change[] = [];
    await this.log.append(ops, {
      writes: (accepted) => {
        const applied = this.#applyAll(accepted);
        changes = applied.changes;
        return applied.writes;
      },
    });
    return changes;
  }

  /** Collects tombstones below `stable` (see ReplicaState.collectTombstones) and persists the result. */
  async collectTombstones(stable: VersionVector): Promise<number> {
    const dropped = this.state.collectTombstones(stable);
    const writes: StoreWrite[] = dropped.map(({ collection, key }) => ({
      table: STATE_TABLE,
      key: `${collection}/${key}`,
      value: undefined,
    }));
    writes.push({
      table: STATE_META_TABLE,
      key: COLLECTED,
      value: encode(this.state.collectedBelow.toValue()),
    });
    await this.#store.commit(writes);
    return dropped.length;
  }

  /** Waits for pending appends and closes the log (not the store). */
  close(): Promise<void> {
    return this.log.close();
  }

  #applyAll(ops: readonly Op[]): { changes: Change[]; writes: StoreWrite[] } {
    const changes: Change[] = [];
    const touched = new Map<string, { collection: string; key: string }>();
    for (const op of ops) {
      const change = this.state.apply(op);
      if (change) changes.push(change);
      touched.set(`${op.collection}/${op.key}`, op);
    }
    const writes: StoreWrite[] = [];
    for (const [storeKey, { collection, key }] of touched) {
      writes.push({ table: STATE_TABLE, key: storeKey, value: this.state.encodedEntry(collection, key) });
    }
    return { changes, writes };
  }
}

async function readVector(store: Store): Promise<VersionVector> {
  const bytes = await store.get(STATE_META_TABLE, COLLECTED);
  if (bytes === undefined) return VersionVector.EMPTY;
  try {
    return VersionVector.fromValue(decode(bytes));
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new DriftlessError(
        'STORE_CORRUPT',
        'the replica state metadata is unreadable: restore from a backup',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
