/**
 * Causal delivery (DESIGN.md guarantee 2), judged from reads: a write made with `after=T` was made
 * by a node that had applied T, so any replica that applied the write had applied T first. A read's
 * token is its node's applied vector, so a token that includes such a write must include T too.
 *
 * Per origin the writes are sorted by seq and their `after` vectors joined as a running maximum,
 * so each read costs one comparison per origin instead of one per write.
 */
import { dominates, type Operation, type Vector } from './history.js';
import { describe as describeOp, type Violation } from './read-checks.js';

/** Per origin: seqs ascending, and the join of the `after=` of every write up to that seq. */
type Prefixes = Map<string, { seqs: number[]; joined: Vector[]; writes: Operation[] }>;

function prefixesOf(writes: readonly Operation[]): Prefixes {
  const byOrigin = new Map<string, Operation[]>();
  for (const write of writes) {
    if (
      write.kind === 'read' ||
      write.outcome !== 'ok' ||
      write.dot === undefined ||
      write.after === undefined
    )
      continue;
    const list = byOrigin.get(write.dot.origin) ?? [];
    list.push(write);
    byOrigin.set(write.dot.origin, list);
  }
  const prefixes: Prefixes = new Map();
  for (const [origin, list] of byOrigin) {
    list.sort((a, b) => (a.dot?.seq ?? 0) - (b.dot?.seq ?? 0));
    let running: Record<string, number> = {};
    const joined = list.map((write) => {
      running = { ...running };
      for (const [o, seq] of Object.entries(write.after ?? {})) running[o] = Math.max(running[o] ?? 0, seq);
      return running;
    });
    prefixes.set(origin, { seqs: list.map((write) => write.dot?.seq ?? 0), joined, writes: list });
  }
  return prefixes;
}

/** Every read whose token includes a write but not what that write's node had applied before it. */
export function checkCausalDelivery(writes: readonly Operation[], reads: readonly Operation[]): Violation[] {
  const prefixes = prefixesOf(writes);
  const violations: Violation[] = [];
  for (const read of reads) {
    const vector = read.vector;
    if (read.kind !== 'read' || read.outcome !== 'ok' || vector === undefined) continue;
    for (const [origin, { seqs, joined, writes: list }] of prefixes) {
      // The last write of this origin that the read's node has applied.
      const last = lastAtOrBelow(seqs, vector[origin] ?? 0);
      if (last < 0 || dominates(vector, joined[last] as Vector)) continue;
      const culprit = list
        .slice(0, last + 1)
        .find((write) => !dominates(vector, write.after ?? {})) as Operation;
      violations.push({
        kind: 'causal-order',
        message: `${describeOp(read)} includes ${describeOp(culprit)} but not ${JSON.stringify(culprit.after)}, which its node had applied before writing it`,
        operations: [read.index, culprit.index],
      });
    }
  }
  return violations;
}

/** The index of the last of `seqs` (ascending) that is ≤ `seq`, or -1. */
export function lastAtOrBelow(seqs: readonly number[], seq: number): number {
  let low = 0;
  let high = seqs.length - 1;
  let last = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if ((seqs[mid] as number) <= seq) {
      last = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  return last;
}
