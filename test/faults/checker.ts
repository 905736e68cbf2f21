/**
 * The Jepsen-style checker: given the history of a fault schedule and what the nodes held after
 * the final heal, it lists every violation of the guarantees in DESIGN.md it can see:
 *
 * - `lost-write`: an acknowledged write whose holders (its node, and the peers that confirmed it
 *   durable) include a survivor, yet a survivor lacks it after the heal (its op, or its effect: a
 *   set element, a counter's increments, a register overwritten by an older value);
 * - `lost-ack-k-write`: the same, for a write whose own node was destroyed: acknowledged with
 *   `ack=k`, it must survive the loss of its node and k-1 others;
 * - `phantom-value`: a read showed a value, element or counter total no client wrote;
 * - `diverged`: survivors hold different digests, vectors or values after the heal;
 * - `read-your-writes`, `monotonic-read`: a session presented a token and read less than it;
 * - `inconsistent-read`: any other read whose value is not what its own token's ops make;
 * - `causal-order`: a read's token includes a write but not what the write's node had applied
 *   before making it (causal-check.ts).
 *
 * The rules for one read are in read-checks.ts.
 */
import { checkCausalDelivery } from './causal-check.js';
import { checkDots } from './dot-check.js';
import {
  type FinalObservation,
  includes,
  type NodeObservation,
  type Operation,
  sameVector,
} from './history.js';
import { checkRead, describe, VIOLATION_KINDS, type Violation, type ViolationKind } from './read-checks.js';
import { keyOf, valueId, WriteIndex } from './write-index.js';

export { VIOLATION_KINDS, type Violation, type ViolationKind } from './read-checks.js';

/** Every violation in `history`, judged with each final observation (one per phase). */
export function checkHistory(
  history: readonly Operation[],
  observations: readonly FinalObservation[],
): Violation[] {
  const writes = new WriteIndex(history);
  const violations: Violation[] = [];
  for (const op of history) violations.push(...checkRead(op, { writes, final: false, dead: new Set() }));
  violations.push(...checkCausalDelivery(history, history));
  violations.push(...checkDots(history));
  for (const observation of observations) {
    // An observation judges only what was invoked before it.
    const before = history.filter((op) => op.index < observation.before);
    const writesBefore = new WriteIndex(before);
    const dead = new Set(observation.dead);
    violations.push(...checkDivergence(observation));
    violations.push(...checkDurability(before, observation, dead));
    for (const node of observation.survivors) {
      violations.push(...checkCausalDelivery(before, node.reads));
      for (const read of node.reads) {
        violations.push(...checkRead(read, { writes: writesBefore, final: true, dead }));
      }
    }
  }
  return violations;
}

/** Violations counted by kind (every kind present, zero or not). */
export function countByKind(violations: readonly Violation[]): Record<ViolationKind, number> {
  const counts = Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, 0])) as Record<
    ViolationKind,
    number
  >;
  for (const violation of violations) counts[violation.kind]++;
  return counts;
}

/** After the heal every survivor must hold the same digest, vector, and value of every key. */
function checkDivergence({ label, survivors }: FinalObservation): Violation[] {
  const [first, ...others] = survivors;
  if (first === undefined) return [];
  const violations: Violation[] = [];
  for (const node of others) {
    if (node.digest !== first.digest || !sameVector(node.vector, first.vector)) {
      violations.push({
        kind: 'diverged',
        message: `${label}: ${node.node} holds digest ${node.digest.slice(0, 12)} ${JSON.stringify(node.vector)}, ${first.node} ${first.digest.slice(0, 12)} ${JSON.stringify(first.vector)}`,
        operations: [],
      });
    }
    const theirs = readsByKey(node);
    for (const [key, read] of readsByKey(first)) {
      const other = theirs.get(key);
      if (other !== undefined && canonical(other) !== canonical(read)) {
        violations.push({
          kind: 'diverged',
          message: `${label}: ${key} reads ${canonical(read)} on ${first.node} but ${canonical(other)} on ${node.node}`,
          operations: [read.index, other.index],
        });
      }
    }
  }
  return violations;
}

/**
 * Every acknowledged write with a surviving holder is in every survivor's vector. Holders are its
 * node and the peers that confirmed it durable (`acked`): with `ack=k` those are k + 1 nodes.
 */
function checkDurability(
  history: readonly Operation[],
  { label, survivors }: FinalObservation,
  dead: ReadonlySet<string>,
): Violation[] {
  const violations: Violation[] = [];
  for (const write of history) {
    if (write.kind === 'read' || write.outcome !== 'ok' || write.dot === undefined) continue;
    const holders = [write.dot.origin, ...(write.acked ?? [])];
    if (holders.every((holder) => dead.has(holder))) continue;
    const lacking = survivors.filter((node) => !includes(node.vector, write.dot)).map((node) => node.node);
    if (lacking.length === 0) continue;
    const kind: ViolationKind = dead.has(write.dot.origin) ? 'lost-ack-k-write' : 'lost-write';
    violations.push({
      kind,
      message: `${label}: ${describe(write)} acknowledged (held by ${holders.join(', ')}) is missing on ${lacking.join(', ')}`,
      operations: [write.index],
    });
  }
  return violations;
}

function readsByKey(node: NodeObservation): Map<string, Operation> {
  return new Map(node.reads.map((read) => [keyOf(read), read]));
}

/** A read's result in a form equal on equal states (set elements sorted). */
function canonical(read: Operation): string {
  const result = read.read;
  if (result === undefined || !result.found) return 'absent';
  const value =
    Array.isArray(result.value) && result.type === 'set'
      ? [...result.value].map(valueId).sort()
      : result.value;
  return `${result.type} ${valueId(value)}`;
}
