import { type Dot, DriftlessError, type Value } from '@driftless/core';
import { compareDotOrder, hasDot } from '../stamp.js';
import { badSnapshot, decodeDotList, encodeDotList } from './codec-helpers.js';
import type { CrdtType } from './crdt-type.js';
import {
  applyToDocument,
  byFirstId,
  canonicalOf,
  coveringCopy,
  decodeOrigins,
  documentFrom,
  encodeOrigins,
  groupDocuments,
  isVisible,
  joinOrigins,
  type KeyDocument,
  stateOf,
  unionOfIds,
} from './yjs-document.js';
import { type MissingId, missingDependency, type ParsedUpdate, parseUpdate } from './yjs-update.js';

/**
 * A key holding Yjs documents, changed by ops that each carry one Yjs update (v1 encoding).
 *
 * Documents. A key holds one or more Yjs documents. A write names the documents its writer read
 * (the op's `base`): its update joins them, merging them into one when it names several. A write
 * to a key that read as absent names none and starts a new document, named by its own dot.
 *
 * Deletes. A delete covers, per origin, every update up to the seq its writer had seen (the
 * `seen` of the delete: per origin the highest update it held). A document reads as absent while
 * every update it holds is covered; one update it holds that no delete covered (written
 * concurrently with the delete) makes the whole document visible again: add-wins, so nothing a
 * user wrote is lost. A write made after its writer saw the delete starts a new document instead,
 * so the deleted content stays deleted, and every replica reads the same whether or not it has
 * collected the deleted document yet. The key reads the visible documents, as one update.
 *
 * Pending. An update whose dependencies (items, clock ranges, base documents) are not all here
 * waits in the key's pending list, whole, and is integrated as soon as they are (Yjs would apply
 * part of it and park the rest out of sight). Honest writers never cause this: the origin refuses
 * such updates and ops arrive causally. What ends up integrated does not depend on the order of
 * arrival. A key holds at most MAX_YJS_PENDING_UPDATES updates and MAX_YJS_PENDING_BYTES bytes
 * pending; an op that would exceed either is rejected (a no-op), and a join keeps the earliest by
 * dot. Past the caps, replicas that received such updates in different orders can differ.
 *
 * Invalid updates (malformed, or refused by Yjs while applying) are rejected with the document
 * unchanged: the type throws MUTATION_INVALID, and ReplicaState applies the op as a no-op.
 */

/** The most updates a key holds waiting for their dependencies; one more is rejected. */
export const MAX_YJS_PENDING_UPDATES = 64;
/** The most bytes of updates a key holds waiting for their dependencies; more are rejected. */
export const MAX_YJS_PENDING_BYTES = 1024 * 1024;

/** An update waiting for its dependencies. */
interface PendingUpdate {
  readonly dot: Dot;
  readonly base: readonly Dot[];
  readonly update: ParsedUpdate;
  covered: boolean;
  /** What it last waited for: no need to look again until the documents hold it. */
  waitsFor: MissingId | undefined;
}

/** A key's Yjs documents and the updates waiting for their dependencies. */
export interface YjsState {
  documents: KeyDocument[];
  pending: PendingUpdate[];
  pendingBytes: number;
  /** What read returns, while nothing changed. */
  read: { readonly value: Uint8Array | undefined } | undefined;
}

function refuse(message: string): never {
  throw new DriftlessError('MUTATION_INVALID', `invalid Yjs update: ${message}`);
}

/** Yjs documents: see the comment at the top of this file. */
export const yjs: CrdtType<YjsState> = {
  name: 'yjs',
  create: () => ({ documents: [], pending: [], pendingBytes: 0, read: undefined }),
  apply(state, stamp, mutation) {
    if (mutation.kind !== 'yjs') return false;
    const update = parseUpdate(mutation.update);
    if (typeof update === 'string') refuse(update);
    const waiting: PendingUpdate = {
      dot: { origin: stamp.origin, seq: stamp.seq },
      base: [...mutation.base].sort(compareDotOrder),
      update,
      covered: false,
      waitsFor: undefined,
    };
    state.read = undefined;
    if (integrate(state, waiting)) {
      settle(state);
      return true;
    }
    const bytes = update.bytes.length;
    if (
      state.pending.length >= MAX_YJS_PENDING_UPDATES ||
      state.pendingBytes + bytes > MAX_YJS_PENDING_BYTES
    ) {
      refuse(
        `its dependencies are missing and the key already holds ${state.pending.length} updates ` +
          `(${state.pendingBytes} bytes) waiting for theirs`,
      );
    }
    addPending(state, { ...waiting, update: { ...update, bytes: update.bytes.slice() } });
    return true;
  },
  delete(state, { seen }) {
    const upTo = new Map<string, number>();
    for (const { origin, seq } of seen) if (seq > (upTo.get(origin) ?? 0)) upTo.set(origin, seq);
    let changed = false;
    const cover = (origin: string, seq: number) => seq <= (upTo.get(origin) ?? 0);
    for (const document of state.documents) {
      for (const [origin, entry] of document.origins) {
        if (entry.covered || !cover(origin, entry.seq)) continue;
        entry.covered = true;
        changed = true;
      }
    }
    for (const waiting of state.pending) {
      if (waiting.covered || !cover(waiting.dot.origin, waiting.dot.seq)) continue;
      waiting.covered = true;
      changed = true;
    }
    if (changed) state.read = undefined;
    return changed;
  },
  merge(a, b) {
    const pending = joinPending(a.pending, b.pending);
    // Settling pending updates changes documents: then none may be shared with the arguments.
    const reuse = pending.length === 0;
    const state: YjsState = { documents: [], pending: [], pendingBytes: 0, read: undefined };
    for (const group of groupDocuments([...a.documents, ...b.documents])) {
      const [only] = group;
      const covering = reuse ? coveringCopy(group) : undefined;
      state.documents.push(
        group.length === 1 && only && reuse
          ? only
          : covering
            ? { ...covering, origins: joinOrigins(group) }
            : documentFrom(unionOfIds(group), joinOrigins(group), group.map(canonicalOf)),
      );
    }
    state.documents.sort(byFirstId);
    for (const waiting of pending) addPending(state, waiting);
    settle(state);
    // A join can hold more than either side: keep the earliest, as a bound every replica agrees on.
    while (
      state.pending.length > MAX_YJS_PENDING_UPDATES ||
      (state.pendingBytes > MAX_YJS_PENDING_BYTES && state.pending.length > 0)
    ) {
      const dropped = state.pending.pop() as PendingUpdate;
      state.pendingBytes -= dropped.update.bytes.length;
    }
    return state;
  },
  read(state) {
    state.read ??= { value: readDocuments(state) };
    return state.read.value?.slice();
  },
  encode(state) {
    return [
      state.documents.map((document) => [
        encodeDotList(document.ids),
        encodeOrigins(document.origins),
        canonicalOf(document),
      ]),
      state.pending.map(({ dot, base, update, covered }) => [
        dot.origin,
        dot.seq,
        covered ? 1 : 0,
        encodeDotList(base),
        update.bytes,
      ]),
    ];
  },
  decode(value) {
    if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[0]) || !Array.isArray(value[1]))
      badSnapshot('yjs');
    const state: YjsState = { documents: [], pending: [], pendingBytes: 0, read: undefined };
    const named: Dot[] = [];
    for (const field of value[0] as Value[]) {
      if (!Array.isArray(field) || field.length !== 3 || !(field[2] instanceof Uint8Array))
        badSnapshot('yjs document');
      const ids = decodeDotList(field[0], 'yjs document').sort(compareDotOrder);
      if (ids.length === 0 || ids.some((id) => hasDot(named, id))) badSnapshot('yjs document ids');
      const origins = decodeOrigins(field[1]);
      named.push(...ids);
      const update = parseUpdate(field[2]);
      if (typeof update === 'string' || missingDependency(update, () => 0) !== undefined)
        badSnapshot('yjs document content');
      let document: KeyDocument;
      try {
        document = documentFrom(ids, origins, [field[2]], true);
      } catch {
        badSnapshot('yjs document content');
      }
      state.documents.push(document);
    }
    state.documents.sort(byFirstId);
    for (const field of value[1] as Value[]) {
      if (!Array.isArray(field) || field.length !== 5) badSnapshot('yjs pending update');
      const [origin, seq, covered, baseValue, bytes] = field;
      const [dot] = decodeDotList([origin as Value, seq as Value], 'yjs pending update');
      const update = bytes instanceof Uint8Array ? parseUpdate(bytes) : 'not bytes';
      if (!dot || (covered !== 0 && covered !== 1) || typeof update === 'string')
        badSnapshot('yjs pending update');
      if (state.pending.some((waiting) => hasDot([waiting.dot], dot))) badSnapshot('yjs pending update');
      const base = decodeDotList(baseValue, 'yjs pending update').sort(compareDotOrder);
      addPending(state, { dot, base, update, covered: covered === 1, waitsFor: undefined });
    }
    if (state.pending.length > MAX_YJS_PENDING_UPDATES || state.pendingBytes > MAX_YJS_PENDING_BYTES)
      badSnapshot('yjs pending updates');
    return state;
  },
  liveDots(state) {
    const latest = new Map<string, number>();
    const note = (origin: string, seq: number) => {
      if (seq > (latest.get(origin) ?? 0)) latest.set(origin, seq);
    };
    for (const document of state.documents)
      for (const [origin, { seq, covered }] of document.origins) if (!covered) note(origin, seq);
    for (const { dot, covered } of state.pending) if (!covered) note(dot.origin, dot.seq);
    return [...latest].map(([origin, seq]) => ({ origin, seq })).sort(compareDotOrder);
  },
  compact(state, stable, everything) {
    // A document reads as absent while deletes cover all it holds, and is seen again if an update
    // concurrent with a covering delete joins it. Which deletes covered it is not kept, and the
    // latest delete being stable says nothing of an earlier concurrent one that covered it: so a
    // document goes only once every op here is stable. Then every write still to come saw it
    // deleted, and starts a new document instead of naming this one.
    if (!everything) return false;
    const below = (dot: Dot) => stable.includes(dot.origin, dot.seq);
    const before = state.documents.length + state.pending.length;
    state.documents = state.documents.filter(
      (document) =>
        isVisible(document) ||
        !document.ids.every(below) ||
        ![...document.origins].every(([origin, { seq }]) => below({ origin, seq })),
    );
    for (const waiting of [...state.pending]) {
      if (!waiting.covered || !below(waiting.dot)) continue;
      state.pending.splice(state.pending.indexOf(waiting), 1);
      state.pendingBytes -= waiting.update.bytes.length;
    }
    return state.documents.length + state.pending.length !== before;
  },
};

/** Whether the key reads as present: a visible document, or an uncovered update still pending. */
export function isYjsPresent(state: YjsState): boolean {
  return state.documents.some(isVisible) || state.pending.some((waiting) => !waiting.covered);
}

/** The documents a write here builds on (what a reader sees): the `base` of its mutation. */
export function visibleDocumentIds(state: YjsState): Dot[] {
  return state.documents.filter(isVisible).flatMap((document) => document.ids);
}

/**
 * Checks a local write before it becomes an op: throws INVALID_ARGUMENT for bytes that are not a
 * Yjs update, YJS_MISSING_DEPENDENCY for an update that builds on something the key's documents
 * (those named by `base`) do not hold.
 */
export function checkLocalUpdate(
  state: YjsState | undefined,
  update: Uint8Array,
  base: readonly Dot[],
): void {
  const parsed = parseUpdate(update);
  if (typeof parsed === 'string') throw new DriftlessError('INVALID_ARGUMENT', `not a Yjs update: ${parsed}`);
  const documents = state ? documentsNamed(state, base) : [];
  const missing = documents && missingDependency(parsed, stateOf(documents));
  if (documents === undefined || missing !== undefined) {
    const what = missing ? `item ${missing.client}:${missing.clock}` : 'a document';
    throw new DriftlessError(
      'YJS_MISSING_DEPENDENCY',
      `the Yjs update builds on ${what}, which this replica's document for the key does not hold ` +
        '(or the key was deleted): sync the Yjs client with the key first (load its current value, ' +
        'or start a new Y.Doc if it reads as absent), then write again',
    );
  }
}

/** The documents `base` names, or undefined when one of them is not here. */
function documentsNamed(state: YjsState, base: readonly Dot[]): KeyDocument[] | undefined {
  const documents: KeyDocument[] = [];
  for (const id of base) {
    const document = state.documents.find((candidate) => hasDot(candidate.ids, id));
    if (!document) return undefined;
    if (!documents.includes(document)) documents.push(document);
  }
  return documents;
}

/**
 * Integrates `waiting` into the documents its base names (a new document when it names none),
 * or returns false when something it needs is missing. Throws MUTATION_INVALID, with every
 * document as it was, when Yjs fails to apply it.
 */
function integrate(state: YjsState, waiting: PendingUpdate): boolean {
  const targets = documentsNamed(state, waiting.base);
  if (!targets) return false;
  if (waiting.waitsFor && stateOf(targets)(waiting.waitsFor.client) <= waiting.waitsFor.clock) return false;
  waiting.waitsFor = missingDependency(waiting.update, stateOf(targets));
  if (waiting.waitsFor) return false;
  const [only] = targets;
  let document: KeyDocument;
  if (targets.length === 1 && only) {
    document = only;
    applyToDocument(document, waiting.update.bytes);
  } else {
    // The first write of a document, or one that merges documents: a new document, added once whole.
    const ids = targets.length === 0 ? [waiting.dot] : unionOfIds(targets);
    document = documentFrom(ids, joinOrigins(targets), targets.map(canonicalOf));
    applyToDocument(document, waiting.update.bytes);
    state.documents = state.documents.filter((candidate) => !targets.includes(candidate));
    state.documents.push(document);
    state.documents.sort(byFirstId);
  }
  const entry = document.origins.get(waiting.dot.origin);
  if (!entry || waiting.dot.seq > entry.seq)
    document.origins.set(waiting.dot.origin, { seq: waiting.dot.seq, covered: waiting.covered });
  else if (waiting.dot.seq === entry.seq) entry.covered ||= waiting.covered;
  return true;
}

/** Integrates every pending update whose dependencies are now here, in dot order, until none is. */
function settle(state: YjsState): void {
  for (let progress = state.pending.length > 0; progress; ) {
    progress = false;
    for (const waiting of state.pending) {
      let done: boolean;
      try {
        done = integrate(state, waiting);
      } catch (error) {
        // Yjs refused it: every replica refuses it at the same point, so drop it.
        if (!(error instanceof DriftlessError)) throw error;
        done = true;
      }
      if (!done) continue;
      state.pending.splice(state.pending.indexOf(waiting), 1);
      state.pendingBytes -= waiting.update.bytes.length;
      state.read = undefined;
      progress = true;
      break;
    }
  }
}

function addPending(state: YjsState, waiting: PendingUpdate): void {
  state.pending.push(waiting);
  state.pending.sort((x, y) => compareDotOrder(x.dot, y.dot));
  state.pendingBytes += waiting.update.bytes.length;
  state.read = undefined;
}

/** What the key reads: the visible documents as one update, or undefined when none is visible. */
function readDocuments(state: YjsState): Uint8Array | undefined {
  if (!isYjsPresent(state)) return undefined;
  const visible = state.documents.filter(isVisible);
  const [only] = visible;
  if (visible.length === 1 && only) return canonicalOf(only);
  return canonicalOf(documentFrom([], new Map(), visible.map(canonicalOf)));
}

function joinPending(a: readonly PendingUpdate[], b: readonly PendingUpdate[]): PendingUpdate[] {
  const joined = new Map<string, PendingUpdate>();
  for (const waiting of [...a, ...b]) {
    const key = `${waiting.dot.origin}\u0000${waiting.dot.seq}`;
    const other = joined.get(key);
    joined.set(key, {
      ...waiting,
      covered: waiting.covered || (other?.covered ?? false),
      waitsFor: undefined,
    });
  }
  return [...joined.values()];
}
