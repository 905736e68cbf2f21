/**
 * The obviously-correct specification each replica must equal: every key's value computed
 * directly from the whole set of ops written to it, with each op's causal past.
 */
import { isValueMap, type Op, type Value, type ValueMap, type VersionVector } from '@driftless/core';
import { compareStamps, decodeMutation, type Mutation, type ReadResult } from '@driftless/crdt';

/** An op with the version vector of everything its origin had applied when it was written. */
export interface ModelOp {
  readonly op: Op;
  readonly mutation: Mutation;
  readonly past: VersionVector;
}

const TYPE_OF = {
  set: 'register',
  mvset: 'mv',
  patch: 'document',
  incr: 'counter',
  add: 'set',
  remove: 'set',
  yjs: 'yjs',
} as const;

function inPastOf(later: ModelOp, earlier: ModelOp): boolean {
  return later.past.includes(earlier.op.origin, earlier.op.seq);
}

const byStamp = (a: ModelOp, b: ModelOp) => compareStamps(a.op, b.op);

/** The key's type: that of its latest value-carrying op, or undefined while only deletes touched it. */
export function modelType(ops: readonly ModelOp[]): (typeof TYPE_OF)[keyof typeof TYPE_OF] | undefined {
  const latest = ops
    .filter((m) => m.mutation.kind !== 'del')
    .sort(byStamp)
    .at(-1);
  return latest && TYPE_OF[latest.mutation.kind as keyof typeof TYPE_OF];
}

/**
 * What a key reads as, given every op ever written to it. A yjs key is read by modelYjs
 * (yjs-reference-model.ts), which compares content rather than bytes: check modelType first.
 */
export function modelRead(ops: readonly ModelOp[]): ReadResult | undefined {
  const type = modelType(ops);
  if (type === undefined) return undefined;
  if (type === 'yjs') throw new Error('modelRead: a key of type yjs is read by modelYjs');
  const dels = ops.filter((m) => m.mutation.kind === 'del');
  const deleted = (m: ModelOp) => dels.some((d) => inPastOf(d, m));
  switch (type) {
    case 'register': {
      const last = ops
        .filter((m) => m.mutation.kind === 'set' || m.mutation.kind === 'del')
        .sort(byStamp)
        .at(-1);
      return last?.mutation.kind === 'set' ? { type, value: last.mutation.value } : undefined;
    }
    case 'mv': {
      const writes = ops.filter((m) => m.mutation.kind === 'mvset');
      const live = writes
        .filter(
          (w) =>
            !ops.some(
              (o) => (o.mutation.kind === 'mvset' || o.mutation.kind === 'del') && o !== w && inPastOf(o, w),
            ),
        )
        .sort((a, b) =>
          a.op.origin < b.op.origin ? -1 : a.op.origin > b.op.origin ? 1 : a.op.seq - b.op.seq,
        );
      if (live.length === 0) return undefined;
      const siblings = live.map((w) => ({
        value: (w.mutation as { value: Value }).value,
        origin: w.op.origin,
        hlc: w.op.hlc,
      }));
      return { type, value: siblings.length === 1 ? siblings[0]?.value : undefined, siblings };
    }
    case 'counter': {
      const live = ops.filter((m) => m.mutation.kind === 'incr' && !deleted(m));
      if (live.length === 0) return undefined;
      return { type, value: live.reduce((sum, m) => sum + (m.mutation as { delta: number }).delta, 0) };
    }
    case 'set': {
      const present = new Map<string, Value>();
      for (const add of ops.filter((m) => m.mutation.kind === 'add')) {
        const element = (add.mutation as { element: Value }).element;
        const removed = ops.some(
          (o) =>
            inPastOf(o, add) &&
            (o.mutation.kind === 'del' ||
              (o.mutation.kind === 'remove' && sameValue(o.mutation.element, element))),
        );
        if (!removed) present.set(canonical(element), element);
      }
      if (present.size === 0) return undefined;
      return { type, value: [...present.keys()].sort().map((key) => present.get(key) as Value) };
    }
    case 'document': {
      let doc: Record<string, Value> = {};
      for (const m of ops
        .filter((o) => o.mutation.kind === 'patch' || o.mutation.kind === 'del')
        .sort(byStamp)) {
        doc =
          m.mutation.kind === 'del'
            ? {}
            : (mergePatch(doc, (m.mutation as { patch: ValueMap }).patch) as Record<string, Value>);
      }
      return Object.keys(doc).length === 0 ? undefined : { type, value: doc };
    }
  }
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Value | undefined, patch: Value): Value {
  if (!isValueMap(patch)) return patch;
  const result: Record<string, Value> = isValueMap(target ?? null) ? { ...(target as ValueMap) } : {};
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete result[field];
    else result[field] = mergePatch(result[field], value);
  }
  return result;
}

function canonical(value: Value): string {
  return JSON.stringify(value, (_, v) =>
    isValueMap(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

function sameValue(a: Value, b: Value): boolean {
  return canonical(a) === canonical(b);
}

/** Decodes an op's mutation for the model. */
export function modelOp(op: Op, past: VersionVector): ModelOp {
  return { op, mutation: decodeMutation(op.mutation), past };
}
