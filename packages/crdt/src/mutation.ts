import { type Dot, DriftlessError, isNodeId, isValueMap, type Value } from '@driftless/core';

/**
 * What an op does to its key, as the conflict-resolution layer defines it. On the wire a mutation
 * is a short array led by a kind code:
 *
 *   [0, value, seen?]          set        last-writer-wins register
 *   [1, seen, counterSeen]     del        delete everything the writer had seen
 *   [2, patch, seen?]          patch      JSON merge patch of a document (null removes a field)
 *   [3, delta]                 incr       counter increment (negative: decrement)
 *   [4, element, seen]         add        add to an add-wins set
 *   [5, element, seen]         remove     remove from an add-wins set what the writer had seen
 *   [6, update, base?]         yjs        a Yjs update (v1 encoding) joining the key's documents
 *                                        named by `base`; without a base, a new document
 *   [7, value, seen]           mvset      multi-value register write
 *
 * `seen` is a flat [origin, seq, …] list of the dots the writer had observed on the key and
 * replaces; `counterSeen` a flat [origin, increments, decrements, …] list of the counter totals
 * the writer observed; `base` a flat [origin, seq, …] list naming the Yjs documents the writer
 * read (each document is named by the dots of the writes that started it).
 */
export type Mutation =
  | { readonly kind: 'set'; readonly value: Value; readonly seen: readonly Dot[] }
  | { readonly kind: 'del'; readonly seen: readonly Dot[]; readonly counterSeen: readonly CounterTotals[] }
  | { readonly kind: 'patch'; readonly patch: Value; readonly seen: readonly Dot[] }
  | { readonly kind: 'incr'; readonly delta: number }
  | { readonly kind: 'add'; readonly element: Value; readonly seen: readonly Dot[] }
  | { readonly kind: 'remove'; readonly element: Value; readonly seen: readonly Dot[] }
  | { readonly kind: 'yjs'; readonly update: Uint8Array; readonly base: readonly Dot[] }
  | { readonly kind: 'mvset'; readonly value: Value; readonly seen: readonly Dot[] };

/** One origin's counter totals: what it added and what it subtracted. */
export interface CounterTotals {
  readonly origin: string;
  readonly up: number;
  readonly down: number;
}

/** The kind of a mutation. */
export type MutationKind = Mutation['kind'];

const KIND_CODES = { set: 0, del: 1, patch: 2, incr: 3, add: 4, remove: 5, yjs: 6, mvset: 7 } as const;
const KINDS = ['set', 'del', 'patch', 'incr', 'add', 'remove', 'yjs', 'mvset'] as const;

function invalid(message: string): never {
  throw new DriftlessError('MUTATION_INVALID', `invalid mutation: ${message}`);
}

function encodeDots(dots: readonly Dot[]): Value[] {
  const flat: Value[] = [];
  for (const { origin, seq } of dots) flat.push(origin, seq);
  return flat;
}

/** No dots: one frozen list for every mutation and state that names none. */
export const NO_DOTS: readonly Dot[] = Object.freeze([]);

function decodeDots(value: Value | undefined): readonly Dot[] {
  if (value === undefined) return NO_DOTS;
  if (!Array.isArray(value) || value.length % 2 !== 0) invalid('seen must be a flat [origin, seq, …] list');
  const dots: Dot[] = [];
  for (let i = 0; i < value.length; i += 2) {
    const origin: unknown = value[i];
    const seq: unknown = value[i + 1];
    if (!isNodeId(origin) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      invalid('seen holds something other than dots');
    }
    dots.push({ origin, seq });
  }
  return dots;
}

function isTotal(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Encodes a mutation for an op. */
export function encodeMutation(mutation: Mutation): Value {
  const code = KIND_CODES[mutation.kind];
  switch (mutation.kind) {
    case 'set':
    case 'mvset':
      return mutation.seen.length > 0
        ? [code, mutation.value, encodeDots(mutation.seen)]
        : [code, mutation.value];
    case 'patch':
      return mutation.seen.length > 0
        ? [code, mutation.patch, encodeDots(mutation.seen)]
        : [code, mutation.patch];
    case 'del':
      return [
        code,
        encodeDots(mutation.seen),
        mutation.counterSeen.flatMap(({ origin, up, down }) => [origin, up, down]),
      ];
    case 'incr':
      return [code, mutation.delta];
    case 'add':
    case 'remove':
      return [code, mutation.element, encodeDots(mutation.seen)];
    case 'yjs':
      return mutation.base.length > 0
        ? [code, mutation.update, encodeDots(mutation.base)]
        : [code, mutation.update];
  }
}

/** Decodes and validates an op's mutation; throws MUTATION_INVALID when it is not one. */
export function decodeMutation(value: Value): Mutation {
  if (!Array.isArray(value) || value.length < 2 || value.length > 3) invalid('not a [kind, …] array');
  // Only a number may index KINDS: a peer's map with its own `toString` would throw becoming a key.
  const code = value[0];
  const kind = typeof code === 'number' ? KINDS[code] : undefined;
  if (kind === undefined) invalid(`unknown kind ${typeof code === 'number' ? code : typeof code}`);
  const [, first, second] = value as [number, Value, Value | undefined];
  switch (kind) {
    case 'set':
    case 'mvset':
      return { kind, value: first, seen: decodeDots(second) };
    case 'patch':
      if (!isValueMap(first)) invalid('a patch must be an object');
      return { kind, patch: first, seen: decodeDots(second) };
    case 'del': {
      const counterSeen: CounterTotals[] = [];
      const totals = second ?? [];
      if (!Array.isArray(totals) || totals.length % 3 !== 0)
        invalid('counter totals must be [origin, up, down, …]');
      for (let i = 0; i < totals.length; i += 3) {
        const [origin, up, down] = [totals[i], totals[i + 1], totals[i + 2]];
        if (!isNodeId(origin) || !isTotal(up) || !isTotal(down))
          invalid('counter totals hold something else');
        counterSeen.push({ origin, up, down });
      }
      return { kind, seen: decodeDots(first), counterSeen };
    }
    case 'incr':
      if (typeof first !== 'number' || !Number.isSafeInteger(first) || first === 0 || value.length !== 2) {
        invalid('an increment must be a non-zero whole number within ±2^53');
      }
      return { kind, delta: first };
    case 'add':
    case 'remove':
      return { kind, element: first, seen: decodeDots(second) };
    case 'yjs':
      if (!(first instanceof Uint8Array) || first.length === 0)
        invalid('a Yjs update must be non-empty bytes');
      return { kind, update: first, base: decodeDots(second) };
  }
}
