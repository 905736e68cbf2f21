import { type Dot, encode, type Value, type VersionVector } from '@driftless/core';
import type { Mutation } from './mutation.js';
import { compareStamps, type Stamp } from './stamp.js';
import type { ConflictSink, CrdtType, DeleteIntent, TypeName } from './types/crdt-type.js';
import { TYPES } from './types/registry.js';
import { isYjsPresent, type YjsState } from './types/yjs.js';

/** The fields of an entry an op may change, kept to undo an op a type refuses midway. */
export interface SavedEntry {
  readonly type: TypeName;
  readonly winner: Stamp | undefined;
  readonly state: unknown;
  readonly hidden: ReadonlyMap<TypeName, unknown> | undefined;
}

/** Everything a delete leaves behind on a key: the latest delete's stamp and the counter totals deleted. */
export interface Tombstone {
  readonly stamp: Stamp;
  readonly counterSeen: ReadonlyMap<string, { up: number; down: number }>;
}

/**
 * One key's state. Its visible type is the type of its latest value-carrying op (greatest
 * stamp), so every replica picks the same one whatever the order of arrival. States of other
 * types stay (hidden) so no write is lost and the choice can move back. Deletes apply to every
 * type's state and are remembered as a tombstone, so a state created later starts deleted.
 */
export class KeyEntry {
  type: TypeName;
  /** The stamp of the latest value-carrying op; undefined while only deletes have touched the key. */
  winner: Stamp | undefined;
  state: unknown;
  hidden: Map<TypeName, unknown> | undefined;
  tombstone: Tombstone | undefined;
  /**
   * The checkpointer's bookkeeping (checkpointer.ts), not part of the key's state: never encoded,
   * merged or compared. 0 for an entry no checkpoint generation has listed.
   */
  checkpointMark = 0;

  constructor(type: TypeName, winner: Stamp | undefined, state: unknown) {
    this.type = type;
    this.winner = winner;
    this.state = state;
  }

  /** A new entry for a key, visible as `type` until a value op decides otherwise. */
  static create(type: TypeName): KeyEntry {
    return new KeyEntry(type, undefined, typeOf(type).create());
  }

  /** The state of `type` if the key has one, without creating it. */
  peek(type: TypeName): unknown {
    return type === this.type ? this.state : this.hidden?.get(type);
  }

  /** True when `type`'s state holds nothing beyond what the tombstone alone would give it. */
  isBlank(type: TypeName): boolean {
    const state = this.peek(type);
    if (state === undefined) return true;
    const crdt = typeOf(type);
    const blank = crdt.create();
    if (this.tombstone) crdt.delete(blank, intentOf(this.tombstone));
    return sameEncoding(crdt.encode(state), crdt.encode(blank));
  }

  /** The state of `type`, created (with the tombstone applied) when the key has none yet. */
  stateOf(type: TypeName): unknown {
    if (type === this.type) return this.state;
    let state = this.hidden?.get(type);
    if (state === undefined) {
      state = typeOf(type).create();
      if (this.tombstone) typeOf(type).delete(state, intentOf(this.tombstone));
      this.hidden ??= new Map();
      this.hidden.set(type, state);
    }
    return state;
  }

  /**
   * Applies a value op of `type`. Returns whether anything changed; reports a type conflict when
   * the op's type differs from the visible one.
   */
  applyValue(type: TypeName, stamp: Stamp, mutation: Mutation, conflict: ConflictSink): boolean {
    const state = this.stateOf(type);
    const newer = this.winner === undefined || compareStamps(stamp, this.winner) > 0;
    if (type !== this.type) {
      if (this.winner !== undefined)
        conflict('type', newer ? stamp : this.winner, newer ? this.winner : stamp);
      if (newer) this.#show(type, state);
    }
    if (newer) this.winner = stamp;
    return typeOf(type).apply(state, stamp, mutation, conflict);
  }

  /** Applies a delete to every type's state and folds it into the tombstone. */
  applyDelete(intent: DeleteIntent): boolean {
    this.#remember(intent);
    let changed = typeOf(this.type).delete(this.state, intent);
    if (this.hidden)
      for (const [type, state] of this.hidden) changed = typeOf(type).delete(state, intent) || changed;
    return changed;
  }

  /**
   * Compacts the entry below `stable`, which must be causally stable here: every op still to
   * arrive comes after all of it (a greater stamp, and it saw every op there). A stable tombstone
   * goes (its counter totals stay, in the counter state); each type's state forgets what only ops
   * concurrent with stable ones could need (CrdtType.compact); hidden states left with nothing go.
   * Reads are unchanged, now and after any op still to come. Once every op is stable, the result
   * depends only on the ops, not on when or how often the replica compacted before: replicas that
   * collected at different moments agree byte for byte once they collect with the same vector.
   *
   * `everything` says `stable` holds every op this replica has applied, so every delete of the key
   * is stable. Returns what happened: 'drop' when nothing is left (every state empty, no
   * tombstone, the latest value op stable), 'changed' or 'same'.
   */
  compact(stable: VersionVector, everything: boolean): 'drop' | 'changed' | 'same' {
    const below = (dot: Dot | undefined) => dot === undefined || stable.includes(dot.origin, dot.seq);
    let changed = false;
    if (this.tombstone && below(this.tombstone.stamp)) {
      // Later deletes carry absolute counter totals: the deleted ones stay as the counter's baseline.
      if (this.tombstone.counterSeen.size > 0) this.stateOf('counter');
      this.tombstone = undefined;
      changed = true;
    }
    // A deleted Yjs document does not say which deletes covered it: it goes only once every delete
    // is known to be stable (see yjs.ts compact).
    changed = typeOf(this.type).compact(this.state, stable, everything) || changed;
    let empty = isEmpty(this.type, this.state);
    if (this.hidden) {
      for (const [type, state] of this.hidden) {
        changed = typeOf(type).compact(state, stable, everything) || changed;
        // A state holding nothing beyond the tombstone's effect is made again, the same, when needed.
        if (isEmpty(type, state) || this.isBlank(type)) {
          this.hidden.delete(type);
          changed = true;
        } else empty = false;
      }
      if (this.hidden.size === 0) this.hidden = undefined;
    }
    if (empty && this.tombstone === undefined && below(this.winner)) return 'drop';
    return changed ? 'changed' : 'same';
  }

  /** What a reader sees, or undefined when the key reads as absent. */
  read(): Value | undefined {
    return typeOf(this.type).read(this.state);
  }

  /** Whether a reader sees a value: read() !== undefined, without building a Yjs key's value. */
  isPresent(): boolean {
    return this.type === 'yjs' ? isYjsPresent(this.state as YjsState) : this.read() !== undefined;
  }

  /**
   * What applyValue may change. A type that refuses an op midway (yjs) leaves its own state as it
   * was; restoring this undoes the rest: the visible type, the winner, a hidden state just created.
   */
  save(): SavedEntry {
    const { type, winner, state, hidden } = this;
    return { type, winner, state, hidden: hidden && new Map(hidden) };
  }

  /** Puts back what save() kept. */
  restore(saved: SavedEntry): void {
    this.type = saved.type;
    this.winner = saved.winner;
    this.state = saved.state;
    this.hidden = saved.hidden && new Map(saved.hidden);
  }

  /** The join of this entry with another replica's entry for the same key. */
  merge(other: KeyEntry, seenHere: VersionVector, seenThere: VersionVector): KeyEntry {
    const types = new Set<TypeName>([
      this.type,
      other.type,
      ...(this.hidden?.keys() ?? []),
      ...(other.hidden?.keys() ?? []),
    ]);
    const winnerHere =
      other.winner === undefined ||
      (this.winner !== undefined && compareStamps(this.winner, other.winner) >= 0);
    const merged = new KeyEntry(
      winnerHere ? this.type : other.type,
      winnerHere ? this.winner : other.winner,
      undefined,
    );
    merged.tombstone = joinTombstones(this.tombstone, other.tombstone);
    for (const type of types) {
      const crdt = typeOf(type);
      const state = crdt.merge(this.#stateForMerge(type), other.#stateForMerge(type), seenHere, seenThere);
      if (merged.tombstone) crdt.delete(state, intentOf(merged.tombstone));
      if (type === merged.type) {
        merged.state = state;
      } else {
        merged.hidden ??= new Map();
        merged.hidden.set(type, state);
      }
    }
    return merged;
  }

  #stateForMerge(type: TypeName): unknown {
    if (type === this.type) return this.state;
    const state = this.hidden?.get(type);
    if (state !== undefined) return state;
    const fresh = typeOf(type).create();
    if (this.tombstone) typeOf(type).delete(fresh, intentOf(this.tombstone));
    return fresh;
  }

  #show(type: TypeName, state: unknown): void {
    this.hidden ??= new Map();
    this.hidden.set(this.type, this.state);
    this.hidden.delete(type);
    if (this.hidden.size === 0) this.hidden = undefined;
    this.type = type;
    this.state = state;
  }

  #remember(intent: DeleteIntent): void {
    const latest: Tombstone = {
      stamp: intent.stamp,
      counterSeen: new Map(intent.counterSeen.map(({ origin, up, down }) => [origin, { up, down }])),
    };
    this.tombstone = joinTombstones(this.tombstone, latest);
  }
}

/** Whether a state holds nothing at all: it encodes as a new one does. */
function isEmpty(type: TypeName, state: unknown): boolean {
  const crdt = typeOf(type);
  return crdt.read(state) === undefined && sameEncoding(crdt.encode(state), crdt.encode(crdt.create()));
}

function sameEncoding(a: Value, b: Value): boolean {
  const x = encode(a);
  const y = encode(b);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

/** The type implementation; throws for a type this version does not implement. */
export function typeOf(type: TypeName): CrdtType<unknown> {
  const crdt = TYPES[type];
  if (!crdt) throw new Error(`unexpected type ${type}`);
  return crdt;
}

function intentOf(tombstone: Tombstone): DeleteIntent {
  return {
    stamp: tombstone.stamp,
    seen: [],
    counterSeen: [...tombstone.counterSeen].map(([origin, { up, down }]) => ({ origin, up, down })),
  };
}

/** The join of two tombstones: the later stamp, and per origin the larger deleted totals. */
export function joinTombstones(a: Tombstone | undefined, b: Tombstone | undefined): Tombstone | undefined {
  if (!a) return b;
  if (!b) return a;
  const counterSeen = new Map(a.counterSeen);
  for (const [origin, { up, down }] of b.counterSeen) {
    const x = counterSeen.get(origin);
    counterSeen.set(origin, x ? { up: Math.max(x.up, up), down: Math.max(x.down, down) } : { up, down });
  }
  return { stamp: compareStamps(a.stamp, b.stamp) >= 0 ? a.stamp : b.stamp, counterSeen };
}
