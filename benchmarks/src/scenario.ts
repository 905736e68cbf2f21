import type { ClusterParams, ClusterSystem, ScenarioName } from './cluster-params.js';
import type { Cluster, ClusterOptions } from './cluster-run.js';
import type { Unit } from './report.js';
import type { SpawnSettings } from './sync-process.js';
import type { ProcessCost } from './sync-trial.js';

/**
 * What a convergence scenario is and what one run of it yields: a scenario (scenario-*.ts) runs
 * each system on the same workload and reports named values (its metrics), whether the nodes
 * converged, and what every node process cost while measured.
 */

/** One quantity a scenario measures. */
export interface Metric {
  /** A stable name for machines: `throughput`, `p99`, … */
  readonly id: string;
  readonly label: string;
  readonly unit: Unit;
  /** Which way is better: the report says how a ratio reads. */
  readonly better: 'higher' | 'lower';
}

/** A system as a scenario runs it: Driftless has a second variant in catch-up (from a snapshot). */
export type Variant = ClusterSystem | 'driftless-snapshot';

/** One system's run of a scenario. */
export interface SystemRun {
  readonly system: Variant;
  /** Every node held every write and their digests were equal. */
  readonly converged: boolean;
  /** By metric id. */
  readonly values: Readonly<Record<string, number>>;
  /** Every node process over the measured part. */
  readonly costs: readonly ProcessCost[];
  /** Why the run failed, when it did. */
  readonly error?: string;
}

/** A scenario's results: every system's run, with the parameters they ran with. */
export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly title: string;
  readonly params: ClusterParams;
  readonly metrics: readonly Metric[];
  readonly runs: readonly SystemRun[];
  readonly notes: readonly string[];
}

/** What a scenario is given to run with. */
export interface ScenarioContext {
  readonly settings: SpawnSettings;
  readonly quick: boolean;
  /** A line of progress (the runner shows it as a bar on a TTY). */
  progress(message: string): void;
}

/** A scenario: its metrics, the variants it runs, and one run. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly title: string;
  readonly metrics: readonly Metric[];
  /** Adjusts the flags' parameters to what the scenario can run (text has one writer, …). */
  fit(params: ClusterParams): ClusterParams;
  readonly variants: (systems: readonly ClusterSystem[]) => readonly Variant[];
  run(variant: Variant, params: ClusterParams, context: ScenarioContext): Promise<SystemRun>;
  readonly notes: readonly string[];
}

/** The parameters of a paced scenario: two nodes at least, writers among them, a rate and a duration. */
export function fitPaced(params: ClusterParams): ClusterParams {
  return {
    ...params,
    nodes: Math.max(2, params.nodes),
    writers: Math.min(Math.max(1, params.writers), Math.max(2, params.nodes)),
    ratePerS: params.ratePerS ?? 1_000,
    seconds: params.seconds > 0 ? params.seconds : 1,
  };
}

/** Every variant is just a system. */
export function systemsOnly(systems: readonly ClusterSystem[]): readonly Variant[] {
  return systems;
}

/** Untimed writes per writer before anything is measured: JIT warm-up, connections past their first frames. */
export function warmWrites(context: ScenarioContext): number {
  return context.quick ? 100 : 1_000;
}

/** The writers of `cluster` each write [from, to) as fast as they can; resolves with the first start and last end. */
export async function burstAll(
  cluster: Cluster,
  from: number,
  to: number,
): Promise<{ startMs: number; endMs: number }> {
  const writers = cluster.options.params.writers;
  const runs = await Promise.all(
    Array.from({ length: writers }, (_, w) => cluster.node(w).request('burst', { from, to })),
  );
  return {
    startMs: Math.min(...runs.map(({ startMs }) => startMs)),
    endMs: Math.max(...runs.map(({ endMs }) => endMs)),
  };
}

/** The writers from `first` on each write [from, to) at `ratePerS`. */
export async function pacedAll(
  cluster: Cluster,
  from: number,
  to: number,
  ratePerS: number,
  first = 0,
): Promise<void> {
  const writers = cluster.options.params.writers;
  await Promise.all(
    Array.from({ length: writers - first }, (_, w) =>
      cluster.node(first + w).request('paced', { from, to, ratePerS }),
    ),
  );
}

/** Warms a cluster: every writer writes `warm` writes, and every node holds all of them. */
export async function warmUp(cluster: Cluster, warm: number): Promise<void> {
  const total = warm * cluster.options.params.writers;
  await Promise.all([cluster.held(total), burstAll(cluster, 0, warm)]);
  await new Promise((resolve) => setTimeout(resolve, 100));
}

/** The cluster a scenario runs `variant` on (Driftless's variants run the one Driftless node). */
export function clusterOf(
  variant: Variant,
  scenario: ScenarioName,
  params: ClusterParams,
  writesPerWriter: number,
  context: ScenarioContext,
  proxied = false,
): ClusterOptions {
  return {
    system: variant === 'driftless-snapshot' ? 'driftless' : variant,
    scenario,
    params,
    writesPerWriter,
    proxied,
    persistent: params.store === 'lmdb',
    settings: context.settings,
  };
}
