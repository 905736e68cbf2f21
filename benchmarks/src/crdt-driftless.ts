import { encodeOps, HybridLogicalClock, type Op } from '@driftless/core';
import { ReplicaState } from '@driftless/crdt';
import type { Contender, Replica } from './crdt-contender.js';
import { BATCH_OPS, chunk } from './workload.js';

/**
 * Driftless as the CRDT benchmarks drive it: a ReplicaState per replica, ops built as the op log
 * builds them (prepare, then a dot and an HLC timestamp), the origin applying its own op too.
 */

/** The collection every benchmark key lives in. */
export const CRDT_COLLECTION = 'c';

/** A replica: its state, and the origin, seq and clock it writes with. */
class DriftlessReplica implements Replica<Op> {
  readonly #state: ReplicaState;
  readonly #origin: string;
  readonly #clock = new HybridLogicalClock();
  #seq = 0;

  constructor(origin: string, state = new ReplicaState()) {
    this.#origin = origin;
    this.#state = state;
  }

  set(key: string, value: number): Op {
    const write = this.#state.prepare(CRDT_COLLECTION, key, { kind: 'set', value });
    const op: Op = { origin: this.#origin, seq: ++this.#seq, hlc: this.#clock.now(), ...write };
    this.#state.apply(op);
    return op;
  }

  receive(ops: readonly Op[]): void {
    const state = this.#state;
    for (const op of ops) state.apply(op);
  }

  read(key: string): unknown {
    return this.#state.get(CRDT_COLLECTION, key)?.value;
  }

  fingerprint(): string {
    if (this.#state.rejectedOps > 0) throw new Error(`${this.#state.rejectedOps} ops were rejected`);
    return this.#state.digest();
  }

  /** The snapshot: the stand-in for a compacted delta until the sync layer has one. */
  stateBytes(): number {
    return this.#state.snapshot().length;
  }

  copy(): DriftlessReplica {
    return new DriftlessReplica(this.#origin, ReplicaState.restore(this.#state.snapshot()));
  }
}

/** Driftless: writer w writes as origin `r<w>`; ops travel in encodeOps batches of 1,000. */
export const driftless: Contender<Op> = {
  name: 'Driftless',
  open: (writer) => new DriftlessReplica(`r${writer}`),
  wireBytes: (ops) => chunk(ops, BATCH_OPS).reduce((sum, batch) => sum + encodeOps(batch).length, 0),
};
