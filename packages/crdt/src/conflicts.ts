import type { Stamp } from './stamp.js';
import type { ConflictKind } from './types/crdt-type.js';

/** A conflict resolved while applying an op: which write won and which lost (or stands beside it). */
export interface ConflictEvent {
  readonly collection: string;
  readonly key: string;
  readonly kind: ConflictKind;
  readonly winner: Stamp;
  readonly loser: Stamp;
}

/** Conflicts resolved in one collection, by kind. */
export type ConflictCounts = Record<ConflictKind, number>;

/** A fresh, zeroed set of counts. */
export function zeroCounts(): ConflictCounts {
  return { overwrite: 0, discarded: 0, siblings: 0, type: 0 };
}
