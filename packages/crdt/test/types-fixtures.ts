/**
 * The replicas the types tests write through: explicit clocks, 'votes' in multi-value mode, and
 * every conflict each one reports recorded.
 */
import type { Op, Value } from '@driftless/core';
import { type ConflictEvent, type Intent, ReplicaState } from '@driftless/crdt';

/** A replica that writes with explicit clocks and records the conflicts it reports. */
export class Replica {
  readonly state = new ReplicaState();
  readonly conflicts: ConflictEvent[] = [];
  #seq = 0;

  constructor(readonly id: string) {
    this.state.setCollectionMode('votes', 'mv');
    this.state.onConflict((event) => this.conflicts.push(event));
  }

  /** Prepares and applies a write here, and returns its op for the other replica. */
  write(key: string, intent: Intent, hlc: number, collection = 'docs'): Op {
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...this.state.prepare(collection, key, intent) };
    this.state.apply(op);
    return op;
  }

  receive(...ops: Op[]): void {
    for (const op of ops) this.state.apply(op);
  }

  read(key: string, collection = 'docs') {
    return this.state.get(collection, key);
  }
}

/** Replicas 'a' and 'b'. */
export function replicas(): [Replica, Replica] {
  return [new Replica('a'), new Replica('b')];
}

/** A set intent. */
export const set = (value: Value): Intent => ({ kind: 'set', value });
/** A patch intent (a JSON merge patch). */
export const patch = (fields: Record<string, Value>): Intent => ({ kind: 'patch', patch: fields });
/** An incr intent. */
export const incr = (delta: number): Intent => ({ kind: 'incr', delta });
/** A del intent. */
export const DEL: Intent = { kind: 'del' };
