import * as Y from 'yjs';

/**
 * Yjs updates (v1 encoding) as the yjs type handles them: decoded and checked before any document
 * is touched, applied without side effects, and encoded canonically.
 *
 * Yjs integrates an update partly when some of what it builds on is missing, parks the rest
 * invisibly, and can throw halfway through an update it decoded, leaving the document changed.
 * So an update is first decoded on its own (`parseUpdate`), then checked against the document it
 * will join (`missingDependency`, which follows Yjs's own integration order), and only then
 * applied (`applyUpdateTo`); the caller keeps what it needs to undo a failure.
 */

/** A struct of an update: an item, a garbage-collected range, or a range the update skips. */
type Struct = Y.Item | Y.GC | Y.Skip;

/** Clocks and lengths stay exact integers. */
const MAX_CLOCK = Number.MAX_SAFE_INTEGER;

/** An update decoded and checked for everything that does not depend on a document. */
export interface ParsedUpdate {
  readonly bytes: Uint8Array;
  /** Per client, its structs in clock order. */
  readonly sections: ReadonlyMap<number, readonly Struct[]>;
  /** Per client, the ranges the update deletes. */
  readonly deletes: ReadonlyMap<number, readonly { readonly clock: number; readonly len: number }[]>;
}

/** What an update needs that a document lacks: the document must hold `client`'s clock `clock`. */
export interface MissingId {
  readonly client: number;
  readonly clock: number;
}

/**
 * Decodes a v1 update and checks it on its own: every struct non-empty and within exact clocks,
 * each client in one run, no reference to a later item of the same client (Yjs assumes none and
 * throws midway), no subdocuments. Returns why it is malformed, as a string, when it is.
 */
export function parseUpdate(bytes: Uint8Array): ParsedUpdate | string {
  let decoded: ReturnType<typeof Y.decodeUpdate>;
  try {
    decoded = Y.decodeUpdate(bytes);
  } catch (error) {
    return `it does not decode as a Yjs update in the v1 encoding (${(error as Error)?.message ?? 'unknown error'})`;
  }
  const sections = new Map<number, Struct[]>();
  let section: Struct[] | undefined;
  for (const struct of decoded.structs) {
    const { client, clock } = struct.id;
    if (section?.[0]?.id.client !== client) {
      if (sections.has(client)) return `client ${client} appears twice`;
      section = [];
      sections.set(client, section);
    }
    section.push(struct);
    if (!Number.isSafeInteger(struct.length) || struct.length < 1 || clock + struct.length > MAX_CLOCK)
      return `a struct of client ${client} at clock ${clock} is empty or too long`;
    if (!(struct instanceof Y.Item)) continue;
    if (struct.content instanceof Y.ContentDoc)
      return 'it holds a subdocument, which Driftless does not support';
    for (const ref of [struct.origin, struct.rightOrigin, struct.parent]) {
      if (ref instanceof Y.ID && ref.client === client && ref.clock >= clock)
        return `item ${client}:${clock} refers to a later item of its own client`;
    }
  }
  const deletes = new Map<number, { clock: number; len: number }[]>();
  for (const [client, ranges] of decoded.ds.clients) {
    for (const { clock, len } of ranges) {
      if (!Number.isSafeInteger(len) || len < 1 || clock + len > MAX_CLOCK)
        return `a deleted range of client ${client} is empty or too long`;
    }
    deletes.set(client, ranges);
  }
  return { bytes, sections, deletes };
}

/**
 * The first id `update` needs that a document holding `stateOf(client)` clocks of each client
 * lacks, or undefined when the update applies in full. Follows Yjs's integration (its
 * `integrateStructs`): clients from the highest id down, switching to the client an item waits
 * for, so an update integrates here in full exactly when Yjs would leave nothing pending.
 */
export function missingDependency(
  update: ParsedUpdate,
  stateOf: (client: number) => number,
): MissingId | undefined {
  const state = new Map<number, number>();
  const clockOf = (client: number) => {
    let clock = state.get(client);
    if (clock === undefined) {
      clock = stateOf(client);
      state.set(client, clock);
    }
    return clock;
  };
  const next = new Map<number, number>();
  const take = (client: number): Struct | undefined => {
    const structs = update.sections.get(client);
    const index = next.get(client) ?? 0;
    if (!structs || index >= structs.length) return undefined;
    next.set(client, index + 1);
    return structs[index];
  };
  const clients = [...update.sections.keys()].sort((a, b) => a - b);
  const stack: Struct[] = [];
  let head: Struct | undefined;
  for (;;) {
    if (head === undefined) head = stack.pop();
    while (head === undefined && clients.length > 0) {
      head = take(clients[clients.length - 1] as number);
      if (head === undefined) clients.pop();
    }
    if (head === undefined) break;
    if (head instanceof Y.Skip) {
      head = undefined;
      continue;
    }
    const { client, clock } = head.id;
    const offset = clockOf(client) - clock;
    // Yjs would park this and everything after it: the client's earlier structs are missing.
    if (offset < 0) return { client, clock: clock - 1 };
    const waitsFor = head instanceof Y.Item ? firstMissing(head, clockOf) : undefined;
    if (waitsFor !== undefined) {
      const provider = take(waitsFor.client);
      if (provider === undefined) return waitsFor;
      stack.push(head);
      head = provider;
      continue;
    }
    if (offset < head.length) state.set(client, clock + head.length);
    head = undefined;
  }
  for (const [client, ranges] of update.deletes) {
    const known = clockOf(client);
    for (const { clock, len } of ranges) if (clock + len > known) return { client, clock: clock + len - 1 };
  }
  return undefined;
}

/** The first id `item` refers to (origin, right origin, parent) of another client that is missing. */
function firstMissing(item: Y.Item, clockOf: (client: number) => number): MissingId | undefined {
  for (const ref of [item.origin, item.rightOrigin, item.parent]) {
    if (ref instanceof Y.ID && ref.client !== item.id.client && ref.clock >= clockOf(ref.client))
      return { client: ref.client, clock: ref.clock };
  }
  return undefined;
}

/**
 * Applies an update that `missingDependency` passed. Throws when Yjs throws, or when Yjs parked
 * anything after all; either way the document may be changed and must be rebuilt by the caller.
 */
export function applyUpdateTo(doc: Y.Doc, bytes: Uint8Array): void {
  doc.transact((transaction) => {
    Y.applyUpdate(doc, bytes);
    // A remote transaction makes Yjs "clean up" rich-text formatting by deleting markers on its
    // own, differently depending on arrival order; as a local one it leaves them, as every
    // replica does. The clients that read the document clean up and send their deletes as usual.
    transaction.local = true;
  });
  if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null)
    throw new Error('Yjs parked part of an update that was checked to apply in full');
}

/** The document's state as one update, as Yjs encodes it (not canonical: see canonicalUpdate). */
export function encodeDocument(doc: Y.Doc): Uint8Array {
  return Y.encodeStateAsUpdate(doc);
}

/**
 * A new document holding nothing. A fixed guid: the guid only names a document to providers and
 * parents of subdocuments, and a random one costs dozens of calls to the system's random source.
 */
export function emptyDoc(): Y.Doc {
  return new Y.Doc({ gc: true, guid: 'driftless' });
}

/**
 * The document's state as one update, canonical: equal for documents that integrated the same
 * updates in any order, in any batches. Yjs's own encoding is not: adjacent garbage-collected
 * ranges of one client stay apart or merge depending on arrival order (Yjs merges only the
 * structs a transaction touched). So they are merged first, in place, as Yjs's own merge pass
 * would (a garbage-collected range is referenced by nothing but the store), and then encoded.
 */
export function canonicalUpdate(doc: Y.Doc): Uint8Array {
  for (const structs of doc.store.clients.values()) {
    let kept = 0;
    for (const struct of structs) {
      const last = structs[kept - 1];
      if (last instanceof Y.GC && struct instanceof Y.GC) last.length += struct.length;
      else structs[kept++] = struct;
    }
    structs.length = kept;
  }
  return Y.encodeStateAsUpdate(doc);
}
