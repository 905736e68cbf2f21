import { type Dot, hlcFromWall, type Op, type Value, VersionVector } from '@driftless/core';
import { encodeMutation, type Intent, type Mutation, ReplicaState } from '@driftless/crdt';
import type { Role } from '../src/index.js';
import { below, pick, type Random, randomValue } from './frame-mutations.js';

/**
 * What the fuzzer's peer writes: ops of its own origin continuing its seqs, relays of a third
 * origin and of the node's own ops (duplicates), on a few keys of a few types, with mutations
 * written against a mirror of the node's state as a real writer would (so keys stay small), and
 * sometimes with arbitrary `seen` dots as a confused one would.
 */

/** What the writer needs to know about the connection it writes for. */
export interface LinkState {
  readonly role: Role;
  /** What the node holds (or has taken on this connection). */
  readonly vector: VersionVector;
  /** The number the next OPS frame must carry. */
  readonly nextFrameNumber: number;
}

/** Collections the peer writes to. */
export const COLLECTIONS = ['a', 'b'];
/** Keys per collection: few, so the same keys are written again and again. */
export const KEYS = 12;

/** Writes ops; see the module comment. */
export class OpWriter {
  readonly nodeId: string;
  readonly self: string;
  /** A third origin whose ops the peer relays. */
  readonly relayed: string;
  /** The wall clock the node reads too (virtual, so a seed replays exactly). */
  readonly now: () => number;
  readonly #random: Random;
  /** The node's own ops, to relay back (as duplicates it must skip). */
  readonly #nodeOps: readonly Op[];
  /** A replica holding what the node holds, to write mutations against. */
  readonly #mirror: ReplicaState;
  #lastHlc = 0;

  constructor(options: {
    random: Random;
    nodeId: string;
    self: string;
    relayed: string;
    nodeOps: readonly Op[];
    mirror: ReplicaState;
    now: () => number;
  }) {
    this.#random = options.random;
    this.now = options.now;
    this.nodeId = options.nodeId;
    this.self = options.self;
    this.relayed = options.relayed;
    this.#nodeOps = options.nodeOps;
    this.#mirror = options.mirror;
  }

  /** `count` ops that continue the node's seqs, with duplicates and relays mixed in. */
  ops(link: LinkState, count: number): Op[] {
    const random = this.#random;
    const next = new Map<string, number>();
    const ops: Op[] = [];
    // (A state a peer forged may claim more of the node's ops than it wrote: relay only real ones.)
    const mine = Math.min(link.vector.get(this.nodeId), this.#nodeOps.length);
    for (let i = 0; i < count; i++) {
      const roll = random();
      if (roll < 0.06 && mine > 0) {
        // The node's own op relayed back: a duplicate, whatever it now says.
        const own = this.#nodeOps[below(random, mine)] as Op;
        ops.push(random() < 0.5 ? own : { ...own, mutation: [0, 'rewritten'] });
        continue;
      }
      const origin = roll < 0.75 && link.role !== 'replica' ? this.self : this.relayed;
      const held = link.vector.get(origin);
      if (roll > 0.95 && held > 0) {
        ops.push(this.op(origin, 1 + below(random, held), link.vector)); // a duplicate
        continue;
      }
      const seq = (next.get(origin) ?? held) + 1;
      next.set(origin, seq);
      ops.push(this.op(origin, seq, link.vector));
    }
    return ops;
  }

  /** An op of `origin` at `seq`, on one of a few keys, its mutation written against `vector`. */
  op(origin: string, seq: number, vector: VersionVector): Op {
    const random = this.#random;
    const collection = pick(random, COLLECTIONS);
    const key = `k${below(random, KEYS)}`;
    return {
      origin,
      seq,
      hlc: this.hlc(),
      collection,
      key,
      mutation: this.mutation(collection, key, vector),
    };
  }

  /** A timestamp: mostly now (never going back), sometimes far in the past. */
  hlc(): number {
    if (this.#random() < 0.05) return hlcFromWall(this.now() - below(this.#random, 1e9));
    this.#lastHlc = Math.max(this.#lastHlc + 1, hlcFromWall(this.now()));
    return this.#lastHlc;
  }

  /** A vector to ACK: part of `vector`, sometimes with an origin far ahead. */
  vector(vector: VersionVector): VersionVector {
    const random = this.#random;
    const entries = vector.entries().filter(() => random() < 0.7);
    if (random() < 0.2)
      entries.push([pick(random, ['w', this.nodeId, this.self]), 1 + below(random, 2 ** 40)]);
    return VersionVector.from(entries);
  }

  /**
   * A mutation as a writer that has seen the mirror's state would make (so keys stay small), each
   * key with its own type; sometimes one with arbitrary `seen` dots, of any kind, as a confused
   * writer would.
   */
  mutation(collection: string, key: string, vector: VersionVector): Value {
    const random = this.#random;
    const element = () => pick(random, ['e1', 'e2', 'e3', 1, null]) as Value;
    if (random() < 0.9) {
      const intents: Intent[] = [
        { kind: 'set', value: randomValue(random, 3) },
        { kind: 'patch', patch: { a: randomValue(random, 1), b: null, constructor: { prototype: 1 } } },
        { kind: 'incr', delta: pick(random, [1, -1, 7, 2 ** 52, -(2 ** 52), 2 ** 53 - 1]) },
        { kind: random() < 0.6 ? 'add' : 'remove', element: element() },
      ];
      const kind = Number(key.slice(1)) % (intents.length + 1);
      const intent = random() < 0.1 ? { kind: 'del' as const } : intents[kind];
      if (intent !== undefined) {
        try {
          return this.#mirror.prepare(collection, key, intent).mutation;
        } catch {
          return this.#mirror.prepare(collection, key, { kind: 'del' }).mutation;
        }
      }
    }
    const origins = vector.entries();
    const seen = (): Dot[] =>
      Array.from({ length: below(random, 3) }, () => {
        const [origin, seq] = origins.length > 0 ? pick(random, origins) : [this.self, 1];
        return { origin, seq: 1 + below(random, seq + 2) };
      });
    const kinds: (() => Mutation)[] = [
      () => ({ kind: 'set', value: randomValue(random, 3), seen: seen() }),
      () => ({ kind: 'mvset', value: randomValue(random, 1), seen: seen() }),
      () => ({ kind: 'patch', patch: { a: randomValue(random, 1) }, seen: seen() }),
      () => ({ kind: 'incr', delta: pick(random, [1, -1, 2 ** 53 - 1]) }),
      () => ({ kind: 'add', element: element(), seen: seen() }),
      () => ({ kind: 'remove', element: element(), seen: seen() }),
      () => ({
        kind: 'del',
        seen: seen(),
        counterSeen: [{ origin: this.self, up: below(random, 5), down: 0 }],
      }),
      () => ({
        kind: 'yjs',
        update: Uint8Array.from({ length: 1 + below(random, 24) }, () => below(random, 256)),
        base: seen(),
      }),
    ];
    return encodeMutation(pick(random, kinds)());
  }

  /** The mirror's state with a few new ops of this peer: a delta of those ops, or the whole state. */
  mirrorState(link: LinkState, kind: 'delta' | 'snapshot'): Uint8Array {
    const scratch = ReplicaState.restore(this.#mirror.snapshot());
    const ops = this.ops({ ...link, role: 'multi' }, 1 + below(this.#random, 4)).filter(
      (op) => op.origin !== this.nodeId,
    );
    for (const op of ops) scratch.apply(op);
    return kind === 'delta' ? scratch.delta(ops) : scratch.snapshot();
  }
}
