import { ProtocolError } from './errors.js';
import { isNodeId } from './identifiers.js';
import type { Value } from './value.js';

/** How two version vectors relate in the causal partial order. */
export type Ordering = 'before' | 'after' | 'equal' | 'concurrent';

/** A contiguous range of one origin's seqs, `from` to `to` inclusive. */
export interface SeqRange {
  readonly origin: string;
  readonly from: number;
  readonly to: number;
}

/**
 * For each origin, the highest seq applied contiguously from it. Immutable: every operation returns
 * a new vector. Zero entries are never stored, so equal vectors have equal entries.
 */
export class VersionVector {
  static readonly EMPTY = new VersionVector(new Map());
  readonly #seqs: ReadonlyMap<string, number>;

  private constructor(seqs: ReadonlyMap<string, number>) {
    this.#seqs = seqs;
  }

  /** Builds a vector from `[origin, seq]` pairs or an object; zero seqs are dropped. */
  static from(
    entries: Iterable<readonly [string, number]> | Readonly<Record<string, number>>,
  ): VersionVector {
    const pairs = Symbol.iterator in entries ? entries : Object.entries(entries);
    const seqs = new Map<string, number>();
    for (const [origin, seq] of pairs as Iterable<readonly [string, number]>) {
      if (!Number.isSafeInteger(seq) || seq < 0)
        throw new RangeError(`seq for ${origin} must be a whole number ≥ 0`);
      if (seq > 0) seqs.set(origin, Math.max(seq, seqs.get(origin) ?? 0));
    }
    return new VersionVector(seqs);
  }

  /** The highest contiguous seq from `origin` (0 when none). */
  get(origin: string): number {
    return this.#seqs.get(origin) ?? 0;
  }

  /** The number of origins with a non-zero seq. */
  get size(): number {
    return this.#seqs.size;
  }

  /** The total number of ops the vector covers. */
  get total(): number {
    let sum = 0;
    for (const seq of this.#seqs.values()) sum += seq;
    return sum;
  }

  /** A vector equal to this one with `origin` raised to at least `seq`. */
  with(origin: string, seq: number): VersionVector {
    if (seq <= this.get(origin)) return this;
    const seqs = new Map(this.#seqs);
    seqs.set(origin, seq);
    return new VersionVector(seqs);
  }

  /** The least upper bound: for every origin, the larger seq. */
  merge(other: VersionVector): VersionVector {
    const seqs = new Map(this.#seqs);
    for (const [origin, seq] of other.#seqs) if (seq > (seqs.get(origin) ?? 0)) seqs.set(origin, seq);
    return new VersionVector(seqs);
  }

  /** The greatest lower bound: for every origin, the smaller seq. */
  meet(other: VersionVector): VersionVector {
    const seqs = new Map<string, number>();
    for (const [origin, seq] of this.#seqs) {
      const min = Math.min(seq, other.get(origin));
      if (min > 0) seqs.set(origin, min);
    }
    return new VersionVector(seqs);
  }

  /** True when this vector has seen everything `other` has (this ≥ other). */
  dominates(other: VersionVector): boolean {
    for (const [origin, seq] of other.#seqs) if (this.get(origin) < seq) return false;
    return true;
  }

  /** True when the vector has seen the op `(origin, seq)`. */
  includes(origin: string, seq: number): boolean {
    return this.get(origin) >= seq;
  }

  /** Where this vector stands relative to `other` in the causal order. */
  compare(other: VersionVector): Ordering {
    const ge = this.dominates(other);
    const le = other.dominates(this);
    if (ge && le) return 'equal';
    if (ge) return 'after';
    if (le) return 'before';
    return 'concurrent';
  }

  /** True when both vectors cover exactly the same ops. */
  equals(other: VersionVector): boolean {
    return this.#seqs.size === other.#seqs.size && this.dominates(other) && other.dominates(this);
  }

  /** The ranges of ops this vector covers that `peer` lacks, sorted by origin. */
  missingFrom(peer: VersionVector): SeqRange[] {
    const ranges: SeqRange[] = [];
    for (const [origin, seq] of this.entries()) {
      const theirs = peer.get(origin);
      if (seq > theirs) ranges.push({ origin, from: theirs + 1, to: seq });
    }
    return ranges;
  }

  /** How many ops this vector covers that `peer` lacks: the ops of missingFrom(peer), counted. */
  opsMissingFrom(peer: VersionVector): number {
    let ops = 0;
    for (const [origin, seq] of this.#seqs) ops += Math.max(0, seq - peer.get(origin));
    return ops;
  }

  /** The `[origin, seq]` pairs, sorted by origin. */
  entries(): [string, number][] {
    return [...this.#seqs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** A plain object, for JSON and logs. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.entries());
  }

  /** The compact wire form: a flat `[origin, seq, origin, seq, …]` array sorted by origin. */
  toValue(): Value {
    return this.entries().flat();
  }

  /** Reads the compact wire form; throws ProtocolError on anything else. */
  static fromValue(value: Value): VersionVector {
    if (!Array.isArray(value) || value.length % 2 !== 0) {
      throw new ProtocolError('PROTOCOL_MALFORMED', 'a version vector must be a flat [origin, seq, …] array');
    }
    const seqs = new Map<string, number>();
    let previous = '';
    for (let i = 0; i < value.length; i += 2) {
      const origin: unknown = value[i];
      const seq: unknown = value[i + 1];
      if (!isNodeId(origin) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
        throw new ProtocolError(
          'PROTOCOL_MALFORMED',
          `version vector entry ${i / 2} is not a node id and a seq ≥ 1`,
        );
      }
      if (origin <= previous) {
        throw new ProtocolError('PROTOCOL_MALFORMED', 'version vector origins must be unique and sorted');
      }
      previous = origin;
      seqs.set(origin, seq);
    }
    return new VersionVector(seqs);
  }
}
