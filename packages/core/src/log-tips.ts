import { LOG_TABLE } from './log-layout.js';
import { decodeEntry } from './log-recover.js';
import { entryHolding } from './log-truncate.js';
import type { Op } from './op.js';
import type { Store } from './store.js';
import type { VersionVector } from './version-vector.js';

/**
 * The seq and timestamp of an op: enough to tell apart two ops that claim the same dot. A node that
 * lost its data and wrote again under the same id gives its new writes the seqs of the ops it lost,
 * with later timestamps; replication compares tips to catch it (see the sync package's
 * origin-check.ts).
 */
export interface OpTip {
  readonly seq: number;
  readonly hlc: number;
}

/** The last op of each origin in the log's vector that the log still holds, read on opening. */
export async function recoverTips(store: Store, vector: VersionVector): Promise<Map<string, OpTip>> {
  const tips = new Map<string, OpTip>();
  for (const [origin, seq] of vector.entries()) {
    const op = await storedOp(store, origin, seq);
    if (op !== undefined) tips.set(origin, { seq: op.seq, hlc: op.hlc });
  }
  return tips;
}

/** The op `origin:seq` as the log stores it; undefined when the log does not hold it (truncated). */
export async function storedOp(store: Store, origin: string, seq: number): Promise<Op | undefined> {
  const lsn = await entryHolding(store, origin, seq);
  if (lsn === undefined) return undefined;
  const bytes = await store.get(LOG_TABLE, lsn);
  if (bytes === undefined) return undefined;
  for (const op of decodeEntry(bytes, lsn)) if (op.origin === origin && op.seq === seq) return op;
  return undefined;
}
