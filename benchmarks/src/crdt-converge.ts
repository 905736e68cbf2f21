import type { ApplyRuns } from './crdt-apply.js';
import type { Replica, SomeContender, SystemName } from './crdt-contender.js';
import { collectGarbage, repeat, timeMs } from './crdt-measure.js';
import {
  type Assignment,
  alternate,
  conflictingSets,
  finalValues,
  record,
  sampleOf,
} from './crdt-workload.js';
import { measurePair, type Sample, type Trial } from './measure.js';
import type { Figure } from './report.js';

/**
 * Convergence (figure 3): three replicas each write the same keys concurrently, untimed; then each
 * receives the other two's updates, alternating between them, timed until all three fingerprints
 * (Driftless: digest(); Yjs: the map's entries; Automerge: the heads) are equal.
 */

/** Replicas writing concurrently. */
export const WRITERS = 3;
/** Sets each writer makes. */
export const SETS_PER_WRITER = 30_000;
/** Keys they all write to. */
export const CONFLICT_KEYS = 1000;

/** One system's time to converge. */
export interface ConvergeResult {
  readonly system: SystemName;
  readonly ms: Sample;
}

/** Records the concurrent writes on each system, verifies convergence, and times it. */
export async function benchConverge(
  contenders: readonly SomeContender[],
  runs: ApplyRuns,
): Promise<ConvergeResult[]> {
  const sets = conflictingSets(WRITERS, SETS_PER_WRITER, CONFLICT_KEYS);
  const trials = contenders.map((contender) => ({ system: contender.name, trial: prepare(contender, sets) }));
  const [driftless, yjs, ...others] = trials;
  if (driftless?.system !== 'Driftless' || yjs?.system !== 'Yjs')
    throw new Error('benchConverge: Driftless and Yjs come first');
  const [ours, theirs] = await measurePair(driftless.trial, yjs.trial, runs.reps);
  const results: ConvergeResult[] = [
    { system: 'Driftless', ms: ours },
    { system: 'Yjs', ms: theirs },
  ];
  for (const { system, trial } of others)
    results.push({ system, ms: await repeat(trial, runs.automergeRuns) });
  return results;
}

/** Figure 3: Driftless's time to converge beside each other system's. */
export function convergeFigures(results: readonly ConvergeResult[]): Figure[] {
  const [ours, ...others] = results;
  if (ours === undefined) throw new Error('convergeFigures: no results');
  const total = WRITERS * SETS_PER_WRITER;
  return others.map((other) => ({
    id: `converge.${other.system.toLowerCase()}`,
    label: `3  converge ${WRITERS}×${SETS_PER_WRITER / 1000}k conflicting sets (${total / 1000}k ops) · ${other.system}`,
    unit: 'ms',
    driftless: ours.ms,
    baseline: other.ms,
    ...(other.system === 'Yjs' ? { target: { of: 'ratio', bound: 'max', value: 1 } as const } : {}),
  }));
}

/**
 * Has each writer make its sets, one round at a time across writers, and checks that the writers
 * start out different. The trial copies the writers (untimed), delivers every update, times it
 * until the fingerprints agree, then checks a sample of keys: every replica reads the same value,
 * and it is one some writer wrote last to that key.
 */
function prepare(contender: SomeContender, sets: readonly (readonly Assignment[])[]): Trial {
  const writers = sets.map((_, w) => record((writer) => contender.open(writer), w, []));
  const rounds = Math.max(...sets.map((list) => list.length));
  for (let i = 0; i < rounds; i++) {
    for (const [w, writer] of writers.entries()) {
      const set = sets[w]?.[i];
      if (set !== undefined) writer.updates.push(writer.replica.set(set.key, set.value));
    }
  }
  const fingerprints = new Set(writers.map(({ replica }) => replica.fingerprint()));
  if (fingerprints.size !== writers.length)
    throw new Error(`${contender.name}: the writers already agree before exchanging anything`);
  // Replica w receives every other writer's updates, alternating between them.
  const inboxes = writers.map((_, w) =>
    alternate(writers.filter((_, other) => other !== w).map(({ updates }) => updates)),
  );
  const lastWrites = sets.map((list) => finalValues(list));
  const sample = sampleOf([...(lastWrites[0]?.keys() ?? [])]);

  return () => {
    const replicas = writers.map(({ replica }) => replica.copy());
    collectGarbage();
    let agreed = false;
    const ms = timeMs(() => {
      for (const [w, replica] of replicas.entries()) replica.receive(inboxes[w] ?? []);
      const first = replicas[0]?.fingerprint();
      agreed = replicas.every((replica) => replica.fingerprint() === first);
    });
    if (!agreed) throw new Error(`${contender.name}: the replicas did not converge`);
    checkSample(contender.name, replicas, lastWrites, sample);
    return ms;
  };
}

/** Throws unless every replica reads the same value for each sampled key, one a writer wrote last. */
function checkSample(
  system: SystemName,
  replicas: readonly Replica<unknown>[],
  lastWrites: readonly ReadonlyMap<string, number>[],
  sample: readonly string[],
): void {
  for (const key of sample) {
    const read = replicas[0]?.read(key);
    if (replicas.some((replica) => replica.read(key) !== read))
      throw new Error(`${system}: replicas read different values for ${key}`);
    if (!lastWrites.some((values) => values.get(key) === read))
      throw new Error(`${system}: ${key} reads ${String(read)}, which no writer wrote last`);
  }
}
