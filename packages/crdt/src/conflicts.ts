import type { Op } from '@driftless/core';
import type { Stamp } from './stamp.js';
import type { ConflictKind, ConflictSink } from './types/crdt-type.js';

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

/**
 * A replica's conflicts: counted per collection and told to listeners, once the op that met them
 * has applied (an op refused midway reports none).
 */
export class ConflictTally {
  readonly counts = new Map<string, ConflictCounts>();
  readonly #listeners = new Set<(event: ConflictEvent) => void>();
  /** The op being applied, and the conflicts it met: one sink for every op, not a closure each. */
  #op: Op | undefined;
  #stamp: Stamp | undefined;
  #events: ConflictEvent[] | undefined;
  readonly sink: ConflictSink = (kind, winner, loser) => {
    const op = this.#op as Op;
    const stamp = this.#stamp as Stamp;
    this.#events ??= [];
    this.#events.push({
      collection: op.collection,
      key: op.key,
      kind,
      winner: winner ?? stamp,
      loser: loser ?? stamp,
    });
  };

  /** Calls `listener` with every conflict reported from now on. Returns the unsubscribe function. */
  listen(listener: (event: ConflictEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts collecting what `op`, stamped `stamp`, meets through `sink`. */
  begin(op: Op, stamp: Stamp): void {
    this.#op = op;
    this.#stamp = stamp;
    this.#events = undefined;
  }

  /** Counts and reports what the op begun met: it has applied. */
  applied(): void {
    const events = this.#events;
    this.#events = undefined;
    if (events) for (const event of events) this.#report(event);
  }

  #report(event: ConflictEvent): void {
    let counts = this.counts.get(event.collection);
    if (!counts) {
      counts = zeroCounts();
      this.counts.set(event.collection, counts);
    }
    counts[event.kind]++;
    for (const listener of this.#listeners) listener(event);
  }
}
