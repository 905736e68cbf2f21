/**
 * The replication benchmarks: two node processes on loopback, A writing and B receiving over real
 * WebSockets, Driftless (Replicator + WsTransport + ReplicaStore on memory, then LMDB, stores)
 * beside a raw ws + msgpackr pipe sending the same ops and beside Yjs syncing the same writes with
 * y-protocols, in the same run: throughput until B holds every write, replication latency at a
 * fixed rate, wire bytes per op, the duplicate ratio of a three-node mesh, and what every process
 * cost.
 *
 *   node scripts/run-ts.mjs benchmarks/src/sync.ts [--quick] [--json] [--profile DIR] [--built] …
 *   npm run bench:sync -- --quick
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatCount } from './crdt-heap.js';
import {
  describeMachine,
  type Figure,
  judge,
  measureResources,
  type Report,
  renderJson,
  renderText,
} from './report.js';
import {
  allCosts,
  bytesFigures,
  type CostRow,
  latencyFigures,
  meshFigures,
  renderCosts,
  type SyncResults,
  throughputFigures,
} from './sync-figures.js';
import { SYSTEMS, type SystemName } from './sync-ipc.js';
import { type MeshRun, runMesh } from './sync-mesh-trial.js';
import { syncNotes } from './sync-notes.js';
import {
  type CommitLatency,
  clockCheck,
  type LatencyRun,
  measureLmdbCommits,
  runLatency,
  runThroughput,
  type ThroughputRun,
  type TrialSettings,
} from './sync-trial.js';
import { RAW_BATCH_OPS, WRITE_WINDOW } from './sync-workload.js';

const USAGE = `usage: node scripts/run-ts.mjs benchmarks/src/sync.ts [options]
  --quick          100,000 writes, fewer repetitions and shorter latency runs (under 2 minutes)
  --json           print only the JSON line
  --writes N       writes per throughput trial (default 1,000,000; 100,000 with --quick)
  --reps N         throughput repetitions per system
  --window N       Driftless writes A keeps in flight (default ${WRITE_WINDOW.toLocaleString('en-US')})
  --only PARTS     comma-separated: throughput, latency, mesh (default: all)
  --systems LIST   comma-separated: ${SYSTEMS.join(', ')} (default: all)
  --profile DIR    write a CPU profile (node --cpu-prof) of every Driftless node process into DIR
  --built          run Driftless from its tsc-built dist/ instead of its sources (run npx tsc -b first)`;

/** How much each part does. */
interface SyncBudget {
  /** Writes per throughput trial. */
  readonly writes: number;
  /** Throughput trials per system, interleaved across systems. */
  readonly reps: number;
  /** Untimed writes at the start of every trial. */
  readonly warmOps: number;
  /** The fixed rate of the latency trials, and how long each lasts. */
  readonly latencyRatePerS: number;
  readonly latencySeconds: number;
  readonly latencyReps: number;
  /** Writes at a in the mesh trial. */
  readonly meshWrites: number;
}

/** Full runs take several minutes; quick ones under two. */
const BUDGETS: Readonly<Record<Report['mode'], SyncBudget>> = {
  full: {
    writes: 1_000_000,
    reps: 3,
    warmOps: 20_000,
    latencyRatePerS: 10_000,
    latencySeconds: 5,
    latencyReps: 2,
    meshWrites: 200_000,
  },
  quick: {
    writes: 100_000,
    reps: 2,
    warmOps: 5_000,
    latencyRatePerS: 10_000,
    latencySeconds: 2,
    latencyReps: 1,
    meshWrites: 40_000,
  },
};

/** Synced LMDB commits timed alone before the latency trials. */
const LMDB_COMMITS = 200;

const PARTS = ['throughput', 'latency', 'mesh'] as const;
type Part = (typeof PARTS)[number];

/** The flags of the command line. */
interface Flags {
  readonly mode: Report['mode'];
  readonly json: boolean;
  readonly help: boolean;
  readonly budget: SyncBudget;
  readonly parts: readonly Part[];
  readonly systems: readonly SystemName[];
  readonly profileDir: string | undefined;
  readonly built: boolean;
  readonly window: number;
}

/** Reads a comma-separated list of names from `allowed`; throws on another. */
function listOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): readonly T[] {
  if (value === undefined) return allowed;
  return value.split(',').map((name) => {
    const found = allowed.find((item) => item === name);
    if (found === undefined)
      throw new Error(`${flag}: unknown ${JSON.stringify(name)} (use ${allowed.join(', ')})`);
    return found;
  });
}

/** Reads a positive whole number, or undefined when the flag is absent. */
function countOf(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const count = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`${flag} needs a positive whole number`);
  return count;
}

/** Reads the flags; throws on an unknown one. */
function parseFlags(args: readonly string[]): Flags {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      writes: { type: 'string' },
      reps: { type: 'string' },
      window: { type: 'string' },
      only: { type: 'string' },
      systems: { type: 'string' },
      profile: { type: 'string' },
      built: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const mode = values.quick ? 'quick' : 'full';
  const defaults = BUDGETS[mode];
  return {
    mode,
    json: values.json,
    help: values.help,
    budget: {
      ...defaults,
      writes: countOf(values.writes, '--writes') ?? defaults.writes,
      reps: countOf(values.reps, '--reps') ?? defaults.reps,
    },
    window: countOf(values.window, '--window') ?? WRITE_WINDOW,
    parts: listOf(values.only, PARTS, '--only'),
    systems: listOf(values.systems, SYSTEMS, '--systems'),
    profileDir: values.profile === undefined ? undefined : resolve(values.profile),
    built: values.built,
  };
}

/** The report, with what every node process cost and the run's settings. */
interface SyncReport extends Report {
  readonly costs: readonly CostRow[];
  readonly clockCheck: typeof clockCheck;
  readonly budget: SyncBudget;
  readonly built: boolean;
  readonly window: number;
}

/** Adds `run` to the list of `system` in `runs`. */
function record<R>(runs: Map<SystemName, R[]>, system: SystemName, run: R): void {
  runs.set(system, [...(runs.get(system) ?? []), run]);
}

/** Runs the parts asked for and prints the report. */
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
  const { budget, systems } = flags;
  const progress = (message: string) => {
    if (!flags.json) process.stderr.write(`${process.uptime().toFixed(0).padStart(4)} s  ${message}\n`);
  };
  if (flags.profileDir !== undefined) mkdirSync(flags.profileDir, { recursive: true });
  const settings: TrialSettings = {
    built: flags.built,
    profileDir: flags.profileDir,
    warmOps: budget.warmOps,
    window: flags.window,
  };

  const throughput = new Map<SystemName, ThroughputRun[]>();
  if (flags.parts.includes('throughput')) {
    for (let rep = 1; rep <= budget.reps; rep++) {
      for (const system of systems) {
        progress(`[throughput ${rep}/${budget.reps}] ${system}: ${formatCount(budget.writes)} writes`);
        const run = await runThroughput(system, budget.writes, settings);
        progress(`    ${Math.round(run.opsPerS).toLocaleString('en-US')} ops/s`);
        record(throughput, system, run);
      }
    }
  }
  const latency = new Map<SystemName, LatencyRun[]>();
  let lmdbCommit: CommitLatency | undefined;
  if (flags.parts.includes('latency')) {
    if (systems.includes('driftless-lmdb')) {
      progress('[latency] synced LMDB commits alone, for scale');
      lmdbCommit = await measureLmdbCommits(LMDB_COMMITS);
    }
    for (let rep = 1; rep <= budget.latencyReps; rep++) {
      for (const system of systems) {
        progress(
          `[latency ${rep}/${budget.latencyReps}] ${system}: ${formatCount(budget.latencyRatePerS)} writes/s ` +
            `for ${budget.latencySeconds} s`,
        );
        const run = await runLatency(system, budget.latencyRatePerS, budget.latencySeconds, settings);
        progress(
          `    p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms at ` +
            `${Math.round(run.achievedPerS).toLocaleString('en-US')} writes/s`,
        );
        record(latency, system, run);
      }
    }
  }
  let mesh: MeshRun | undefined;
  if (flags.parts.includes('mesh')) {
    progress(`[mesh] 3 Driftless nodes, ${formatCount(budget.meshWrites)} writes at a`);
    mesh = await runMesh(budget.meshWrites, settings);
  }

  const results: SyncResults = { throughput, latency, mesh, lmdbCommit };
  const figures: Figure[] = [
    ...throughputFigures(results, budget.writes),
    ...latencyFigures(results, budget.latencyRatePerS),
    ...bytesFigures(results),
    ...meshFigures(results),
  ];
  const costs = allCosts(results);
  const report: SyncReport = {
    benchmark: 'sync',
    mode: flags.mode,
    machine,
    figures: figures.map(judge),
    notes: syncNotes(results, {
      ...budget,
      writeWindow: flags.window,
      rawBatchOps: RAW_BATCH_OPS,
      built: flags.built,
      clock: clockCheck,
    }),
    resources: measureResources(),
    costs,
    clockCheck,
    budget,
    built: flags.built,
    window: flags.window,
  };
  if (flags.json) {
    console.log(renderJson(report));
    return;
  }
  const text = [
    renderText(report),
    '',
    'What each node process cost over the measured part of its trials:',
    ...renderCosts(costs),
  ];
  console.log(`${text.join('\n')}\n\n${renderJson(report)}`);
}

await main();
