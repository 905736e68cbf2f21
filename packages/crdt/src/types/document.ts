import { type Dot, FORBIDDEN_FIELD, isValueMap, type Value, type ValueMap } from '@driftless/core';
import { compareStamps, type Stamp } from '../stamp.js';
import { badSnapshot, decodeStamp, encodeStamp } from './codec-helpers.js';
import type { ConflictSink, CrdtType } from './crdt-type.js';

/**
 * A document: a JSON object whose every field path is its own last-writer-wins register.
 *
 * A patch is a JSON merge patch (RFC 7386): objects merge field by field, `null` removes a
 * field, anything else (a scalar, an array, bytes) replaces it; it is stored as one write per
 * leaf path. Each path also remembers when it was last replaced or removed ("cleared"). Reading
 * replays, in stamp order, the latest write of every path that no ancestor cleared after it.
 * So concurrent edits of different fields both survive, and a removal and a concurrent edit of
 * the same field resolve by last writer wins; removing or replacing a parent hides the older
 * writes beneath it. Deleting the document clears its root.
 */
export interface FieldEntry {
  readonly path: readonly string[];
  stamp: Stamp;
  /** undefined for a removal. An empty object means "this is an object" and clears nothing. */
  value: Value | undefined;
  cleared: Stamp | undefined;
}

/** A document's field registers, keyed by the JSON of their path, and its root's clear stamp. */
export interface DocumentState {
  fields: Map<string, FieldEntry>;
  cleared: Stamp | undefined;
}

function isEmptyObject(value: Value | undefined): boolean {
  return isValueMap(value) && Object.keys(value).length === 0;
}

function maxStamp(a: Stamp | undefined, b: Stamp | undefined): Stamp | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareStamps(a, b) >= 0 ? a : b;
}

/** The leaf writes of a merge patch: [path, value], value undefined for a removal. */
export function flattenPatch(
  patch: ValueMap,
  prefix: readonly string[] = [],
): [string[], Value | undefined][] {
  const writes: [string[], Value | undefined][] = [];
  for (const field of Object.keys(patch)) {
    const value = patch[field] as Value;
    const path = [...prefix, field];
    if (value === null) writes.push([path, undefined]);
    else if (isValueMap(value) && Object.keys(value).length > 0) writes.push(...flattenPatch(value, path));
    else writes.push([path, value]);
  }
  return writes;
}

function seenBy(seen: readonly Dot[], writer: Stamp, entry: Stamp): boolean {
  if (entry.origin === writer.origin) return true;
  for (const dot of seen) if (dot.origin === entry.origin && dot.seq >= entry.seq) return true;
  return false;
}

function writeField(
  state: DocumentState,
  path: string[],
  value: Value | undefined,
  stamp: Stamp,
  seen: readonly Dot[],
  conflict: ConflictSink,
): boolean {
  const key = JSON.stringify(path);
  const entry = state.fields.get(key);
  const destructive = value === undefined || !isEmptyObject(value);
  if (!entry) {
    state.fields.set(key, { path, stamp, value, cleared: destructive ? stamp : undefined });
    return true;
  }
  if (compareStamps(stamp, entry.stamp) <= 0) {
    if (compareStamps(stamp, entry.stamp) === 0) return false;
    conflict('discarded', entry.stamp, stamp);
    // A replacement that lost the value still cleared what was beneath the path before it.
    const cleared = destructive ? maxStamp(entry.cleared, stamp) : entry.cleared;
    const changed = cleared !== entry.cleared;
    entry.cleared = cleared;
    return changed;
  }
  if (entry.value !== undefined && !seenBy(seen, stamp, entry.stamp))
    conflict('overwrite', stamp, entry.stamp);
  entry.stamp = stamp;
  entry.value = value;
  if (destructive) entry.cleared = maxStamp(entry.cleared, stamp);
  return true;
}

/** Sets `value` at `path` in `root`, turning non-objects on the way into objects. */
function place(root: Record<string, Value>, path: readonly string[], value: Value | undefined): void {
  // Ops are validated before they reach a type, so this cannot happen; never write through a prototype.
  if (path.includes(FORBIDDEN_FIELD)) return;
  let node = root;
  for (let i = 0; i < path.length - 1; i++) {
    const field = path[i] as string;
    const next = node[field];
    if (!isValueMap(next ?? null)) node[field] = {};
    node = node[field] as Record<string, Value>;
  }
  const last = path[path.length - 1] as string;
  if (value === undefined) delete node[last];
  else if (isEmptyObject(value)) {
    if (!isValueMap(node[last] ?? null)) node[last] = {};
  } else node[last] = value;
}

/** A document type: see DocumentState. */
export const document: CrdtType<DocumentState> = {
  name: 'document',
  create: () => ({ fields: new Map(), cleared: undefined }),
  apply(state, stamp, mutation, conflict) {
    if (mutation.kind !== 'patch' || !isValueMap(mutation.patch)) return false;
    let changed = false;
    for (const [path, value] of flattenPatch(mutation.patch)) {
      changed = writeField(state, path, value, stamp, mutation.seen, conflict) || changed;
    }
    return changed;
  },
  delete(state, { stamp }) {
    if (state.cleared !== undefined && compareStamps(stamp, state.cleared) <= 0) return false;
    state.cleared = stamp;
    return true;
  },
  merge(a, b) {
    const fields = new Map<string, FieldEntry>();
    for (const [key, x] of a.fields) fields.set(key, { ...x });
    for (const [key, y] of b.fields) {
      const x = fields.get(key);
      if (!x) fields.set(key, { ...y });
      else {
        const winner = compareStamps(x.stamp, y.stamp) >= 0 ? x : y;
        fields.set(key, {
          path: x.path,
          stamp: winner.stamp,
          value: winner.value,
          cleared: maxStamp(x.cleared, y.cleared),
        });
      }
    }
    return { fields, cleared: maxStamp(a.cleared, b.cleared) };
  },
  read(state) {
    const visible: FieldEntry[] = [];
    for (const entry of state.fields.values()) if (isVisible(state, entry)) visible.push(entry);
    if (visible.length === 0) return undefined;
    visible.sort((x, y) => compareStamps(x.stamp, y.stamp));
    const root: Record<string, Value> = {};
    for (const entry of visible) place(root, entry.path, entry.value);
    return Object.keys(root).length === 0 ? undefined : root;
  },
  encode(state) {
    const flat: Value[] = [state.cleared ? encodeStamp(state.cleared) : []];
    for (const key of [...state.fields.keys()].sort()) {
      const { path, stamp, value, cleared } = state.fields.get(key) as FieldEntry;
      const field: Value[] = [path as string[], encodeStamp(stamp), cleared ? encodeStamp(cleared) : []];
      if (value !== undefined) field.push(value);
      flat.push(field);
    }
    return flat;
  },
  decode(value) {
    if (!Array.isArray(value) || value.length < 1) badSnapshot('document');
    const [root, ...fieldValues] = value as Value[];
    const state: DocumentState = { fields: new Map(), cleared: decodeOptionalStamp(root) };
    for (const field of fieldValues) {
      if (!Array.isArray(field) || field.length < 3 || field.length > 4) badSnapshot('document field');
      const [path, stamp, cleared] = field as Value[];
      if (!Array.isArray(path) || path.length === 0 || !path.every((part) => typeof part === 'string')) {
        badSnapshot('document path');
      }
      const stampValues = stamp as Value[];
      if (!Array.isArray(stampValues)) badSnapshot('document field');
      state.fields.set(JSON.stringify(path), {
        path: path as string[],
        stamp: decodeStamp(stampValues, 0, 'document field'),
        value: field.length === 4 ? (field[3] as Value) : undefined,
        cleared: decodeOptionalStamp(cleared),
      });
    }
    return state;
  },
  liveDots(state) {
    // Per origin, the latest seq among the visible fields: a writer that has seen it has seen them all.
    const latest = new Map<string, number>();
    for (const entry of state.fields.values()) {
      if (entry.value === undefined || !isVisible(state, entry)) continue;
      const { origin, seq } = entry.stamp;
      if (seq > (latest.get(origin) ?? 0)) latest.set(origin, seq);
    }
    return [...latest].map(([origin, seq]) => ({ origin, seq }));
  },
  compact(state, stable) {
    const isStable = (stamp: Stamp) => stable.includes(stamp.origin, stamp.seq);
    // A field hidden by a clear stays hidden (clears only grow), and every write still to come to
    // its path is newer: once its own stamp is stable it is dead. Whatever it hides beneath it is
    // hidden by the same clear, so dropping it uncovers nothing.
    const dead: string[] = [];
    for (const [key, entry] of state.fields)
      if (isStable(entry.stamp) && !isVisible(state, entry)) dead.push(key);
    for (const key of dead) state.fields.delete(key);
    let changed = dead.length > 0;
    // A stable clear that hides none of the fields left hides nothing still to come either.
    let oldest: Map<string, Stamp> | undefined;
    const hides = (key: string, cleared: Stamp) => {
      oldest ??= oldestBeneath(state);
      return isOlder(oldest.get(key), cleared);
    };
    for (const [key, entry] of state.fields) {
      const { cleared } = entry;
      if (!cleared || !isStable(cleared) || hides(key, cleared)) continue;
      entry.cleared = undefined;
      changed = true;
    }
    if (state.cleared && isStable(state.cleared) && !hides(ROOT, state.cleared)) {
      state.cleared = undefined;
      changed = true;
    }
    return changed;
  },
};

/** The key oldestBeneath gives the root (field keys are JSON arrays). */
const ROOT = '';

/** Per field key (and ROOT), the oldest stamp of the fields strictly beneath it. */
function oldestBeneath(state: DocumentState): Map<string, Stamp> {
  const oldest = new Map<string, Stamp>();
  const note = (key: string, stamp: Stamp) => {
    const known = oldest.get(key);
    if (!known || compareStamps(stamp, known) < 0) oldest.set(key, stamp);
  };
  for (const entry of state.fields.values()) {
    note(ROOT, entry.stamp);
    for (let length = 1; length < entry.path.length; length++)
      note(JSON.stringify(entry.path.slice(0, length)), entry.stamp);
  }
  return oldest;
}

function isOlder(stamp: Stamp | undefined, than: Stamp): boolean {
  return stamp !== undefined && compareStamps(stamp, than) < 0;
}

function decodeOptionalStamp(value: Value | undefined): Stamp | undefined {
  if (!Array.isArray(value)) return badSnapshot('document stamp');
  return value.length === 0 ? undefined : decodeStamp(value, 0, 'document stamp');
}

/** True when no ancestor of the entry (nor the root) was cleared after it was written. */
function isVisible(state: DocumentState, entry: FieldEntry): boolean {
  if (state.cleared && compareStamps(entry.stamp, state.cleared) < 0) return false;
  for (let length = 1; length < entry.path.length; length++) {
    const ancestor = state.fields.get(JSON.stringify(entry.path.slice(0, length)));
    if (ancestor?.cleared && compareStamps(entry.stamp, ancestor.cleared) < 0) return false;
  }
  return true;
}
