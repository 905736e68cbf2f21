import { type DriftlessError, OpLogError, StorageError } from './errors.js';
import { type HlcOptions, HybridLogicalClock } from './hlc.js';
import { assertNodeId } from './identifiers.js';
import { type AppendListener, type LogChunk, LogWriter, MAX_ENTRY_OPS } from './log-commit.js';
import { readMissing } from './log-read.js';
import { type LogState, recover, verifyLog } from './log-recover.js';
import { assertTipsWithin, recoverTips, storedOp } from './log-tips.js';
import { type LogRetention, planTruncation, type TruncateResult } from './log-truncate.js';
import { formatDot, type Op, type OpTip, type Write } from './op.js';
import { validateOp, validateWrite } from './op-validate.js';
import type { Store, StoreWrite } from './store.js';
import type { VersionVector } from './version-vector.js';

/**
 * The op log's public surface: admission (seqs, gaps, duplicates), installs, reads and verification.
 * How appends become store commits is in log-commit.ts; truncation is in log-truncate.ts; where
 * things are stored is in log-layout.ts; opening is in log-recover.ts.
 */

export type { AppendListener, LogChunk } from './log-commit.js';
export type { LogRetention, TruncateResult } from './log-truncate.js';

/** Options of OpLog.open. */
export interface OpLogOptions {
  readonly store: Store;
  /** This node's id: the origin of every op it writes. The store remembers it and refuses another. */
  readonly nodeId: string;
  /** The wall clock and skew limit of the log's hybrid logical clock. */
  readonly clock?: Omit<HlcOptions, 'highWater'>;
  /** Largest encoded log entry; a larger group is split across entries. */
  readonly maxEntryBytes?: number;
}

/** Options of an append. */
export interface AppendOptions {
  /**
   * More writes to commit in the same transaction as the ops: a list, or a function called
   * synchronously with the ops this call appends (after their seqs and timestamps are set and
   * duplicates are dropped, before anything is committed), for writes that depend on them, such as
   * the state they produce.
   */
  readonly writes?: readonly StoreWrite[] | ((ops: readonly Op[]) => readonly StoreWrite[]);
  /**
   * The op-codec batch (encodeOps) the ops were decoded from, such as a peer's OPS frame: when every
   * op is new, the log stores it as their entry instead of encoding them again.
   */
  readonly batch?: Uint8Array;
}

/**
 * The durable operation log every node replicates from: ops of all origins in local apply order,
 * over any Store. Appends are atomic and resolve only once durable; appends issued while a commit
 * is in flight are committed together by the next one (group commit). After a failed commit the
 * log refuses further appends until it is reopened, because what reached the disk is unknown.
 */
export class OpLog {
  readonly nodeId: string;
  readonly clock: HybridLogicalClock;
  readonly #store: Store;
  /** Commits appends, installs and truncations, and holds what the store holds of the log. */
  readonly #writer: LogWriter;
  /** What is durable or queued: the next seq expected of each origin. */
  readonly #admitted: Map<string, number>;
  /** Ops at or below this are no longer served: the stored base, raised at once by installs begun. */
  #base: VersionVector;
  #closed = false;
  /** Why local writes are refused, once refuseLocalWrites was called. */
  #localRefusal: DriftlessError | undefined;
  readonly #installListeners = new Set<(vector: VersionVector) => void>();
  readonly #retentions = new Set<LogRetention>();

  private constructor(options: OpLogOptions, state: LogState, tips: Map<string, OpTip>) {
    this.nodeId = options.nodeId;
    this.#store = options.store;
    this.clock = new HybridLogicalClock({ ...options.clock, highWater: state.highWater });
    this.#writer = new LogWriter(options.store, this.clock, state, tips, options.maxEntryBytes);
    this.#admitted = new Map(state.vector.entries());
    this.#base = state.base;
  }

  /** Opens the log in `store`, creating it if the store is empty, and recovers its state. */
  static async open(options: OpLogOptions): Promise<OpLog> {
    assertNodeId(options.nodeId);
    const state = await recover(options.store, options.nodeId);
    return new OpLog(options, state, await recoverTips(options.store, state.vector));
  }

  /** The ops durably in this replica, as a version vector. */
  get versionVector(): VersionVector {
    return this.#writer.durable;
  }

  /** Every op at or below this vector has been truncated from the log. */
  get baseVector(): VersionVector {
    return this.#base;
  }

  /** The LSN the next entry will get. */
  get nextLsn(): number {
    return this.#writer.nextLsn;
  }

  /** Why the log refuses appends, if a commit failed. */
  get failure(): DriftlessError | undefined {
    return this.#writer.failure;
  }

  /**
   * The seq and timestamp of the last op of `origin` this log made durable, even once truncated,
   * or of a later one an installed state showed (log-tips.ts); undefined when it holds no op of
   * `origin` and no state it installed showed one.
   */
  tipOf(origin: string): OpTip | undefined {
    return this.#writer.tips.get(origin);
  }

  /** The durable op `origin:seq`; undefined when the log does not hold it (never had it, or truncated). */
  opAt(origin: string, seq: number): Promise<Op | undefined> {
    this.#assertOpen();
    if (seq < 1 || !this.#writer.durable.includes(origin, seq)) return Promise.resolve(undefined);
    return storedOp(this.#store, origin, seq);
  }

  /**
   * Writes new ops at this node: gives each write the next seq and a fresh timestamp, appends them
   * atomically, and resolves with the ops once they are durable.
   */
  appendLocal(writes: readonly Write[], options: AppendOptions = {}): Promise<Op[]> {
    let admitted: { ops: Op[]; durable: Promise<void> };
    try {
      admitted = this.admitLocal(writes, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { ops, durable } = admitted;
    return durable.then(() => ops);
  }

  /**
   * appendLocal that returns the ops at once (their seqs and timestamps are given on admission)
   * beside the promise of their durability, and throws what appendLocal would reject with. A caller
   * that builds its own result saves a promise a write: with a thousand writes in flight, their
   * promises are a measurable share of a write's cost.
   */
  admitLocal(writes: readonly Write[], options: AppendOptions = {}): { ops: Op[]; durable: Promise<void> } {
    this.#assertWritable();
    if (this.#localRefusal) throw this.#localRefusal;
    for (const write of writes) validateWrite(write);
    let seq = this.#admitted.get(this.nodeId) ?? 0;
    const ops = writes.map(
      ({ collection, key, mutation }): Op => ({
        origin: this.nodeId,
        seq: ++seq,
        hlc: this.clock.now(),
        collection,
        key,
        mutation,
      }),
    );
    const extra = extraWrites(options, ops);
    if (ops.length > 0) this.#admitted.set(this.nodeId, seq);
    if (ops.length === 0 && extra.length === 0) return { ops, durable: Promise.resolve() };
    return { ops, durable: this.#writer.enqueue({ ops, writes: extra }) };
  }

  /**
   * Refuses every local write from now on (appendLocal rejects with `error`); ops from other
   * replicas are still appended. For a log that has lost ops of its own origin which other replicas
   * hold (its store was wiped, or restored from an older backup): its next write would take a seq
   * one of those ops already has, and every replica holding that op would drop the write as known.
   */
  refuseLocalWrites(error: DriftlessError): void {
    this.#localRefusal ??= error;
  }

  /** Why local writes are refused (see refuseLocalWrites), if they are. */
  get localRefusal(): DriftlessError | undefined {
    return this.#localRefusal;
  }

  /**
   * Appends ops from any origin atomically and resolves with those that were new once they are
   * durable. Ops already in the log are skipped (appending is idempotent); an op whose origin's
   * previous op is missing fails the whole call with OP_GAP; a timestamp too far ahead fails it
   * with CLOCK_SKEW. Nothing of a failed call is appended.
   */
  append(ops: readonly Op[], options: AppendOptions = {}): Promise<Op[]> {
    let admitted: { accepted: Op[]; durable: Promise<void> };
    try {
      admitted = this.admit(ops, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { accepted, durable } = admitted;
    return durable.then(() => accepted);
  }

  /**
   * append that returns the new ops at once beside the promise of their durability, and throws
   * what append would reject with (having admitted none of them). Ops admitted by a later call may
   * build on these before they are durable: they commit in the same group or a later one, never
   * an earlier one, and a failed commit fails every group after it.
   */
  admit(ops: readonly Op[], options: AppendOptions = {}): { accepted: Op[]; durable: Promise<void> } {
    this.#assertWritable();
    const admitted = this.#admit(ops);
    const { accepted } = admitted;
    const extra = extraWrites(options, accepted);
    admitted.reserve();
    if (accepted.length === 0 && extra.length === 0) return { accepted, durable: Promise.resolve() };
    const { batch } = options;
    const writer = this.#writer;
    const whole =
      batch !== undefined &&
      accepted.length === ops.length &&
      accepted.length <= MAX_ENTRY_OPS &&
      batch.length <= writer.maxEntryBytes;
    const durable = writer.enqueue(
      whole ? { ops: accepted, writes: extra, bytes: batch } : { ops: accepted, writes: extra },
    );
    return { accepted, durable };
  }

  /**
   * Records that this replica now holds every op up to `vector` without having them in its log
   * (a compacted delta or a snapshot from a peer brought their effects), committing `writes` (the
   * state they produced) in the same transaction. The log's base rises to `vector`: a peer behind
   * it is served a state instead of ops. Ops at or below `vector` appended later are skipped as
   * known; ops the log already holds stay and are still served above the base. Resolves once
   * durable; after it, versionVector includes `vector`. It commits alone, after every append
   * admitted before it and before every append admitted after it.
   *
   * `tips`: ops the state shows by their stamps, at most one per origin, each within `vector`; an
   * origin's tip (tipOf) rises to one above it, so a peer that lost its data is still told of an op
   * it wrote when every op of its origin reached this log in states (see log-tips.ts).
   */
  install(
    vector: VersionVector,
    writes: readonly StoreWrite[],
    tips?: ReadonlyMap<string, OpTip>,
  ): Promise<void> {
    this.#assertWritable();
    if (tips) assertTipsWithin(tips, vector);
    for (const [origin, seq] of vector.entries()) {
      if (seq > (this.#admitted.get(origin) ?? 0)) this.#admitted.set(origin, seq);
    }
    // The log stops serving peers below the new base at once (if the commit fails, the log refuses
    // everything until reopened anyway). Ops written from now on may build on ops that will never
    // be in this log: tell the readers that stream it (replication) before any can be appended.
    this.#base = this.#base.merge(vector);
    for (const listener of this.#installListeners) listener(vector);
    // A group of its own: appends admitted later may build on the state it brings, so none of them
    // may become durable before it.
    return this.#writer.enqueueAlone({ ops: [], writes, install: vector, ...(tips ? { tips } : {}) });
  }

  /**
   * Calls `listener` synchronously whenever an install begins (see install): from then on the log
   * may hold ops whose causal past it does not. Returns the unsubscribe function.
   */
  onInstall(listener: (vector: VersionVector) => void): () => void {
    this.#installListeners.add(listener);
    return () => this.#installListeners.delete(listener);
  }

  /** Resolves once every append and install issued so far has committed (or failed). */
  settled(): Promise<void> {
    return this.#writer.settled();
  }

  /** Calls `listener` with every entry made durable from now on. Returns the unsubscribe function. */
  onAppend(listener: AppendListener): () => void {
    return this.#writer.onAppend(listener);
  }

  /** True when the log still holds every op a replica at `since` lacks. */
  canServe(since: VersionVector): boolean {
    return since.dominates(this.#base);
  }

  /**
   * Streams the durable ops that a replica at `since` lacks, in local log order, entry by entry.
   * Throws LOG_TRUNCATED when some of them are no longer in the log: bootstrap that replica from
   * a state snapshot instead.
   */
  async *readSince(since: VersionVector): AsyncGenerator<LogChunk> {
    this.#assertOpen();
    if (!this.canServe(since)) {
      throw new OpLogError(
        'LOG_TRUNCATED',
        `the log no longer holds ops below ${JSON.stringify(this.#base)}; bootstrap the peer from a snapshot`,
      );
    }
    yield* readMissing(this.#store, this.#writer.durable, since, this.#writer.nextLsn);
  }

  /**
   * Deletes the longest prefix of the log whose ops are all at or below `watermark` (for example,
   * what every peer has made durable), and raises the base vector accordingly.
   */
  truncate(watermark: VersionVector): Promise<TruncateResult> {
    this.#assertWritable();
    const job = () => {
      const failure = this.#writer.failure;
      if (failure) throw failure;
      return this.#truncate(watermark);
    };
    const prepared: Promise<unknown>[] = [];
    for (const retention of this.#retentions) if (retention.prepare) prepared.push(retention.prepare());
    if (prepared.length === 0) return this.#writer.serialize(job);
    return Promise.all(prepared).then(() => this.#writer.serialize(job));
  }

  /**
   * Keeps ops in the log for `retention` (see LogRetention): truncate never deletes an entry holding
   * an op above its floor, whatever the watermark. Returns the function that lifts it.
   */
  retain(retention: LogRetention): () => void {
    this.#retentions.add(retention);
    return () => this.#retentions.delete(retention);
  }

  /**
   * Reads the whole log and checks it: every entry decodes, each origin's seqs run contiguously
   * from the base vector to the version vector, and the index points at the right entries.
   */
  verify(): Promise<{ entries: number; ops: number }> {
    this.#assertOpen();
    return verifyLog(this.#store, this.#base, this.#writer.durable);
  }

  /** Waits for queued appends, then refuses further calls. Does not close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.settled();
  }

  /** Checks ops and picks the new ones; `reserve` then marks them as coming, so they are not admitted twice. */
  #admit(ops: readonly Op[]): { accepted: Op[]; reserve: () => void } {
    const reserved = new Map<string, number>();
    const accepted: Op[] = [];
    for (const op of ops) {
      validateOp(op);
      const last = reserved.get(op.origin) ?? this.#admitted.get(op.origin) ?? 0;
      if (op.seq <= last) continue;
      if (op.seq !== last + 1) {
        throw new OpLogError(
          'OP_GAP',
          `${formatDot(op)} arrived before ${op.origin}:${last + 1}; each origin's ops must be appended in order`,
        );
      }
      reserved.set(op.origin, op.seq);
      accepted.push(op);
    }
    for (const op of accepted) if (op.origin !== this.nodeId) this.clock.observe(op.hlc);
    const reserve = (): void => {
      for (const [origin, seq] of reserved) this.#admitted.set(origin, seq);
    };
    return { accepted, reserve };
  }

  /** Runs on the commit lane: plans the truncation, commits it, and raises the base. */
  async #truncate(requested: VersionVector): Promise<TruncateResult> {
    const plan = await planTruncation(this.#store, this.#writer, requested, this.#retentions);
    if (plan === undefined) return { removedEntries: 0, base: this.#base };
    await this.#writer.commitTruncation(plan.writes, plan.base);
    // Installs begun meanwhile raised the base in memory already.
    this.#base = this.#base.merge(plan.base);
    return { removedEntries: plan.removedEntries, base: this.#base };
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError('STORE_CLOSED', 'the op log is closed; open it again to use it');
  }

  #assertWritable(): void {
    this.#assertOpen();
    const failure = this.#writer.failure;
    if (failure) {
      throw new OpLogError(
        'LOG_FAILED',
        `the op log refuses appends after a failed commit; reopen it (${failure.message})`,
      );
    }
  }
}

function extraWrites(options: AppendOptions, ops: readonly Op[]): readonly StoreWrite[] {
  const { writes } = options;
  return typeof writes === 'function' ? writes(ops) : (writes ?? []);
}
