import { DriftlessError } from './errors.js';
import { isHlc } from './hlc.js';
import { LOG_TABLE, META_TABLE, readStoredTips, TIPS_META } from './log-layout.js';
import { decodeEntry } from './log-recover.js';
import { entryHolding } from './log-truncate.js';
import type { Op, OpTip } from './op.js';
import type { Store } from './store.js';
import type { VersionVector } from './version-vector.js';

/**
 * The tip of each origin: the seq and timestamp of the last op of it the log made durable, or
 * that an installed state showed by its stamp (OpLog.install), whichever is later. The log holds
 * them in memory (LogWriter), reads them back on opening from the last entry holding each origin's
 * ops, and, since a truncation may delete those entries and an install's tips are in none, stores
 * them in meta `tips` with every truncation and every install that raised one: a peer that lost
 * its data is told its tip however long ago its ops were truncated here, or if they only ever
 * came here in states.
 */

/**
 * The tips on opening: those the last truncation stored, then the last op of each origin the log
 * holds (below the vector when an install raised it past the log's ops).
 */
export async function recoverTips(store: Store, vector: VersionVector): Promise<Map<string, OpTip>> {
  const tips = readStoredTips(await store.get(META_TABLE, TIPS_META), vector);
  for (const [origin, seq] of vector.entries()) {
    const lsn = await entryHolding(store, origin, seq);
    const bytes = lsn === undefined ? undefined : await store.get(LOG_TABLE, lsn);
    if (lsn === undefined || bytes === undefined) continue;
    let last: Op | undefined;
    for (const op of decodeEntry(bytes, lsn)) if (op.origin === origin && op.seq <= seq) last = op;
    // A stored tip may be above the log's last op of its origin: one a state showed (OpLog.install).
    if (last !== undefined && last.seq > (tips.get(origin)?.seq ?? 0))
      tips.set(origin, { seq: last.seq, hlc: last.hlc });
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

/** Throws INVALID_ARGUMENT unless each of `tips` names an op within `vector` (OpLog.install's tips). */
export function assertTipsWithin(tips: ReadonlyMap<string, OpTip>, vector: VersionVector): void {
  for (const [origin, { seq, hlc }] of tips) {
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > vector.get(origin) || !isHlc(hlc))
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `the tip of ${origin} is not an op within the installed vector`,
      );
  }
}
