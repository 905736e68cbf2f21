import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that start before all others, in this order: the longest first, so that no long file is
 * left running alone at the end. The fault schedules take about 40 % of the suite's test time on a
 * 2-core machine (twelve 30-second schedules of five node processes, about 40 s each) but about
 * one core, as their nodes mostly wait, so they run beside everything else instead of after it.
 */
const FIRST = [
  'test/faults/fault-schedules.test.ts',
  'sync/test/session.fuzz.test.ts',
  'sync/test/cluster.prop.test.ts',
  'test/bench-smoke.test.ts',
  'crdt/test/laws.prop.test.ts',
  'test/crash-recovery.test.ts',
];

/** Vitest's order (by project, then by past duration or size), with FIRST moved to the front. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const at = FIRST.findIndex((suffix) => file.moduleId.endsWith(suffix));
      return at === -1 ? FIRST.length : at;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}

// One vitest project per package plus the top-level cross-package tests. Every project resolves
// workspace packages through the `@driftless/source` export condition, so tests run from sources.
// Vitest's default of one worker per core less one would run the whole suite in one worker on
// the 2-core CI machine: at least two, so that the fault schedules overlap the rest.
export default defineConfig({
  test: {
    projects: ['packages/*', 'test'],
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
  },
});
