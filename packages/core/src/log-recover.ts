import { ProtocolError, StorageError } from './errors.js';
import {
  LOG_FORMAT,
  LOG_TABLE,
  META_TABLE,
  metaWrite,
  readStoredNumber,
  readStoredString,
  readStoredVector,
  throwCorrupt,
} from './log-layout.js';
import { entryHolding } from './log-truncate.js';
import { formatDot, type Op } from './op.js';
import { decodeOps } from './op-codec.js';
import type { Store } from './store.js';
import type { VersionVector } from './version-vector.js';

/** What the log knows of itself on opening. */
export interface LogState {
  readonly vector: VersionVector;
  readonly base: VersionVector;
  readonly highWater: number;
  readonly nextLsn: number;
}

/** Reads the log's state from the store, initialising an empty store, and checks it holds together. */
export async function recover(store: Store, nodeId: string): Promise<LogState> {
  const format = readStoredNumber(await store.get(META_TABLE, 'format'), 'format marker');
  if (format === undefined) {
    for (const table of [LOG_TABLE, META_TABLE]) {
      for await (const _ of store.range(table, { limit: 1 })) {
        throw new StorageError(
          'STORE_FORMAT',
          'the store holds data but no Driftless format marker: point the node at an empty or Driftless data directory',
        );
      }
    }
    await store.commit([metaWrite('format', LOG_FORMAT), metaWrite('node', nodeId)]);
  } else if (format !== LOG_FORMAT) {
    throw new StorageError(
      'STORE_FORMAT',
      `the store is in format ${format}, and this version of Driftless reads format ${LOG_FORMAT}: upgrade Driftless`,
    );
  }
  const owner = readStoredString(await store.get(META_TABLE, 'node'), 'node id') ?? nodeId;
  if (owner !== nodeId) {
    throw new StorageError(
      'STORE_WRONG_NODE',
      `the store belongs to node "${owner}", not "${nodeId}": start it as "${owner}", or give "${nodeId}" its own data directory`,
    );
  }
  const vector = readStoredVector(await store.get(META_TABLE, 'vv'), 'version vector');
  const base = readStoredVector(await store.get(META_TABLE, 'base'), 'base vector');
  const highWater = readStoredNumber(await store.get(META_TABLE, 'hlc'), 'clock high-water mark') ?? 0;
  const nextLsn = readStoredNumber(await store.get(META_TABLE, 'next_lsn'), 'next LSN') ?? 1;
  for await (const { key, value } of store.range(LOG_TABLE, { reverse: true, limit: 1 })) {
    if (typeof key !== 'number' || key >= nextLsn)
      throwCorrupt(`last entry (${String(key)} ≥ next LSN ${nextLsn})`);
    for (const op of decodeEntry(value, key)) {
      if (!vector.includes(op.origin, op.seq)) throwCorrupt(`version vector (it lacks ${formatDot(op)})`);
    }
  }
  if (!vector.dominates(base)) throwCorrupt('base vector (ahead of the version vector)');
  return { vector, base, highWater, nextLsn };
}

/** Decodes a stored log entry; STORE_CORRUPT when it is not one. */
export function decodeEntry(bytes: Uint8Array, lsn: number): Op[] {
  try {
    return decodeOps(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) throwCorrupt(`entry ${lsn}`, error);
    throw error;
  }
}

/**
 * Reads the whole log and checks it (OpLog.verify): every entry decodes, each origin's seqs run
 * contiguously from `base` to `durable`, and the index points at the right entries.
 */
export async function verifyLog(
  store: Store,
  base: VersionVector,
  durable: VersionVector,
): Promise<{ entries: number; ops: number }> {
  const next = new Map(base.entries().map(([origin, seq]) => [origin, seq + 1]));
  let entries = 0;
  let ops = 0;
  for await (const { key, value } of store.range(LOG_TABLE)) {
    entries++;
    const seen = new Set<string>();
    for (const op of decodeEntry(value, key as number)) {
      ops++;
      // Ops below the base stay in entries an install or a partial truncation left behind.
      if (op.seq <= base.get(op.origin)) continue;
      const expected = next.get(op.origin) ?? 1;
      if (op.seq !== expected)
        throwCorrupt(`entry ${key} (${formatDot(op)} where ${op.origin}:${expected} was due)`);
      next.set(op.origin, expected + 1);
      if (!seen.has(op.origin)) {
        seen.add(op.origin);
        if ((await entryHolding(store, op.origin, op.seq)) !== key)
          throwCorrupt(`index for ${formatDot(op)}`);
      }
    }
  }
  for (const [origin, seq] of durable.entries()) {
    if ((next.get(origin) ?? 1) !== seq + 1) throwCorrupt(`version vector (${origin} is at ${seq})`);
  }
  return { entries, ops };
}
