import { decode, type Value } from '@driftless/core';
import type { ReadResult } from '@driftless/crdt';
import { COLLECTIONS, type CollectionCounts, NetworkSim } from './network-sim.js';
import { type ModelOp, modelRead, modelType } from './reference-model.js';
import { modelYjs, readContent, type YjsContent, type YjsModel } from './yjs-reference-model.js';

/** JSON with object keys sorted: field order is not part of a value. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** Sorts a set's elements so implementation and model compare whatever their element order. */
function normalise(read: ReadResult | undefined): unknown {
  if (!read) return undefined;
  if (read.type === 'set')
    return { ...read, value: (read.value as Value[]).map((v) => JSON.stringify(v)).sort() };
  return read;
}

/** What the schedules exercised of the yjs type, summed over runs. */
export interface YjsCoverage {
  edits: number;
  deletes: number;
  /** Edits the origin refused (the client held a deleted document), then made on a new Y.Doc. */
  refused: number;
  /** Writes that joined two documents or more into one. */
  merges: number;
  /** Keys that end up reading two documents or more together. */
  concurrentDocuments: number;
  /** Keys with a visible document holding a deleted write: a concurrent edit brought it back. */
  revived: number;
  /** Keys that end up deleted after Yjs edits. */
  deleted: number;
  /** Keys with Yjs edits and writes of another type. */
  otherTypes: number;
}

/** A coverage record with nothing counted yet. */
export function noYjsCoverage(): YjsCoverage {
  return {
    edits: 0,
    deletes: 0,
    refused: 0,
    merges: 0,
    concurrentDocuments: 0,
    revived: 0,
    deleted: 0,
    otherTypes: 0,
  };
}

/** Collection counts with nothing counted yet. */
export function noCollections(): CollectionCounts {
  return { collections: 0, everything: 0, dropped: 0, compacted: 0, mixedJoins: 0, refusedJoins: 0 };
}

/**
 * Runs one seeded schedule and checks convergence and the model; returns a failure message or
 * undefined. Replicas collect tombstones along the way, each with a vector causally stable for it
 * (now and then all of them, after delivering everything), and all of them once more at the end,
 * with every op stable: then they must agree byte for byte. Reads must agree with the model both
 * before and after that last collection.
 * Adds what it exercised of the yjs type to `coverage`, and of collection to `collection`, when given.
 */
export function runSchedule(
  seed: number,
  coverage?: YjsCoverage,
  collection?: CollectionCounts,
): string | undefined {
  const sim = new NetworkSim(seed, 5);
  const steps = 20 + Math.floor(sim.random() * 60);
  for (let step = 0; step < steps; step++) {
    const roll = sim.random();
    if (roll < 0.5) sim.write();
    else if (roll < 0.79) sim.deliver(1 + Math.floor(sim.random() * 6));
    else if (roll < 0.89) sim.collect();
    else if (roll < 0.9) {
      sim.drain();
      sim.collectAll();
    } else if (roll < 0.93) sim.restart();
    else if (roll < 0.965) sim.deltaCatchUp();
    else sim.bootstrap();
  }
  sim.drain();
  const checks = modelChecks(sim, coverage);
  if (typeof checks === 'string') return checks;
  const before = runChecks(checks);
  if (before) return `before the last collection: ${before}`;
  sim.collectAll();
  if (collection)
    for (const [what, count] of Object.entries(sim.collection))
      collection[what as keyof CollectionCounts] += count;
  const digests = new Set(sim.replicas.map((replica) => replica.state.digest()));
  if (digests.size !== 1) return `digests differ: ${firstDifference(sim)}`;
  const rejected = sim.replicas.find((replica) => replica.state.rejectedOps > 0);
  if (rejected)
    return `${rejected.id} rejected ${rejected.state.rejectedOps} ops, all written by honest replicas`;
  if (coverage) {
    coverage.edits += sim.yjsWrites.edits;
    coverage.deletes += sim.yjsWrites.deletes;
    coverage.refused += sim.yjsWrites.refused;
  }
  return runChecks(checks);
}

/** Checks the replicas' reads of one key against the model: a failure message, or undefined. */
type KeyCheck = () => string | undefined;

/**
 * Per key written, a check of every replica's read against the model (computed once, from the
 * whole history); or the model's own complaint. Adds the yjs cases to `coverage`.
 */
function modelChecks(sim: NetworkSim, coverage?: YjsCoverage): KeyCheck[] | string {
  const checks: KeyCheck[] = [];
  for (const collection of COLLECTIONS) {
    const keys = new Set(sim.history.filter((m) => m.op.collection === collection).map((m) => m.op.key));
    for (const key of keys) {
      const ops = sim.history.filter((m) => m.op.collection === collection && m.op.key === key);
      // The yjs rule holds for a key's Yjs documents whatever type the key shows.
      const yjs = ops.some((m) => m.mutation.kind === 'yjs') ? modelYjs(ops) : undefined;
      if (yjs && yjs.problems.length > 0) return `${collection}/${key}: ${yjs.problems.join('; ')}`;
      if (yjs && coverage) count(coverage, ops, yjs);
      if (yjs && modelType(ops) === 'yjs')
        checks.push(() => checkYjsReads(sim, collection, key, yjs.content));
      else {
        const expected = normalise(modelRead(ops));
        checks.push(() => checkReads(sim, collection, key, expected));
      }
    }
  }
  return checks;
}

function runChecks(checks: readonly KeyCheck[]): string | undefined {
  for (const check of checks) {
    const failure = check();
    if (failure) return failure;
  }
  return undefined;
}

/** Checks every replica's read of a key against the model's. */
function checkReads(sim: NetworkSim, collection: string, key: string, expected: unknown): string | undefined {
  for (const replica of sim.replicas) {
    const actual = normalise(replica.state.get(collection, key));
    if (canonicalJson(actual) !== canonicalJson(expected)) {
      return `${replica.id} reads ${collection}/${key} as ${JSON.stringify(actual)}, the model as ${JSON.stringify(expected)}`;
    }
  }
  return undefined;
}

/** Checks every replica's read of a yjs key against the model's content (see yjs-reference-model.ts). */
function checkYjsReads(
  sim: NetworkSim,
  collection: string,
  key: string,
  content: YjsContent | undefined,
): string | undefined {
  const expected = content === undefined ? 'absent' : canonicalJson(content);
  // Replicas with equal digests read equal bytes: decode a read only when it differs from the last.
  let last: { bytes: Uint8Array; content: string } | undefined;
  for (const replica of sim.replicas) {
    const read = replica.state.get(collection, key);
    let actual = 'absent';
    if (read !== undefined) {
      if (read.type !== 'yjs') actual = `a ${read.type}`;
      else {
        const bytes = read.value as Uint8Array;
        if (!last || Buffer.compare(bytes, last.bytes) !== 0)
          last = { bytes, content: canonicalJson(readContent(bytes)) };
        actual = last.content;
      }
    }
    if (actual !== expected)
      return `${replica.id} reads ${collection}/${key} as ${actual}, the model as ${expected}`;
  }
  return undefined;
}

/** Adds what a key with Yjs edits exercised to `coverage`. */
function count(coverage: YjsCoverage, ops: readonly ModelOp[], model: YjsModel): void {
  const visible = model.documents.filter((d) => d.visible);
  coverage.merges += model.merges;
  if (visible.length > 1) coverage.concurrentDocuments++;
  if (visible.length === 0) coverage.deleted++;
  const deletes = ops.filter((o) => o.mutation.kind === 'del');
  const deleted = (w: ModelOp) => deletes.some((d) => d.past.includes(w.op.origin, w.op.seq));
  if (visible.some((d) => d.writes.some(deleted))) coverage.revived++;
  if (ops.some((o) => o.mutation.kind !== 'yjs' && o.mutation.kind !== 'del')) coverage.otherTypes++;
}

/** The first entry whose encoding differs between two replicas. */
function firstDifference(sim: NetworkSim): string {
  const [first, ...rest] = sim.replicas.map((replica) => ({
    id: replica.id,
    collections: (decode(replica.state.snapshot()) as Value[]).slice(3) as Value[][],
  }));
  for (const other of rest) {
    for (const collection of first?.collections ?? []) {
      const theirs = other.collections.find((c) => c[0] === collection[0]) ?? [];
      for (let i = 1; i < collection.length; i += 2) {
        const j = theirs.indexOf(collection[i] as Value);
        const mine = JSON.stringify(collection[i + 1]);
        const them = j < 0 ? 'absent' : JSON.stringify(theirs[j + 1]);
        if (mine !== them)
          return `${collection[0]}/${String(collection[i])}: ${first?.id} ${mine} vs ${other.id} ${them}`;
      }
    }
  }
  return 'collections differ in their keys';
}
