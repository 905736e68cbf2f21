import { closeSync, fdatasyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeOps, type Op, OpLog, type Write } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { FaultyStore } from '@driftless/core/testing';
import { type Budget, exact, measure, measurePair, rateOf, rateOfAsync, type Trial } from './measure.js';
import type { Figure } from './report.js';
import { BATCH_OPS, chunk, cycle, makeBatches, NODE_ID } from './workload.js';

/**
 * Durable append throughput of OpLog on LmdbStore, beside the floor of this disk: the same encoded
 * bytes appended to a plain file with one fdatasync per group.
 */

/** The batches cycled through by the append trials. */
const POOL_BATCHES = 16;
/** Single-op appends kept in flight at once, so that group commit has something to group. */
const WINDOW = 1000;
/** Single ops captured from Driftless to build the baseline's groups from. */
const CAPTURE_OPS = 16 * BATCH_OPS;
/** The target for durable appends in batches. */
const TARGET_BATCH_OPS_PER_S = 300_000;

/** Encoded ops that the raw baseline writes and syncs as one group. */
interface RawGroup {
  readonly bytes: Uint8Array;
  readonly ops: number;
}

/** An append-only file synced once per group: the floor under any durable log on this disk. */
class RawLog {
  readonly #fd: number;

  constructor(path: string) {
    this.#fd = openSync(path, 'a');
  }

  /** Appends one group, fdatasyncs, and returns its op count. */
  commit(group: RawGroup): number {
    let written = 0;
    while (written < group.bytes.length) written += writeSync(this.#fd, group.bytes, written);
    fdatasyncSync(this.#fd);
    return group.ops;
  }

  /** Empties the file between repetitions (untimed), so it does not grow without bound. */
  reset(): void {
    ftruncateSync(this.#fd, 0);
  }

  /** Closes the file. */
  close(): void {
    closeSync(this.#fd);
  }
}

/** Measures 1a (batches) and 1b (single ops in flight) on a fresh LMDB store in `dir`. */
export async function benchAppend(dir: string, budget: Budget): Promise<Figure[]> {
  const store = new FaultyStore(await LmdbStore.open(join(dir, 'append')));
  const raw = new RawLog(join(dir, 'raw.log'));
  try {
    const log = await OpLog.open({ store, nodeId: NODE_ID });
    const batches = makeBatches(POOL_BATCHES);
    const figures = [...(await benchBatches(log, raw, batches, budget))];
    figures.push(...(await benchSingles(log, store, raw, batches.flat(), budget)));
    await log.close();
    return figures;
  } finally {
    raw.close();
    await store.close();
  }
}

/** 1a: sequentially awaited appendLocal calls of 1,000 writes each. */
async function benchBatches(
  log: OpLog,
  raw: RawLog,
  batches: readonly Write[][],
  budget: Budget,
): Promise<Figure[]> {
  const groups: RawGroup[] = [];
  for (const batch of batches) {
    const ops = await log.appendLocal(batch);
    groups.push({ bytes: encodeOps(ops), ops: ops.length });
  }
  let next = 0;
  const driftless: Trial = () =>
    rateOfAsync(async () => (await log.appendLocal(cycle(batches, next++))).length, budget.minMs);
  const [ours, theirs] = await measurePair(driftless, rawTrial(raw, groups, budget), budget.reps);
  return [
    {
      id: 'append.batch',
      label: '1a durable append, 1,000-op batches',
      unit: 'ops/s',
      driftless: ours,
      baseline: theirs,
      target: { of: 'driftless', bound: 'min', value: TARGET_BATCH_OPS_PER_S },
    },
  ];
}

/** 1b: single-op appendLocal calls, WINDOW of them in flight at once. */
async function benchSingles(
  log: OpLog,
  store: FaultyStore,
  raw: RawLog,
  writes: readonly Write[],
  budget: Budget,
): Promise<Figure[]> {
  const captured: Op[] = [];
  await appendSingles(log, writes, budget.minMs, captured);
  const opsBefore = log.versionVector.get(NODE_ID);
  const commitsBefore = store.commits;
  const ours = await measure(() => appendSingles(log, writes, budget.minMs), budget.reps);
  const opsPerCommit =
    (log.versionVector.get(NODE_ID) - opsBefore) / Math.max(1, store.commits - commitsBefore);
  const groupOps = Math.max(1, Math.round(opsPerCommit));
  const groups = chunk(captured, groupOps)
    .filter((ops) => ops.length === groupOps)
    .map((ops) => ({ bytes: encodeOps(ops), ops: ops.length }));
  if (groups.length === 0) throw new Error(`captured ${captured.length} ops, fewer than one group`);
  const theirs = await measure(rawTrial(raw, groups, budget), budget.reps);
  return [
    {
      id: 'append.single',
      label: `1b durable append, single ops (${WINDOW.toLocaleString('en-US')} in flight)`,
      unit: 'ops/s',
      driftless: ours,
      baseline: theirs,
    },
    {
      id: 'append.single.opsPerCommit',
      label: '   ops per store commit',
      unit: 'ops/commit',
      driftless: exact(opsPerCommit),
      baseline: exact(groupOps),
    },
  ];
}

/**
 * Keeps WINDOW single-op appendLocal calls in flight for at least `minMs` (and, when capturing,
 * until `capture` holds CAPTURE_OPS ops); returns ops per second including the final drain.
 */
async function appendSingles(
  log: OpLog,
  writes: readonly Write[],
  minMs: number,
  capture?: Op[],
): Promise<number> {
  const started = performance.now();
  let issued = 0;
  const running = () =>
    performance.now() - started < minMs || (capture !== undefined && capture.length < CAPTURE_OPS);
  const inFlight = async () => {
    while (running()) {
      const ops = await log.appendLocal([cycle(writes, issued++)]);
      if (capture !== undefined && capture.length < CAPTURE_OPS) capture.push(...ops);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, inFlight));
  return issued / ((performance.now() - started) / 1000);
}

/** A baseline trial: commits `groups` in turn to the emptied raw file for at least budget.minMs. */
function rawTrial(raw: RawLog, groups: readonly RawGroup[], budget: Budget): Trial {
  return () => {
    raw.reset();
    let next = 0;
    return rateOf(() => raw.commit(cycle(groups, next++)), budget.minMs);
  };
}
