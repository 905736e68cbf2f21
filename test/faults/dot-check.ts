/**
 * Dots name one write each, forever (DESIGN.md: an op is written once at its origin). A node that
 * loses an op it had made durable, or that showed a client an op a crash then took back, gives the
 * op's seq to its next write. Two checks see that from the history alone:
 *
 * - two acknowledged writes with the same dot: the first was acknowledged, then lost;
 * - an answer whose token already named a dot before the acknowledged write that got it was even
 *   sent: the token named an earlier op with that dot, which was lost (a node answers only what is
 *   durable, see packages/node/src/causal-reads.ts, so that too is a durability failure).
 *
 * Either breaks every check that goes by dots (causal-check.ts pairs a token's dots with the
 * writes that got them): a reused dot is reported here, by what it means.
 */
import { lastAtOrBelow } from './causal-check.js';
import type { Operation } from './history.js';
import { describe as describeOp, type Violation } from './read-checks.js';

/** Per origin: acknowledged writes by seq, their seqs, and the latest invocation up to each. */
interface ByOrigin {
  readonly writes: Operation[];
  readonly seqs: number[];
  readonly latestInvoked: number[];
}

/** Every reused dot the history shows. */
export function checkDots(history: readonly Operation[]): Violation[] {
  const violations: Violation[] = [];
  const origins = new Map<string, ByOrigin>();
  const seen = new Map<string, Operation>();
  for (const write of history) {
    if (write.kind === 'read' || write.outcome !== 'ok' || write.dot === undefined) continue;
    const dot = `${write.dot.origin}:${write.dot.seq}`;
    const first = seen.get(dot);
    if (first !== undefined) {
      violations.push({
        kind: 'reused-dot',
        message: `${dot} was acknowledged for ${describeOp(first)} and again for ${describeOp(write)}: the first was lost and its seq given to the second`,
        operations: [first.index, write.index],
      });
      continue;
    }
    seen.set(dot, write);
    const byOrigin = origins.get(write.dot.origin) ?? { writes: [], seqs: [], latestInvoked: [] };
    byOrigin.writes.push(write);
    origins.set(write.dot.origin, byOrigin);
  }
  for (const byOrigin of origins.values()) {
    byOrigin.writes.sort((a, b) => (a.dot?.seq ?? 0) - (b.dot?.seq ?? 0));
    let latest = Number.NEGATIVE_INFINITY;
    for (const write of byOrigin.writes) {
      latest = Math.max(latest, write.invokedMs);
      byOrigin.latestInvoked.push(latest);
      byOrigin.seqs.push(write.dot?.seq ?? 0);
    }
  }
  for (const answer of history) {
    const vector = answer.vector;
    if (answer.outcome !== 'ok' || vector === undefined) continue;
    for (const [origin, { writes, seqs, latestInvoked }] of origins) {
      const last = lastAtOrBelow(seqs, vector[origin] ?? 0);
      if (last < 0 || (latestInvoked[last] as number) <= answer.completedMs) continue;
      const named = writes
        .slice(0, last + 1)
        .find((write) => write.invokedMs > answer.completedMs) as Operation;
      violations.push({
        kind: 'reused-dot',
        message: `${describeOp(answer)} answered a token holding ${origin}:${named.dot?.seq} before ${describeOp(named)}, which got that dot, was sent: the token named a write that was lost`,
        operations: [answer.index, named.index],
      });
    }
  }
  return violations;
}
