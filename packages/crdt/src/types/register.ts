import type { Dot, Value } from '@driftless/core';
import { compareStamps, hasDot, type Stamp } from '../stamp.js';
import { badSnapshot, decodeStamp, encodeStamp } from './codec-helpers.js';
import type { CrdtType } from './crdt-type.js';

/** A last-writer-wins register: the write (or delete) with the greatest stamp holds. */
export interface RegisterState {
  stamp: Stamp | undefined;
  /** undefined after a delete won. */
  value: Value | undefined;
}

function newer(state: RegisterState, stamp: Stamp): boolean {
  return state.stamp === undefined || compareStamps(stamp, state.stamp) > 0;
}

/** Last writer wins by (HLC, origin, seq). A delete is a write of "absent". */
export const register: CrdtType<RegisterState> = {
  name: 'register',
  create: () => ({ stamp: undefined, value: undefined }),
  apply(state, stamp, mutation, conflict) {
    if (mutation.kind !== 'set') return false;
    const current = state.stamp;
    if (!newer(state, stamp)) {
      if (current && compareStamps(stamp, current) < 0) conflict('discarded', current, stamp);
      return false;
    }
    if (current && state.value !== undefined && !hasDot(mutation.seen, current))
      conflict('overwrite', stamp, current);
    state.stamp = stamp;
    state.value = mutation.value;
    return true;
  },
  delete(state, { stamp }) {
    if (!newer(state, stamp)) return false;
    const changed = state.value !== undefined;
    state.stamp = stamp;
    state.value = undefined;
    return changed;
  },
  merge: (a, b) =>
    b.stamp === undefined || (a.stamp !== undefined && compareStamps(a.stamp, b.stamp) >= 0) ? a : b,
  read: (state) => state.value,
  encode: ({ stamp, value }) =>
    stamp === undefined
      ? []
      : value === undefined
        ? encodeStamp(stamp)
        : // Built in one literal: every persisted register goes through here at each checkpoint.
          [stamp.hlc, stamp.origin, stamp.seq, value],
  decode(value) {
    if (!Array.isArray(value) || (value.length !== 0 && value.length !== 3 && value.length !== 4)) {
      badSnapshot('register');
    }
    if (value.length === 0) return { stamp: undefined, value: undefined };
    return {
      stamp: decodeStamp(value, 0, 'register'),
      value: value.length === 4 ? (value[3] as Value) : undefined,
    };
  },
  liveDots: (state): Dot[] => (state.stamp && state.value !== undefined ? [state.stamp] : []),
  compact(state, stable) {
    // A stable delete: every write still to come is newer, so "absent since then" is just absent.
    if (state.value !== undefined || !state.stamp || !stable.includes(state.stamp.origin, state.stamp.seq))
      return false;
    state.stamp = undefined;
    return true;
  },
};
