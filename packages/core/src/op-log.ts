import { encode } from './codec.js';
import { type DriftlessError, OpLogError, StorageError } from './errors.js';
import { type HlcOptions, HybridLogicalClock } from './hlc.js';
import { assertNodeId } from './identifiers.js';
import {
  indexBounds,
  indexKey,
  LOG_INDEX_TABLE,
  LOG_TABLE,
  metaWrite,
  readStoredNumber,
  seqOfIndexKey,
  throwCorrupt,
} from './log-layout.js';
import { decodeEntry, type LogState, recover } from './log-recover.js';
import { formatDot, type Op, type Write } from './op.js';
import { encodeValidatedOps } from './op-codec.js';
import { validateOp, validateWrite } from './op-validate.js';
import type { Store, StoreWrite } from './store.js';
import { VersionVector } from './version-vector.js';

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

/** Ops read from, or appended to, one log entry. */
export interface LogChunk {
  /** The local log sequence number of the entry. */
  readonly lsn: number;
  readonly ops: readonly Op[];
  /**
   * The entry as stored, an op-codec batch of exactly `ops` (see op-codec.ts), when the chunk is the
   * whole entry: replication sends it as it is instead of encoding the ops again.
   */
  readonly bytes?: Uint8Array;
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

/** What a truncation removed. */
export interface TruncateResult {
  readonly removedEntries: number;
  /** Every op at or below this vector is no longer in the log. */
  readonly base: VersionVector;
}

/**
 * Something that needs ops kept in the log (a persistent state replays the log above its last
 * checkpoint when it opens): see OpLog.retain.
 */
export interface LogRetention {
  /** Ops above this vector stay in the log, whatever a truncation's watermark. Read as it runs. */
  floor(): VersionVector;
  /** Called as each truncation begins, which waits for it: a chance to lower the floor (checkpoint). */
  prepare?(): Promise<unknown>;
}

/** Called with every durable entry, in log order, after its appends resolve. Must not throw. */
export type AppendListener = (chunk: LogChunk) => void;

interface PendingAppend {
  readonly ops: readonly Op[];
  /** The ops' encoding as given to append, when it holds exactly these ops (none was known). */
  readonly bytes?: Uint8Array;
  readonly writes: readonly StoreWrite[];
  /** An install's vector: what the commit makes durable beyond its ops. */
  readonly install?: VersionVector;
}

/**
 * Appends committed by one store commit, and the one promise they all wait on: settling a group
 * settles every append in it at once, however many there are.
 */
interface CommitGroup {
  readonly appends: PendingAppend[];
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function newGroup(): CommitGroup {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { appends: [], done, resolve, reject };
}

const MAX_ENTRY_OPS = 4096;
const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024;

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
  readonly #maxEntryBytes: number;
  /** What is durable: readSince and versionVector see only this. */
  #durable: VersionVector;
  /** What is durable or queued: the next seq expected of each origin. */
  readonly #admitted: Map<string, number>;
  /** Ops at or below this are no longer served: the stored base, raised at once by installs begun. */
  #base: VersionVector;
  /** The base as the store holds it. */
  #storedBase: VersionVector;
  #nextLsn: number;
  /** The group new appends join, until its commit starts. */
  #open: CommitGroup | undefined;
  /** Every store commit runs on this chain, one at a time. */
  #lane: Promise<unknown> = Promise.resolve();
  #failure: DriftlessError | undefined;
  #closed = false;
  readonly #listeners = new Set<AppendListener>();
  readonly #installListeners = new Set<(vector: VersionVector) => void>();
  readonly #retentions = new Set<LogRetention>();

  private constructor(options: OpLogOptions, state: LogState) {
    this.nodeId = options.nodeId;
    this.#store = options.store;
    this.#maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    this.clock = new HybridLogicalClock({ ...options.clock, highWater: state.highWater });
    this.#durable = state.vector;
    this.#admitted = new Map(state.vector.entries());
    this.#base = state.base;
    this.#storedBase = state.base;
    this.#nextLsn = state.nextLsn;
  }

  /** Opens the log in `store`, creating it if the store is empty, and recovers its state. */
  static async open(options: OpLogOptions): Promise<OpLog> {
    assertNodeId(options.nodeId);
    return new OpLog(options, await recover(options.store, options.nodeId));
  }

  /** The ops durably in this replica, as a version vector. */
  get versionVector(): VersionVector {
    return this.#durable;
  }

  /** Every op at or below this vector has been truncated from the log. */
  get baseVector(): VersionVector {
    return this.#base;
  }

  /** The LSN the next entry will get. */
  get nextLsn(): number {
    return this.#nextLsn;
  }

  /** Why the log refuses appends, if a commit failed. */
  get failure(): DriftlessError | undefined {
    return this.#failure;
  }

  /**
   * Writes new ops at this node: gives each write the next seq and a fresh timestamp, appends them
   * atomically, and resolves with the ops once they are durable.
   */
  appendLocal(writes: readonly Write[], options: AppendOptions = {}): Promise<Op[]> {
    let ops: Op[];
    let extra: readonly StoreWrite[];
    try {
      this.#assertWritable();
      for (const write of writes) validateWrite(write);
      let seq = this.#admitted.get(this.nodeId) ?? 0;
      ops = writes.map(
        ({ collection, key, mutation }): Op => ({
          origin: this.nodeId,
          seq: ++seq,
          hlc: this.clock.now(),
          collection,
          key,
          mutation,
        }),
      );
      extra = extraWrites(options, ops);
      if (ops.length > 0) this.#admitted.set(this.nodeId, seq);
    } catch (error) {
      return Promise.reject(error);
    }
    if (ops.length === 0 && extra.length === 0) return Promise.resolve(ops);
    return this.#enqueue({ ops, writes: extra }).then(() => ops);
  }

  /**
   * Appends ops from any origin atomically and resolves with those that were new once they are
   * durable. Ops already in the log are skipped (appending is idempotent); an op whose origin's
   * previous op is missing fails the whole call with OP_GAP; a timestamp too far ahead fails it
   * with CLOCK_SKEW. Nothing of a failed call is appended.
   */
  append(ops: readonly Op[], options: AppendOptions = {}): Promise<Op[]> {
    let accepted: Op[];
    let extra: readonly StoreWrite[];
    try {
      this.#assertWritable();
      const admitted = this.#admit(ops);
      accepted = admitted.accepted;
      extra = extraWrites(options, accepted);
      admitted.reserve();
    } catch (error) {
      return Promise.reject(error);
    }
    if (accepted.length === 0 && extra.length === 0) return Promise.resolve(accepted);
    const { batch } = options;
    const whole =
      batch !== undefined &&
      accepted.length === ops.length &&
      accepted.length <= MAX_ENTRY_OPS &&
      batch.length <= this.#maxEntryBytes;
    return this.#enqueue(
      whole ? { ops: accepted, writes: extra, bytes: batch } : { ops: accepted, writes: extra },
    ).then(() => accepted);
  }

  /**
   * Records that this replica now holds every op up to `vector` without having them in its log
   * (a compacted delta or a snapshot from a peer brought their effects), committing `writes` (the
   * state they produced) in the same transaction. The log's base rises to `vector`: a peer behind
   * it is served a state instead of ops. Ops at or below `vector` appended later are skipped as
   * known; ops the log already holds stay and are still served above the base. Resolves once
   * durable; after it, versionVector includes `vector`. It commits alone, after every append
   * admitted before it and before every append admitted after it.
   */
  install(vector: VersionVector, writes: readonly StoreWrite[]): Promise<void> {
    this.#assertWritable();
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
    this.#open = undefined;
    const installed = this.#enqueue({ ops: [], writes, install: vector });
    this.#open = undefined;
    return installed;
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
    return this.#lane.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Calls `listener` with every entry made durable from now on. Returns the unsubscribe function. */
  onAppend(listener: AppendListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
    const endLsn = this.#nextLsn;
    const missing = this.#durable.missingFrom(since);
    if (missing.length === 0) return;
    let startLsn = endLsn;
    for (const { origin, from } of missing) {
      startLsn = Math.min(startLsn, (await this.#entryHolding(origin, from)) ?? 0);
    }
    const expected = new Map(missing.map(({ origin, from }) => [origin, from]));
    for await (const { key, value } of this.#store.range(LOG_TABLE, { start: startLsn, end: endLsn })) {
      const lacking: Op[] = [];
      const entryOps = decodeEntry(value, key as number);
      for (const op of entryOps) {
        const next = expected.get(op.origin);
        if (next === undefined || op.seq < next) continue;
        if (op.seq > next) {
          throw new OpLogError(
            'LOG_TRUNCATED',
            `the log was truncated while reading (missing ${op.origin}:${next})`,
          );
        }
        expected.set(op.origin, next + 1);
        lacking.push(op);
      }
      if (lacking.length === entryOps.length) yield { lsn: key as number, ops: lacking, bytes: value };
      else if (lacking.length > 0) yield { lsn: key as number, ops: lacking };
    }
  }

  /**
   * Deletes the longest prefix of the log whose ops are all at or below `watermark` (for example,
   * what every peer has made durable), and raises the base vector accordingly.
   */
  truncate(watermark: VersionVector): Promise<TruncateResult> {
    this.#assertWritable();
    const job = () => {
      if (this.#failure) throw this.#failure;
      return this.#truncate(watermark);
    };
    const prepared: Promise<unknown>[] = [];
    for (const retention of this.#retentions) if (retention.prepare) prepared.push(retention.prepare());
    if (prepared.length === 0) return this.#serialize(job);
    return Promise.all(prepared).then(() => this.#serialize(job));
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
  async verify(): Promise<{ entries: number; ops: number }> {
    this.#assertOpen();
    const next = new Map(this.#base.entries().map(([origin, seq]) => [origin, seq + 1]));
    let entries = 0;
    let ops = 0;
    for await (const { key, value } of this.#store.range(LOG_TABLE)) {
      entries++;
      const seen = new Set<string>();
      for (const op of decodeEntry(value, key as number)) {
        ops++;
        // Ops below the base stay in entries an install or a partial truncation left behind.
        if (op.seq <= this.#base.get(op.origin)) continue;
        const expected = next.get(op.origin) ?? 1;
        if (op.seq !== expected)
          throwCorrupt(`entry ${key} (${formatDot(op)} where ${op.origin}:${expected} was due)`);
        next.set(op.origin, expected + 1);
        if (!seen.has(op.origin)) {
          seen.add(op.origin);
          if ((await this.#entryHolding(op.origin, op.seq)) !== key)
            throwCorrupt(`index for ${formatDot(op)}`);
        }
      }
    }
    for (const [origin, seq] of this.#durable.entries()) {
      if ((next.get(origin) ?? 1) !== seq + 1) throwCorrupt(`version vector (${origin} is at ${seq})`);
    }
    return { entries, ops };
  }

  /** Waits for queued appends, then refuses further calls. Does not close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lane.catch(() => undefined);
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

  /** Adds an append to the open group (opening one, and scheduling its commit, if none is). */
  #enqueue(append: PendingAppend): Promise<void> {
    let group = this.#open;
    if (group === undefined) {
      const opened = newGroup();
      group = opened;
      this.#open = opened;
      this.#lane = this.#lane.then(() => this.#commitQueued(opened));
    }
    group.appends.push(append);
    return group.done;
  }

  async #commitQueued(group: CommitGroup): Promise<void> {
    if (this.#open === group) this.#open = undefined;
    if (this.#failure) {
      group.reject(this.#failure);
      return;
    }
    let chunks: LogChunk[];
    try {
      chunks = await this.#commitGroup(group.appends);
    } catch (error) {
      this.#fail(error, group);
      return;
    }
    // Listeners run before the appends' callers resume: a promise's reactions wait for this turn.
    group.resolve();
    for (const chunk of chunks) {
      for (const listener of this.#listeners) {
        try {
          listener(chunk);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
  }

  async #commitGroup(group: readonly PendingAppend[]): Promise<LogChunk[]> {
    const ops = group.length === 1 ? (group[0] as PendingAppend).ops : group.flatMap((append) => append.ops);
    const writes: StoreWrite[] = [];
    const chunks: LogChunk[] = [];
    let lsn = this.#nextLsn;
    let vector = this.#durable;
    let base = this.#storedBase;
    for (const [entryOps, bytes] of this.#entries(group)) {
      writes.push({ table: LOG_TABLE, key: lsn, value: bytes });
      for (const [origin, seq] of firstSeqs(entryOps)) {
        writes.push({ table: LOG_INDEX_TABLE, key: indexKey(origin, seq), value: encodeLsn(lsn) });
      }
      chunks.push({ lsn, ops: entryOps, bytes });
      lsn++;
    }
    for (const append of group) {
      for (const write of append.writes) writes.push(write);
      if (append.install) {
        vector = vector.merge(append.install);
        base = base.merge(append.install);
      }
    }
    if (chunks.length > 0) {
      const last = new Map<string, number>();
      for (const op of ops) last.set(op.origin, op.seq);
      vector = vector.merge(VersionVector.from(last));
      writes.push(metaWrite('next_lsn', lsn));
    }
    if (vector !== this.#durable)
      writes.push(metaWrite('vv', vector.toValue()), metaWrite('hlc', this.clock.highWater));
    if (base !== this.#storedBase) writes.push(metaWrite('base', base.toValue()));
    await this.#store.commit(writes);
    this.#durable = vector;
    this.#storedBase = base;
    this.#nextLsn = lsn;
    return chunks;
  }

  /**
   * The entries of a group's ops, in order: an append given its ops' encoding is an entry as it is;
   * the ops of the others between are encoded together, in entries of at most MAX_ENTRY_OPS ops
   * and maxEntryBytes bytes.
   */
  *#entries(group: readonly PendingAppend[]): Generator<[readonly Op[], Uint8Array]> {
    let pending: Op[] = [];
    for (const append of group) {
      if (append.bytes === undefined) {
        for (const op of append.ops) pending.push(op);
        continue;
      }
      yield* this.#encoded(pending);
      pending = [];
      yield [append.ops, append.bytes];
    }
    yield* this.#encoded(pending);
  }

  *#encoded(ops: readonly Op[]): Generator<[readonly Op[], Uint8Array]> {
    for (let start = 0; start < ops.length; start += MAX_ENTRY_OPS) {
      yield* this.#split(ops.slice(start, start + MAX_ENTRY_OPS));
    }
  }

  *#split(ops: readonly Op[]): Generator<[readonly Op[], Uint8Array]> {
    // Every op here was validated on admission.
    const bytes = encodeValidatedOps(ops);
    if (bytes.length <= this.#maxEntryBytes || ops.length === 1) {
      yield [ops, bytes];
      return;
    }
    const half = ops.length >>> 1;
    yield* this.#split(ops.slice(0, half));
    yield* this.#split(ops.slice(half));
  }

  #fail(error: unknown, group: CommitGroup | undefined): void {
    this.#failure = new StorageError(
      'STORE_WRITE_FAILED',
      `a log commit failed, so nothing in it was acknowledged (${(error as Error)?.message ?? String(error)}); ` +
        'the log refuses appends until it is reopened',
      { cause: error },
    );
    group?.reject(this.#failure);
    this.#open?.reject(this.#failure);
    this.#open = undefined;
  }

  async #truncate(requested: VersionVector): Promise<TruncateResult> {
    let watermark = requested;
    for (const retention of this.#retentions) watermark = watermark.meet(retention.floor());
    const durable = this.#durable;
    let cut = this.#nextLsn;
    for (const { origin, from } of durable.missingFrom(watermark)) {
      const lsn = await this.#entryHolding(origin, from);
      if (lsn !== undefined && lsn < cut) cut = lsn;
    }
    const writes: StoreWrite[] = [];
    let removedEntries = 0;
    for await (const { key } of this.#store.range(LOG_TABLE, { end: cut })) {
      writes.push({ table: LOG_TABLE, key, value: undefined });
      removedEntries++;
    }
    let base = this.#storedBase;
    for (const [origin, seq] of durable.entries()) {
      let firstKept = seq + 1;
      for await (const { key, value } of this.#store.range(LOG_INDEX_TABLE, indexBounds(origin))) {
        if ((readStoredNumber(value, 'index') as number) >= cut) {
          firstKept = seqOfIndexKey(key);
          break;
        }
        writes.push({ table: LOG_INDEX_TABLE, key, value: undefined });
      }
      base = base.with(origin, firstKept - 1);
    }
    if (removedEntries === 0) return { removedEntries, base: this.#base };
    writes.push(metaWrite('base', base.toValue()));
    try {
      await this.#store.commit(writes);
    } catch (error) {
      this.#fail(error, undefined);
      throw this.#failure;
    }
    this.#storedBase = base;
    // Installs begun meanwhile raised the base in memory already.
    this.#base = this.#base.merge(base);
    return { removedEntries, base: this.#base };
  }

  /** The LSN of the entry holding `origin`'s op `seq`, if the log still has one at or below it. */
  async #entryHolding(origin: string, seq: number): Promise<number | undefined> {
    const { start } = indexBounds(origin);
    const range = this.#store.range(LOG_INDEX_TABLE, {
      start: indexKey(origin, seq),
      end: start,
      reverse: true,
      limit: 1,
    });
    for await (const { value } of range) return readStoredNumber(value, 'index');
    return undefined;
  }

  #serialize<T>(job: () => Promise<T>): Promise<T> {
    const result = this.#lane.then(job);
    this.#lane = result.catch(() => undefined);
    return result;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError('STORE_CLOSED', 'the op log is closed; open it again to use it');
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.#failure) {
      throw new OpLogError(
        'LOG_FAILED',
        `the op log refuses appends after a failed commit; reopen it (${this.#failure.message})`,
      );
    }
  }
}

function extraWrites(options: AppendOptions, ops: readonly Op[]): readonly StoreWrite[] {
  const { writes } = options;
  return typeof writes === 'function' ? writes(ops) : (writes ?? []);
}

function encodeLsn(lsn: number): Uint8Array {
  return encode(lsn);
}

/** The first seq of each origin within one entry's ops. */
function firstSeqs(ops: readonly Op[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const op of ops) if (!first.has(op.origin)) first.set(op.origin, op.seq);
  return first;
}
