/**
 * Yjs clients and histories for the yjs type's tests: Y.Docs with fixed client ids, histories of
 * rich edits with each op's causal past (for the canonical-encoding property), and the mutations
 * and hand-made updates of the fuzz and regression tests.
 */
import { decode, type Op, type Value } from '@driftless/core';
import { ReplicaState } from '@driftless/crdt';
import * as Y from 'yjs';

/** A Yjs client: a Y.Doc with a fixed client id that hands out the update of each edit. */
export class YjsClient {
  readonly doc: Y.Doc;

  constructor(clientId: number) {
    this.doc = new Y.Doc({ guid: 'client' });
    this.doc.clientID = clientId;
  }

  /** Makes `change` in one transaction and returns its update. */
  edit(change: (doc: Y.Doc) => void): Uint8Array {
    const updates: Uint8Array[] = [];
    const capture = (update: Uint8Array) => updates.push(update);
    this.doc.on('update', capture);
    try {
      this.doc.transact(() => change(this.doc));
    } finally {
      this.doc.off('update', capture);
    }
    const [update] = updates;
    if (!update || updates.length !== 1) throw new Error('the edit made no single update');
    return update;
  }

  /** Loads what a key reads (a Yjs update). */
  load(value: Value | undefined): this {
    if (value instanceof Uint8Array) Y.applyUpdate(this.doc, value);
    return this;
  }
}

/** An op of `origin` built by hand, as a peer could send it. */
export function remoteOp(origin: string, seq: number, mutation: Value, key = 'k'): Op {
  return { origin, seq, hlc: 1000 + seq, collection: 'docs', key, mutation };
}

/** Byte-for-byte equality. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** An edit inserting `text` into the text 't' at `at`. */
export const insert =
  (text: string, at = 0) =>
  (doc: Y.Doc) =>
    doc.getText('t').insert(at, text);

export interface HistoryOp {
  readonly op: Op;
  /** Indexes of the ops its writer had applied. */
  readonly past: ReadonlySet<number>;
}

/**
 * Four Yjs clients, each behind its own origin, editing rich text (with formatting), arrays and
 * nested types, and catching up on each other now and then. One document: every client loads the
 * first op before it writes.
 */
export function richHistory(steps: readonly (readonly [number, readonly number[]])[]): HistoryOp[] {
  const history: HistoryOp[] = [];
  const genesis = new YjsClient(100).edit(insert('#'));
  history.push({ op: remoteOp('c0', 1, [6, genesis]), past: new Set() });
  const clients = [1, 2, 3, 4].map((id) => ({
    client: new YjsClient(id).load(genesis),
    seen: new Set([0]),
    seq: 0,
  }));
  for (const [who, [what = 0, where = 0, value = 0, extra = 0, sync = 0]] of steps) {
    const writer = clients[who] as (typeof clients)[number];
    if (sync % 3 === 0) {
      // Catch up on some ops of others, in causal order.
      for (const [i, { op, past }] of history.entries()) {
        if (writer.seen.has(i) || ![...past].every((p) => writer.seen.has(p)) || (i + sync) % 2 === 0)
          continue;
        writer.client.load((op.mutation as Value[])[1]);
        writer.seen.add(i);
      }
    }
    let update: Uint8Array;
    try {
      update = writer.client.edit((doc) => richEdit(doc, [what, where, value, extra]));
    } catch {
      continue;
    }
    const past = new Set(writer.seen);
    writer.seen.add(history.length);
    history.push({ op: remoteOp(`c${who + 1}`, ++writer.seq, [6, update, ['c0', 1]]), past });
  }
  return history;
}

export function richEdit(doc: Y.Doc, [what = 0, where = 0, value = 0, extra = 0]: readonly number[]): void {
  const text = doc.getText('t');
  const array = doc.getArray<unknown>('a');
  const map = doc.getMap<unknown>('m');
  switch (what % 9) {
    case 0:
      text.insert(
        where % (text.length + 1),
        ['ab', 'c', '😀'][value % 3] as string,
        extra % 2 ? { bold: true } : {},
      );
      break;
    case 1:
      if (text.length > 1)
        text.format(where % (text.length - 1), 1 + (extra % 2), { italic: value % 2 ? true : null });
      break;
    case 2:
      if (text.length > 0) text.delete(where % text.length, 1 + (extra % Math.min(3, text.length)));
      break;
    case 3:
      array.insert(where % (array.length + 1), value % 2 ? [value, 'v'] : [new Y.Map([['k', value]])]);
      break;
    case 4:
      if (array.length > 0) array.delete(where % array.length, 1);
      break;
    case 5: {
      const nested = array.get(where % Math.max(1, array.length));
      if (nested instanceof Y.Map) nested.set(String(extra % 3), value);
      else map.set('n', new Y.Text('nested'));
      break;
    }
    case 6: {
      const nested = map.get('n');
      if (nested instanceof Y.Text)
        nested.insert(where % (nested.length + 1), 'q', { u: extra % 2 ? 1 : null });
      else map.set('n', new Y.Text('nested'));
      break;
    }
    case 7:
      map.set(['x', 'y', 'n'][value % 3] as string, extra);
      break;
    default:
      map.delete(['x', 'y', 'n'][value % 3] as string);
  }
}

/** The ops `indexes` name plus everything in their past, sorted. */
export function closure(history: readonly HistoryOp[], indexes: readonly number[]): number[] {
  const all = new Set<number>();
  for (const i of indexes) {
    all.add(i);
    for (const p of history[i]?.past ?? []) all.add(p);
  }
  return [...all].sort((x, y) => x - y);
}

/** A random causal order of `indexes` (their past outside `indexes` counts as delivered). */
export function causalOrder(
  history: readonly HistoryOp[],
  indexes: readonly number[],
  random: () => number,
): number[] {
  const pending = [...indexes];
  const done = new Set<number>();
  const order: number[] = [];
  while (pending.length > 0) {
    const ready = pending.filter((i) => {
      const { op, past } = history[i] as HistoryOp;
      const earlier = pending.some(
        (j) =>
          j !== i &&
          (history[j] as HistoryOp).op.origin === op.origin &&
          (history[j] as HistoryOp).op.seq < op.seq,
      );
      return !earlier && [...past].every((p) => done.has(p) || !pending.includes(p));
    });
    const next = ready[Math.floor(random() * ready.length)] as number;
    pending.splice(pending.indexOf(next), 1);
    done.add(next);
    order.push(next);
  }
  return order;
}

export function replay(history: readonly HistoryOp[], order: readonly number[]): ReplicaState {
  const state = new ReplicaState();
  for (const i of order) state.apply((history[i] as HistoryOp).op);
  if (state.rejectedOps > 0) throw new Error(`${state.rejectedOps} ops rejected`);
  return state;
}

/** A text, array and map history of two clients (and their syncs), as updates. */
export function fuzzHistory(random: () => number): Uint8Array[] {
  const clients = [new YjsClient(11), new YjsClient(22)];
  const updates: Uint8Array[] = [];
  for (let i = 0; i < 24; i++) {
    const [x, y] = random() < 0.5 ? clients : [...clients].reverse();
    if (!x || !y) break;
    if (random() < 0.2) {
      x.load(Y.encodeStateAsUpdate(y.doc));
      continue;
    }
    const choices = Array.from({ length: 4 }, () => Math.floor(random() * 100));
    try {
      updates.push(x.edit((doc) => richEdit(doc, choices)));
    } catch {
      // the edit changed nothing
    }
  }
  // The first update must be the whole of what came before: a real first op starts the document.
  return updates.length > 1 ? updates : fuzzHistory(random);
}

/** `update` with a few bytes flipped, replaced, inserted, removed, cut off, or spliced from `other`. */
export function mutate(update: Uint8Array, other: Uint8Array, random: () => number): Uint8Array {
  const bytes = Array.from(update);
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
    const at = Math.floor(random() * bytes.length);
    const how = random();
    if (how < 0.35) bytes[at] = ((bytes[at] ?? 0) ^ (1 << Math.floor(random() * 8))) & 0xff;
    else if (how < 0.55) bytes[at] = Math.floor(random() * 256);
    else if (how < 0.65) bytes.splice(at, 0, Math.floor(random() * 256));
    else if (how < 0.75) bytes.splice(at, 1);
    else if (how < 0.8) bytes.length = Math.max(1, at);
    else if (how < 0.9) bytes.splice(at, 0, ...other.subarray(Math.floor(random() * other.length)));
    else bytes[at] = 0xff;
  }
  return Uint8Array.from(bytes.length > 0 ? bytes : [0]);
}

/** The documents of a stored yjs entry, as text: equal when the documents are. */
export function documentsOf(entry: Uint8Array): string {
  const [, , , state] = decode(entry) as Value[];
  return JSON.stringify((state as Value[])[0], (_, value) =>
    value instanceof Uint8Array ? [...value] : value,
  );
}

export function pendingOf(entry: Uint8Array): number {
  const [, , , state] = decode(entry) as Value[];
  return ((state as Value[])[1] as Value[]).length;
}

/** Whether raw Yjs throws on `update` over `content`, leaving the document changed. */
export function rawThrowsChanged(content: Uint8Array, update: Uint8Array): boolean {
  const doc = new YjsClient(6).load(content).doc;
  const before = Y.encodeStateAsUpdate(doc);
  try {
    Y.applyUpdate(doc, update);
    return false;
  } catch {
    let after: Uint8Array | undefined;
    try {
      after = Y.encodeStateAsUpdate(doc);
    } catch {
      // so broken it no longer encodes
    }
    return !sameBytes(after, before);
  }
}

/**
 * A v1 update that passes every check and that Yjs applies only in part: client 9's item
 * integrates, then client 3's item, which builds on client 5's, is parked, because a second,
 * empty section for client 5 replaced the first in Yjs's reader.
 */
export function partlyApplicableUpdate(): Uint8Array {
  const nine = new YjsClient(9).edit(insert('hello'));
  const five = new YjsClient(5).edit(insert('x'));
  const three = new YjsClient(3).load(five).edit(insert('y', 1));
  const { structs } = Y.decodeUpdate(Y.mergeUpdates([nine, five, three]));
  const encoder = new Y.UpdateEncoderV1();
  const sections = [9, 5, -5, 3];
  encoder.writeLen(sections.length);
  for (const client of sections) {
    const mine = structs.filter((struct) => struct.id.client === Math.abs(client) && client > 0);
    encoder.writeLen(mine.length);
    encoder.writeClient(Math.abs(client));
    encoder.writeLen(0);
    for (const struct of mine) (struct as Y.Item).write(encoder, 0);
  }
  encoder.writeLen(0);
  return encoder.toUint8Array();
}
