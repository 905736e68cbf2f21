/**
 * The convergence suite: five scenarios (burst, steady, partition-heal, catch-up, text), each run
 * on real node processes over WebSockets on loopback for Driftless and, on the same workload in
 * the same run, for its three baselines (a raw ws + msgpackr pipe, Yjs with y-protocols, and
 * Automerge's sync protocol). Prints a table (every Driftless figure beside each baseline's, with
 * their ratio, and what every process cost) or, with --json, the JSON report; writes the JSON, the
 * table and an SVG chart per scenario under --out (default benchmarks/results/).
 *
 *   node scripts/run-ts.mjs benchmarks/src/suite.ts [--quick] [--json] [--scenario burst,text] …
 *   npm run bench:quick        driftless bench --quick
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, type ScenarioName } from './cluster-params.js';
import { describeMachine, measureResources } from './report.js';
import type { Scenario, ScenarioResult, SystemRun } from './scenario.js';
import { burst } from './scenario-burst.js';
import { catchup } from './scenario-catchup.js';
import { partition } from './scenario-partition.js';
import { steady } from './scenario-steady.js';
import { text } from './scenario-text.js';
import { renderChart } from './suite-chart.js';
import { BenchFlagError, parseSuiteFlags, SUITE_USAGE, type SuiteFlags } from './suite-flags.js';
import { SuiteProgress } from './suite-progress.js';
import { ratiosOf, renderSuiteText, type SuiteReport } from './suite-report.js';

/** Every scenario by name. */
const SCENARIO_RUNS: Readonly<Record<ScenarioName, Scenario>> = { burst, steady, partition, catchup, text };

/** Exit statuses: as the `driftless` CLI's (0 done, 1 failed, 2 wrong usage). */
const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** Runs every scenario asked for, each system in turn; a run that throws counts as not converged. */
async function runSuite(flags: SuiteFlags, progress: SuiteProgress | undefined): Promise<ScenarioResult[]> {
  const mode = flags.quick ? 'quick' : 'full';
  const context = {
    settings: { built: false, profileDir: undefined },
    quick: flags.quick,
    progress: (message: string) => progress?.note(message),
  };
  const results: ScenarioResult[] = [];
  for (const name of flags.scenarios) {
    const scenario = SCENARIO_RUNS[name];
    const params = scenario.fit({ ...DEFAULTS[name][mode], ...flags.overrides });
    const runs: SystemRun[] = [];
    for (const variant of scenario.variants(flags.systems)) {
      const label = `${scenario.title} · ${variant}`;
      progress?.begin(label);
      try {
        const run = await scenario.run(variant, params, context);
        runs.push(run);
        const shown = scenario.metrics.map((metric) => `${metric.id} ${round(run.values[metric.id])}`);
        progress?.end(label, `${shown.join(', ')}${run.converged ? '' : ' — DID NOT CONVERGE'}`);
      } catch (error) {
        runs.push({ system: variant, converged: false, values: {}, costs: [], error: String(error) });
        progress?.end(label, `FAILED: ${(error as Error)?.message ?? String(error)}`);
      }
    }
    results.push({
      scenario: name,
      title: scenario.title,
      params,
      metrics: scenario.metrics,
      runs,
      notes: scenario.notes,
    });
  }
  return results;
}

function round(value: number | undefined): string {
  return value === undefined ? '—' : value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** Writes the JSON, the table and the charts under `dir`. */
async function writeResults(dir: string, report: SuiteReport, table: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'converge.json'), `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(join(dir, 'converge.txt'), `${table}\n`);
  for (const result of report.scenarios)
    writeFileSync(join(dir, `${result.scenario}.svg`), await renderChart(result));
}

/** Runs the suite on the command line `args`; returns the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  let flags: SuiteFlags;
  try {
    flags = parseSuiteFlags(args);
  } catch (error) {
    if (!(error instanceof BenchFlagError)) throw error;
    process.stderr.write(`driftless bench: ${error.code}: ${error.message} (see driftless bench --help)\n`);
    return EXIT.USAGE;
  }
  if (flags.help) {
    process.stdout.write(`${SUITE_USAGE}\n`);
    return EXIT.OK;
  }
  const machine = describeMachine();
  const startedAt = new Date().toISOString();
  const steps = flags.scenarios.reduce(
    (sum, name) => sum + SCENARIO_RUNS[name].variants(flags.systems).length,
    0,
  );
  const progress = new SuiteProgress(steps);
  const scenarios = await runSuite(flags, progress);
  progress.finish();
  const report: SuiteReport = {
    benchmark: 'converge',
    mode: flags.quick ? 'quick' : 'full',
    command: `driftless bench ${args.join(' ')}`.trim(),
    startedAt,
    machine,
    scenarios,
    ratios: Object.fromEntries(scenarios.map((result) => [result.scenario, ratiosOf(result)])),
    converged: scenarios.every((result) => result.runs.every((run) => run.converged)),
    resources: measureResources(),
  };
  const table = renderSuiteText(report);
  await writeResults(flags.outDir, report, table);
  process.stdout.write(
    flags.json ? `${JSON.stringify(report)}\n` : `${table}\n\nresults in ${flags.outDir}\n`,
  );
  return report.converged ? EXIT.OK : EXIT.FAILURE;
}

// A signal ends the run; exiting kills every node process (cluster-run.ts).
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(130));
// Exit once done: nothing the suite started may keep the runner alive.
process.exit(await main(process.argv.slice(2)));
