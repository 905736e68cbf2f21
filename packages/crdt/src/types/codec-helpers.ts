import { type Dot, DriftlessError, isHlc, isNodeId, type Value } from '@driftless/core';
import type { Stamp } from '../stamp.js';

/** Throws SNAPSHOT_INVALID. */
export function badSnapshot(what: string): never {
  throw new DriftlessError('SNAPSHOT_INVALID', `snapshot: ${what} is malformed; take the snapshot again`);
}

/** [hlc, origin, seq] */
export function encodeStamp(stamp: Stamp): Value[] {
  return [stamp.hlc, stamp.origin, stamp.seq];
}

/** Reads a stamp at `at` in a flat array. */
export function decodeStamp(values: readonly Value[], at: number, what: string): Stamp {
  const [hlc, origin, seq] = [values[at], values[at + 1], values[at + 2]];
  if (!isHlc(hlc) || !isNodeId(origin) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    badSnapshot(what);
  }
  return { hlc, origin, seq };
}

/** Reads a flat [origin, seq, …] list of dots. */
export function decodeDotList(value: Value | undefined, what: string): Dot[] {
  if (!Array.isArray(value) || value.length % 2 !== 0) badSnapshot(what);
  const dots: Dot[] = [];
  for (let i = 0; i < value.length; i += 2) {
    const [origin, seq] = [value[i], value[i + 1]];
    if (!isNodeId(origin) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      badSnapshot(what);
    dots.push({ origin, seq });
  }
  return dots;
}

/** A flat [origin, seq, …] list. */
export function encodeDotList(dots: readonly Dot[]): Value[] {
  const flat: Value[] = [];
  for (const { origin, seq } of dots) flat.push(origin, seq);
  return flat;
}
