import type { Hlc } from './hlc.js';
import type { Value } from './value.js';

/** The identity of an op: the node that wrote it and its position in that node's sequence. */
export interface Dot {
  readonly origin: string;
  /** 1, 2, 3, … contiguous per origin. */
  readonly seq: number;
}

/**
 * The seq and timestamp of an op: enough to tell apart two ops that claim the same dot. A node that
 * lost its data and wrote again under the same id gives its new writes the seqs of the ops it lost,
 * with later timestamps; replication compares tips to catch it (the sync package's origin-check.ts).
 */
export interface OpTip {
  readonly seq: number;
  readonly hlc: number;
}

/** A write as the caller states it, before the op log gives it a dot and a timestamp. */
export interface Write {
  readonly collection: string;
  readonly key: string;
  /** What the write does; its meaning belongs to the conflict-resolution layer. */
  readonly mutation: Value;
}

/** One operation: a write with its dot and hybrid logical clock timestamp. Written once, at its origin. */
export interface Op extends Dot, Write {
  readonly hlc: Hlc;
}

/** Compares two dots by origin, then seq. */
export function compareDots(a: Dot, b: Dot): number {
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}

/** `origin:seq`, for logs and error messages. */
export function formatDot(dot: Dot): string {
  return `${dot.origin}:${dot.seq}`;
}
