import type { VersionVector } from '@driftless/core';
import type { KeyEntry } from './key-entry.js';
import type { SegmentPacker } from './state-segments.js';

// What the Checkpointer (checkpointer.ts) is tuned by, and the checkpoints it has under way.

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
export const timers = globalThis as unknown as {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  performance: { now(): number };
};

/**
 * The share of the event loop's time a background checkpoint of cells takes: each slice may last
 * this share of the time since the previous one ended (within SLICE_MS), more while writes outpace
 * it (see Checkpointer#slice). At 10k writes/s between two node processes, slices of 256 keys
 * (0.5–1.5 ms each) put p99 replication latency at 7.8–8.0 ms, a share of 0.2 at 6.0–8.9 ms, of
 * 0.05 at 3.9–4.7 ms, and without checkpoints it was 2.6–3.2 ms: spreading a checkpoint's encoding
 * (and the garbage it makes) over more time matters more than how long each slice lasts. Under a
 * burst a checkpoint of cells lags, and catches up once the burst ends: letting it take up to half
 * the loop kept it closer but cost a third of the throughput of 1M writes between two nodes
 * (81k–115k ops/s against 124k–160k at a tenth; a checkpoint of fresh keys costs about 1.5–2.5 µs a
 * key there, GC included). A burst of fresh keys is checkpointed as ops now (entry-capture.ts).
 */
export const SLICE_SHARE = { base: 0.05, max: 0.1 };
export const SLICE_MS = { min: 0.02, max: 2 };

/** A state of at most this many keys may be compacted by a whole checkpoint at once (about 0.5 ms). */
export const COMPACT_AT_ONCE_KEYS = 256;

/** A large state waits at most this many ops between checkpoints, so opening replays at most as many. */
export const MAX_CHECKPOINT_OPS = 1 << 17;

/**
 * Keys a generation changed, in the order first changed, each with its entry when it had one:
 * collection, key, entry, collection, key, entry, … A list, not a set: each entry carries the
 * generation that last listed it (KeyEntry.checkpointMark), so a key changed again is not listed
 * again, at the cost of a field read where a set cost two hash lookups an op (7–16 % of a node's
 * time under a burst of fresh keys); and a slice encodes the entry listed without looking the key
 * up again. A key without an entry (dropped by a change without an op) may be listed more than once.
 */
export type ListedKeys = (string | KeyEntry | undefined)[];

/** A checkpoint being encoded a slice at a time. */
export interface Pending {
  readonly kind: 'cells';
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
 * A checkpoint that stores its generation's ops as the log entries hold them (entry-capture.ts),
 * waiting for those entries to be durable.
 */
export interface PendingOps {
  readonly kind: 'ops';
  /** The vector the previous checkpoint began at: its generation's ops are those above it. */
  readonly from: VersionVector;
  readonly vector: VersionVector;
  readonly collected: VersionVector;
  /** The keys its generation changed, dirty again if it is abandoned. */
  readonly keys: ListedKeys;
  timer: unknown;
}
