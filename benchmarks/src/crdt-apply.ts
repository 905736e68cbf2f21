import type { Replica, SomeContender, SystemName } from './crdt-contender.js';
import { collectGarbage, repeat, timeMs } from './crdt-measure.js';
import { type Assignment, expectReads, finalValues, record, sampleOf } from './crdt-workload.js';
import { exact, measurePair, type Sample, type Trial } from './measure.js';
import type { Figure, Target } from './report.js';

/**
 * Apply throughput (figures 1 and 2) and catch-up bytes (figure 5): one writer makes one update
 * per set, untimed; then fresh replicas apply all of them, timed, and read back a sample of keys.
 */

/** The target: Driftless applies at least 3× as fast as Yjs. */
const TARGET_APPLY_RATIO = 3;

/** How often each system's trial runs. */
export interface ApplyRuns {
  /** Driftless and Yjs: measured repetitions, interleaved after a warm-up. */
  readonly reps: number;
  /** Automerge: repetitions with no warm-up (seconds each, every one checked). */
  readonly automergeRuns: number;
}

/** One system's part of an apply benchmark, verified and timed. */
export interface ApplyResult {
  readonly system: SystemName;
  readonly opsPerS: Sample;
  /** Bytes of every update, as the system sends them. */
  readonly wireBytes: number;
  /** Bytes of every update merged into batches of 1,000, for a system that sends them one by one. */
  readonly batchedWireBytes?: number;
  /** Bytes a new replica needs to catch up with the final state. */
  readonly stateBytes: number;
  /** Driftless only: bytes of a whole-state snapshot of the same replica. */
  readonly snapshotBytes?: number;
}

/** A workload of figure 1 or 2. */
export interface ApplyWorkload {
  /** `distinct`, `overwrite`: part of each figure's id. */
  readonly id: string;
  /** The figure's number and what it applies, for the table. */
  readonly label: string;
  readonly sets: readonly Assignment[];
}

/** A system's updates for `sets` and the trial that applies them. */
interface Prepared {
  readonly system: SystemName;
  readonly trial: Trial;
  readonly wireBytes: number;
  readonly batchedWireBytes: number | undefined;
  /** The catch-up bytes of the last replica the trial built (verified), once it has run. */
  stateBytes(): number;
  /** Its snapshot bytes, for a system that has snapshots besides its catch-up form. */
  snapshotBytes(): number | undefined;
}

/** Records the workload on each system, verifies it, and measures the apply throughput. */
export async function benchApply(
  contenders: readonly SomeContender[],
  workload: ApplyWorkload,
  runs: ApplyRuns,
): Promise<ApplyResult[]> {
  const prepared = contenders.map((contender) => prepare(contender, workload.sets));
  const results: ApplyResult[] = [];
  const [driftless, yjs, ...others] = prepared;
  if (driftless?.system !== 'Driftless' || yjs?.system !== 'Yjs')
    throw new Error('benchApply: Driftless and Yjs come first');
  const [ours, theirs] = await measurePair(driftless.trial, yjs.trial, runs.reps);
  results.push(resultOf(driftless, ours), resultOf(yjs, theirs));
  for (const other of others) results.push(resultOf(other, await repeat(other.trial, runs.automergeRuns)));
  return results;
}

/** Figures 1 or 2: Driftless beside each other system. */
export function applyFigures(workload: ApplyWorkload, results: readonly ApplyResult[]): Figure[] {
  const [ours, ...others] = results;
  if (ours === undefined) throw new Error('applyFigures: no results');
  const target: Target = { of: 'ratio', bound: 'min', value: TARGET_APPLY_RATIO };
  return others.map((other) => ({
    id: `apply.${workload.id}.${other.system.toLowerCase()}`,
    label: `${workload.label} · ${other.system}`,
    unit: 'ops/s',
    driftless: ours.opsPerS,
    baseline: other.opsPerS,
    ...(other.system === 'Yjs' ? { target } : {}),
  }));
}

/**
 * Figure 5: catch-up bytes after the overwrite workload (for Driftless the compacted delta of the
 * ops a new replica lacks, with its whole-state snapshot as an extra row), and the bytes of all its
 * updates.
 */
export function catchUpFigures(results: readonly ApplyResult[]): Figure[] {
  const [ours, ...others] = results;
  if (ours === undefined) throw new Error('catchUpFigures: no results');
  const target: Target = { of: 'ratio', bound: 'max', value: 1 };
  const baselineOf: Readonly<Record<SystemName, string>> = {
    Driftless: 'delta',
    Yjs: 'encodeStateAsUpdate',
    Automerge: 'save',
  };
  const { snapshotBytes } = ours;
  return [
    ...others.map(
      (other): Figure => ({
        id: `catchUp.state.${other.system.toLowerCase()}`,
        label: `5a catch-up: delta(ops it lacks) · ${other.system} ${baselineOf[other.system]}`,
        unit: 'B',
        driftless: exact(ours.stateBytes),
        baseline: exact(other.stateBytes),
        ...(other.system === 'Yjs' ? { target } : {}),
      }),
    ),
    ...(snapshotBytes === undefined
      ? []
      : others.map(
          (other): Figure => ({
            id: `catchUp.snapshot.${other.system.toLowerCase()}`,
            label: `5a catch-up: whole snapshot() · ${other.system} ${baselineOf[other.system]}`,
            unit: 'B',
            driftless: exact(snapshotBytes),
            baseline: exact(other.stateBytes),
          }),
        )),
    ...others.flatMap((other): Figure[] => {
      const { batchedWireBytes } = other;
      const each: Figure = {
        id: `catchUp.allOps.${other.system.toLowerCase()}`,
        label: `5b every op of (2) on the wire · ${other.system}${batchedWireBytes === undefined ? '' : ' one by one'}`,
        unit: 'B',
        driftless: exact(ours.wireBytes),
        baseline: exact(other.wireBytes),
      };
      if (batchedWireBytes === undefined) return [each];
      return [
        each,
        {
          id: `catchUp.allOpsBatched.${other.system.toLowerCase()}`,
          label: `5b every op of (2) on the wire · ${other.system} merged per 1,000`,
          unit: 'B',
          driftless: exact(ours.wireBytes),
          baseline: exact(batchedWireBytes),
        },
      ];
    }),
  ];
}

/** A prepared system's result, with the throughput measured for it. */
function resultOf(prepared: Prepared, opsPerS: Sample): ApplyResult {
  const { system, wireBytes, batchedWireBytes } = prepared;
  const snapshotBytes = prepared.snapshotBytes();
  return {
    system,
    opsPerS,
    wireBytes,
    stateBytes: prepared.stateBytes(),
    ...(batchedWireBytes === undefined ? {} : { batchedWireBytes }),
    ...(snapshotBytes === undefined ? {} : { snapshotBytes }),
  };
}

/**
 * Records `sets` at a writer (untimed). The trial applies every update at a fresh replica, timed,
 * then checks it before its figure counts: the writer's fingerprint, and the last value of a sample
 * of keys. (The first pass is the warm-up for Driftless and Yjs, so it is checked before any
 * figure is taken; Automerge's passes, too slow to spare one, are each checked the same way.)
 */
function prepare(contender: SomeContender, sets: readonly Assignment[]): Prepared {
  const { replica: writer, updates } = record((w) => contender.open(w), 0, sets);
  const expected = finalValues(sets);
  const sample = sampleOf([...expected.keys()]);
  const what = (replica: string) => `${contender.name} ${replica}`;
  expectReads(what('writer'), writer, expected, sample);
  const fingerprint = writer.fingerprint();
  let last: Replica<unknown> | undefined;

  const trial: Trial = () => {
    const receiver = contender.open(1);
    last = undefined;
    collectGarbage();
    const ms = timeMs(() => receiver.receive(updates));
    if (receiver.fingerprint() !== fingerprint)
      throw new Error(`${what('receiver')} does not match the writer after applying every update`);
    expectReads(what('receiver'), receiver, expected, sample);
    last = receiver;
    return updates.length / (ms / 1000);
  };
  const verified = (): Replica<unknown> => {
    if (last === undefined) throw new Error(`${what('receiver')}: no verified pass yet`);
    return last;
  };
  return {
    system: contender.name,
    trial,
    wireBytes: contender.wireBytes(updates),
    batchedWireBytes: contender.batchedWireBytes?.(updates),
    stateBytes: () => verified().stateBytes(),
    snapshotBytes: () => verified().snapshotBytes?.(),
  };
}
