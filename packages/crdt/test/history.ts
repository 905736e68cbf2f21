/**
 * Generated histories for the law tests: 2–3 replicas write one type's ops to a few keys,
 * preparing each write against their own state (so `seen` lists are what a real writer sends),
 * and deliver each other's ops causally but only now and then, so many ops are concurrent.
 * States are then rebuilt from causally-closed subsets of a history ("cuts"), so every state a
 * law joins is one that really can coexist with the others.
 */
import { DriftlessError, HybridLogicalClock, type Op, type Value, VersionVector } from '@driftless/core';
import { seededRandom } from '@driftless/core/testing';
import { type Intent, ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import * as Y from 'yjs';
import { type ModelOp, modelOp } from './reference-model.js';

/** The types the law suites cover; 'mixed' writes every type's intents to the same keys (type conflicts). */
export type Flavour = 'register' | 'mv' | 'document' | 'counter' | 'set' | 'yjs' | 'mixed';

/**
 * A Yjs edit, made when the script runs: the writer's Y.Doc client loads what the key reads and
 * makes the edit `choices` pick; its update becomes a `yjs` intent.
 */
export interface YjsEdit {
  readonly kind: 'yjsEdit';
  readonly choices: readonly number[];
}

/** One step of a generated script: a write at a replica, or a delivery to one. */
export type Step =
  | {
      readonly kind: 'write';
      readonly replica: number;
      readonly collection: number;
      readonly key: number;
      readonly intent: Intent | YjsEdit;
    }
  | { readonly kind: 'deliver'; readonly replica: number; readonly pick: number };

/** A script: how many replicas, their clock skews, whether they observe remote clocks, and the steps. */
export interface Script {
  readonly replicas: number;
  readonly skewsMs: readonly number[];
  readonly observe: boolean;
  readonly steps: readonly { readonly step: Step; readonly advanceMs: number }[];
}

/** The ops a script wrote, in the order written (a causal order), with each op's causal past. */
export interface History {
  readonly flavour: Flavour;
  readonly collections: readonly string[];
  readonly keys: readonly string[];
  readonly ops: readonly ModelOp[];
}

/** Which subset of a history a state holds: per origin a cut point, closed under causality. */
export interface Cut {
  readonly cuts: readonly number[];
  /** Seeds the order (one causal order among many) in which the state applies its ops. */
  readonly orderSeed: number;
}

/** At most this many writes per history, so a thousand runs of a law stay fast. */
export const MAX_WRITES = 12;
const KEYS = ['k1', 'k2', 'k3'];

/**
 * The collections a flavour writes to: 'docs' is in last-writer-wins mode, 'votes' in
 * multi-value mode (its `set`s write multi-value registers); 'mixed' writes to both.
 */
export function collectionsOf(flavour: Flavour): readonly string[] {
  if (flavour === 'mixed') return ['docs', 'votes'];
  return flavour === 'mv' ? ['votes'] : ['docs'];
}

/** A fresh replica state configured as the writers' states are. */
export function freshState(): ReplicaState {
  const state = new ReplicaState();
  state.setCollectionMode('votes', 'mv');
  return state;
}

const scalar = fc.constantFrom<Value>(0, 1, 2, 'x', true, null);
const registerValue = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom<Value>({ nested: [1, 'a'] }, [1, 2], new Uint8Array([7, 8])) },
);

/** A merge patch of some of `names`, each absent or holding a value from `value`. */
function patchOf(names: readonly string[], value: fc.Arbitrary<Value>): fc.Arbitrary<Record<string, Value>> {
  return fc.tuple(...names.map(() => fc.option(value, { nil: undefined, freq: 2 }))).map((values) => {
    const patch: Record<string, Value> = {};
    names.forEach((name, i) => {
      if (values[i] !== undefined) patch[name] = values[i];
    });
    return patch;
  });
}

const leaf = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Value>(0, 1, 2, 'y') },
  { weight: 2, arbitrary: fc.constant<Value>(null) },
  { weight: 1, arbitrary: fc.constantFrom<Value>({}, [1, 2]) },
);
// Two levels: fields a, b, c at the top, x and y beneath them (objects merge, null removes).
const patch = patchOf(
  ['a', 'b', 'c'],
  fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 2, arbitrary: patchOf(['x', 'y'], leaf) }),
);

const del = fc.constant<Intent>({ kind: 'del' });
const element = fc.constantFrom<Value>('a', 1, { o: 1 });
const setOrDel = fc.oneof(
  { weight: 5, arbitrary: registerValue.map((value): Intent => ({ kind: 'set', value })) },
  { weight: 1, arbitrary: del },
);
const INTENTS: Record<Exclude<Flavour, 'mixed' | 'yjs'>, fc.Arbitrary<Intent>> = {
  // The same intents: in the multi-value collection a `set` writes a multi-value register.
  register: setOrDel,
  mv: setOrDel,
  document: fc.oneof(
    { weight: 6, arbitrary: patch.map((p): Intent => ({ kind: 'patch', patch: p })) },
    { weight: 1, arbitrary: del },
  ),
  counter: fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(2 ** 40, -(2 ** 40)))
        .filter((delta) => delta !== 0)
        .map((delta): Intent => ({ kind: 'incr', delta })),
    },
    { weight: 2, arbitrary: del },
  ),
  set: fc.oneof(
    { weight: 5, arbitrary: element.map((e): Intent => ({ kind: 'add', element: e })) },
    { weight: 3, arbitrary: element.map((e): Intent => ({ kind: 'remove', element: e })) },
    { weight: 1, arbitrary: del },
  ),
};
const MIXED = fc.oneof(INTENTS.register, INTENTS.document, INTENTS.counter, INTENTS.set);
const YJS = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(fc.nat(99), { minLength: 4, maxLength: 4 })
      .map((choices): YjsEdit => ({ kind: 'yjsEdit', choices })),
  },
  { weight: 1, arbitrary: del },
);

/** Scripts for one flavour: up to MAX_WRITES writes interleaved with sparse deliveries. */
export function scriptOf(flavour: Flavour): fc.Arbitrary<Script> {
  const intent: fc.Arbitrary<Intent | YjsEdit> =
    flavour === 'mixed' ? MIXED : flavour === 'yjs' ? YJS : INTENTS[flavour];
  return fc.integer({ min: 2, max: 3 }).chain((replicas) => {
    const replica = fc.integer({ min: 0, max: replicas - 1 });
    const step = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('write' as const),
          replica,
          collection: fc.integer({ min: 0, max: collectionsOf(flavour).length - 1 }),
          // Mostly the first key, so writes often see, replace and race each other.
          key: fc.oneof(
            { weight: 3, arbitrary: fc.constant(0) },
            fc.integer({ min: 1, max: KEYS.length - 1 }),
          ),
          intent,
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ kind: fc.constant('deliver' as const), replica, pick: fc.nat(7) }),
      },
    );
    return fc.record({
      replicas: fc.constant(replicas),
      skewsMs: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: replicas, maxLength: replicas }),
      observe: fc.boolean(),
      steps: fc.array(fc.record({ step, advanceMs: fc.integer({ min: 0, max: 2 }) }), {
        minLength: 2,
        maxLength: 3 * MAX_WRITES,
        size: 'max',
      }),
    });
  });
}

interface Writer {
  readonly id: string;
  readonly state: ReplicaState;
  readonly clock: HybridLogicalClock;
  seq: number;
  inbox: ModelOp[];
  /** Per key, the Y.Doc of the writer's Yjs client, and how many Y.Docs it has started. */
  readonly yjsClients: Map<string, Y.Doc>;
  yjsDocs: number;
}

/** Runs a script: the ops it writes, each with the version vector of its writer just after it. */
export function runScript(flavour: Flavour, script: Script): History {
  const collections = collectionsOf(flavour);
  let wallMs = Date.UTC(2026, 0, 1);
  const writers: Writer[] = Array.from({ length: script.replicas }, (_, i) => ({
    id: `r${i}`,
    state: freshState(),
    clock: new HybridLogicalClock({
      now: () => wallMs + (script.skewsMs[i] ?? 0),
      maxSkewMs: Number.MAX_SAFE_INTEGER,
    }),
    seq: 0,
    inbox: [],
    yjsClients: new Map(),
    yjsDocs: 0,
  }));
  const ops: ModelOp[] = [];
  for (const { step, advanceMs } of script.steps) {
    wallMs += advanceMs;
    const writer = writers[step.replica] as Writer;
    if (step.kind === 'deliver') {
      const vector = writer.state.versionVector;
      const ready = writer.inbox.filter((m) => isReady(vector, m));
      const message = ready[step.pick % Math.max(1, ready.length)];
      if (!message) continue;
      writer.inbox = writer.inbox.filter((m) => m !== message);
      writer.state.apply(message.op);
      if (script.observe) writer.clock.observe(message.op.hlc);
      continue;
    }
    if (ops.length >= MAX_WRITES) continue;
    let write: ReturnType<ReplicaState['prepare']>;
    const collection = collections[step.collection % collections.length] as string;
    const key = KEYS[step.key] as string;
    try {
      const intent =
        step.intent.kind === 'yjsEdit' ? yjsIntent(writer, collection, key, step.intent) : step.intent;
      if (!intent) continue;
      write = writer.state.prepare(collection, key, intent);
    } catch (error) {
      if ((error as { code?: string }).code === 'TYPE_CONFLICT') continue;
      // The client's Y.Doc built on a document since deleted: a real client starts a new Y.Doc.
      if (error instanceof DriftlessError && error.code === 'YJS_MISSING_DEPENDENCY') {
        writer.yjsClients.delete(`${collection}/${key}`);
        continue;
      }
      throw error;
    }
    const op: Op = { origin: writer.id, seq: ++writer.seq, hlc: writer.clock.now(), ...write };
    const past = writer.state.versionVector.with(op.origin, op.seq);
    writer.state.apply(op);
    const message = modelOp(op, past);
    ops.push(message);
    for (const other of writers) if (other !== writer) other.inbox.push(message);
  }
  return { flavour, collections, keys: KEYS, ops };
}

/**
 * The `yjs` intent of an edit at `writer`: its Y.Doc client for the key loads what the key reads
 * (a new Y.Doc, with a client id unique in the history, when the key reads as absent), makes the
 * edit, and sends the update of that one transaction. Undefined when the edit changed nothing.
 */
function yjsIntent(writer: Writer, collection: string, key: string, edit: YjsEdit): Intent | undefined {
  const read = writer.state.get(collection, key);
  const name = `${collection}/${key}`;
  let doc = writer.yjsClients.get(name);
  if (!doc || read === undefined) {
    doc = new Y.Doc({ guid: name });
    doc.clientID = Number(writer.id.slice(1)) * 1000 + ++writer.yjsDocs;
    writer.yjsClients.set(name, doc);
  }
  if (read?.value instanceof Uint8Array) Y.applyUpdate(doc, read.value);
  const updates: Uint8Array[] = [];
  const capture = (update: Uint8Array) => updates.push(update);
  doc.on('update', capture);
  doc.transact(() => yjsEdit(doc, edit.choices));
  doc.off('update', capture);
  const [update] = updates;
  return update ? { kind: 'yjs', update } : undefined;
}

/** One edit of a document's text 't', array 'a' or map 'm' (and what is nested in them), as `choices` pick. */
export function yjsEdit(doc: Y.Doc, [what = 0, where = 0, value = 0, extra = 0]: readonly number[]): void {
  const text = doc.getText('t');
  const array = doc.getArray<unknown>('a');
  const map = doc.getMap<unknown>('m');
  const field = ['x', 'y', 'z'][value % 3] as string;
  switch (what % 8) {
    case 0:
    case 1:
      text.insert(where % (text.length + 1), ['a', 'bc', 'é😀'][value % 3] as string);
      break;
    case 2:
      if (text.length > 0) text.delete(where % text.length, 1 + (extra % Math.min(2, text.length)));
      break;
    case 3:
      array.insert(where % (array.length + 1), [value % 2 === 0 ? value : { v: value }]);
      break;
    case 4:
      if (array.length > 0) array.delete(where % array.length, 1);
      break;
    case 5:
      map.set(field, extra % 4 === 0 ? null : extra);
      break;
    case 6: {
      // Nested types: a map and a text inside the map, edited where they already are.
      const nested = map.get(field);
      if (nested instanceof Y.Map) nested.set(String(extra % 3), value);
      else if (nested instanceof Y.Text) nested.insert(where % (nested.length + 1), 'n');
      else map.set(field, extra % 2 === 0 ? new Y.Map() : new Y.Text('t'));
      break;
    }
    default:
      if (map.has(field)) map.delete(field);
      else array.insert(0, [new Y.Array()]);
  }
}

/** True when `message` can be applied to a state that has applied `vector`. */
export function isReady(vector: VersionVector, message: ModelOp): boolean {
  const { origin, seq } = message.op;
  if (vector.get(origin) !== seq - 1) return false;
  for (const [o, s] of message.past.entries()) {
    if (vector.get(o) < (o === origin ? s - 1 : s)) return false;
  }
  return true;
}

/** True when `earlier` is in the causal past of `later` (or is it). */
export function happenedBefore(earlier: ModelOp, later: ModelOp): boolean {
  return later.past.includes(earlier.op.origin, earlier.op.seq);
}

/** The causal past of an op, without the op itself: the least state it can be applied to. */
export function pastBefore(message: ModelOp): VersionVector {
  const { origin, seq } = message.op;
  return VersionVector.from(
    message.past.entries().map(([o, s]): [string, number] => [o, o === origin ? seq - 1 : s]),
  );
}

/** Cut points and an order seed for one state. */
export const cutArbitrary: fc.Arbitrary<Cut> = fc.record({
  cuts: fc.array(fc.nat(MAX_WRITES), { minLength: 3, maxLength: 3 }),
  orderSeed: fc.nat(),
});

/** The causally-closed set of ops a cut selects: per origin a prefix, plus everything those ops saw. */
export function vectorOf(history: History, cut: Cut): VersionVector {
  const origins = [...new Set(history.ops.map((m) => m.op.origin))].sort();
  let vector = VersionVector.EMPTY;
  origins.forEach((origin, i) => {
    const own = history.ops.filter((m) => m.op.origin === origin);
    const last = own[((cut.cuts[i] ?? 0) % (own.length + 1)) - 1];
    if (last) vector = vector.merge(last.past);
  });
  return vector;
}

/** The vector of every op in the history. */
export function wholeOf(history: History): VersionVector {
  return VersionVector.from(history.ops.map(({ op }): [string, number] => [op.origin, op.seq]));
}

/** The ops of `history` that `vector` covers and `without` does not, in history order. */
export function opsBetween(
  history: History,
  vector: VersionVector,
  without = VersionVector.EMPTY,
): ModelOp[] {
  return history.ops.filter(
    ({ op }) => vector.includes(op.origin, op.seq) && !without.includes(op.origin, op.seq),
  );
}

/** Applies `ops` (a causally-closed batch) to `state` in a random causal order drawn from `seed`. */
export function applyCausally(state: ReplicaState, ops: readonly ModelOp[], seed: number): void {
  const random = seededRandom(seed);
  const pending = [...ops];
  while (pending.length > 0) {
    const vector = state.versionVector;
    const ready = pending.filter((m) => isReady(vector, m));
    const message = ready[Math.floor(random() * ready.length)];
    if (!message) throw new Error('the batch is not causally closed over the state');
    pending.splice(pending.indexOf(message), 1);
    state.apply(message.op);
  }
}

/** A fresh state holding exactly the ops `vector` covers, applied in an order drawn from `seed`. */
export function stateAt(history: History, vector: VersionVector, seed: number): ReplicaState {
  const state = freshState();
  applyCausally(state, opsBetween(history, vector), seed);
  return state;
}

/** A fresh state for a cut. */
export function stateOf(history: History, cut: Cut): ReplicaState {
  return stateAt(history, vectorOf(history, cut), cut.orderSeed);
}

/**
 * Everything a reader can observe of a state's collections: each key's read, and the listing.
 * Bytes are compared by content: after a restore the codec hands them back as Node Buffers.
 */
export function readsOf(history: History, state: ReplicaState): unknown {
  return plainBytes(
    history.collections.map((collection) => ({
      keys: history.keys.map((key) => state.get(collection, key)),
      list: state.list(collection, { limit: 1000 }).items,
    })),
  );
}

function plainBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(plainBytes);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([field, v]) => [field, plainBytes(v)]));
  }
  return value;
}

/** The history as text, for a failure message. */
export function formatHistory(history: History): string {
  return history.ops
    .map(
      ({ op, mutation, past }) =>
        `${op.origin}:${op.seq} hlc=${op.hlc} ${op.collection}/${op.key} ${JSON.stringify(mutation)} past=${JSON.stringify(past)}`,
    )
    .join('\n');
}
