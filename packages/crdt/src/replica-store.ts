import {
  DriftlessError,
  decode,
  encode,
  formatDot,
  isCollectionName,
  isKey,
  type Op,
  OpLog,
  type OpLogOptions,
  ProtocolError,
  StorageError,
  type Store,
  type StoreWrite,
  VersionVector,
} from '@driftless/core';
import type { Intent } from './intent.js';
import { decodeMutation } from './mutation.js';
import { type Change, ReplicaState } from './replica-state.js';
import { decodeSnapshot } from './snapshot.js';

/** Where a persistent replica keeps each key's state: `<collection>/<key>` → encoded entry. */
export const STATE_TABLE = 'state';
const STATE_META_TABLE = 'state_meta';
const COLLECTED = 'collected';

/** Options of ReplicaStore.open. */
export type ReplicaStoreOptions = OpLogOptions;

/**
 * What one commit made durable, for change feeds: ops appended to the log (local writes and ops
 * received from peers, one Change per op, in log order), or a state installed from a peer (the keys
 * it changed, and the vector of the ops whose effects it brought without them being in the log).
 */
export type DurableChanges =
  | { readonly type: 'ops'; readonly lsn: number; readonly changes: readonly Change[] }
  | {
      readonly type: 'state';
      readonly vector: VersionVector;
      readonly keys: readonly { readonly collection: string; readonly key: string }[];
    };

/**
 * A replica that persists: its op log and its state in one Store. Every append commits the log
 * entry and the new state of the keys it touched in one transaction, so after a crash the two
 * always agree, and reopening restores the same state (and digest).
 *
 * Ops are applied to the in-memory state when they are admitted to the log, in log order (so a
 * write prepared meanwhile sees the ones before it), and acknowledged only once durable. A local
 * read in that window can see a write that is not yet durable. If a commit fails, every write not
 * yet durable fails with it: the state is reloaded from the store (what is durable) before the
 * failure is reported, and the log refuses further writes until the replica is reopened.
 * Conflict events and counts already reported for the undone ops stay reported.
 *
 * Tombstone collection commits through the log too, in order with the appends before it, so a
 * key's stored state is always the last one memory held.
 */
export class ReplicaStore {
  readonly log: OpLog;
  readonly state: ReplicaState;
  readonly #store: Store;
  /** Once a commit has failed: reloading the state from what is durable. */
  #rollback: Promise<void> | undefined;
  readonly #changeListeners = new Set<(changes: DurableChanges) => void>();
  /** Changes of ops admitted but not yet durable, by dot; kept only while someone listens. */
  readonly #admitted = new Map<string, Change>();

  private constructor(store: Store, log: OpLog, state: ReplicaState) {
    this.#store = store;
    this.log = log;
    this.state = state;
    log.onAppend((chunk) => this.#reportOps(chunk.lsn, chunk.ops));
  }

  /**
   * Opens the log and loads the state from `store`. Throws SNAPSHOT_INVALID when a stored state
   * entry is damaged, STORE_CORRUPT when the state's metadata is; writes nothing either way.
   */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    const log = await OpLog.open(options);
    const state = await loadState(options.store, log.versionVector);
    return new ReplicaStore(options.store, log, state);
  }

  /** Writes at this replica: prepares the intent, appends the op, and resolves once it is durable. */
  async write(
    collection: string,
    key: string,
    intent: Intent,
  ): Promise<{ op: Op; change: Change | undefined }> {
    const write = this.state.prepare(collection, key, intent);
    let change: Change | undefined;
    const [op] = await this.#durably(
      this.log.appendLocal([write], {
        writes: (ops) => {
          const { changes, writes } = this.#applyAll(ops);
          change = changes[0];
          return writes;
        },
      }),
    );
    return { op: op as Op, change };
  }

  /** Applies ops from other replicas (each origin's in order, causally); resolves with the changes once durable. */
  async receive(ops: readonly Op[]): Promise<Change[]> {
    let changes: Change[] = [];
    await this.#durably(
      this.log.append(ops, {
        writes: (accepted) => {
          const applied = this.#applyAll(accepted);
          changes = applied.changes;
          return applied.writes;
        },
      }),
    );
    return changes;
  }

  /**
   * Collects tombstones below `stable` (see ReplicaState.collectTombstones) and persists the
   * result; resolves with how many keys were dropped, once durable.
   */
  async collectTombstones(stable: VersionVector): Promise<number> {
    let dropped = 0;
    // An append of no ops: it commits in order with every append admitted before it.
    await this.#durably(
      this.log.append([], {
        writes: () => {
          const before = this.state.collectedBelow;
          const keys = this.state.collectTombstones(stable);
          dropped = keys.length;
          const writes: StoreWrite[] = keys.map(({ collection, key }) => ({
            table: STATE_TABLE,
            key: `${collection}/${key}`,
            value: undefined,
          }));
          if (writes.length > 0 || !this.state.collectedBelow.equals(before)) {
            writes.push({
              table: STATE_META_TABLE,
              key: COLLECTED,
              value: encode(this.state.collectedBelow.toValue()),
            });
          }
          return writes;
        },
      }),
    );
    return dropped;
  }

  /**
   * Joins a compacted delta or a snapshot from a peer (see ReplicaState.applyDelta) and persists
   * the keys it changed with the log's new vectors in one commit (OpLog.install), so a crash never
   * leaves state and log apart. Resolves with how many keys changed, once durable. Throws
   * SNAPSHOT_INVALID or REBOOTSTRAP_REQUIRED having changed nothing; `check`, called with the
   * state's vector before anything changes, may throw to refuse it.
   */
  async installState(bytes: Uint8Array, check?: (vector: VersionVector) => void): Promise<number> {
    const { vector } = decodeSnapshot(bytes);
    // The caller may refuse the state by what it claims to hold (a peer may not forge origins).
    check?.(vector);
    const changed = this.state.applyDelta(bytes);
    const writes: StoreWrite[] = changed.map(({ collection, key }) => ({
      table: STATE_TABLE,
      key: `${collection}/${key}`,
      value: this.state.encodedEntry(collection, key),
    }));
    writes.push({
      table: STATE_META_TABLE,
      key: COLLECTED,
      value: encode(this.state.collectedBelow.toValue()),
    });
    // The delta's own vector, not the state's: ops admitted here but not yet durable stay pending.
    const installed = this.log.install(vector, writes);
    // Reported from a reaction on the install's own promise: it runs before the log's next commit
    // starts, so listeners see the install in commit order with the appends around it.
    installed.then(
      () => this.#report({ type: 'state', vector, keys: changed }),
      () => {},
    );
    await this.#durably(installed);
    return changed.length;
  }

  /**
   * Calls `listener` with what each commit made durable from now on, in commit order, right after
   * the commit (before the writes it holds resolve). Must not throw. Returns the unsubscribe function.
   */
  onChanges(listener: (changes: DurableChanges) => void): () => void {
    this.#changeListeners.add(listener);
    return () => {
      this.#changeListeners.delete(listener);
      if (this.#changeListeners.size === 0) this.#admitted.clear();
    };
  }

  /** Waits for pending appends and closes the log (not the store). */
  close(): Promise<void> {
    return this.log.close();
  }

  /**
   * Waits for an append. When it fails because a commit failed, the state holds ops that never
   * became durable (this one's and those committed with it): reload it from the store first. Every
   * op admitted but not durable fails with the commit, and the log admits nothing after it, so what
   * the store holds is exactly what the state must hold.
   */
  async #durably<T>(append: Promise<T>): Promise<T> {
    try {
      return await append;
    } catch (error) {
      if (this.log.failure === undefined) throw error;
      this.#admitted.clear();
      this.#rollback ??= loadState(this.#store, this.log.versionVector).then((durable) =>
        this.state.replaceWith(durable),
      );
      const reloadFailure = await this.#rollback.then(
        () => undefined,
        (reloadError: unknown) => reloadError,
      );
      if (reloadFailure === undefined) throw error;
      throw new StorageError(
        'STORE_WRITE_FAILED',
        `${(error as Error).message}; reloading the durable state failed too, so the state in memory ` +
          `may hold writes that were not stored (${(reloadFailure as Error)?.message}): reopen the replica`,
        { cause: error },
      );
    }
  }

  #applyAll(ops: readonly Op[]): { changes: Change[]; writes: StoreWrite[] } {
    const changes: Change[] = [];
    const touched = new Map<string, { collection: string; key: string }>();
    const listening = this.#changeListeners.size > 0;
    for (const op of ops) {
      const change = this.state.apply(op);
      if (change) {
        changes.push(change);
        if (listening) this.#admitted.set(formatDot(op), change);
      }
      touched.set(`${op.collection}/${op.key}`, op);
    }
    const writes: StoreWrite[] = [];
    for (const [storeKey, { collection, key }] of touched) {
      writes.push({ table: STATE_TABLE, key: storeKey, value: this.state.encodedEntry(collection, key) });
    }
    return { changes, writes };
  }

  #reportOps(lsn: number, ops: readonly Op[]): void {
    if (this.#changeListeners.size === 0) return;
    const changes = ops.map((op) => {
      const dot = formatDot(op);
      const change = this.#admitted.get(dot);
      this.#admitted.delete(dot);
      // An op admitted before anyone listened (or appended to the log directly).
      return change ?? { collection: op.collection, key: op.key, op, kind: kindOf(op), changed: true };
    });
    this.#report({ type: 'ops', lsn, changes });
  }

  #report(changes: DurableChanges): void {
    for (const listener of this.#changeListeners) {
      try {
        listener(changes);
      } catch (error) {
        // A listener's bug surfaces (as an unhandled rejection) without failing the commit.
        void Promise.reject(error);
      }
    }
  }
}

function kindOf(op: Op): Change['kind'] {
  try {
    return decodeMutation(op.mutation).kind;
  } catch {
    return 'rejected';
  }
}

/** The state as `store` holds it, at the log's `vector`; SNAPSHOT_INVALID for a damaged entry. */
async function loadState(store: Store, vector: VersionVector): Promise<ReplicaState> {
  const entries: { collection: string; key: string; bytes: Uint8Array }[] = [];
  for await (const { key, value } of store.range(STATE_TABLE)) {
    const text = String(key);
    const slash = text.indexOf('/');
    const collection = text.slice(0, Math.max(0, slash));
    const name = text.slice(slash + 1);
    if (typeof key !== 'string' || !isCollectionName(collection) || !isKey(name)) {
      throw new DriftlessError(
        'SNAPSHOT_INVALID',
        `a stored state key (${JSON.stringify(text.slice(0, 80))}) is not <collection>/<key>: the store is ` +
          'damaged; restore it from a backup, or remove it and let the replica re-bootstrap from a peer',
      );
    }
    entries.push({ collection, key: name, bytes: value });
  }
  return ReplicaState.load(vector, await readVector(store), entries);
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
