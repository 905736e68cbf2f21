/**
 * `driftless bench --quick --json`, run as a user runs it (the CLI from sources, which starts the
 * benchmark suite as its own process) on tiny workloads: every scenario and every system must run
 * and converge, and the JSON report, the table and the SVG charts must have their shape. No timing
 * is judged: the figures only have to be positive numbers.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_ENTRY } from './support/cli-cluster.js';
import { spawnTs, watchLines } from './support/processes.js';

const SCENARIOS = ['burst', 'steady', 'partition', 'catchup', 'text'];
const BASELINES = ['raw', 'yjs', 'automerge'];
const TINY = ['--writes', '200', '--seconds', '0.3', '--rate', '300'];

interface Report {
  benchmark: string;
  mode: string;
  machine: { cores: number; node: string };
  converged: boolean;
  scenarios: {
    scenario: string;
    metrics: { id: string; unit: string }[];
    runs: {
      system: string;
      converged: boolean;
      error?: string;
      values: Record<string, number>;
      costs: { name: string; userMs: number; maxRssMiB: number }[];
    }[];
  }[];
  ratios: Record<string, Record<string, Record<string, Record<string, number | null>>>>;
}

describe('driftless bench', () => {
  const out = mkdtempSync(join(tmpdir(), 'driftless-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario on every system, converges, and writes JSON, a table and charts', async () => {
    const child = spawnTs(CLI_ENTRY, ['bench', '--quick', '--json', '--out', out, ...TINY]);
    const watch = watchLines(child);
    const { code, stderr } = await watch.exited;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(watch.lines.join('\n')) as Report;
    expect(report).toMatchObject({ benchmark: 'converge', mode: 'quick', converged: true });
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.scenarios.map(({ scenario }) => scenario)).toEqual(SCENARIOS);
    for (const scenario of report.scenarios) {
      const systems = scenario.runs.map(({ system }) => system);
      expect(systems).toEqual(expect.arrayContaining(['driftless', ...BASELINES]));
      for (const run of scenario.runs) {
        expect(run.error, `${scenario.scenario} ${run.system}`).toBeUndefined();
        expect(run.converged, `${scenario.scenario} ${run.system}`).toBe(true);
        for (const { id } of scenario.metrics) expect(run.values[id]).toBeGreaterThanOrEqual(0);
        expect(run.costs.length).toBeGreaterThanOrEqual(2);
        for (const cost of run.costs) expect(cost.maxRssMiB).toBeGreaterThan(0);
      }
      const driftless = report.ratios[scenario.scenario]?.driftless;
      expect(Object.keys(driftless ?? {})).toEqual(scenario.metrics.map(({ id }) => id));
      for (const ratios of Object.values(driftless ?? {})) expect(Object.keys(ratios)).toEqual(BASELINES);
      const svg = readFileSync(join(out, `${scenario.scenario}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    }
    // Catch-up after the logs were truncated installed a state (the peers' logs could not serve it).
    const catchup = report.scenarios.find(({ scenario }) => scenario === 'catchup')?.runs ?? [];
    expect(
      catchup.find(({ system }) => system === 'driftless-snapshot')?.values.statesReceived,
    ).toBeGreaterThan(0);
    expect(existsSync(join(out, 'converge.json'))).toBe(true);
    expect(readFileSync(join(out, 'converge.txt'), 'utf8')).toContain('D/raw');
  }, 600_000);

  it('refuses a bad flag value with one line, a stable code and status 2', async () => {
    const child = spawnTs(CLI_ENTRY, ['bench', '--nodes', 'many']);
    const { code, stderr } = await watchLines(child).exited;
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      'driftless bench: BENCH_BAD_VALUE: --nodes needs a whole number from 2 to 16, got "many" (see driftless bench --help)',
    ]);
  });
});
