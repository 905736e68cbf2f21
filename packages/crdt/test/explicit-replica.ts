/**
 * What the CRDT rule tests write through: a replica whose writes carry the HLC the test gives
 * them, and the intents they write in short. The docs' examples (conflicts-doc-fixtures.ts), the
 * types tests (types-fixtures.ts) and the Yjs tests (yjs-fixtures.ts) each add what they read.
 */
import type { Op, Value } from '@driftless/core';
import { type Intent, ReplicaState } from '@driftless/crdt';

/** A replica that writes with explicit clocks. */
export class ExplicitReplica {
  state = new ReplicaState();
  #seq = 0;

  constructor(readonly id: string) {}

  /**
   * Prepares `intent` against this replica's state, applies it here, and returns the op. A write
   * that prepare refuses takes no seq.
   */
  write(key: string, intent: Intent, hlc: number, collection = 'docs'): Op {
    const write = this.state.prepare(collection, key, intent);
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...write };
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

/** A set intent. */
export const set = (value: Value): Intent => ({ kind: 'set', value });
/** A patch intent (a JSON merge patch). */
export const patch = (fields: Record<string, Value>): Intent => ({ kind: 'patch', patch: fields });
/** An incr intent. */
export const incr = (delta: number): Intent => ({ kind: 'incr', delta });
/** An add intent. */
export const add = (element: Value): Intent => ({ kind: 'add', element });
/** A remove intent. */
export const remove = (element: Value): Intent => ({ kind: 'remove', element });
/** A del intent. */
export const DEL: Intent = { kind: 'del' };
