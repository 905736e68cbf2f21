/**
 * The @driftless/crdt benchmarks: Driftless's ReplicaState beside Yjs (a Y.Map) and Automerge doing
 * the same work in the same run — applying 100k register sets, converging three replicas after
 * conflicting writes, memory per key, and the bytes a new replica needs to catch up.
 *
 *   node scripts/run-ts.mjs benchmarks/src/crdt.ts [--quick] [--json]
 *   npm run bench:crdt -- --quick
 */
import { parseArgs } from 'node:util';
import {
  type ApplyRuns,
  type ApplyWorkload,
  applyFigures,
  benchApply,
  catchUpFigures,
} from './crdt-apply.js';
import { automerge } from './crdt-automerge.js';
import type { SomeContender, SystemName } from './crdt-contender.js';
import { benchConverge, convergeFigures } from './crdt-converge.js';
import { driftless } from './crdt-driftless.js';
import {
  combineResources,
  formatCount,
  type HeapMeasurement,
  heapFigures,
  measureHeap,
} from './crdt-heap.js';
import { distinctSets, overwriteSets } from './crdt-workload.js';
import { yjs } from './crdt-yjs.js';
import {
  describeMachine,
  type Figure,
  judge,
  measureResources,
  type Report,
  renderJson,
  renderText,
} from './report.js';

const USAGE = `usage: node scripts/run-ts.mjs benchmarks/src/crdt.ts [--quick] [--json]
  --quick  fewer repetitions, memory at 100,000 keys, and Automerge in figure 4 only (about a minute)
  --json   print only the JSON line`;

/** How often trials repeat, which systems they time, and how many keys the memory figure builds. */
interface CrdtBudget extends ApplyRuns {
  /** Whether Automerge takes part in figures 1, 2, 3 and 5 (a minute of its own, at least). */
  readonly automergeTimed: boolean;
  /** Keys of the Driftless and Yjs states of figure 4. */
  readonly heapKeys: number;
  /** Keys of the Automerge state of figure 4. */
  readonly automergeHeapKeys: number;
}

/** Full runs take a few minutes; quick ones about one. */
const BUDGETS: Readonly<Record<Report['mode'], CrdtBudget>> = {
  full: {
    reps: 5,
    automergeTimed: true,
    automergeRuns: 3,
    heapKeys: 1_000_000,
    automergeHeapKeys: 1_000_000,
  },
  quick: { reps: 3, automergeTimed: false, automergeRuns: 1, heapKeys: 100_000, automergeHeapKeys: 100_000 },
};

/** Sets of figures 1 and 2. */
const APPLY_SETS = 100_000;
/** Figure 2: keys overwritten, and how often each. */
const OVERWRITE_KEYS = 1000;
const OVERWRITE_ROUNDS = 100;

/** The systems timed: Driftless first, then Yjs (the targets' baseline), then Automerge. */
function contendersOf(budget: CrdtBudget): SomeContender[] {
  return budget.automergeTimed ? [driftless, yjs, automerge] : [driftless, yjs];
}

/** What quick runs leave out, and why. */
const QUICK_NOTE =
  "quick: Automerge's rows of 1, 2, 3 and 5 need over a minute of their own here (making 290k changes " +
  'and applying them at ~10k/s), so only the full run has them.';

const NOTES = [
  'Every row sets registers to small integers under 16-byte ASCII keys. Driftless: ReplicaState ops built',
  'as the op log builds them (prepare, dot, HLC), applied one by one. Yjs 13.6.33: one Y.Map, one update',
  "per set captured from doc.on('update'), applied one by one with Y.applyUpdate (decoding included; a",
  'Driftless op arrives decoded). Automerge 3.5.0: one change per set (backend put + commit +',
  'getLastLocalChange: Automerge.change copies the frozen root on every change, quadratic in the keys);',
  'Automerge.applyChanges in calls of 1,000 changes, since one change per call fell under 1,000/s by 10k',
  'keys (quadratic). Every timed pass is checked before its figure counts: the fresh replica must match',
  "the writer's fingerprint and read back the last value of 100 sampled keys (for Driftless and Yjs the",
  'first checked pass is the warm-up, so a check precedes every figure).',
  '1–2 ops/s of one pass over every update on a fresh replica (a full GC before each pass, untimed).',
  '   Driftless and Yjs: median of the repetitions, interleaved after a warm-up; Automerge: fewer runs.',
  '3  Three replicas write 30k sets each, in rounds, on the same 1,000 keys (untimed); copies of them',
  "   (untimed) then receive the other two replicas' updates, alternating, timed until all three",
  "   fingerprints agree: Driftless digest() (SHA-256 of the canonical state), Yjs the map's entries in key",
  '   order as JSON, Automerge the sorted heads. Replicas must differ before and read the same value after.',
  '4  A fresh child process per system (node --expose-gc) builds N keys between two full GCs; the figure is',
  "   the growth of heapUsed plus the larger of external and WebAssembly linear memory (V8 counts Automerge's",
  '   WASM memory as external; linear memory only grows, so it includes allocator slack). Driftless: one op',
  '   per key; Yjs: transactions of 1,000 keys (one per key measured the same); Automerge: its engine (the',
  "   document's backend), a change per 1,000 keys, without the JS view a document also holds (below).",
  '5a What a new replica downloads to catch up with the receiving replica after (2). Driftless:',
  '   ReplicaState.delta(ops) of the ops it lacks (all of them; every key is touched, so the delta holds the',
  '   whole state, and a fresh state that applies it must match before the figure counts); its snapshot()',
  '   is the extra row. Yjs: Y.encodeStateAsUpdate of its receiving doc (it keeps a struct per overwritten',
  '   map entry, ~10 B each); Automerge: Automerge.save (the whole history, compressed).',
  '5b Every update of (2): Driftless encodeOps in 1,000-op batches (as the log streams them); Yjs and',
  '   Automerge Σ update/change lengths, each sent as made, and Yjs also merged per 1,000 (Y.mergeUpdates).',
];

/** Why Driftless's rates here understate its built code. */
const SOURCE_NOTES = [
  'Driftless runs from its TypeScript sources here (the @driftless/source condition, through tsx), and',
  "tsx compiles with esbuild's keepNames: every closure ReplicaState.apply creates per op is wrapped in",
  '__name() (an Object.defineProperty). Against the tsc-built dist/ (drop the condition) Driftless applied',
  'about twice as fast in one check; Yjs and Automerge ship built JS and are unaffected.',
];

/** The flags of the command line. */
interface Flags {
  readonly mode: Report['mode'];
  readonly json: boolean;
  readonly help: boolean;
}

/** Reads the flags; throws on an unknown one. */
function parseFlags(args: readonly string[]): Flags {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  return { mode: values.quick ? 'quick' : 'full', json: values.json, help: values.help };
}

/** Runs every benchmark and prints the report. */
async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const machine = describeMachine();
  const budget = BUDGETS[flags.mode];
  const progress = (message: string) => {
    if (!flags.json) process.stderr.write(`${process.uptime().toFixed(0).padStart(4)} s  ${message}\n`);
  };
  const figures: Figure[] = [];
  const contenders = contendersOf(budget);

  const distinct: ApplyWorkload = {
    id: 'distinct',
    label: `1  apply ${formatCount(APPLY_SETS)} sets on distinct keys`,
    sets: distinctSets(APPLY_SETS),
  };
  progress(`[1/5] ${distinct.label.slice(3)}`);
  figures.push(...applyFigures(distinct, await benchApply(contenders, distinct, budget)));

  const overwrite: ApplyWorkload = {
    id: 'overwrite',
    label: `2  apply ${OVERWRITE_ROUNDS} sets each to ${formatCount(OVERWRITE_KEYS)} keys`,
    sets: overwriteSets(OVERWRITE_KEYS, OVERWRITE_ROUNDS),
  };
  progress(`[2/5] ${overwrite.label.slice(3)}`);
  const overwritten = await benchApply(contenders, overwrite, budget);
  figures.push(...applyFigures(overwrite, overwritten));

  progress('[3/5] three replicas converging');
  figures.push(...convergeFigures(await benchConverge(contenders, budget)));

  progress(`[4/5] memory per key (${formatCount(budget.heapKeys)} keys, a child process per system)`);
  const heaps = await measureHeaps(budget);
  figures.push(...heapFigures(heaps.driftless, heaps.others));

  progress('[5/5] catch-up bytes');
  figures.push(...catchUpFigures(overwritten));

  const report: Report = {
    benchmark: 'crdt',
    mode: flags.mode,
    machine,
    figures: figures.map(judge),
    notes: [
      ...NOTES,
      ...heapNotes([...heaps.driftless, ...heaps.others]),
      ...SOURCE_NOTES,
      ...(budget.automergeTimed ? [] : [QUICK_NOTE]),
    ],
    resources: measureResources(),
    childResources: combineResources([...heaps.driftless, ...heaps.others]),
  };
  console.log(flags.json ? renderJson(report) : `${renderText(report)}\n\n${renderJson(report)}`);
}

/** Figure 4's measurements: Driftless at every key count the others were measured at. */
async function measureHeaps(
  budget: CrdtBudget,
): Promise<{ driftless: HeapMeasurement[]; others: HeapMeasurement[] }> {
  const counts: Readonly<Record<Exclude<SystemName, 'Driftless'>, number>> = {
    Yjs: budget.heapKeys,
    Automerge: budget.automergeHeapKeys,
  };
  const driftlessRuns: HeapMeasurement[] = [];
  for (const keys of new Set(Object.values(counts))) driftlessRuns.push(await measureHeap('Driftless', keys));
  const others: HeapMeasurement[] = [];
  for (const [system, keys] of Object.entries(counts) as [SystemName, number][]) {
    others.push(await measureHeap(system, keys));
  }
  return { driftless: driftlessRuns, others };
}

/** The parts of each memory measurement, for the notes. */
function heapNotes(measurements: readonly HeapMeasurement[]): string[] {
  return measurements.map((m) => {
    const perKey = (bytes: number) => (bytes / m.keys).toFixed(1);
    const view =
      m.viewHeapBytes === undefined
        ? ''
        : `; a materialised JS view of the root adds ${perKey(m.viewHeapBytes)}`;
    return (
      `4  ${m.system} at ${formatCount(m.keys)} keys: heap ${perKey(m.heapBytes)} + external ` +
      `${perKey(m.externalBytes)} + WASM ${perKey(m.wasmBytes)} B/key, built in ${(m.buildMs / 1000).toFixed(1)} s${view}`
    );
  });
}

await main();
