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

/** A replica: its state, the origin, seq and clock it writes with, and the ops it received. */
class DriftlessReplica implements Replica<Op> {
  readonly #state: ReplicaState;
  readonly #origin: string;
  readonly #clock = new HybridLogicalClock();
  #seq = 0;
  /**
   * The lists of ops received here (held by the caller anyway). Ops written here are not kept, so
   * that figure 4 measures the state alone: a writer has no catch-up figure.
   */
  readonly #received: (readonly Op[])[];

  constructor(origin: string, state = new ReplicaState(), received: (readonly Op[])[] = []) {
    this.#origin = origin;
    this.#state = state;
    this.#received = received;
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
    this.#received.push(ops);
  }

  read(key: string): unknown {
    return this.#state.get(CRDT_COLLECTION, key)?.value;
  }

  fingerprint(): string {
    if (this.#state.rejectedOps > 0) throw new Error(`${this.#state.rejectedOps} ops were rejected`);
    return this.#state.digest();
  }

  /**
   * The compacted delta of every op received here: what a new replica, lacking all of them,
   * applies. Checked before it counts: a new replica that applies it must match this one.
   */
  stateBytes(): number {
    if (this.#seq > 0) throw new Error('Driftless: catch-up bytes are measured on receiving replicas only');
    const delta = this.#state.delta(this.#received.flat());
    const caughtUp = new ReplicaState();
    caughtUp.applyDelta(delta);
    if (caughtUp.digest() !== this.fingerprint())
      throw new Error('Driftless: a new replica that applied the delta does not match the replica');
    return delta.length;
  }

  snapshotBytes(): number {
    return this.#state.snapshot().length;
  }

  copy(): DriftlessReplica {
    return new DriftlessReplica(this.#origin, ReplicaState.restore(this.#state.snapshot()), [
      ...this.#received,
    ]);
  }
}

/** Driftless: writer w writes as origin `r<w>`; ops travel in encodeOps batches of 1,000. */
export const driftless: Contender<Op> = {
  name: 'Driftless',
  open: (writer) => new DriftlessReplica(`r${writer}`),
  wireBytes: (ops) => chunk(ops, BATCH_OPS).reduce((sum, batch) => sum + encodeOps(batch).length, 0),
};
