import {
  DriftlessError,
  type Op,
  OpLog,
  OpLogError,
  type OpLogOptions,
  StorageError,
  type Store,
  type StoreWrite,
  type VersionVector,
  type Write,
} from '@driftless/core';
import { Checkpointer, type CheckpointPolicy } from './checkpointer.js';
import { DurableChangeFeed, type DurableChanges } from './durable-changes.js';
import { DurableReads } from './durable-reads.js';
import type { Intent } from './intent.js';
import type { Change, ReplicaState } from './replica-state.js';
import { decodeSnapshot, stateStamps } from './snapshot.js';
import { type LoadedState, loadState } from './state-checkpoint.js';

/** Options of ReplicaStore.open. */
export interface ReplicaStoreOptions extends OpLogOptions {
  /**
   * Ops applied between automatic checkpoints of the state, at least (default 4,096). A larger state
   * waits for a sixteenth of its key count (at most 131,072 ops), so that keys written again and
   * again are written to the checkpoint once in many ops. Opening replays the log above the last
   * checkpoint.
   */
  readonly checkpointOps?: number;
  /**
   * Checkpoints append segments of the keys they write (state-segments.ts). Once the segments hold
   * more than twice as many entries as the state has keys, or as this many (default 256), whichever
   * is more, the next automatic checkpoint writes every key afresh and deletes the older segments.
   */
  readonly compactionMinKeys?: number;
  /**
   * Keys a checkpoint encodes per turn of the event loop, at most (default: no limit). A checkpoint
   * is written in the background, a slice at a time, each slice a share of the event loop's time
   * (see checkpointer.ts), so the node keeps serving meanwhile; this caps slices in keys too.
   */
  readonly checkpointSliceKeys?: number;
}

/** Ops between automatic checkpoints, at least. */
export const DEFAULT_CHECKPOINT_OPS = 4096;
const DEFAULT_COMPACTION_MIN_KEYS = 256;
const NO_WRITES: readonly StoreWrite[] = [];
const NO_CHANGES: readonly Change[] = [];

/**
 * A replica that persists: its op log and its state in one Store. The log is the source of truth;
 * the state is checkpointed beside it every few thousand ops (state-checkpoint.ts), in the
 * background (checkpointer.ts), and reopening loads the checkpoint and replays the log above it, so
 * after a crash it restores the same state (and digest) as the durable log. An append writes only
 * its log entry: the state of the keys it touched waits for the next checkpoint.
 *
 * Ops are applied to the in-memory state when they are admitted to the log, in log order (so a
 * write prepared meanwhile sees the ones before it), and acknowledged only once durable. A read
 * of `state` in that window can see a write that is not yet durable; readDurable waits for it. If
 * a commit fails, every write not yet durable fails with it: the state is reloaded from the store
 * (what is durable) before the failure is reported, and the log refuses further writes until the
 * replica is reopened.
 * Conflict events and counts already reported for the undone ops stay reported.
 *
 * Tombstone collection and installing a peer's state change the state without an op, so each
 * commits a checkpoint with its own change, in order with the appends around it. The log keeps
 * every op above the last durable checkpoint, whatever truncation is asked of it.
 */
export class ReplicaStore {
  readonly log: OpLog;
  readonly state: ReplicaState;
  readonly #store: Store;
  readonly #checkpointer: Checkpointer;
  #closing = false;
  /** Once a commit has failed: reloading the state from what is durable. */
  #rollback: Promise<void> | undefined;
  readonly #feed = new DurableChangeFeed();
  /**
   * How write and receive append: the log calls `writes` synchronously with the ops it admits, which
   * applies them; the changes wait in #applied for the caller. One object for every append (not
   * closures each). The append itself writes only its log entry.
   */
  readonly #applyOptions = {
    writes: (ops: readonly Op[]): readonly StoreWrite[] => {
      this.#applied = this.#applyAll(ops);
      return NO_WRITES;
    },
  };
  #applied: readonly Change[] = NO_CHANGES;
  readonly #onAppendFailed = (error: unknown): Promise<never> => this.#recover(error);
  readonly #reads: DurableReads;

  private constructor(store: Store, log: OpLog, loaded: LoadedState, policy: CheckpointPolicy) {
    this.#store = store;
    this.log = log;
    this.state = loaded.state;
    // A background checkpoint's failure fails the log; every waiting write reports it.
    this.#checkpointer = new Checkpointer(loaded.state, log, loaded, policy, (error) => {
      this.#recover(error).catch(() => {});
    });
    this.#reads = new DurableReads(loaded.state, log, () => this.#settled('the ops this read saw'));
    log.onAppend((chunk) => {
      this.#reads.durable(chunk.ops);
      this.#feed.ops(chunk.lsn, chunk.ops);
    });
    // Truncation checkpoints first, so the log need only keep what came after.
    log.retain({ floor: () => this.#checkpointer.floor, prepare: () => this.checkpoint() });
  }

  /**
   * Opens the log and loads the state from `store` (its checkpoint, then the log above it). Throws
   * SNAPSHOT_INVALID when a stored state entry is damaged, STORE_CORRUPT when the state's metadata
   * is; writes nothing either way.
   */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    const { checkpointOps, checkpointSliceKeys, compactionMinKeys } = options;
    for (const [name, value] of Object.entries({ checkpointOps, checkpointSliceKeys, compactionMinKeys })) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1))
        throw new DriftlessError('INVALID_ARGUMENT', `${name} must be a whole number of at least 1`);
    }
    const policy = {
      checkpointOps: checkpointOps ?? DEFAULT_CHECKPOINT_OPS,
      sliceKeys: checkpointSliceKeys ?? Number.POSITIVE_INFINITY,
      compactionMinKeys: compactionMinKeys ?? DEFAULT_COMPACTION_MIN_KEYS,
    };
    const log = await OpLog.open(options);
    const loaded = await loadState(options.store, log);
    return new ReplicaStore(options.store, log, loaded, policy);
  }

  /** Writes at this replica: prepares the intent, appends the op, and resolves once it is durable. */
  write(collection: string, key: string, intent: Intent): Promise<{ op: Op; change: Change | undefined }> {
    let write: Write;
    try {
      write = this.state.prepare(collection, key, intent);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#applied = NO_CHANGES;
    let admitted: { ops: Op[]; durable: Promise<void> };
    try {
      admitted = this.log.admitLocal([write], this.#applyOptions);
    } catch (error) {
      return this.#onAppendFailed(error);
    }
    const change = this.#applied[0];
    const op = admitted.ops[0] as Op;
    return admitted.durable.then(() => ({ op, change }), this.#onAppendFailed);
  }

  /**
   * Applies ops from other replicas (each origin's in order, causally); resolves with the changes
   * once durable. `batch`, when given, is the op-codec encoding the ops were decoded from (see
   * OpLog.append).
   */
  receive(ops: readonly Op[], batch?: Uint8Array): Promise<Change[]> {
    try {
      const { changes, durable } = this.admit(ops, batch);
      return durable.then(() => changes);
    } catch (error) {
      return this.#onAppendFailed(error);
    }
  }

  /**
   * receive that applies the ops at once and returns their changes beside the promise of their
   * durability, and throws what receive would reject with, having applied none of them. A stream
   * of received ops can then admit its next batch while this one is being committed (OpLog.admit).
   */
  admit(ops: readonly Op[], batch?: Uint8Array): { changes: Change[]; durable: Promise<void> } {
    this.#applied = NO_CHANGES;
    let durable: Promise<void>;
    try {
      durable = this.log.admit(
        ops,
        batch === undefined ? this.#applyOptions : { ...this.#applyOptions, batch },
      ).durable;
    } catch (error) {
      // A log that failed is refusing everything: make sure the state is being rolled back.
      if (this.log.failure !== undefined) this.#onAppendFailed(error).catch(() => {});
      throw error;
    }
    // A fresh array from #applyAll whenever the append goes ahead (NO_CHANGES only when it fails).
    const changes = this.#applied as Change[];
    return { changes, durable: durable.catch(this.#onAppendFailed) };
  }

  /**
   * Reads the state with `read` now, and resolves with what it returned once every op the state
   * had applied is durable, with their vector (durable-reads.ts says why). Rejects with LOG_FAILED
   * when a commit fails first. `read` must copy what it keeps: the state moves on meanwhile.
   */
  readDurable<T>(read: (state: ReplicaState) => T): Promise<{ value: T; vector: VersionVector }> {
    return this.#reads.read(read);
  }

  /**
   * readDurable for a read of one key: waits only while a change of that key is not yet durable,
   * and then resolves with the log's durable vector (the key reads as that vector's ops make it).
   */
  readDurableKey<T>(
    collection: string,
    key: string,
    read: (state: ReplicaState) => T,
  ): Promise<{ value: T; vector: VersionVector }> {
    return this.#reads.readKey(collection, key, read);
  }

  /**
   * Checkpoints the state now (in order with the appends before it), so that reopening replays
   * nothing written so far; resolves once durable. Does nothing when nothing changed since the last.
   */
  checkpoint(): Promise<void> {
    let checkpoint: VersionVector | undefined;
    return this.log
      .append([], {
        writes: () => {
          if (this.#checkpointer.clean) return NO_WRITES;
          const taken = this.#checkpointer.takeNow();
          checkpoint = taken.vector;
          return taken.writes;
        },
      })
      .then(
        async () => {
          if (checkpoint) {
            this.#checkpointer.checkpointed(checkpoint);
            return;
          }
          // Nothing changed since the last checkpoint began, which may still be on its way to the
          // store (an append of nothing resolves at once): wait for it.
          await this.#settled('this checkpoint');
        },
        (error: unknown) => this.#recover(error),
      );
  }

  /**
   * Collects tombstones below `stable` (see ReplicaState.collectTombstones) and persists the
   * result with a checkpoint; resolves with how many keys were dropped, once durable.
   */
  collectTombstones(stable: VersionVector): Promise<number> {
    let dropped = 0;
    let checkpoint: VersionVector | undefined;
    // An append of no ops: it commits in order with every append admitted before it.
    return this.log
      .append([], {
        writes: () => {
          const before = this.state.collectedBelow;
          // A checkpoint under way must not encode a key this changes without an op.
          this.#checkpointer.abandon();
          let compacted = 0;
          const keys = this.state.collectTombstones(stable, (collection, key) => {
            this.#checkpointer.touch(collection, key);
            compacted++;
          });
          dropped = keys.length;
          if (keys.length === 0 && compacted === 0 && this.state.collectedBelow.equals(before))
            return NO_WRITES;
          // The changed keys' ops may be above the stored checkpoint: replaying them would undo the
          // collection (bring dropped keys back), so the collection is a checkpoint.
          for (const { collection, key } of keys) this.#checkpointer.touch(collection, key);
          const taken = this.#checkpointer.takeNow();
          checkpoint = taken.vector;
          return taken.writes;
        },
      })
      .then(
        () => {
          if (checkpoint) this.#checkpointer.checkpointed(checkpoint);
          return dropped;
        },
        (error: unknown) => this.#recover(error),
      );
  }

  /**
   * Joins a compacted delta or a snapshot from a peer (see ReplicaState.applyDelta) and persists
   * it as a checkpoint with the log's new vectors in one commit (OpLog.install), so a crash never
   * leaves state and log apart. Resolves with how many keys changed, once durable. Throws
   * SNAPSHOT_INVALID or REBOOTSTRAP_REQUIRED having changed nothing; `check`, called with the
   * state's vector before anything changes, may throw to refuse it.
   */
  async installState(bytes: Uint8Array, check?: (vector: VersionVector) => void): Promise<number> {
    const { vector, collections } = decodeSnapshot(bytes);
    // The caller may refuse the state by what it claims to hold (a peer may not forge origins).
    check?.(vector);
    // Writes made here later must order after every write the state holds, as after received ops
    // (last writer wins by timestamp). A state too far ahead of this clock is refused (CLOCK_SKEW).
    const { latestHlc, tips } = stateStamps(collections, vector);
    if (latestHlc !== undefined) this.log.clock.observe(latestHlc);
    const failure = this.log.failure;
    if (failure) {
      throw new OpLogError(
        'LOG_FAILED',
        `the op log refuses writes after a failed commit; reopen it (${failure.message})`,
      );
    }
    // A checkpoint under way must not encode a key the delta changes without an op.
    this.#checkpointer.abandon();
    const changed = this.state.applyDelta(bytes);
    for (const { collection, key } of changed) this.#checkpointer.touch(collection, key);
    const durable = this.#reads.installing(changed);
    // The state brought no ops to replay: only a checkpoint can hold it.
    const { writes, vector: checkpoint } = this.#checkpointer.takeNow();
    // The delta's own vector, not the state's: ops admitted here but not yet durable stay pending.
    // Its stamps show ops of origins this log may hold no op of (see OpLog.install).
    const installed = this.log.install(vector, writes, tips);
    // Reported from a reaction on the install's own promise: it runs before the log's next commit
    // starts, so listeners see the install in commit order with the appends around it.
    installed.then(
      () => {
        this.#checkpointer.checkpointed(checkpoint);
        durable();
        this.#feed.report({ type: 'state', vector, keys: changed });
      },
      () => {},
    );
    await installed.catch((error: unknown) => this.#recover(error));
    return changed.length;
  }

  /**
   * Calls `listener` with what each commit made durable from now on, in commit order, right after
   * the commit (before the writes it holds resolve). Must not throw. Returns the unsubscribe function.
   */
  onChanges(listener: (changes: DurableChanges) => void): () => void {
    return this.#feed.listen(listener);
  }

  /** Checkpoints the state, waits for pending appends and closes the log (not the store). */
  async close(): Promise<void> {
    if (!this.#closing && this.log.failure === undefined) {
      this.#closing = true;
      // Only to spare the next open a replay: the log holds everything, so a failure loses nothing.
      await this.checkpoint().catch(() => undefined);
    }
    this.#closing = true;
    // A background checkpoint left over (the log failed) must not start once the log is closed.
    this.#checkpointer.abandon();
    return this.log.close();
  }

  /** Waits until every append and install issued so far committed; LOG_FAILED if one failed. */
  async #settled(what: string): Promise<void> {
    await this.log.settled();
    const failure = this.log.failure;
    if (failure) {
      throw new OpLogError('LOG_FAILED', `the op log failed before ${what} was durable: ${failure.message}`, {
        cause: failure,
      });
    }
  }

  /**
   * After an append failed. When it failed because a commit failed, the state holds ops that never
   * became durable (this one's and those committed with it): reload it from the store first. Every
   * op admitted but not durable fails with the commit, and the log admits nothing after it, so what
   * the store holds is exactly what the state must hold.
   */
  async #recover(error: unknown): Promise<never> {
    if (this.log.failure === undefined) throw error;
    this.#feed.clear();
    this.#checkpointer.abandon();
    this.#rollback ??= loadState(this.#store, this.log).then((durable) => {
      this.state.replaceWith(durable.state);
      this.#reads.reset();
      this.#checkpointer.reset(durable);
    });
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

  #applyAll(ops: readonly Op[]): Change[] {
    const changes: Change[] = [];
    const listening = this.#feed.listening;
    // The checkpointer sees each change before it happens (ReplicaState.watchChanges).
    for (const op of ops) {
      const change = this.state.apply(op);
      if (change) {
        changes.push(change);
        this.#reads.admitted(change.op);
        if (listening) this.#feed.admitted(change);
      }
    }
    this.#checkpointer.applied(ops.length);
    return changes;
  }
}
