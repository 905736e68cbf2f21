import type { Value } from '@driftless/core';
import { badSnapshot } from './codec-helpers.js';
import type { CrdtType } from './crdt-type.js';

/** One origin's contributions: totals added and subtracted, and the part of each deleted. */
export interface OriginTotals {
  up: number;
  down: number;
  deletedUp: number;
  deletedDown: number;
}

/** A PN-counter with observed-reset deletes. */
export interface CounterState {
  origins: Map<string, OriginTotals>;
}

function totalsOf(state: CounterState, origin: string): OriginTotals {
  let totals = state.origins.get(origin);
  if (!totals) {
    totals = { up: 0, down: 0, deletedUp: 0, deletedDown: 0 };
    state.origins.set(origin, totals);
  }
  return totals;
}

function live(totals: OriginTotals): boolean {
  return totals.up > totals.deletedUp || totals.down > totals.deletedDown;
}

/**
 * A PN-counter: each origin's increments and decrements are summed separately, so merging is a
 * per-origin maximum and the value is exact (whole numbers within ±2^53, no floats). A delete
 * subtracts exactly the totals its writer had observed: increments it had not seen survive it.
 */
export const counter: CrdtType<CounterState> = {
  name: 'counter',
  create: () => ({ origins: new Map() }),
  apply(state, stamp, mutation) {
    if (mutation.kind !== 'incr') return false;
    const totals = totalsOf(state, stamp.origin);
    const field = mutation.delta > 0 ? 'up' : 'down';
    const next = totals[field] + Math.abs(mutation.delta);
    // Every replica holds the same totals for this origin at this op, so this refusal is the same everywhere.
    if (!Number.isSafeInteger(next)) return false;
    totals[field] = next;
    return true;
  },
  delete(state, { counterSeen }) {
    let changed = false;
    for (const { origin, up, down } of counterSeen) {
      const totals = totalsOf(state, origin);
      if (up > totals.deletedUp) {
        totals.deletedUp = up;
        changed = true;
      }
      if (down > totals.deletedDown) {
        totals.deletedDown = down;
        changed = true;
      }
    }
    return changed;
  },
  merge(a, b) {
    const origins = new Map<string, OriginTotals>();
    for (const [origin, x] of a.origins) origins.set(origin, { ...x });
    for (const [origin, y] of b.origins) {
      const x = origins.get(origin);
      origins.set(
        origin,
        x
          ? {
              up: Math.max(x.up, y.up),
              down: Math.max(x.down, y.down),
              deletedUp: Math.max(x.deletedUp, y.deletedUp),
              deletedDown: Math.max(x.deletedDown, y.deletedDown),
            }
          : { ...y },
      );
    }
    return { origins };
  },
  read(state) {
    let value = 0;
    let present = false;
    for (const totals of state.origins.values()) {
      value += totals.up - totals.deletedUp - (totals.down - totals.deletedDown);
      present ||= live(totals);
    }
    return present ? value : undefined;
  },
  encode(state) {
    const flat: Value[] = [];
    for (const origin of [...state.origins.keys()].sort()) {
      const { up, down, deletedUp, deletedDown } = state.origins.get(origin) as OriginTotals;
      flat.push(origin, up, down, deletedUp, deletedDown);
    }
    return flat;
  },
  decode(value) {
    if (!Array.isArray(value) || value.length % 5 !== 0) badSnapshot('counter');
    const origins = new Map<string, OriginTotals>();
    for (let i = 0; i < value.length; i += 5) {
      const [origin, ...numbers] = value.slice(i, i + 5);
      if (
        typeof origin !== 'string' ||
        !numbers.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)
      ) {
        badSnapshot('counter');
      }
      const [up, down, deletedUp, deletedDown] = numbers as number[];
      origins.set(origin, {
        up: up ?? 0,
        down: down ?? 0,
        deletedUp: deletedUp ?? 0,
        deletedDown: deletedDown ?? 0,
      });
    }
    return { origins };
  },
  liveDots: () => [],
  // Totals are never forgotten, deleted ones included: a delete carries the absolute totals its
  // writer saw, and a replica that forgot them would subtract a later delete from zero (see
  // docs/CONFLICTS.md, tombstone collection).
  compact: () => false,
};

/** The totals a delete of this counter must carry: what this replica has observed. */
export function observedTotals(state: CounterState): { origin: string; up: number; down: number }[] {
  return [...state.origins].map(([origin, { up, down }]) => ({ origin, up, down }));
}
