import type { Dot, Hlc, Op, VersionVector } from '@driftless/core';

/**
 * The total order of writes: by hybrid logical clock, then origin, then seq. Every
 * last-writer-wins decision in Driftless uses it, so every replica makes the same one.
 */
export interface Stamp extends Dot {
  readonly hlc: Hlc;
}

/** Negative when `a` is older than `b`, positive when newer, 0 for the same write. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.hlc !== b.hlc) return a.hlc - b.hlc;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}

/** The stamp of an op. */
export function stampOf(op: Op): Stamp {
  return { hlc: op.hlc, origin: op.origin, seq: op.seq };
}

/** True when `a` and `b` are the same dot. */
export function sameDot(a: Dot, b: Dot): boolean {
  return a.seq === b.seq && a.origin === b.origin;
}

/** True when `dots` holds `dot`. */
export function hasDot(dots: readonly Dot[], dot: Dot): boolean {
  for (const d of dots) if (d.seq === dot.seq && d.origin === dot.origin) return true;
  return false;
}

/**
 * The join of two sets of live dots, given what each side has seen (its version vector): a dot
 * survives if both hold it, or if the side without it never saw it (so it did not remove it).
 */
export function joinDots<T extends Dot>(
  a: readonly T[],
  b: readonly T[],
  seenA: VersionVector,
  seenB: VersionVector,
): T[] {
  const joined: T[] = [];
  for (const dot of a) if (hasDot(b, dot) || !seenB.includes(dot.origin, dot.seq)) joined.push(dot);
  for (const dot of b) if (!hasDot(a, dot) && !seenA.includes(dot.origin, dot.seq)) joined.push(dot);
  return joined.sort(compareDotOrder);
}

/** Orders dots by origin, then seq: the canonical order in snapshots and digests. */
export function compareDotOrder(a: Dot, b: Dot): number {
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  return a.seq - b.seq;
}
