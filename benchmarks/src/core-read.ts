import { join } from 'node:path';
import { decodeOps, OpLog, type StoreEntry, VersionVector } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { type Budget, measurePair, rateOfAsync } from './measure.js';
import type { Figure } from './report.js';
import { BATCH_OPS, cycle, makeBatches, NODE_ID } from './workload.js';

/**
 * Reading a log since a version vector (what a peer catching up costs the server), beside the floor
 * for reading: iterating the store's raw log table and decoding every entry.
 */

/** The store table holding the log's entries (see log-layout.ts in @driftless/core). */
const LOG_TABLE = 'log';
/** The batches cycled through while filling the log. */
const POOL_BATCHES = 16;
/** The share of the log a lagging peer lacks in 4b. */
const TAIL_SHARE = 0.1;

/** Measures 4: appends budget.readOps ops in 1,000-op batches, then reads them back two ways. */
export async function benchRead(dir: string, budget: Budget): Promise<Figure[]> {
  const total = budget.readOps;
  if (total % (BATCH_OPS / TAIL_SHARE) !== 0)
    throw new Error(`readOps must be a multiple of ${BATCH_OPS / TAIL_SHARE}`);
  const store = await LmdbStore.open(join(dir, 'read'));
  try {
    const log = await OpLog.open({ store, nodeId: NODE_ID });
    const firstLsn = log.nextLsn;
    const batches = makeBatches(POOL_BATCHES);
    for (let b = 0; b < total / BATCH_OPS; b++) await log.appendLocal(cycle(batches, b));

    const tailOps = total * TAIL_SHARE;
    const lacking = VersionVector.from({ [NODE_ID]: total - tailOps });
    const tailLsn = firstLsn + (total - tailOps) / BATCH_OPS;
    const viaLog = (since: VersionVector) => countLogOps(log.readSince(since));
    const viaStore = (start: number) => countEntryOps(store.range(LOG_TABLE, { start }));
    await expectOps('readSince(∅)', viaLog(VersionVector.EMPTY), total);
    await expectOps('the raw table', viaStore(firstLsn), total);
    await expectOps('readSince(lacking the tail)', viaLog(lacking), tailOps);
    await expectOps('the raw table from the tail', viaStore(tailLsn), tailOps);

    const timed = (pass: () => Promise<number>) => () => rateOfAsync(pass, budget.minMs);
    const [all, rawAll] = await measurePair(
      timed(() => viaLog(VersionVector.EMPTY)),
      timed(() => viaStore(firstLsn)),
      budget.reps,
    );
    const [tail, rawTail] = await measurePair(
      timed(() => viaLog(lacking)),
      timed(() => viaStore(tailLsn)),
      budget.reps,
    );
    await log.close();
    return [
      {
        id: 'read.all',
        label: `4a read since ∅ (${total.toLocaleString('en-US')} ops)`,
        unit: 'ops/s',
        driftless: all,
        baseline: rawAll,
      },
      {
        id: 'read.tail',
        label: `4b read since a vector lacking the last ${100 * TAIL_SHARE}%`,
        unit: 'ops/s',
        driftless: tail,
        baseline: rawTail,
      },
    ];
  } finally {
    await store.close();
  }
}

/** Counts the ops readSince streams. */
async function countLogOps(chunks: AsyncIterable<{ readonly ops: readonly unknown[] }>): Promise<number> {
  let ops = 0;
  for await (const chunk of chunks) ops += chunk.ops.length;
  return ops;
}

/** Decodes every raw log entry and counts its ops. */
async function countEntryOps(entries: AsyncIterable<StoreEntry>): Promise<number> {
  let ops = 0;
  for await (const { value } of entries) ops += decodeOps(value).length;
  return ops;
}

/** Fails loudly unless a read returned exactly `expected` ops. */
async function expectOps(what: string, read: Promise<number>, expected: number): Promise<void> {
  const ops = await read;
  if (ops !== expected) throw new Error(`${what} read ${ops} ops, expected ${expected}`);
}
