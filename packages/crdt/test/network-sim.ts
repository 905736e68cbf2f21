/**
 * A seeded simulation of replicas exchanging ops: every op is broadcast with random duplication,
 * reordering and delay; each receiver buffers an op until it is causally ready (its origin's
 * previous op and everything its writer had seen are applied), as the sync layer guarantees.
 *
 * Yjs keys (YJS_KEYS) take only Yjs edits and deletes. Each replica keeps, per Yjs key, a Y.Doc
 * client as an application would: before an edit it loads what the key reads there (now and then
 * it lags and edits what it loaded before); when the key reads as absent, or the origin refuses
 * the update (YJS_MISSING_DEPENDENCY: the client holds a deleted document), it starts a new
 * Y.Doc, with a new client id, loaded from the read.
 *
 * Replicas collect tombstones now and then, each with a vector that is causally stable for it, as
 * the sync layer computes one (packages/sync/src/stability.ts): per replica, the newest version
 * vector it had that this replica has applied all of, and the meet of those. Joins that the
 * collected vectors forbid (REBOOTSTRAP_REQUIRED) are skipped, or done as the re-bootstrap they
 * call for when the source holds everything the target does.
 */
import { DriftlessError, HybridLogicalClock, type Op, VersionVector } from '@driftless/core';
import { seededRandom } from '@driftless/core/testing';
import { type Intent, ReplicaState } from '@driftless/crdt';
import { type ModelOp, modelOp } from './reference-model.js';
import { richEdit, YjsClient } from './yjs-histories.js';

export interface SimReplica {
  readonly id: string;
  state: ReplicaState;
  readonly clock: HybridLogicalClock;
  inbox: ModelOp[];
  seq: number;
  /** Per `collection/key`, the Y.Doc client of this replica's application. */
  readonly yjsClients: Map<string, YjsClient>;
  /** Every version vector the replica has had, oldest first: what it would have reported. */
  readonly vectors: VersionVector[];
}

/** What tombstone collection did in a run: to check that schedules exercise it. */
export interface CollectionCounts {
  /** Calls of collectTombstones. */
  collections: number;
  /** Of them, calls whose stable vector held every op the replica had applied. */
  everything: number;
  /** Keys dropped. */
  dropped: number;
  /** Keys kept whose state compaction changed. */
  compacted: number;
  /** Joins (deltas, bootstraps) between replicas that had collected below different vectors. */
  mixedJoins: number;
  /**
   * Joins refused with REBOOTSTRAP_REQUIRED. With every replica a member whose reports count, a
   * stable vector is below every replica's vector, so none is expected.
   */
  refusedJoins: number;
}

/** What the Yjs writes of a run did: to check that schedules reach the cases that matter. */
export interface YjsWriteCounts {
  edits: number;
  deletes: number;
  /** Edits refused at the origin (the client held a deleted document), then made on a new Y.Doc. */
  refused: number;
}

export const COLLECTIONS = ['docs', 'votes'] as const;
const KEYS = ['k1', 'k2', 'k3', 'k4'];
/**
 * Keys for Yjs edits (one per collection). They take other writes now and then, which apply where
 * the key reads as absent at the origin (elsewhere TYPE_CONFLICT), so that the type of a key with
 * Yjs documents changes, rarely.
 */
export const YJS_KEYS = ['y1'] as const;
/**
 * The share of writes that go to a Yjs key. Yjs costs more than the other types (a schedule with
 * any Yjs key costs about twice one without), so most schedules have a few Yjs writes, and a
 * share of them (YJS_HEAVY_SCHEDULES) many, to reach the cases that need several per key: a
 * client holding a deleted document, merges of concurrent documents.
 */
const YJS_WRITE_SHARE = 0.1;
const YJS_HEAVY_WRITE_SHARE = 0.6;
const YJS_HEAVY_SCHEDULES = 0.1;
/** The share of writes to a Yjs key that delete it, and that are writes of another type. */
const YJS_DELETE_SHARE = 0.2;
const YJS_OTHER_TYPE_SHARE = 0.05;
/** The share of Yjs edits made by a client that lags: it did not load what the key reads now. */
const YJS_LAGGING_EDIT_SHARE = 0.2;
const ELEMENTS = ['a', 'b', 'c', 1, 2];

export class NetworkSim {
  readonly random: () => number;
  readonly replicas: SimReplica[];
  /** Every op written, with its causal past: the reference model's input. */
  readonly history: ModelOp[] = [];
  /** What the Yjs writes of this run did. */
  readonly yjsWrites: YjsWriteCounts = { edits: 0, deletes: 0, refused: 0 };
  /** What tombstone collection did in this run. */
  readonly collection: CollectionCounts = {
    collections: 0,
    everything: 0,
    dropped: 0,
    compacted: 0,
    mixedJoins: 0,
    refusedJoins: 0,
  };
  readonly #yjsShare: number;
  readonly #yjsClientIds = new Set<number>();
  #wall = Date.UTC(2026, 0, 1);

  constructor(seed: number, replicaCount: number) {
    this.random = seededRandom(seed);
    this.#yjsShare = this.random() < YJS_HEAVY_SCHEDULES ? YJS_HEAVY_WRITE_SHARE : YJS_WRITE_SHARE;
    this.replicas = Array.from({ length: replicaCount }, (_, i) => {
      const skew = Math.floor(this.random() * 50);
      const replica: SimReplica = {
        id: `r${i}`,
        state: newState(),
        clock: new HybridLogicalClock({ now: () => this.#wall + skew, maxSkewMs: Number.MAX_SAFE_INTEGER }),
        inbox: [],
        seq: 0,
        yjsClients: new Map(),
        vectors: [],
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
    if (this.random() < this.#yjsShare) {
      this.#writeYjs(replica, collection, this.pick(YJS_KEYS));
      return;
    }
    this.#commit(replica, collection, this.pick(KEYS), this.#intent());
  }

  /** Prepares, applies and broadcasts a write; skips it on a type conflict at the origin (returns false). */
  #commit(replica: SimReplica, collection: string, key: string, intent: Intent): boolean {
    let write: ReturnType<ReplicaState['prepare']>;
    try {
      write = replica.state.prepare(collection, key, intent);
    } catch (error) {
      if ((error as { code?: string }).code === 'TYPE_CONFLICT') return false;
      throw error;
    }
    const op: Op = { origin: replica.id, seq: ++replica.seq, hlc: replica.clock.now(), ...write };
    const past = replica.state.versionVector.with(op.origin, op.seq);
    replica.state.apply(op);
    noteVector(replica);
    const message = modelOp(op, past);
    this.history.push(message);
    for (const other of this.replicas) {
      if (other === replica) continue;
      other.inbox.push(message);
      if (this.random() < 0.1) other.inbox.push(message); // duplicated
    }
    return true;
  }

  /**
   * A delete, or an edit by the replica's Y.Doc client for the key: loaded with what the key
   * reads (unless it lags), edited at random (text, formatting, arrays, maps, nested types), its
   * update written.
   */
  #writeYjs(replica: SimReplica, collection: string, key: string): void {
    const roll = this.random();
    if (roll < YJS_DELETE_SHARE) {
      if (this.#commit(replica, collection, key, { kind: 'del' })) this.yjsWrites.deletes++;
      return;
    }
    if (roll < YJS_DELETE_SHARE + YJS_OTHER_TYPE_SHARE) {
      this.#commit(replica, collection, key, this.#intent());
      return;
    }
    const current = replica.state.get(collection, key);
    if (current !== undefined && current.type !== 'yjs') return; // the app sees another type: no edit
    const read = current?.value;
    const choices = Array.from({ length: 4 }, () => Math.floor(this.random() * 100));
    const name = `${collection}/${key}`;
    let client = replica.yjsClients.get(name);
    const lagging = client !== undefined && this.random() < YJS_LAGGING_EDIT_SHARE;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!client || attempt > 0 || (read === undefined && !lagging)) {
        client = new YjsClient(this.#newClientId());
        replica.yjsClients.set(name, client);
      }
      if (attempt > 0 || !lagging) client.load(read);
      let update: Uint8Array;
      try {
        update = client.edit((doc) => richEdit(doc, choices));
      } catch {
        return; // the edit changed nothing (or Yjs refused it): no write
      }
      try {
        if (this.#commit(replica, collection, key, { kind: 'yjs', update })) this.yjsWrites.edits++;
        return;
      } catch (error) {
        if (!(error instanceof DriftlessError) || error.code !== 'YJS_MISSING_DEPENDENCY' || attempt > 0)
          throw error;
        this.yjsWrites.refused++;
      }
    }
  }

  /** A Yjs client id no other Y.Doc of the run has: ids are not authenticated (CONFLICTS.md). */
  #newClientId(): number {
    for (;;) {
      const id = 1 + Math.floor(this.random() * 2 ** 31);
      if (this.#yjsClientIds.has(id)) continue;
      this.#yjsClientIds.add(id);
      return id;
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
      receive(replica, message.op);
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
            receive(replica, message.op);
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
    this.#join(target, source, () => target.state.applyDelta(source.state.delta(lacking.map((m) => m.op))));
  }

  /** A replica bootstrapped by joining another's state, as a far-behind replica would be. */
  bootstrap(): void {
    const [target, source] = [this.pick(this.replicas), this.pick(this.replicas)];
    if (target !== source) this.#join(target, source, () => target.state.merge(source.state.snapshot()));
  }

  /**
   * Joins `source`'s state into `target` by `join`. Where the collected vectors refuse it, the
   * target is rebuilt from the source's snapshot if that loses nothing (the source holds every op
   * the target does), else left to catch up by ops. A target whose collected vector rose then
   * collects again, as the sync layer does after installing a peer's state.
   */
  #join(target: SimReplica, source: SimReplica, join: () => void): void {
    const collected = target.state.collectedBelow;
    const had = target.state.versionVector;
    if (!collected.equals(source.state.collectedBelow)) this.collection.mixedJoins++;
    try {
      join();
    } catch (error) {
      if (!(error instanceof DriftlessError) || error.code !== 'REBOOTSTRAP_REQUIRED') throw error;
      this.collection.refusedJoins++;
      if (!source.state.versionVector.dominates(target.state.versionVector)) return;
      target.state = ReplicaState.restore(source.state.snapshot());
      setModes(target.state);
    }
    noteVector(target);
    // As for ops it applies, the replica's clock absorbs those it gained, so its next writes are later.
    const has = target.state.versionVector;
    for (const { op } of this.history)
      if (has.includes(op.origin, op.seq) && !had.includes(op.origin, op.seq)) target.clock.observe(op.hlc);
    if (!target.state.collectedBelow.equals(collected) && this.random() < 0.7) {
      const stable = this.stableFor(target).merge(target.state.collectedBelow);
      this.#collectAt(target, stable);
    }
  }

  /**
   * The vector causally stable for `replica`: per replica, the newest vector it had that `replica`
   * has applied all of (its report, counted once `replica` caught up with it); their meet.
   */
  stableFor(replica: SimReplica): VersionVector {
    const local = replica.state.versionVector;
    let stable = local;
    for (const member of this.replicas) {
      const counted = member.vectors.findLast((vector) => local.dominates(vector)) ?? VersionVector.EMPTY;
      stable = stable.meet(counted);
    }
    return stable;
  }

  /** A random replica collects tombstones with a vector causally stable for it. */
  collect(): void {
    const replica = this.pick(this.replicas);
    this.#collectAt(replica, this.stableFor(replica));
  }

  /** Every replica collects with what is stable for it (after drain(): every op). */
  collectAll(): void {
    for (const replica of this.replicas) this.#collectAt(replica, this.stableFor(replica));
  }

  #collectAt(replica: SimReplica, stable: VersionVector): void {
    this.collection.collections++;
    if (stable.dominates(replica.state.versionVector)) this.collection.everything++;
    const dropped = replica.state.collectTombstones(stable, () => this.collection.compacted++);
    this.collection.dropped += dropped.length;
  }
}

/** Applies an op from another replica; the clock absorbs its timestamp, as the op log's does. */
function receive(replica: SimReplica, op: Op): void {
  replica.state.apply(op);
  replica.clock.observe(op.hlc);
  noteVector(replica);
}

function noteVector(replica: SimReplica): void {
  const vector = replica.state.versionVector;
  const last = replica.vectors.at(-1);
  if (!last?.equals(vector)) replica.vectors.push(vector);
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
