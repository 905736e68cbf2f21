/**
 * The writes of a history, indexed for the checker: per key, and by the unique value or element
 * each write carries (the workload never writes the same register value, document field value or
 * set element twice, so whatever a read shows names the one write that could have put it there).
 */
import type { Operation } from './history.js';

/** `collection/key`. */
export function keyOf(op: { collection: string; key: string }): string {
  return `${op.collection}/${op.key}`;
}

/** The JSON form the checker compares values by. */
export function valueId(value: unknown): string {
  return JSON.stringify(value);
}

/** The writes of a history that may have happened (ok or info), indexed. */
export class WriteIndex {
  /** Writes per key, in invocation order. */
  readonly byKey = new Map<string, Operation[]>();
  /** Register puts by key and value. */
  readonly #puts = new Map<string, Operation>();
  /** Document patches by key, field and value. */
  readonly #fields = new Map<string, Operation>();
  /** Set adds by key and element. */
  readonly #adds = new Map<string, Operation>();
  /** Writes per client, in invocation order (sessions). */
  readonly byClient = new Map<string, Operation[]>();

  constructor(operations: readonly Operation[]) {
    for (const op of operations) {
      if (op.kind === 'read' || op.outcome === 'fail') continue;
      push(this.byKey, keyOf(op), op);
      push(this.byClient, op.client, op);
      if (op.kind === 'put') this.#puts.set(`${keyOf(op)}|${valueId(op.arg)}`, op);
      if (op.kind === 'add') this.#adds.set(`${keyOf(op)}|${valueId(op.arg)}`, op);
      if (op.kind === 'patch') {
        for (const [field, value] of Object.entries(op.arg as Record<string, unknown>)) {
          if (value !== null) this.#fields.set(`${keyOf(op)}|${field}|${valueId(value)}`, op);
        }
      }
    }
  }

  /** Writes of `kinds` on the key of `op`. */
  writesOn(op: { collection: string; key: string }, ...kinds: Operation['kind'][]): Operation[] {
    return (this.byKey.get(keyOf(op)) ?? []).filter((write) => kinds.includes(write.kind));
  }

  /** The put that wrote `value` to the register of `read`, if any did. */
  putOf(read: Operation, value: unknown): Operation | undefined {
    return this.#puts.get(`${keyOf(read)}|${valueId(value)}`);
  }

  /** The patch that wrote `value` to `field` of the document of `read`. */
  patchOf(read: Operation, field: string, value: unknown): Operation | undefined {
    return this.#fields.get(`${keyOf(read)}|${field}|${valueId(value)}`);
  }

  /** The add of `element` to the set of `read`. */
  addOf(read: Operation, element: unknown): Operation | undefined {
    return this.#adds.get(`${keyOf(read)}|${valueId(element)}`);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Every sum of a subset of `values` (small whole numbers: the workload's increments). */
export function subsetSums(values: readonly number[]): Set<number> {
  let sums = new Set([0]);
  for (const value of values) {
    const next = new Set(sums);
    for (const sum of sums) next.add(sum + value);
    sums = next;
  }
  return sums;
}
