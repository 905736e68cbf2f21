/**
 * What the examples of docs/CONFLICTS.md are written with (conflicts-doc-*.test.ts, one test per
 * example, named `<section> › <example>` after the page).
 * Every example is two replicas, A (origin 'a') and B (origin 'b'): they may share some ops, then
 * each writes while apart, then each receives the other's ops (so A applies A's ops before B's and
 * B the reverse: both orders of arrival), and both must read the same and hold the same digest.
 * Ops are written as the page writes them: `a2@200` is origin a, seq 2, HLC 200. HLCs are small
 * numbers chosen so that a write made after receiving another has the greater one, as a real
 * hybrid logical clock guarantees.
 */
import type { Op } from '@driftless/core';
import { type ConflictEvent, type ConflictKind, ReplicaState, type Stamp } from '@driftless/crdt';
import { expect } from 'vitest';
import { ExplicitReplica } from './explicit-replica.js';

/** A replica that writes with explicit clocks and records every conflict event it reports. */
export class Replica extends ExplicitReplica {
  readonly events: ConflictEvent[] = [];

  constructor(id: string) {
    super(id);
    this.#configure();
  }

  /** Replaces this replica's state by a restored snapshot, as a re-bootstrap does. */
  restoreFrom(snapshot: Uint8Array): void {
    this.state = ReplicaState.restore(snapshot);
    this.#configure();
  }

  #configure(): void {
    this.state.setCollectionMode('votes', 'mv');
    // Stamps copied field by field: a siblings event's loser is the sibling itself, value included.
    this.state.onConflict(({ collection, key, kind, winner, loser }) =>
      this.events.push({ collection, key, kind, winner: stampOnly(winner), loser: stampOnly(loser) }),
    );
  }
}

function stampOnly({ hlc, origin, seq }: Stamp): Stamp {
  return { hlc, origin, seq };
}

/** Replicas A and B, origins 'a' and 'b'. */
export function replicas(): [Replica, Replica] {
  return [new Replica('a'), new Replica('b')];
}

/** Each replica receives the other's ops after its own; then both hold the same state. */
export function sync(a: Replica, fromA: Op[], b: Replica, fromB: Op[]): void {
  a.receive(...fromB);
  b.receive(...fromA);
  expect(a.state.digest()).toBe(b.state.digest());
}

/** A stamp in the page's notation: 'b1@300' is origin b, seq 1, HLC 300. */
function stamp(text: string): { origin: string; seq: number; hlc: number } {
  const match = /^([a-z]+)(\d+)@(\d+)$/.exec(text);
  if (!match) throw new Error(`not a stamp: ${text}`);
  return { origin: match[1] as string, seq: Number(match[2]), hlc: Number(match[3]) };
}

/** A conflict event in the page's notation: `event('overwrite', 'b1@300', 'a2@200')`. */
export function event(kind: ConflictKind, winner: string, loser: string, key = 'k', collection = 'docs') {
  return { collection, key, kind, winner: stamp(winner), loser: stamp(loser) };
}

export { add, DEL, incr, patch, remove, set } from './explicit-replica.js';
/** A collection's conflictCounts() with nothing counted. */
export const NO_CONFLICTS = { overwrite: 0, discarded: 0, siblings: 0, type: 0 };
