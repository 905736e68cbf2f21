/**
 * A seeded simulation of replicas exchanging ops: every op is broadcast with random duplication,
 * reordering and delay; each receiver buffers an op until it is causally ready (its origin's
 * previous op and everything its writer had seen are applied), as the sync layer guarantees.
 */
import { HybridLogicalClock, type Op, type VersionVector } from '@driftless/core';
import { seededRandom } from '@driftless/core/testing';
import { type Intent, ReplicaState } from '@driftless/crdt';
import { type ModelOp, modelOp } from './reference-model.js';

export interface SimReplica {
  readonly id: string;
  state: ReplicaState;
  readonly clock: HybridLogicalClock;
  inbox: ModelOp[];
  seq: number;
}

export const COLLECTIONS = ['docs', 'votes'] as const;
const KEYS = ['k1', 'k2', 'k3', 'k4'];
const ELEMENTS = ['a', 'b', 'c', 1, 2];

export class NetworkSim {
  readonly random: () => number;
  readonly replicas: SimReplica[];
  /** Every op written, with its causal past: the reference model's input. */
  readonly history: ModelOp[] = [];
  #wall = Date.UTC(2026, 0, 1);

  constructor(seed: number, replicaCount: number) {
    this.random = seededRandom(seed);
    this.replicas = Array.from({ length: replicaCount }, (_, i) => {
      const skew = Math.floor(this.random() * 50);
      const replica: SimReplica = {
        id: `r${i}`,
        state: newState(),
        clock: new HybridLogicalClock({ now: () => this.#wall + skew, maxSkewMs: Number.MAX_SAFE_INTEGER }),
        inbox: [],
        seq: 0,
      };
      return replica;
    });
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  /** One random write at a random replica, if its intent does not conflict with the key's type there. */
  write(): void {
    this.#wall += Math.floor(this.random() * 3);
    const replica = this.pick(this.replicas);
    const collection = this.pick(COLLECTIONS);
    const key = this.pick(KEYS);
    const intent = this.#intent();
    let write: ReturnType<ReplicaState['prepare']>;
    try {
      write = replica.state.prepare(collection, key, intent);
    } catch (error) {
      if ((error as { code?: string }).code === 'TYPE_CONFLICT') return;
      throw error;
    }
    const op: Op = { origin: replica.id, seq: ++replica.seq, hlc: replica.clock.now(), ...write };
    const past = replica.state.versionVector.with(op.origin, op.seq);
    replica.state.apply(op);
    const message = modelOp(op, past);
    this.history.push(message);
    for (const other of this.replicas) {
      if (other === replica) continue;
      other.inbox.push(message);
      if (this.random() < 0.1) other.inbox.push(message); // duplicated
    }
  }

  #intent(): Intent {
    const roll = this.random();
    const element = this.pick(ELEMENTS);
    if (roll < 0.2) return { kind: 'set', value: Math.floor(this.random() * 100) };
    if (roll < 0.35) return { kind: 'patch', patch: this.#patch() };
    if (roll < 0.5) return { kind: 'incr', delta: Math.floor(this.random() * 11) - 5 || 1 };
    if (roll < 0.65) return { kind: 'add', element };
    if (roll < 0.75) return { kind: 'remove', element };
    return this.random() < 0.5 ? { kind: 'del' } : { kind: 'set', value: { nested: [this.pick(ELEMENTS)] } };
  }

  #patch(): Record<string, never> {
    const fields = ['a', 'b', 'c'];
    const patch: Record<string, unknown> = {};
    for (const field of fields) {
      const roll = this.random();
      if (roll < 0.3) patch[field] = Math.floor(this.random() * 10);
      else if (roll < 0.4) patch[field] = null;
      else if (roll < 0.55) patch[field] = { x: this.random() < 0.5 ? null : 1, y: this.pick(ELEMENTS) };
      else if (roll < 0.6) patch[field] = {};
    }
    return patch as Record<string, never>;
  }

  /** Delivers up to `count` random messages; unready ones go back to the inbox (delay). */
  deliver(count: number): void {
    for (let i = 0; i < count; i++) {
      const replica = this.pick(this.replicas);
      if (replica.inbox.length === 0) continue;
      const index = Math.floor(this.random() * replica.inbox.length);
      const message = replica.inbox[index] as ModelOp;
      if (!ready(replica.state.versionVector, message)) continue;
      replica.inbox.splice(index, 1);
      replica.state.apply(message.op);
    }
  }

  /** Delivers everything, in causal order. */
  drain(): void {
    let progress = true;
    while (progress) {
      progress = false;
      for (const replica of this.replicas) {
        for (let i = 0; i < replica.inbox.length; i++) {
          const message = replica.inbox[i] as ModelOp;
          const vector = replica.state.versionVector;
          if (vector.includes(message.op.origin, message.op.seq)) {
            replica.inbox.splice(i--, 1);
          } else if (ready(vector, message)) {
            replica.inbox.splice(i--, 1);
            replica.state.apply(message.op);
            progress = true;
          }
        }
      }
    }
  }

  /** A replica restarted from its own snapshot. */
  restart(): void {
    const replica = this.pick(this.replicas);
    replica.state = ReplicaState.restore(replica.state.snapshot());
    setModes(replica.state);
  }

  /**
   * A replica caught up by a compacted delta: another replica folds the ops the first lacks into
   * the state of the keys they touched, and the first applies it atomically.
   */
  deltaCatchUp(): void {
    const [target, source] = [this.pick(this.replicas), this.pick(this.replicas)];
    if (target === source) return;
    const have = target.state.versionVector;
    const known = source.state.versionVector;
    const lacking = this.history.filter(
      (m) => known.includes(m.op.origin, m.op.seq) && !have.includes(m.op.origin, m.op.seq),
    );
    target.state.applyDelta(source.state.delta(lacking.map((m) => m.op)));
  }

  /** A replica bootstrapped by joining another's state, as a far-behind replica would be. */
  bootstrap(): void {
    const [target, source] = [this.pick(this.replicas), this.pick(this.replicas)];
    if (target !== source) target.state.merge(source.state.snapshot());
  }
}

function ready(vector: VersionVector, message: ModelOp): boolean {
  const { origin, seq } = message.op;
  return vector.get(origin) === seq - 1 && dependenciesMet(vector, message);
}

function dependenciesMet(vector: VersionVector, message: ModelOp): boolean {
  for (const [origin, seq] of message.past.entries()) {
    const needed = origin === message.op.origin ? seq - 1 : seq;
    if (vector.get(origin) < needed) return false;
  }
  return true;
}

function newState(): ReplicaState {
  const state = new ReplicaState();
  setModes(state);
  return state;
}

function setModes(state: ReplicaState): void {
  state.setCollectionMode('votes', 'mv');
}
