import {
  DAMAGED_STORE_ADVICE,
  DriftlessError,
  decode,
  encode,
  type OpLog,
  ProtocolError,
  type Store,
  type StoreWrite,
  VersionVector,
} from '@driftless/core';
import { ReplicaState } from './replica-state.js';
import { loadEntries } from './segment-load.js';
import { type SegmentLayout, STATE_META_TABLE } from './state-segments.js';

/**
 * How a persistent replica keeps its state: the op log is the source of truth, and the state is
 * checkpointed now and then beside it, in the same store:
 *
 *   state_seg   the entries of the keys each checkpoint wrote (state-segments.ts)
 *   state_meta  "checkpoint" → the version vector the stored entries hold, exactly
 *               "collected"  → the vector below which tombstones were collected
 *
 * A checkpoint writes every key changed since the previous one (or the log entries of the ops that
 * changed them, entry-capture.ts), and the vectors, in one commit appended to the log after every op
 * of its vector (checkpointer.ts), so it always holds exactly the ops of its vector. Opening loads
 * it and replays, in log order, the ops of the log above its vector: the log keeps them
 * (OpLog.retain), so a crash between checkpoints loses nothing the log has.
 * Stores written before checkpoints existed have no "checkpoint": their entries were written with
 * every append, so they hold the log's whole version vector.
 */

const COLLECTED = 'collected';
const CHECKPOINT = 'checkpoint';

/** The writes that make the stored entries a checkpoint at `vector`. */
export function checkpointMeta(vector: VersionVector, collected: VersionVector): StoreWrite[] {
  return [
    { table: STATE_META_TABLE, key: CHECKPOINT, value: encode(vector.toValue()) },
    { table: STATE_META_TABLE, key: COLLECTED, value: encode(collected.toValue()) },
  ];
}

/** A state loaded from its checkpoint and the log above it. */
export interface LoadedState {
  readonly state: ReplicaState;
  /** The vector the stored checkpoint holds. */
  readonly checkpoint: VersionVector;
  /** Keys the replay changed, not yet in the checkpoint: collection, key, collection, key, … */
  readonly replayedKeys: readonly string[];
  /** Ops replayed. */
  readonly replayed: number;
  /** The checkpoint segments the store holds. */
  readonly segments: SegmentLayout;
}

/**
 * The state as `store` holds it durably: its checkpoint, then the log's ops above it, in log order.
 * Throws SNAPSHOT_INVALID for a damaged entry, STORE_CORRUPT for damaged metadata; writes nothing.
 */
export async function loadState(store: Store, log: OpLog): Promise<LoadedState> {
  const { entries, replay, layout } = await loadEntries(store);
  const collected = await readVector(store, COLLECTED);
  const stored = await readVector(store, CHECKPOINT);
  const checkpoint =
    stored ?? (entries.length > 0 || collected !== undefined ? log.versionVector : VersionVector.EMPTY);
  if (!log.canServe(checkpoint)) {
    throw new DriftlessError(
      'STORE_CORRUPT',
      `the op log no longer holds the ops above the state checkpoint: ${DAMAGED_STORE_ADVICE}`,
    );
  }
  const state = ReplicaState.load(checkpoint, collected ?? VersionVector.EMPTY, entries);
  for (const op of replay) {
    if (!checkpoint.includes(op.origin, op.seq)) {
      throw new DriftlessError(
        'SNAPSHOT_INVALID',
        `a checkpoint segment holds ${op.origin}:${op.seq}, which its checkpoint does not: the store is damaged; ${DAMAGED_STORE_ADVICE}`,
      );
    }
    state.replayCounted(op);
  }
  const replayedKeys: string[] = [];
  let replayed = 0;
  for await (const chunk of log.readSince(checkpoint)) {
    for (const op of chunk.ops) {
      state.apply(op);
      replayedKeys.push(op.collection, op.key);
      replayed++;
    }
  }
  return { state, checkpoint, replayedKeys, replayed, segments: layout };
}

async function readVector(store: Store, key: string): Promise<VersionVector | undefined> {
  const bytes = await store.get(STATE_META_TABLE, key);
  if (bytes === undefined) return undefined;
  try {
    return VersionVector.fromValue(decode(bytes));
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new DriftlessError(
        'STORE_CORRUPT',
        'the replica state metadata is unreadable: restore from a backup',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
