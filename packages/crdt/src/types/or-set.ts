import type { Dot, Value } from '@driftless/core';
import { compareDotOrder, hasDot, joinDots } from '../stamp.js';
import { canonicalKey } from './canonical.js';
import { badSnapshot, decodeDotList, encodeDotList } from './codec-helpers.js';
import type { CrdtType } from './crdt-type.js';

/** An element and the dots of the adds that keep it in the set. */
export interface SetElement {
  readonly element: Value;
  dots: Dot[];
}

/** An add-wins observed-remove set. */
export interface OrSetState {
  /** Keyed by the element's canonical key. */
  elements: Map<string, SetElement>;
}

/**
 * Add-wins observed-remove set: an add tags the element with its dot (replacing the tags its
 * writer had seen); a remove deletes only the tags its writer had seen, so an add concurrent with
 * a remove survives it.
 */
export const orSet: CrdtType<OrSetState> = {
  name: 'set',
  create: () => ({ elements: new Map() }),
  apply(state, stamp, mutation) {
    if (mutation.kind !== 'add' && mutation.kind !== 'remove') return false;
    const key = canonicalKey(mutation.element);
    const entry = state.elements.get(key);
    const before = entry?.dots.length ?? 0;
    const dots = (entry?.dots ?? []).filter((dot) => !hasDot(mutation.seen, dot));
    if (mutation.kind === 'add' && !hasDot(dots, stamp)) dots.push({ origin: stamp.origin, seq: stamp.seq });
    dots.sort(compareDotOrder);
    if (dots.length === 0) state.elements.delete(key);
    else state.elements.set(key, { element: entry?.element ?? mutation.element, dots });
    return dots.length !== before || mutation.kind === 'add';
  },
  delete(state, { seen }) {
    let changed = false;
    for (const [key, entry] of state.elements) {
      const dots = entry.dots.filter((dot) => !hasDot(seen, dot));
      if (dots.length === entry.dots.length) continue;
      changed = true;
      if (dots.length === 0) state.elements.delete(key);
      else entry.dots = dots;
    }
    return changed;
  },
  merge(a, b, seenA, seenB) {
    const elements = new Map<string, SetElement>();
    for (const key of new Set([...a.elements.keys(), ...b.elements.keys()])) {
      const x = a.elements.get(key);
      const y = b.elements.get(key);
      const dots = joinDots(x?.dots ?? [], y?.dots ?? [], seenA, seenB);
      if (dots.length > 0) elements.set(key, { element: (x ?? y)?.element as Value, dots });
    }
    return { elements };
  },
  read(state) {
    if (state.elements.size === 0) return undefined;
    return [...state.elements.keys()].sort().map((key) => (state.elements.get(key) as SetElement).element);
  },
  encode(state) {
    const flat: Value[] = [];
    for (const key of [...state.elements.keys()].sort()) {
      const entry = state.elements.get(key) as SetElement;
      flat.push(entry.element, encodeDotList(entry.dots));
    }
    return flat;
  },
  decode(value) {
    if (!Array.isArray(value) || value.length % 2 !== 0) badSnapshot('set');
    const elements = new Map<string, SetElement>();
    for (let i = 0; i < value.length; i += 2) {
      const element = value[i] as Value;
      const dots = decodeDotList(value[i + 1], 'set').sort(compareDotOrder);
      if (dots.length === 0) badSnapshot('set');
      elements.set(canonicalKey(element), { element, dots });
    }
    return { elements };
  },
  liveDots: (state) => [...state.elements.values()].flatMap((entry) => entry.dots),
  // Removes and deletes leave nothing behind: only live tags are kept.
  compact: () => false,
};

/** The dots tagging `element` in the set: what a remove of it has seen. */
export function elementDots(state: OrSetState, element: Value): Dot[] {
  return [...(state.elements.get(canonicalKey(element))?.dots ?? [])];
}
