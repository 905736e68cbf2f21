/**
 * The obviously-correct specification of a yjs key (docs/CONFLICTS.md › Yjs documents), evaluated
 * directly over the ops written to the key, each with its causal past:
 *
 * - A write joins the documents visible in its causal past into one document, or starts a new
 *   document when none is visible. A document is named by the writes that started it.
 * - A write is covered when a delete has it in its causal past. A document is visible while one
 *   of its writes is not covered (add-wins).
 * - The key reads as absent when no document is visible; otherwise as the content of a fresh
 *   Y.Doc that applied every update of every visible document.
 *
 * What it checks: that each write's `base` names exactly the documents visible in its past (what
 * its writer read); and what the key reads: absent or present, and the content (the text 't',
 * the array 'a' and the map 'm', as JSON). Bytes are not compared: Yjs encodes one content in
 * many ways, and the replicas' bytes are compared with each other through their digests.
 */
import * as Y from 'yjs';
import type { ModelOp } from './reference-model.js';

/** What a reader of a Yjs document sees: the content the sim's edits write (see richEdit). */
export interface YjsContent {
  readonly text: string;
  readonly array: unknown;
  readonly map: unknown;
}

/** A document of the model: the writes it holds, in the order they were written. */
export interface ModelDocument {
  readonly writes: readonly ModelOp[];
  readonly visible: boolean;
}

/** The model's verdict on one yjs key. */
export interface YjsModel {
  /** What the key reads as; undefined when it reads as absent. */
  readonly content: YjsContent | undefined;
  /** The documents the writes formed, visible or not. */
  readonly documents: readonly ModelDocument[];
  /** Writes that did not name what their writer saw, and other breaches of the rule. */
  readonly problems: readonly string[];
  /** How many writes joined two documents or more into one. */
  readonly merges: number;
}

const name = (m: ModelOp) => `${m.op.origin}:${m.op.seq}`;

/** Whether `earlier` is in the causal past of `later` (or is `later`). */
const inPastOf = (later: ModelOp, earlier: ModelOp) => later.past.includes(earlier.op.origin, earlier.op.seq);

/** The model of a key, from every op written to it in the order they were written. */
export function modelYjs(ops: readonly ModelOp[]): YjsModel {
  // Per write, the writes of the documents it joined: empty when it started a document.
  const joined = new Map<ModelOp, readonly ModelOp[]>();
  const problems: string[] = [];
  let merges = 0;
  for (const write of ops) {
    if (write.mutation.kind !== 'yjs') continue;
    const past = ops.filter((o) => o !== write && inPastOf(write, o));
    const seen = documentsOf(past, joined).filter((d) => d.visible);
    joined.set(
      write,
      seen.flatMap((d) => d.writes),
    );
    if (seen.length > 1) merges++;
    const expected = seen.flatMap((d) => d.writes.filter((w) => joined.get(w)?.length === 0).map(name));
    const named = write.mutation.base.map(({ origin, seq }) => `${origin}:${seq}`);
    if (expected.sort().join() !== named.sort().join())
      problems.push(`${name(write)} names documents [${named}], but its writer saw [${expected}]`);
  }
  const documents = documentsOf(ops, joined);
  const visible = new Set(documents.filter((d) => d.visible).flatMap((d) => d.writes));
  if (visible.size === 0) return { content: undefined, documents, problems, merges };
  const doc = new Y.Doc({ guid: 'model' });
  doc.transact(() => {
    for (const write of ops)
      if (visible.has(write)) Y.applyUpdate(doc, (write.mutation as { update: Uint8Array }).update);
  });
  if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null)
    problems.push('an update of a visible document builds on something outside the visible documents');
  return { content: contentOf(doc), documents, problems, merges };
}

/** The documents the yjs writes among `ops` form, given what each write joined. */
function documentsOf(
  ops: readonly ModelOp[],
  joined: ReadonlyMap<ModelOp, readonly ModelOp[]>,
): ModelDocument[] {
  const groups: ModelOp[][] = [];
  for (const write of ops) {
    if (write.mutation.kind !== 'yjs') continue;
    const into = joined.get(write) ?? [];
    const parts = groups.filter((group) => group.some((w) => into.includes(w)));
    for (const part of parts) groups.splice(groups.indexOf(part), 1);
    groups.push([...parts.flat(), write]);
  }
  const deletes = ops.filter((o) => o.mutation.kind === 'del');
  return groups.map((group) => ({
    writes: ops.filter((o) => group.includes(o)),
    visible: group.some((w) => !deletes.some((d) => inPastOf(d, w))),
  }));
}

/** What a reader sees of a document. */
export function contentOf(doc: Y.Doc): YjsContent {
  return {
    text: doc.getText('t').toString(),
    array: doc.getArray('a').toJSON(),
    map: doc.getMap('m').toJSON(),
  };
}

/** What a reader sees of a key's value (a Yjs update), loaded into a fresh Y.Doc. */
export function readContent(update: Uint8Array): YjsContent {
  const doc = new Y.Doc({ guid: 'reader' });
  Y.applyUpdate(doc, update);
  return contentOf(doc);
}
