import type { OpLog, StoreWrite, VersionVector } from '@driftless/core';
import {
  type CheckpointPolicy,
  COMPACT_AT_ONCE_KEYS,
  type ListedKeys,
  MAX_CHECKPOINT_OPS,
  type Pending,
  type PendingOps,
  SLICE_MS,
  SLICE_SHARE,
  timers,
} from './checkpoint-pending.js';
import { EntryCapture } from './entry-capture.js';
import type { KeyEntry } from './key-entry.js';
import type { ReplicaState } from './replica-state.js';
import { checkpointMeta, type LoadedState } from './state-checkpoint.js';
import { type SegmentLayout, SegmentPacker } from './state-segments.js';

export type { CheckpointPolicy } from './checkpoint-pending.js';

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
 *
 * A generation that mostly wrote keys once is checkpointed as its ops instead (entry-capture.ts):
 * the log entries made durable since it began, held by reference, committed as segments of ops
 * once every op of its vector is durable. Nothing is encoded per key, so nothing needs slicing.
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
  #pending: Pending | PendingOps | undefined;
  /**
   * The vector the current generation began at, while every change since came from an op: its
   * checkpoint may then store those ops as the log holds them. Undefined after a change without an
   * op, and after opening (the ops replayed came from the log, not through this process's commits).
   */
  #from: VersionVector | undefined;
  /** The durable log entries since #from (or since the pending checkpoint's `from`). */
  readonly #capture = new EntryCapture();

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
    log.onAppend((chunk) => {
      if (this.#from === undefined && this.#pending?.kind !== 'ops') return;
      this.#capture.add(chunk);
      this.#awaitOps();
    });
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
    // No checkpoint of ops can hold this change (and one under way needs the capture it clears).
    if (this.#pending?.kind === 'ops') this.abandon();
    this.#noOpsSince();
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
    this.#capture.clear();
    this.#from = vector;
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
    if (pending.kind === 'cells') pending.walk?.return?.();
    this.#touchAll(pending.keys, 3);
    this.#noOpsSince();
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
    this.#noOpsSince();
  }

  /** A change without an op (or ops this process did not commit): the next checkpoint takes cells. */
  #noOpsSince(): void {
    this.#from = undefined;
    this.#capture.clear();
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
    if (pending?.kind === 'cells' && !created && this.#needs(pending, entry))
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
    const from = this.#from;
    const vector = this.#state.versionVector;
    this.#from = vector;
    // Ops, when the generation's ops are all in the capture and about as many as the keys they
    // changed (mostly keys written once): cells would encode each key's state again.
    if (
      !compaction &&
      from !== undefined &&
      !this.#capture.overflowed &&
      (this.#dirty.length / 3) * 2 >= this.#since
    ) {
      this.#pending = {
        kind: 'ops',
        from,
        vector,
        collected: this.#state.collectedBelow,
        keys: this.#dirty,
        timer: undefined,
      };
      this.#generation++;
      this.#dirty = [];
      this.#since = 0;
      this.#awaitOps();
      return;
    }
    // Cells: the entries captured so far matter only to the generation starting now.
    this.#capture.clear();
    const pending: Pending = {
      kind: 'cells',
      generation: this.#generation,
      vector,
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

  /** Has a pending checkpoint of ops committed once the capture holds its ops, or taken as cells. */
  #awaitOps(): void {
    const pending = this.#pending;
    if (pending?.kind !== 'ops' || pending.timer !== undefined) return;
    if (this.#capture.overflowed || !this.#capture.startsBy(pending.from, pending.vector)) {
      // Too many bytes to hold (or, never expected, ops from before the capture): cells instead.
      this.abandon();
      this.#begin();
    } else if (this.#capture.covers(pending.from, pending.vector)) {
      // Never now: #begin runs while the log admits an append.
      pending.timer = timers.setTimeout(() => this.#commitOps(pending), 0);
    }
  }

  /** Commits a checkpoint of ops, once every entry of its generation is durable (and captured). */
  #commitOps(pending: PendingOps): void {
    pending.timer = undefined;
    if (this.#pending !== pending) return;
    this.#pending = undefined;
    const { segments, ops } = this.#capture.segments(pending.from, pending.vector);
    const writes = this.#segments.opsWrites(segments, ops);
    for (const write of checkpointMeta(pending.vector, pending.collected)) writes.push(write);
    this.#log.append([], { writes }).then(() => this.checkpointed(pending.vector), this.#onFailure);
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
