import type { OpLog, StoreWrite, VersionVector } from '@driftless/core';
import type { ReplicaState } from './replica-state.js';
import { checkpointMeta, DirtyKeys, entryOf, KeyList, type LoadedState } from './state-checkpoint.js';
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

/** A checkpoint being encoded a slice at a time. */
interface Pending {
  /** The state's vectors when it began: its entries hold exactly these ops. */
  readonly vector: VersionVector;
  readonly collected: VersionVector;
  /** Keys still to encode: none has changed since it began (touch encodes a key before it does). */
  readonly remaining: DirtyKeys;
  /** Keys encoded so far, given back to the dirty set if the checkpoint is abandoned. */
  readonly encoded: KeyList;
  /** The entries encoded so far; a compaction's (see SegmentLayout.compactionDue) has every key. */
  readonly segments: SegmentPacker;
  timer: unknown;
  /** When the last slice ended (the host clock, ms). */
  sliceEnded: number;
}

/**
 * Decides when a persistent replica checkpoints its state (see state-checkpoint.ts), and writes the
 * checkpoints that come due as ops apply in the background, so no single turn of the event loop
 * encodes thousands of keys: a due checkpoint takes the state's vector and its dirty keys at once,
 * encodes them a slice per turn (a share of the loop's time, at most `sliceKeys` keys), and commits
 * them through the log when done. An op about to change a key not yet encoded has it encoded first,
 * as it was (copy on write), so the checkpoint still holds exactly the state at its vector. The
 * commit is appended after every op of its vector. A change of the state without an op (a
 * collection, an install) abandons a checkpoint under way and takes a whole one at once, with its
 * own commit.
 */
export class Checkpointer {
  readonly #state: ReplicaState;
  readonly #log: OpLog;
  readonly #policy: CheckpointPolicy;
  readonly #onFailure: (error: unknown) => void;
  /** Keys changed since the last checkpoint began. */
  #dirty: DirtyKeys;
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
    this.#dirty = loaded.dirty;
    this.#since = loaded.replayed;
    this.#durable = loaded.checkpoint;
    this.#segments = loaded.segments;
  }

  /** The vector of the last durable checkpoint: the log must keep every op above it. */
  get floor(): VersionVector {
    return this.#durable;
  }

  /** True when the state is as the last checkpoint begun holds it. */
  get clean(): boolean {
    return this.#since === 0 && this.#dirty.count === 0 && this.#pending === undefined;
  }

  /** Called before an op changes a key. */
  touch(collection: string, key: string): void {
    const pending = this.#pending;
    if (pending?.remaining.delete(collection, key)) {
      pending.segments.add(entryOf(this.#state, collection, key));
      pending.encoded.push(collection, key);
    }
    this.#dirty.add(collection, key);
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
    this.#keysToWrite(compaction).take(this.#state, segments);
    const writes = this.#segments.writes(segments);
    const vector = this.#state.versionVector;
    for (const write of checkpointMeta(vector, this.#state.collectedBelow)) writes.push(write);
    this.#dirty = new DirtyKeys();
    this.#since = 0;
    return { writes, vector };
  }

  /** A checkpoint at `vector` became durable. */
  checkpointed(vector: VersionVector): void {
    if (vector.dominates(this.#durable)) this.#durable = vector;
  }

  /** Gives up a checkpoint under way: its keys are dirty again. */
  abandon(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (pending.timer !== undefined) timers.clearTimeout(pending.timer);
    this.#dirty.addAll(pending.remaining);
    this.#dirty.addAll(pending.encoded);
  }

  /** Starts over from what a reload found (after a failed commit). */
  reset(loaded: LoadedState): void {
    this.abandon();
    this.#dirty = loaded.dirty;
    this.#since = loaded.replayed;
    this.#durable = loaded.checkpoint;
    this.#segments = loaded.segments;
  }

  /**
   * The dirty keys, and in a compaction every key too (a dirty key the state no longer holds then
   * needs no entry, but goes back to the dirty set if the checkpoint is abandoned).
   */
  #keysToWrite(compaction: boolean): DirtyKeys {
    if (!compaction) return this.#dirty;
    const keys = DirtyKeys.all(this.#state);
    keys.addAll(this.#dirty);
    return keys;
  }

  #begin(): void {
    const compaction = this.#segments.compactionDue(this.#state.keyCount, this.#policy.compactionMinKeys);
    const pending: Pending = {
      vector: this.#state.versionVector,
      collected: this.#state.collectedBelow,
      remaining: this.#keysToWrite(compaction),
      encoded: new KeyList(),
      segments: new SegmentPacker(compaction),
      timer: undefined,
      sliceEnded: timers.performance.now(),
    };
    this.#dirty = new DirtyKeys();
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
    pending.remaining.take(this.#state, pending.segments, {
      max: this.#policy.sliceKeys,
      until: start + budget,
      taken: pending.encoded,
    });
    if (pending.remaining.count > 0) {
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
}
