import { getRandomValues, randomBytes } from 'node:crypto';
import type { HybridLogicalClock, Op, Write } from '@driftless/core';

/**
 * The one workload of the core benchmarks: writes to collection `bench` with 16-byte ASCII keys
 * and `[0, <32 random bytes>]` mutations, in batches of 1,000.
 */

/** The collection every benchmark write goes to. */
export const COLLECTION = 'bench';
/** The node id of every benchmark log. */
export const NODE_ID = 'bench';
/** Bytes of each key (ASCII, so also its UTF-8 length). */
export const KEY_BYTES = 16;
/** Bytes of each value. */
export const VALUE_BYTES = 32;
/** Ops per batch. */
export const BATCH_OPS = 1000;

/** `count` writes with fresh random 16-character hex keys and 32 random bytes each. */
export function makeWrites(count: number): Write[] {
  return Array.from({ length: count }, () => ({
    collection: COLLECTION,
    key: randomBytes(KEY_BYTES / 2).toString('hex'),
    mutation: [0, getRandomValues(new Uint8Array(VALUE_BYTES))],
  }));
}

/** `count` batches of `BATCH_OPS` writes. */
export function makeBatches(count: number): Write[][] {
  return Array.from({ length: count }, () => makeWrites(BATCH_OPS));
}

/** Stamps writes as consecutive ops of `origin` from `firstSeq`, timed by `clock`, as appendLocal does. */
export function stampOps(
  writes: readonly Write[],
  origin: string,
  firstSeq: number,
  clock: HybridLogicalClock,
): Op[] {
  return writes.map((write, i) => ({ ...write, origin, seq: firstSeq + i, hlc: clock.now() }));
}

/** Splits `items` into consecutive groups of `size` (the last one may be shorter). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < items.length; start += size) groups.push(items.slice(start, start + size));
  return groups;
}

/** The item at `index` modulo the length of `items`, for cycling through a pool. */
export function cycle<T>(items: readonly T[], index: number): T {
  const item = items[index % items.length];
  if (item === undefined) throw new Error('cycle: the pool is empty');
  return item;
}
