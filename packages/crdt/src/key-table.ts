/**
 * A map from strings to values, in insertion order, made for a replica's keys: up to millions in a
 * collection, most of them looked up first while absent (a new key).
 *
 * Why not a Map: V8's Map finds a key through a chain of pointers (its bucket, each entry in the
 * bucket's chain, each entry's key string, to compare hashes). In a map of a million keys each link
 * is a cache miss: a lookup of an absent key took 0.6–0.7 µs on the benchmark machine, against
 * 0.1–0.15 µs here (docs/CORE.md). This table keeps each key's hash in its slot, so a lookup of an
 * absent key reads one slot, and one of a present key reads that slot and the key it compares.
 *
 * Slots are open-addressed with linear probing, at most half full, each a pair [hash, entry + 1]
 * in one Int32Array. Entries sit in insertion order in dense arrays. A deleted entry leaves a hole
 * (and its slot stays taken, marked deleted) until the table is rebuilt, which happens when the
 * entries fill half the slots: the rebuild drops the holes and sizes the slots for the live keys.
 *
 * Iteration goes on through keys added while it runs and skips keys deleted before it reaches
 * them, as a Map's iterators do. So that entries keep their positions, a rebuild while an
 * iteration is under way keeps the holes; an iteration left unfinished (neither run to its end nor
 * returned) would keep them for good.
 *
 * Hashes are seeded per table (at random unless the constructor is given a seed), so keys chosen
 * to collide in one process do not collide in another.
 *
 * The table remembers its last probe, so the lookups of one key in a row (a replica's write looks
 * its key up to prepare the op, again to apply it, and then adds it) hash and probe once: filling a
 * table with a million new keys by get, get and set took 0.45 µs a key, against 0.57–0.62 µs when
 * each call probed (best of 8 runs each, interleaved).
 */
export class KeyTable<V> implements Iterable<[string, V]> {
  /** Keys in insertion order; undefined where a key was deleted. */
  #keys: (string | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #hashes: number[] = [];
  #size = 0;
  /** Per slot: its key's hash, then 0 (empty), DELETED, or the entry's index + 1. */
  #slots = new Int32Array(2 * MIN_SLOTS);
  #mask = MIN_SLOTS - 1;
  /** Iterations under way. */
  #walkers = 0;
  /** The key of the last probe (see #probe); undefined once the slots changed since. */
  #probedKey: string | undefined;
  #probedHash = 0;
  /** The probed key's slot when held, else the empty slot its probe ended at. */
  #probedSlot = 0;
  #probedFound = false;
  readonly #seed: number;

  constructor(seed = (Math.random() * 0x1_0000_0000) | 0) {
    this.#seed = seed;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#probe(key) ? this.#values[(this.#slots[2 * this.#probedSlot + 1] as number) - 1] : undefined;
  }

  has(key: string): boolean {
    return this.#probe(key);
  }

  /** Sets a key's value: in place when the table holds the key, else as the last entry. */
  set(key: string, value: V): this {
    if (this.#probe(key)) {
      this.#values[(this.#slots[2 * this.#probedSlot + 1] as number) - 1] = value;
      return this;
    }
    const hash = this.#probedHash;
    let slot = this.#probedSlot;
    if (2 * this.#keys.length >= this.#mask + 1) {
      this.#rebuild();
      const mask = this.#mask;
      slot = hash & mask;
      while (this.#slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    }
    const slots = this.#slots;
    slots[2 * slot] = hash;
    slots[2 * slot + 1] = this.#keys.push(key);
    this.#values.push(value);
    this.#hashes.push(hash);
    this.#size++;
    this.#probedKey = key;
    this.#probedSlot = slot;
    this.#probedFound = true;
    return this;
  }

  /** Deletes a key; returns whether the table held it. */
  delete(key: string): boolean {
    if (!this.#probe(key)) return false;
    const slot = this.#probedSlot;
    this.#probedKey = undefined;
    const entry = (this.#slots[2 * slot + 1] as number) - 1;
    this.#slots[2 * slot + 1] = DELETED;
    this.#keys[entry] = undefined;
    this.#values[entry] = undefined;
    this.#size--;
    // Mostly holes, and nothing walking them: give the memory back.
    if (this.#walkers === 0 && this.#keys.length > MIN_SLOTS && 4 * this.#size < this.#keys.length)
      this.#rebuild();
    return true;
  }

  *entries(): Generator<[string, V], undefined, undefined> {
    this.#walkers++;
    try {
      // #keys is read afresh at each step: a rebuild between steps may replace it (never while
      // walkers is above 0, but reading it afresh costs nothing and needs no argument).
      for (let entry = 0; entry < this.#keys.length; entry++) {
        const key = this.#keys[entry];
        if (key !== undefined) yield [key, this.#values[entry] as V];
      }
    } finally {
      this.#walkers--;
    }
  }

  *keys(): Generator<string, undefined, undefined> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): Generator<V, undefined, undefined> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): Generator<[string, V], undefined, undefined> {
    return this.entries();
  }

  /**
   * Whether the table holds `key`, its slot (or the empty slot the probe ended at) left in
   * #probedSlot and its hash in #probedHash. Probes again only for another key, or after a change
   * of the slots.
   */
  #probe(key: string): boolean {
    if (key === this.#probedKey) return this.#probedFound;
    const hash = this.#hash(key);
    const slots = this.#slots;
    const mask = this.#mask;
    let slot = hash & mask;
    let found = false;
    for (let at = slots[2 * slot + 1] as number; at !== 0; at = slots[2 * slot + 1] as number) {
      if (at > 0 && slots[2 * slot] === hash && this.#keys[at - 1] === key) {
        found = true;
        break;
      }
      slot = (slot + 1) & mask;
    }
    this.#probedKey = key;
    this.#probedHash = hash;
    this.#probedSlot = slot;
    this.#probedFound = found;
    return found;
  }

  /** Drops the holes (unless an iteration is under way) and makes slots for 4× the entries. */
  #rebuild(): void {
    if (this.#walkers === 0 && this.#size < this.#keys.length) {
      const keys: (string | undefined)[] = [];
      const values: (V | undefined)[] = [];
      const hashes: number[] = [];
      for (let entry = 0; entry < this.#keys.length; entry++) {
        if (this.#keys[entry] === undefined) continue;
        keys.push(this.#keys[entry]);
        values.push(this.#values[entry]);
        hashes.push(this.#hashes[entry] as number);
      }
      this.#keys = keys;
      this.#values = values;
      this.#hashes = hashes;
    }
    let count = MIN_SLOTS;
    while (count < 4 * this.#keys.length) count *= 2;
    const slots = new Int32Array(2 * count);
    const mask = count - 1;
    for (let entry = 0; entry < this.#keys.length; entry++) {
      if (this.#keys[entry] === undefined) continue;
      const hash = this.#hashes[entry] as number;
      let slot = hash & mask;
      while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
      slots[2 * slot] = hash;
      slots[2 * slot + 1] = entry + 1;
    }
    this.#slots = slots;
    this.#mask = mask;
    this.#probedKey = undefined;
  }

  /** FNV-1a over the key's UTF-16 code units from the table's seed, then mixed so low bits vary. */
  #hash(key: string): number {
    let hash = this.#seed ^ 0x811c9dc5;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b);
    return hash ^ (hash >>> 16);
  }
}

const MIN_SLOTS = 8;
/** A slot whose entry was deleted: lookups probe past it. */
const DELETED = -1;
