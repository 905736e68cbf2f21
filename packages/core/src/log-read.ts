import { OpLogError } from './errors.js';
import type { LogChunk } from './log-commit.js';
import { LOG_TABLE } from './log-layout.js';
import { decodeEntry } from './log-recover.js';
import { entryHolding } from './log-truncate.js';
import type { Op } from './op.js';
import type { Store } from './store.js';
import type { VersionVector } from './version-vector.js';

/**
 * The durable ops of a log holding `durable` that a replica at `since` lacks, in log order, entry
 * by entry, from the first entry holding one up to (not including) `endLsn`. A chunk holding its
 * whole entry carries the entry's stored bytes. The caller checks the log can serve `since`
 * (OpLog.readSince); a hole found while reading (a truncation meanwhile) throws LOG_TRUNCATED.
 */
export async function* readMissing(
  store: Store,
  durable: VersionVector,
  since: VersionVector,
  endLsn: number,
): AsyncGenerator<LogChunk> {
  const missing = durable.missingFrom(since);
  if (missing.length === 0) return;
  let startLsn = endLsn;
  for (const { origin, from } of missing) {
    startLsn = Math.min(startLsn, (await entryHolding(store, origin, from)) ?? 0);
  }
  const expected = new Map(missing.map(({ origin, from }) => [origin, from]));
  for await (const { key, value } of store.range(LOG_TABLE, { start: startLsn, end: endLsn })) {
    const lacking: Op[] = [];
    const entryOps = decodeEntry(value, key as number);
    for (const op of entryOps) {
      const next = expected.get(op.origin);
      if (next === undefined || op.seq < next) continue;
      if (op.seq > next) {
        throw new OpLogError(
          'LOG_TRUNCATED',
          `the log was truncated while reading (missing ${op.origin}:${next})`,
        );
      }
      expected.set(op.origin, next + 1);
      lacking.push(op);
    }
    if (lacking.length === entryOps.length) yield { lsn: key as number, ops: lacking, bytes: value };
    else if (lacking.length > 0) yield { lsn: key as number, ops: lacking };
  }
}
