/**
 * The replicas the types tests write through: explicit clocks, 'votes' in multi-value mode, and
 * every conflict each one reports recorded.
 */
import type { ConflictEvent } from '@driftless/crdt';
import { ExplicitReplica } from './explicit-replica.js';

/** A replica that writes with explicit clocks and records the conflicts it reports. */
export class Replica extends ExplicitReplica {
  readonly conflicts: ConflictEvent[] = [];

  constructor(id: string) {
    super(id);
    this.state.setCollectionMode('votes', 'mv');
    this.state.onConflict((event) => this.conflicts.push(event));
  }
}

/** Replicas 'a' and 'b'. */
export function replicas(): [Replica, Replica] {
  return [new Replica('a'), new Replica('b')];
}

export { DEL, incr, patch, set } from './explicit-replica.js';
