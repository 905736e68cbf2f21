import { Buffer } from 'node:buffer';
import type { Replica } from './crdt-contender.js';

/**
 * The workloads of the CRDT benchmarks, the same for every system: register sets of small integers
 * to 16-byte ASCII keys, on distinct keys, overwriting a few keys, or conflicting between writers.
 */

/** Bytes of each key (ASCII hex, so also its UTF-8 length and its length in characters). */
export const KEY_BYTES = 16;
/** Keys read back after every pass, to prove the updates took effect. */
export const SAMPLE_KEYS = 100;

/** One register set: `key` becomes `value`. */
export interface Assignment {
  readonly key: string;
  readonly value: number;
}

/** What a writer produced: the replica and one update per set, in order. */
export interface Recording<U> {
  readonly replica: Replica<U>;
  readonly updates: U[];
}

const keyBuffer = Buffer.alloc(KEY_BYTES / 2);

/**
 * The key numbered `index` (< 2^32): 16 hex characters, a scrambled half then the index, so keys
 * are distinct and not in order. Decoded from bytes, so each is a flat string (what a key read off
 * the wire is), not a rope of concatenated parts.
 */
export function keyOf(index: number): string {
  keyBuffer.writeUInt32BE(Math.imul(index, 0x9e3779b1) >>> 0, 0);
  keyBuffer.writeUInt32BE(index, 4);
  return keyBuffer.toString('hex');
}

/** `count` keys, numbered from 0. */
export function makeKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => keyOf(i));
}

/** `count` sets on `count` distinct keys; set i writes i. */
export function distinctSets(count: number): Assignment[] {
  return Array.from({ length: count }, (_, i) => ({ key: keyOf(i), value: i }));
}

/** `rounds` passes over `keyCount` keys, each set writing its position in the sequence. */
export function overwriteSets(keyCount: number, rounds: number): Assignment[] {
  const keys = makeKeys(keyCount);
  return Array.from({ length: keyCount * rounds }, (_, i) => ({
    key: keys[i % keyCount] as string,
    value: i,
  }));
}

/**
 * For each of `writers` writers, `perWriter` sets cycling over the same `keyCount` keys. Writer w
 * starts a third of the way further round the keys than writer w − 1, so the last write to a key
 * comes from different writers for different keys; values are distinct across writers.
 */
export function conflictingSets(writers: number, perWriter: number, keyCount: number): Assignment[][] {
  const keys = makeKeys(keyCount);
  const stride = Math.floor(keyCount / writers);
  return Array.from({ length: writers }, (_, w) =>
    Array.from({ length: perWriter }, (_, i) => ({
      key: keys[(i + w * stride) % keyCount] as string,
      value: w * 10_000_000 + i,
    })),
  );
}

/** The value each key holds after `sets` apply in order. */
export function finalValues(sets: readonly Assignment[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const { key, value } of sets) values.set(key, value);
  return values;
}

/** Up to `count` keys of `keys`, evenly spread, always including the last. */
export function sampleOf<T>(keys: readonly T[], count = SAMPLE_KEYS): T[] {
  if (keys.length <= count) return [...keys];
  const step = keys.length / count;
  const sample = Array.from({ length: count - 1 }, (_, i) => keys[Math.floor(i * step)] as T);
  sample.push(keys[keys.length - 1] as T);
  return sample;
}

/** Writes `sets` at a fresh replica of writer `writer`; returns it with one update per set. */
export function record<U>(
  open: (writer: number) => Replica<U>,
  writer: number,
  sets: readonly Assignment[],
): Recording<U> {
  const replica = open(writer);
  return { replica, updates: sets.map(({ key, value }) => replica.set(key, value)) };
}

/** Interleaves lists one item at a time (a, b, a, b, …), then what is left of the longer ones. */
export function alternate<T>(lists: readonly (readonly T[])[]): T[] {
  const merged: T[] = [];
  const longest = Math.max(0, ...lists.map((list) => list.length));
  for (let i = 0; i < longest; i++) {
    for (const list of lists) if (i < list.length) merged.push(list[i] as T);
  }
  return merged;
}

/** Throws unless `replica` reads `expected` for every key of `sample`; `what` names the replica. */
export function expectReads(
  what: string,
  replica: Replica<unknown>,
  expected: ReadonlyMap<string, number>,
  sample: readonly string[],
): void {
  for (const key of sample) {
    const read = replica.read(key);
    if (read !== expected.get(key)) {
      throw new Error(`${what}: key ${key} reads ${String(read)}, expected ${String(expected.get(key))}`);
    }
  }
}
