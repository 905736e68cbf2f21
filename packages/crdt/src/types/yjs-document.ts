import { type Dot, DriftlessError, isNodeId, type Value } from '@driftless/core';
import type * as Y from 'yjs';
import { compareDotOrder, hasDot } from '../stamp.js';
import { badSnapshot } from './codec-helpers.js';
import { applyUpdateTo, canonicalUpdate, emptyDoc, encodeDocument } from './yjs-update.js';

/**
 * One Yjs document of a key (see yjs.ts): the Y.Doc, which updates of each origin it holds, and
 * what it takes to undo an update Yjs fails on halfway. An update applies in place; the document
 * keeps a checkpoint (an encoding of itself) and a journal of the updates applied since, and when
 * Yjs throws it is rebuilt from them. The journal is folded into a new checkpoint once it outgrows
 * the checkpoint, so keeping it costs at most about one more copy of the document's encoding, and
 * an update costs what Yjs's own apply costs plus a copy of the update.
 */

/** A journal is folded into a new checkpoint once it outgrows both this and the checkpoint. */
const MIN_JOURNAL_BYTES = 64 * 1024;
/** The encoding of an empty document. */
const NOTHING = new Uint8Array([0, 0]);

/** Per origin: the highest seq of its updates a document holds, and whether a delete covered it. */
export interface OriginUpdates {
  seq: number;
  covered: boolean;
}

/** One Yjs document of a key. */
export interface KeyDocument {
  /** The dots of the writes that started it (more than one once writes merged documents), sorted. */
  readonly ids: readonly Dot[];
  doc: Y.Doc;
  readonly origins: Map<string, OriginUpdates>;
  /** The document at some earlier point, and every update applied since: to rebuild it from. */
  checkpoint: Uint8Array;
  journal: Uint8Array[];
  journalBytes: number;
  /** The canonical encoding, while the document is unchanged. */
  canonical: Uint8Array | undefined;
}

/** Whether a reader sees the document: some update it holds is not covered by a delete. */
export function isVisible(document: KeyDocument): boolean {
  for (const { covered } of document.origins.values()) if (!covered) return true;
  return false;
}

/** Orders documents by their first id: the canonical order. */
export function byFirstId(a: KeyDocument, b: KeyDocument): number {
  return compareDotOrder(a.ids[0] as Dot, b.ids[0] as Dot);
}

/** How many clocks of a client the union of `documents` holds. */
export function stateOf(documents: readonly KeyDocument[]): (client: number) => number {
  return (client) => {
    let clock = 0;
    for (const { doc } of documents)
      clock = Math.max(clock, doc.store.clients.has(client) ? stateAt(doc, client) : 0);
    return clock;
  };
}

function stateAt(doc: Y.Doc, client: number): number {
  const structs = doc.store.clients.get(client);
  const last = structs?.[structs.length - 1];
  return last ? last.id.clock + last.length : 0;
}

/** Applies an update to a document in place; on failure rebuilds the document as it was and refuses. */
export function applyToDocument(document: KeyDocument, bytes: Uint8Array): void {
  try {
    applyUpdateTo(document.doc, bytes);
  } catch (error) {
    document.doc = rebuild(document.checkpoint, document.journal);
    throw new DriftlessError(
      'MUTATION_INVALID',
      `invalid Yjs update: Yjs failed to apply it (${(error as Error)?.message ?? 'unknown error'})`,
    );
  }
  document.canonical = undefined;
  document.journal.push(bytes.slice());
  document.journalBytes += bytes.length;
  if (document.journalBytes > Math.max(MIN_JOURNAL_BYTES, document.checkpoint.length)) {
    document.checkpoint = encodeDocument(document.doc);
    document.journal = [];
    document.journalBytes = 0;
  }
}

function rebuild(checkpoint: Uint8Array, journal: readonly Uint8Array[]): Y.Doc {
  const doc = emptyDoc();
  // Each of these applied before, to this very state: they apply again.
  applyUpdateTo(doc, checkpoint);
  for (const update of journal) applyUpdateTo(doc, update);
  return doc;
}

/**
 * A document from whole-document encodings, joined. An encoding Yjs fails on is left out (only a
 * forged document can fail: two documents reusing one Yjs client's clocks), unless `strict`.
 */
export function documentFrom(
  ids: readonly Dot[],
  origins: Map<string, OriginUpdates>,
  encodings: readonly Uint8Array[],
  strict = false,
): KeyDocument {
  let doc = emptyDoc();
  const journal: Uint8Array[] = [];
  for (const encoding of encodings) {
    try {
      applyUpdateTo(doc, encoding);
      journal.push(encoding);
    } catch (error) {
      if (strict) throw error;
      doc = rebuild(NOTHING, journal);
    }
  }
  // One encoding is a checkpoint already; several are replayed from nothing.
  const [only] = journal;
  if (journal.length === 1 && only)
    return { ids, doc, origins, checkpoint: only, journal: [], journalBytes: 0, canonical: undefined };
  const journalBytes = journal.reduce((sum, encoding) => sum + encoding.length, 0);
  return { ids, doc, origins, checkpoint: NOTHING, journal, journalBytes, canonical: undefined };
}

/** The document's canonical encoding (see canonicalUpdate), kept until it changes. */
export function canonicalOf(document: KeyDocument): Uint8Array {
  document.canonical ??= canonicalUpdate(document.doc);
  return document.canonical;
}

/** Documents sharing an id are one document (writes merged them on one side): group them. */
export function groupDocuments(documents: readonly KeyDocument[]): KeyDocument[][] {
  const groups: KeyDocument[][] = [];
  for (const document of documents) {
    const joined = groups.filter((group) =>
      group.some((other) => document.ids.some((id) => hasDot(other.ids, id))),
    );
    const group = [document, ...joined.flat()];
    for (const old of joined) groups.splice(groups.indexOf(old), 1);
    groups.push(group);
  }
  return groups;
}

/**
 * Of two copies of one document (the same ids), the one that holds every update the other holds,
 * if either does: per origin, its latest update is at least as late. With nothing pending on
 * either side, each origin's updates arrived in order on both, so it holds the other's content.
 */
export function coveringCopy(group: readonly KeyDocument[]): KeyDocument | undefined {
  const [x, y] = group;
  if (group.length !== 2 || !x || !y || x.ids.length !== y.ids.length) return undefined;
  if (!x.ids.every((id) => hasDot(y.ids, id))) return undefined;
  const covers = (p: KeyDocument, q: KeyDocument) =>
    [...q.origins].every(([origin, { seq }]) => (p.origins.get(origin)?.seq ?? 0) >= seq);
  return covers(x, y) ? x : covers(y, x) ? y : undefined;
}

/** The ids of `documents` together, each once, sorted. */
export function unionOfIds(documents: readonly KeyDocument[]): Dot[] {
  const ids: Dot[] = [];
  for (const document of documents) for (const id of document.ids) if (!hasDot(ids, id)) ids.push(id);
  return ids.sort(compareDotOrder);
}

/** Per origin, the later of the documents' entries; for the same update, covered if any side covered it. */
export function joinOrigins(documents: readonly KeyDocument[]): Map<string, OriginUpdates> {
  const joined = new Map<string, OriginUpdates>();
  for (const document of documents) {
    for (const [origin, { seq, covered }] of document.origins) {
      const entry = joined.get(origin);
      if (!entry || seq > entry.seq) joined.set(origin, { seq, covered });
      else if (seq === entry.seq) entry.covered ||= covered;
    }
  }
  return joined;
}

/** A flat [origin, seq, covered (0 or 1), …] list, by origin. */
export function encodeOrigins(origins: ReadonlyMap<string, OriginUpdates>): Value[] {
  const flat: Value[] = [];
  for (const origin of [...origins.keys()].sort()) {
    const { seq, covered } = origins.get(origin) as OriginUpdates;
    flat.push(origin, seq, covered ? 1 : 0);
  }
  return flat;
}

/** Reads what encodeOrigins wrote; throws SNAPSHOT_INVALID. */
export function decodeOrigins(value: Value | undefined): Map<string, OriginUpdates> {
  if (!Array.isArray(value) || value.length === 0 || value.length % 3 !== 0)
    badSnapshot('yjs document origins');
  const origins = new Map<string, OriginUpdates>();
  for (let i = 0; i < value.length; i += 3) {
    const [origin, seq, covered] = [value[i], value[i + 1], value[i + 2]];
    if (
      !isNodeId(origin) ||
      origins.has(origin) ||
      typeof seq !== 'number' ||
      !Number.isSafeInteger(seq) ||
      seq < 1 ||
      (covered !== 0 && covered !== 1)
    )
      badSnapshot('yjs document origins');
    origins.set(origin, { seq, covered: covered === 1 });
  }
  return origins;
}
