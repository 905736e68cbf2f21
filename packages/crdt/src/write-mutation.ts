import type { Dot } from '@driftless/core';
import type { CollectionMode, Intent } from './intent.js';
import type { KeyEntry } from './key-entry.js';
import { type Mutation, NO_DOTS } from './mutation.js';
import { type CounterState, observedTotals } from './types/counter.js';
import type { TypeName } from './types/crdt-type.js';
import { elementDots, type OrSetState } from './types/or-set.js';
import { TYPES } from './types/registry.js';
import { visibleDocumentIds, type YjsState } from './types/yjs.js';

/**
 * Turns a caller's intent into the mutation its op carries, with what this replica has seen of the
 * key (`entry`, undefined when it holds nothing): the dots a write replaces, the counter totals a
 * delete removes, the Yjs documents an update builds on. Runs once per local write: no closures.
 */
export function mutationFor(intent: Intent, entry: KeyEntry | undefined, mode: CollectionMode): Mutation {
  switch (intent.kind) {
    case 'set':
      return mode === 'mv'
        ? { kind: 'mvset', value: intent.value, seen: liveDots(entry, 'mv') }
        : { kind: 'set', value: intent.value, seen: liveDots(entry, 'register') };
    case 'patch':
      return { kind: 'patch', patch: intent.patch, seen: liveDots(entry, 'document') };
    case 'incr':
      return { kind: 'incr', delta: intent.delta };
    case 'add':
    case 'remove': {
      const set = entry?.peek('set') as OrSetState | undefined;
      const seen = set ? elementDots(set, intent.element) : [];
      return { kind: intent.kind, element: intent.element, seen };
    }
    case 'yjs': {
      const state = entry?.peek('yjs') as YjsState | undefined;
      return { kind: 'yjs', update: intent.update, base: state ? visibleDocumentIds(state) : [] };
    }
    case 'del': {
      const seen = [...liveDots(entry, 'mv'), ...liveDots(entry, 'set'), ...liveDots(entry, 'yjs')];
      const counter = entry?.peek('counter') as CounterState | undefined;
      const counterSeen = counter ? observedTotals(counter) : [];
      return { kind: 'del', seen, counterSeen };
    }
  }
}

/** The live dots of the key's `type` state: what a write of that type replaces. */
function liveDots(entry: KeyEntry | undefined, type: TypeName): readonly Dot[] {
  const state = entry?.peek(type);
  return state === undefined ? NO_DOTS : TYPES[type].liveDots(state);
}
