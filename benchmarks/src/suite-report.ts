import { BASELINES, describeParams } from './cluster-params.js';
import { alignColumns, formatRatio, formatValue, type Machine, type Resources } from './report.js';
import type { ScenarioResult, SystemRun, Variant } from './scenario.js';

/**
 * The convergence suite's report: for every scenario, every Driftless figure beside each
 * baseline's and their ratio, then what the node processes cost (CPU, peak RSS, heap) and whether
 * every system converged; as aligned text for a terminal and as one JSON document for machines.
 */

/** A whole run of the suite. */
export interface SuiteReport {
  readonly benchmark: 'converge';
  readonly mode: 'full' | 'quick';
  /** The command that produced it. */
  readonly command: string;
  readonly startedAt: string;
  readonly machine: Machine;
  readonly scenarios: readonly ScenarioResult[];
  /** Driftless ÷ baseline, by scenario, Driftless variant, metric and baseline. */
  readonly ratios: Readonly<Record<string, Record<string, Record<string, Record<string, number | null>>>>>;
  /** Every system of every scenario converged. */
  readonly converged: boolean;
  /** What the runner process itself cost. */
  readonly resources: Resources;
}

/** What a run cost all its node processes together: CPU seconds summed, the largest RSS and heap. */
export function costOf(run: SystemRun): { cpuS: number; peakRssMiB: number; heapMiB: number } {
  return {
    cpuS: run.costs.reduce((sum, cost) => sum + cost.userMs + cost.systemMs, 0) / 1000,
    peakRssMiB: Math.max(0, ...run.costs.map((cost) => cost.maxRssMiB)),
    heapMiB: Math.max(0, ...run.costs.map((cost) => cost.heapUsedMiB)),
  };
}

/** Driftless ÷ each baseline for every metric of every Driftless variant of `result`. */
export function ratiosOf(
  result: ScenarioResult,
): Record<string, Record<string, Record<string, number | null>>> {
  const byVariant: Record<string, Record<string, Record<string, number | null>>> = {};
  for (const ours of result.runs.filter(({ system }) => system.startsWith('driftless'))) {
    const metrics: Record<string, Record<string, number | null>> = {};
    for (const metric of result.metrics) {
      const row: Record<string, number | null> = {};
      for (const baseline of BASELINES) {
        const theirs = result.runs.find(({ system }) => system === baseline)?.values[metric.id];
        const value = ours.values[metric.id];
        row[baseline] = theirs === undefined || value === undefined || theirs === 0 ? null : value / theirs;
      }
      metrics[metric.id] = row;
    }
    byVariant[ours.system] = metrics;
  }
  return byVariant;
}

/** The columns: Driftless, then each baseline measured with its ratio. */
function header(result: ScenarioResult): string[] {
  const measured = BASELINES.filter((baseline) => result.runs.some(({ system }) => system === baseline));
  return ['', 'Driftless', ...measured.flatMap((baseline) => [baseline, `D/${baseline}`])];
}

/** One row: a Driftless variant's value and each baseline's, with ratios. */
function row(
  label: string,
  ours: number | undefined,
  result: ScenarioResult,
  pick: (run: SystemRun) => number | undefined,
  show: (value: number) => string,
): string[] {
  const cells = [label, ours === undefined ? '—' : show(ours)];
  for (const baseline of BASELINES) {
    const run = result.runs.find(({ system }) => system === baseline);
    if (run === undefined) continue;
    const theirs = pick(run);
    cells.push(theirs === undefined ? '—' : show(theirs));
    cells.push(ours === undefined || theirs === undefined || theirs === 0 ? '' : formatRatio(ours / theirs));
  }
  return cells;
}

/** Variant labels in the table. */
function variantLabel(variant: Variant): string {
  return variant === 'driftless-snapshot' ? ' (from a snapshot)' : '';
}

/** The cost rows of a scenario's table: label, what of costOf, decimals. */
const COST_ROWS = [
  ['CPU s, all nodes', 'cpuS', 2],
  ['peak RSS MiB, largest node', 'peakRssMiB', 0],
  ['heap MiB, largest node', 'heapMiB', 0],
] as const;

/** One scenario as text. */
export function renderScenario(result: ScenarioResult): string[] {
  const ours = result.runs.filter(({ system }) => system.startsWith('driftless'));
  const rows: string[][] = [header(result)];
  for (const metric of result.metrics) {
    for (const run of ours) {
      const show = (value: number) => formatValue(value, metric.unit);
      rows.push(
        row(
          `${metric.label}${variantLabel(run.system)}`,
          run.values[metric.id],
          result,
          (other) => other.values[metric.id],
          show,
        ),
      );
    }
  }
  for (const run of ours) {
    for (const [label, pick, digits] of COST_ROWS) {
      const show = (value: number) => value.toFixed(digits);
      const of = (other: SystemRun) => costOf(other)[pick];
      rows.push(row(`${label}${variantLabel(run.system)}`, of(run), result, of, show));
    }
  }
  const converged = ['converged', ours.map(mark).join(' / ')];
  for (const baseline of BASELINES) {
    const run = result.runs.find(({ system }) => system === baseline);
    if (run !== undefined) converged.push(mark(run), '');
  }
  rows.push(converged);
  return [
    `${result.title} — ${describeParams(result.params, result.scenario)}`,
    ...alignColumns(rows, rows[0]?.map((_, i) => i > 0) ?? []),
    ...result.notes.map((note) => `  ${note}`),
  ];
}

function mark(run: SystemRun): string {
  return run.converged ? 'yes' : 'NO';
}

/** The whole report as text. */
export function renderSuiteText(report: SuiteReport): string {
  const { machine } = report;
  return [
    `Driftless convergence suite (${report.mode}): ${report.command}`,
    `machine: ${machine.cpu} × ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, ` +
      `Node ${machine.node}, load average ${machine.loadAverage.toFixed(2)} at start`,
    'D/x = Driftless ÷ x, measured in the same run: above 1 is better for rates, below 1 for times, bytes and costs.',
    '',
    ...report.scenarios.flatMap((result) => [...renderScenario(result), '']),
    `every system converged in every scenario: ${report.converged ? 'yes' : 'NO'}`,
    `runner: ${report.resources.wallS.toFixed(0)} s wall`,
  ].join('\n');
}
