import type { Dot, Value } from '@driftless/core';
import { compareDotOrder, hasDot, joinDots, type Stamp } from '../stamp.js';
import { badSnapshot, decodeStamp, encodeStamp } from './codec-helpers.js';
import type { CrdtType } from './crdt-type.js';

/** One of a multi-value register's concurrent values. */
export interface Sibling extends Stamp {
  readonly value: Value;
}

/** A multi-value register: every write not yet seen by a later write, side by side. */
export interface MvRegisterState {
  siblings: Sibling[];
}

/**
 * Multi-value register (the dotted-version-vector model of Riak and CouchDB): a write replaces
 * exactly the siblings its writer had seen and is added beside the others. Siblings are at most
 * one per write concurrent with all the others, so they never multiply without bound.
 */
export const mvRegister: CrdtType<MvRegisterState> = {
  name: 'mv',
  create: () => ({ siblings: [] }),
  apply(state, stamp, mutation, conflict) {
    if (mutation.kind !== 'mvset') return false;
    if (hasDot(state.siblings, stamp)) return false;
    state.siblings = state.siblings.filter((sibling) => !hasDot(mutation.seen, sibling));
    state.siblings.push({ ...stamp, value: mutation.value });
    state.siblings.sort(compareDotOrder);
    for (const sibling of state.siblings)
      if (sibling !== undefined && !sameAs(sibling, stamp)) conflict('siblings', stamp, sibling);
    return true;
  },
  delete(state, { seen }) {
    const kept = state.siblings.filter((sibling) => !hasDot(seen, sibling));
    const changed = kept.length !== state.siblings.length;
    state.siblings = kept;
    return changed;
  },
  merge: (a, b, seenA, seenB) => ({ siblings: joinDots(a.siblings, b.siblings, seenA, seenB) }),
  read: (state) =>
    state.siblings.length === 0
      ? undefined
      : state.siblings.map((sibling) => ({ value: sibling.value, origin: sibling.origin, hlc: sibling.hlc })),
  encode: (state) => state.siblings.flatMap((sibling) => [...encodeStamp(sibling), sibling.value]),
  decode(value) {
    if (!Array.isArray(value) || value.length % 4 !== 0) badSnapshot('multi-value register');
    const siblings: Sibling[] = [];
    for (let i = 0; i < value.length; i += 4) {
      siblings.push({ ...decodeStamp(value, i, 'multi-value register'), value: value[i + 3] as Value });
    }
    return { siblings: siblings.sort(compareDotOrder) };
  },
  liveDots: (state): Dot[] => state.siblings.map(({ origin, seq }) => ({ origin, seq })),
  // Deletes and overwrites leave nothing behind: only live siblings are kept.
  compact: () => false,
};

function sameAs(a: Dot, b: Dot): boolean {
  return a.origin === b.origin && a.seq === b.seq;
}
