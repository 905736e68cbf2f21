import { DriftlessError, isValueMap, measureValue, type Value, type ValueMap } from '@driftless/core';

/** What a caller asks a key to become; `ReplicaState.prepare` turns it into a write. */
export type Intent =
  | { readonly kind: 'set'; readonly value: Value }
  | { readonly kind: 'patch'; readonly patch: ValueMap }
  | { readonly kind: 'incr'; readonly delta: number }
  | { readonly kind: 'add'; readonly element: Value }
  | { readonly kind: 'remove'; readonly element: Value }
  /** A Yjs update (v1 encoding) made by a Y.Doc that holds what the key reads. */
  | { readonly kind: 'yjs'; readonly update: Uint8Array }
  | { readonly kind: 'del' };

/** How a collection resolves concurrent `set`s: last writer wins, or keep them as siblings. */
export type CollectionMode = 'lww' | 'mv';

function invalid(message: string): never {
  throw new DriftlessError('INVALID_ARGUMENT', message);
}

/** Throws INVALID_ARGUMENT unless `intent` is well-formed. */
export function validateIntent(intent: Intent): void {
  switch (intent?.kind) {
    case 'set':
      if (measureValue(intent.value) < 0)
        invalid('the value must be plain JSON data (or bytes), at most 48 levels deep');
      return;
    case 'patch':
      if (!isValueMap(intent.patch) || measureValue(intent.patch) < 0)
        invalid('a patch must be a JSON object');
      return;
    case 'incr':
      if (!Number.isSafeInteger(intent.delta) || intent.delta === 0) {
        invalid('an increment must be a non-zero whole number within ±2^53');
      }
      return;
    case 'add':
    case 'remove':
      if (measureValue(intent.element) < 0) invalid('a set element must be plain JSON data (or bytes)');
      return;
    case 'yjs':
      if (!(intent.update instanceof Uint8Array) || intent.update.length === 0)
        invalid('a Yjs update must be non-empty bytes (a Uint8Array in the v1 encoding)');
      return;
    case 'del':
      return;
    default:
      invalid(`unknown write kind ${JSON.stringify((intent as { kind?: unknown })?.kind)}`);
  }
}
