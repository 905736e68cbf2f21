import {
  indexBounds,
  indexKey,
  LOG_INDEX_TABLE,
  LOG_TABLE,
  metaWrite,
  readStoredNumber,
  seqOfIndexKey,
  TIPS_META,
  tipsValue,
} from './log-layout.js';
import type { OpTip } from './op.js';
import type { Store, StoreWrite } from './store.js';
import type { VersionVector } from './version-vector.js';

/**
 * Truncation: which prefix of the op log a watermark lets go, and the writes that delete it. The
 * entries go first (every entry below the cut), then each origin's index keys that point below it;
 * the base rises to just below each origin's first op kept. The op log commits the writes on its
 * commit lane (see log-commit.ts), so no append lands between the plan and its commit. The index
 * lookup a truncation cuts by (entryHolding) also tells readSince where to start and verify what to
 * expect.
 */

/** What a truncation removed. */
export interface TruncateResult {
  readonly removedEntries: number;
  /** Every op at or below this vector is no longer in the log. */
  readonly base: VersionVector;
}

/**
 * Something that needs ops kept in the log (a persistent state replays the log above its last
 * checkpoint when it opens): see OpLog.retain.
 */
export interface LogRetention {
  /** Ops above this vector stay in the log, whatever a truncation's watermark. Read as it runs. */
  floor(): VersionVector;
  /** Called as each truncation begins, which waits for it: a chance to lower the floor (checkpoint). */
  prepare?(): Promise<unknown>;
}

/** What the store holds of the log (LogWriter keeps it), read as the truncation runs. */
export interface StoredLog {
  readonly durable: VersionVector;
  readonly nextLsn: number;
  readonly storedBase: VersionVector;
  readonly tips: ReadonlyMap<string, OpTip>;
}

/** A truncation to commit: the writes that delete its entries and index keys, and the base they leave. */
export interface TruncationPlan {
  readonly writes: readonly StoreWrite[];
  readonly removedEntries: number;
  readonly base: VersionVector;
}

/**
 * Plans deleting the longest prefix of the log whose ops are all at or below `requested` and the
 * floor of every retention. Undefined when that prefix holds no entry.
 */
export async function planTruncation(
  store: Store,
  stored: StoredLog,
  requested: VersionVector,
  retentions: Iterable<LogRetention>,
): Promise<TruncationPlan | undefined> {
  let watermark = requested;
  for (const retention of retentions) watermark = watermark.meet(retention.floor());
  const durable = stored.durable;
  let cut = stored.nextLsn;
  for (const { origin, from } of durable.missingFrom(watermark)) {
    const lsn = await entryHolding(store, origin, from);
    if (lsn !== undefined && lsn < cut) cut = lsn;
  }
  const writes: StoreWrite[] = [];
  let removedEntries = 0;
  for await (const { key } of store.range(LOG_TABLE, { end: cut })) {
    writes.push({ table: LOG_TABLE, key, value: undefined });
    removedEntries++;
  }
  let base = stored.storedBase;
  for (const [origin, seq] of durable.entries()) {
    let firstKept = seq + 1;
    for await (const { key, value } of store.range(LOG_INDEX_TABLE, indexBounds(origin))) {
      if ((readStoredNumber(value, 'index') as number) >= cut) {
        firstKept = seqOfIndexKey(key);
        break;
      }
      writes.push({ table: LOG_INDEX_TABLE, key, value: undefined });
    }
    base = base.with(origin, firstKept - 1);
  }
  if (removedEntries === 0) return undefined;
  // The tips outlive the entries that held them (log-tips.ts).
  writes.push(metaWrite('base', base.toValue()), metaWrite(TIPS_META, tipsValue(stored.tips)));
  return { writes, removedEntries, base };
}

/** The LSN of the entry holding `origin`'s op `seq`, if the log still has one at or below it. */
export async function entryHolding(store: Store, origin: string, seq: number): Promise<number | undefined> {
  const { start } = indexBounds(origin);
  const range = store.range(LOG_INDEX_TABLE, {
    start: indexKey(origin, seq),
    end: start,
    reverse: true,
    limit: 1,
  });
  for await (const { value } of range) return readStoredNumber(value, 'index');
  return undefined;
}
