/**
 * The bytes of this node's log, for lag in bytes: as PostgreSQL counts the WAL bytes between two
 * LSNs, a peer lags by the bytes of the log entries here holding ops it lacks.
 *
 * The log is not one sequence to a peer: it may hold ops of later entries (its own, or ops it had
 * from a third node) and lack earlier ones, so a peer's position is not a prefix of the log. Bytes
 * are therefore kept per origin, as points (seq, bytes of that origin's ops up to it), one per
 * origin in each entry, an entry's bytes shared among its ops evenly. What a peer lacks is then, per
 * origin, the bytes between its seq and this node's.
 *
 * Exact: the bytes of whole entries a peer lacks are exactly the entries' encoded size, and a peer
 * lacking part of an entry is counted its ops' even share of it. Approximate (interpolated by seq
 * between the points kept): past MAX_POINTS_PER_ORIGIN points an origin keeps every other one, and
 * points below what every known peer holds are forgotten, so only a peer behind all of those (a new
 * or never-reached one) is counted coarsely. Ops held before tracking began count at the mean size of
 * the ops logged since (0 until one is); ops held only through a state transfer (not in this log)
 * count 0, as there are no log bytes to send of them.
 */
import { encodeValidatedOps, type LogChunk, type VersionVector } from '@driftless/core';

/** Points kept per origin; past it every other one is dropped (lag of a peer far behind gets coarser). */
export const MAX_POINTS_PER_ORIGIN = 4096;

/** One origin's points: seqs ascending, and the bytes of its ops logged up to each (non-decreasing). */
interface OriginBytes {
  seqs: number[];
  bytes: number[];
}

/** Per origin, the bytes of its ops in this node's log, from the vector tracking began at. */
export class LogBytes {
  readonly #origins = new Map<string, OriginBytes>();
  /** Bytes and ops logged since tracking began, for the mean op size of ops held before it. */
  #loggedBytes = 0;
  #loggedOps = 0;

  /** Tracks the entries logged after `start` (the replica's vector now). */
  constructor(start: VersionVector) {
    for (const [origin, seq] of start.entries()) this.#origins.set(origin, { seqs: [seq], bytes: [0] });
  }

  /** Records a durable log entry. */
  logged(chunk: LogChunk): void {
    const n = chunk.ops.length;
    if (n === 0) return;
    const size = chunk.bytes?.length ?? encodeValidatedOps(chunk.ops).length;
    // Per origin, the ops not recorded yet (every op of a whole entry, in the log's own order).
    // Ops come in runs of one origin: the maps are consulted once a run, not once an op.
    const fresh = new Map<string, { first: number; last: number; count: number }>();
    let origin: string | undefined;
    let recorded = 0;
    let run: { first: number; last: number; count: number } | undefined;
    for (const op of chunk.ops) {
      if (op.origin !== origin) {
        origin = op.origin;
        recorded = this.#origins.get(origin)?.seqs.at(-1) ?? 0;
        run = fresh.get(origin);
      }
      if (op.seq <= recorded) continue;
      if (run) {
        run.last = op.seq;
        run.count++;
      } else {
        run = { first: op.seq, last: op.seq, count: 1 };
        fresh.set(origin, run);
      }
    }
    for (const [origin, run] of fresh) {
      let points = this.#origins.get(origin);
      if (points === undefined) {
        points = { seqs: [0], bytes: [0] };
        this.#origins.set(origin, points);
      }
      const lastSeq = points.seqs.at(-1) as number;
      const lastBytes = points.bytes.at(-1) as number;
      // Ops between came by a state transfer: none of them is in this log.
      if (run.first > lastSeq + 1) push(points, run.first - 1, lastBytes);
      const share = (size * run.count) / n;
      push(points, run.last, lastBytes + share);
      this.#loggedBytes += share;
      this.#loggedOps += run.count;
      if (points.seqs.length > MAX_POINTS_PER_ORIGIN) thin(points);
    }
  }

  /** The bytes of the ops `local` holds that `peer` lacks; 0 when it lacks none. */
  missing(local: VersionVector, peer: VersionVector): number {
    let total = 0;
    for (const [origin, seq] of local.entries()) {
      const theirs = peer.get(origin);
      if (theirs >= seq) continue;
      const points = this.#origins.get(origin);
      if (points === undefined) continue;
      total += Math.max(0, this.#upTo(points, seq) - this.#upTo(points, theirs));
    }
    return Math.round(total);
  }

  /** Forgets points below what every known peer holds (`held`), keeping the first one. */
  forget(held: VersionVector): void {
    for (const [origin, points] of this.#origins) {
      // The last point at or below what every peer holds stays: a known peer's seq is at or above it.
      const keep = lastAtOrBelow(points.seqs, held.get(origin));
      if (keep > 1) {
        points.seqs.splice(1, keep - 1);
        points.bytes.splice(1, keep - 1);
      }
    }
  }

  /** The bytes of an origin's ops up to `seq`, relative to where tracking began (negative below it). */
  #upTo(points: OriginBytes, seq: number): number {
    const { seqs, bytes } = points;
    const first = seqs[0] as number;
    if (seq <= first) {
      const mean = this.#loggedOps > 0 ? this.#loggedBytes / this.#loggedOps : 0;
      return (bytes[0] as number) - (first - seq) * mean;
    }
    const i = lastAtOrBelow(seqs, seq);
    // Past the last point: ops not in this log (a state transfer), or an entry not reported yet.
    if (i === seqs.length - 1) return bytes[i] as number;
    const [fromSeq, toSeq] = [seqs[i] as number, seqs[i + 1] as number];
    const [fromBytes, toBytes] = [bytes[i] as number, bytes[i + 1] as number];
    return fromBytes + ((toBytes - fromBytes) * (seq - fromSeq)) / (toSeq - fromSeq);
  }
}

function push(points: OriginBytes, seq: number, bytes: number): void {
  points.seqs.push(seq);
  points.bytes.push(bytes);
}

/** Keeps the first point, every other one, and the last. */
function thin(points: OriginBytes): void {
  const last = points.seqs.length - 1;
  const keep = (_: number, i: number) => i % 2 === 0 || i === last;
  points.seqs = points.seqs.filter(keep);
  points.bytes = points.bytes.filter(keep);
}

/** The index of the last seq at or below `seq` in ascending `seqs` (0 when none is). */
function lastAtOrBelow(seqs: readonly number[], seq: number): number {
  let low = 0;
  let high = seqs.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if ((seqs[mid] as number) <= seq) low = mid;
    else high = mid - 1;
  }
  return low;
}
