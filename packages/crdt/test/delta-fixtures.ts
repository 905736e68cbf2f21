/**
 * The replica the delta tests write through: it remembers every op it applied, so that a test can
 * send another replica exactly what it lacks, as ops or as a delta of them.
 */
import { DriftlessError, type Op } from '@driftless/core';
import { type Intent, ReplicaState } from '@driftless/crdt';

/** A fresh state with 'votes' in multi-value mode, as every replica here is configured. */
export function freshState(): ReplicaState {
  const state = new ReplicaState();
  state.setCollectionMode('votes', 'mv');
  return state;
}

/** A replica in memory that remembers every op it applied, in the order it applied them (a causal order). */
export class Replica {
  state = freshState();
  log: Op[] = [];
  #seq = 0;
  #hlc = 1_000_000;

  constructor(readonly id: string) {}

  /** Writes at this replica; undefined when the key holds another type. */
  write(collection: string, key: string, intent: Intent, hlc = ++this.#hlc): Op | undefined {
    let write: ReturnType<ReplicaState['prepare']>;
    try {
      write = this.state.prepare(collection, key, intent);
    } catch (error) {
      if (error instanceof DriftlessError && error.code === 'TYPE_CONFLICT') return undefined;
      throw error;
    }
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...write };
    this.state.apply(op);
    this.log.push(op);
    return op;
  }

  /** Applies ops (causally ready, in order); ops applied before are skipped. */
  receive(ops: readonly Op[]): void {
    for (const op of ops) if (this.state.apply(op)) this.log.push(op);
  }

  /** The ops applied here that `other` lacks, in the order applied here. */
  lacking(other: ReplicaState): Op[] {
    const vector = other.versionVector;
    return this.log.filter((op) => !vector.includes(op.origin, op.seq));
  }

  /** An independent replica with the same state and log. */
  clone(): Replica {
    const copy = new Replica(this.id);
    copy.state = ReplicaState.restore(this.state.snapshot());
    copy.state.setCollectionMode('votes', 'mv');
    copy.log = [...this.log];
    copy.#seq = this.#seq;
    copy.#hlc = this.#hlc;
    return copy;
  }
}

/** Everything that must not change when a join is refused: the snapshot bytes (state and both vectors). */
export function fingerprint(state: ReplicaState): string {
  return Buffer.from(state.snapshot()).toString('hex');
}
