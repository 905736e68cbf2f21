import type { OpLog, StoreWrite, VersionVector } from '@driftless/core';
import type { KeyEntry } from './key-entry.js';
import type { ReplicaState } from './replica-state.js';
import { checkpointMeta, type LoadedState } from './state-checkpoint.js';
import { type SegmentLayout, SegmentPacker } from './state-segments.js';

/** When a Checkpointer checkpoints, and in what slices. */
export interface CheckpointPolicy {
  /** Ops between checkpoints, at least. */
  readonly checkpointOps: number;
  /** Keys encoded per turn of the event loop, at most, while a checkpoint is written in the background. */
  readonly sliceKeys: number;
  /** See SegmentLayout.compactionDue. */
  readonly compactionMinKeys: number;
}

/** The host's timers and clock: every JavaScript host has them (this package's types name no host). */
const timers = globalThis as unknown as {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  performance: { now(): number };
};

/**
 * The share of the event loop's time a background checkpoint takes: each slice may last this share
 * of the time since the previous one ended (within SLICE_MS), more while writes outpace it (see
 * #slice). At 10k writes/s between two node processes, slices of 256 keys (0.5–1.5 ms each) put p99
 * replication latency at 7.8–8.0 ms, a share of 0.2 at 6.0–8.9 ms, of 0.05 at 3.9–4.7 ms, and
 * without checkpoints it was 2.6–3.2 ms: spreading a checkpoint's encoding (and the garbage it
 * makes) over more time matters more than how long each slice lasts. Under a burst a checkpoint
 * lags, and catches up once the burst ends: letting it take up to half the loop kept it closer
 * but cost a third of the throughput of 1M writes between two nodes (81k–115k ops/s against
 * 124k–160k at a tenth; a checkpoint of fresh keys costs about 1.5–2.5 µs a key there, GC included).
 */
const SLICE_SHARE = { base: 0.05, max: 0.1 };
const SLICE_MS = { min: 0.02, max: 2 };

/** A state of at most this many keys may be compacted by a whole checkpoint at once (about 0.5 ms). */
const COMPACT_AT_ONCE_KEYS = 256;

/** A large state waits at most this many ops between checkpoints, so opening replays at most as many. */
const MAX_CHECKPOINT_OPS = 1 << 17;

/**
 * Keys a generation changed, in the order first changed, each with its entry when it had one:
 * collection, key, entry, collection, key, entry, … A list, not a set: each entry carries the
 * generation that last listed it (KeyEntry.checkpointMark), so a key changed again is not listed
 * again, at the cost of a field read where a set cost two hash lookups an op (7–16 % of a node's
 * time under a burst of fresh keys); and a slice encodes the entry listed without looking the key
 * up again. A key without an entry (dropped by a change without an op) may be listed more than once.
 */
type ListedKeys = (string | KeyEntry | undefined)[];

/** A checkpoint being encoded a slice at a time. */
interface Pending {
  /** The generation it checkpoints: the keys changed since the previous one began. */
  readonly generation: number;
  /** The state's vectors when it began: its entries hold exactly these ops. */
  readonly vector: VersionVector;
  readonly collected: VersionVector;
  /** The keys its generation changed, dirty again if it is abandoned. */
  readonly keys: ListedKeys;
  /** How far through `keys` the slices are. */
  next: number;
  /** A compaction (see SegmentLayout.compactionDue) goes through every key of the state instead. */
  readonly walk: Iterator<[string, string, KeyEntry]> | undefined;
  readonly segments: SegmentPacker;
  timer: unknown;
  /** When the last slice ended (the host clock, ms). */
  sliceEnded: number;
}

/**
 * Decides when a persistent replica checkpoints its state (see state-checkpoint.ts), and writes the
 * checkpoints that come due as ops apply in the background, so no single turn of the event loop
 * encodes thousands of keys.
 *
 * Checkpoints go by generations: a generation lists the keys changed while it is current, and a due
 * checkpoint takes the state's vector and the current generation at once (starting the next), then
 * encodes the generation's keys a slice per turn (a share of the loop's time, at most `sliceKeys`
 * keys) and commits them through the log when done. Each entry's mark (KeyEntry.checkpointMark)
 * says where it stands: the generation that last listed it, or minus the generation whose
 * checkpoint has encoded it. An op about to change an entry the checkpoint under way has still to
 * encode has it encoded first, as it was (copy on write), so the checkpoint holds exactly the state
 * at its vector. The commit is appended after every op of its vector. A change of the state without
 * an op (a collection, an install) abandons a checkpoint under way and takes a whole one at once,
 * with its own commit.
 */
export class Checkpointer {
  readonly #state: ReplicaState;
  readonly #log: OpLog;
  readonly #policy: CheckpointPolicy;
  readonly #onFailure: (error: unknown) => void;
  /** The current generation: entries marked with it are listed in #dirty. */
  #generation = 1;
  /** Keys the current generation changed. */
  #dirty: ListedKeys = [];
  /** Ops applied since the last checkpoint began. */
  #since: number;
  /** The vector of the last checkpoint known to be durable. */
  #durable: VersionVector;
  #segments: SegmentLayout;
  #pending: Pending | undefined;

  constructor(
    state: ReplicaState,
    log: OpLog,
    loaded: LoadedState,
    policy: CheckpointPolicy,
    onFailure: (error: unknown) => void,
  ) {
    this.#state = state;
    this.#log = log;
    this.#policy = policy;
    this.#onFailure = onFailure;
    this.#since = loaded.replayed;
    this.#durable = loaded.checkpoint;
    this.#segments = loaded.segments;
    this.#touchAll(loaded.replayedKeys, 2);
    state.watchChanges({
      beforeChange: (collection, key, entry, created) => this.#beforeChange(collection, key, entry, created),
      // Never listed again: a slice skips it, and the key stays as the last checkpoint has it.
      forgotten: (entry) => {
        entry.checkpointMark = 0;
      },
    });
  }

  /** The vector of the last durable checkpoint: the log must keep every op above it. */
  get floor(): VersionVector {
    return this.#durable;
  }

  /** True when the state is as the last checkpoint begun holds it. */
  get clean(): boolean {
    return this.#since === 0 && this.#dirty.length === 0 && this.#pending === undefined;
  }

  /**
   * Marks a key changed without an op (ops are seen through ReplicaState.watchChanges). Abandon a
   * checkpoint under way before such a change: it may need the key as it was.
   */
  touch(collection: string, key: string): void {
    const entry = this.#state.keyEntry(collection, key);
    if (entry === undefined) this.#dirty.push(collection, key, undefined);
    else this.#list(collection, key, entry);
  }

  /** Called after `count` ops applied; begins a checkpoint when one is due. */
  applied(count: number): void {
    this.#since += count;
    if (this.#pending !== undefined) return;
    if (this.#since >= this.#due()) this.#begin();
  }

  /** Ops between checkpoints: a large state waits longer, so opening replays at most as many. */
  #due(): number {
    return Math.max(this.#policy.checkpointOps, Math.min(this.#state.keyCount >>> 4, MAX_CHECKPOINT_OPS));
  }

  /**
   * A whole checkpoint now, for a commit to carry: abandons one under way, then takes every dirty
   * key as the state holds it and the state's vectors. Call checkpointed(vector) once it is durable.
   */
  takeNow(): { writes: StoreWrite[]; vector: VersionVector } {
    this.abandon();
    // A compaction only of a small state: encoding a large one in one turn would stall the node
    // (background checkpoints compact it, a slice at a time).
    const compaction =
      this.#state.keyCount <= COMPACT_AT_ONCE_KEYS &&
      this.#segments.compactionDue(this.#state.keyCount, this.#policy.compactionMinKeys);
    const segments = new SegmentPacker(compaction);
    const taken = -this.#generation;
    if (compaction) {
      for (const [collection, key, entry] of this.#state.keyEntries()) {
        segments.add(collection, key, entry);
        entry.checkpointMark = taken;
      }
    } else {
      // Every key listed, whatever its mark: an install may have replaced an entry listed before.
      const keys = this.#dirty;
      for (let i = 0; i < keys.length; i += 3) {
        const collection = keys[i] as string;
        const key = keys[i + 1] as string;
        const entry = this.#state.keyEntry(collection, key);
        if (entry?.checkpointMark === taken) continue;
        segments.add(collection, key, entry);
        if (entry) entry.checkpointMark = taken;
      }
    }
    const writes = this.#segments.writes(segments);
    const vector = this.#state.versionVector;
    for (const write of checkpointMeta(vector, this.#state.collectedBelow)) writes.push(write);
    this.#generation++;
    this.#dirty = [];
    this.#since = 0;
    return { writes, vector };
  }

  /** A checkpoint at `vector` became durable. */
  checkpointed(vector: VersionVector): void {
    if (vector.dominates(this.#durable)) this.#durable = vector;
  }

  /** Gives up a checkpoint under way: the keys of its generation are dirty again. */
  abandon(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (pending.timer !== undefined) timers.clearTimeout(pending.timer);
    // Ends the walk of the state's keys: a KeyTable keeps its holes while an iteration is under way.
    pending.walk?.return?.();
    this.#touchAll(pending.keys, 3);
  }

  /** Starts over from what a reload found (after a failed commit; the state holds it now). */
  reset(loaded: LoadedState): void {
    this.abandon();
    this.#generation++;
    this.#dirty = [];
    this.#touchAll(loaded.replayedKeys, 2);
    this.#since = loaded.replayed;
    this.#durable = loaded.checkpoint;
    this.#segments = loaded.segments;
  }

  /** Touches each key of a list of `stride` items a key, collection and key first. */
  #touchAll(keys: readonly unknown[], stride: number): void {
    for (let i = 0; i < keys.length; i += stride) this.touch(keys[i] as string, keys[i + 1] as string);
  }

  /** Lists a key in the current generation, unless it is already. */
  #list(collection: string, key: string, entry: KeyEntry): void {
    if (entry.checkpointMark === this.#generation) return;
    entry.checkpointMark = this.#generation;
    this.#dirty.push(collection, key, entry);
  }

  /** ReplicaState's watcher: an op is about to change `entry`. */
  #beforeChange(collection: string, key: string, entry: KeyEntry, created: boolean): void {
    // Changed already in this generation: the common case of a key written again.
    if (entry.checkpointMark === this.#generation) return;
    const pending = this.#pending;
    if (pending !== undefined && !created && this.#needs(pending, entry))
      pending.segments.add(collection, key, entry);
    this.#list(collection, key, entry);
  }

  /** True when `pending` has yet to encode an entry that existed when it began. */
  #needs(pending: Pending, entry: KeyEntry): boolean {
    const mark = entry.checkpointMark;
    // Listed in the current generation: encoded already, or created since it began.
    if (pending.walk === undefined) return mark === pending.generation;
    return mark !== this.#generation && mark !== -pending.generation;
  }

  #begin(): void {
    const compaction = this.#segments.compactionDue(this.#state.keyCount, this.#policy.compactionMinKeys);
    const pending: Pending = {
      generation: this.#generation,
      vector: this.#state.versionVector,
      collected: this.#state.collectedBelow,
      keys: this.#dirty,
      next: 0,
      walk: compaction ? this.#state.keyEntries() : undefined,
      segments: new SegmentPacker(compaction),
      timer: undefined,
      sliceEnded: timers.performance.now(),
    };
    this.#generation++;
    this.#dirty = [];
    this.#since = 0;
    this.#pending = pending;
    // Never now: this runs while the log admits an append, and the checkpoint's own append must
    // come after it.
    pending.timer = timers.setTimeout(() => this.#slice(pending), 0);
  }

  /**
   * Encodes a slice of the pending checkpoint's keys, and the segments they fill; commits it once
   * every key is encoded.
   */
  #slice(pending: Pending): void {
    pending.timer = undefined;
    if (this.#pending !== pending) return;
    const start = timers.performance.now();
    // Writes outpacing the checkpoint (as many ops since it began as a checkpoint waits for) widen
    // the share, so a checkpoint falls less far behind a burst of writes.
    const share = Math.min(SLICE_SHARE.base * Math.max(1, this.#since / this.#due()), SLICE_SHARE.max);
    const budget = Math.min(Math.max((start - pending.sliceEnded) * share, SLICE_MS.min), SLICE_MS.max);
    if (!this.#encodeSome(pending, this.#policy.sliceKeys, start + budget)) {
      pending.segments.pack();
      pending.sliceEnded = timers.performance.now();
      pending.timer = timers.setTimeout(() => this.#slice(pending), 0);
      return;
    }
    this.#pending = undefined;
    const writes = this.#segments.writes(pending.segments);
    for (const write of checkpointMeta(pending.vector, pending.collected)) writes.push(write);
    // Appended after every op of its vector (each was admitted before it began).
    this.#log.append([], { writes }).then(() => this.checkpointed(pending.vector), this.#onFailure);
    // Writes that outpaced this one have made the next one due already: it need not wait for more.
    if (this.#since >= this.#due()) this.#begin();
  }

  /**
   * Encodes the pending checkpoint's keys, each as the state holds it, marking it encoded: up to
   * `max` keys, or until the host clock passes `until`. True once every key is.
   */
  #encodeSome(pending: Pending, max: number, until: number): boolean {
    const { segments, walk } = pending;
    const encoded = -pending.generation;
    // The clock is read every few keys: a key takes about a microsecond.
    for (let count = 0; ; count++) {
      if (count >= max || ((count & 15) === 15 && timers.performance.now() > until)) return false;
      if (walk !== undefined) {
        const next = walk.next();
        if (next.done) return true;
        const [collection, key, entry] = next.value;
        if (!this.#needs(pending, entry)) continue;
        segments.add(collection, key, entry);
        entry.checkpointMark = encoded;
        continue;
      }
      const keys = pending.keys;
      if (pending.next >= keys.length) return true;
      const collection = keys[pending.next] as string;
      const key = keys[pending.next + 1] as string;
      // The entry as listed: only a change without an op replaces one, and abandons this first.
      const entry = keys[pending.next + 2] as KeyEntry | undefined;
      pending.next += 3;
      // Listed without an entry (the state held none when it was listed): it holds nothing.
      if (entry === undefined) segments.add(collection, key, undefined);
      else if (this.#needs(pending, entry)) {
        segments.add(collection, key, entry);
        entry.checkpointMark = encoded;
      }
    }
  }
}
