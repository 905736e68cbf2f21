import { testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { noYjsCoverage, runSchedule } from './convergence-schedule.js';

const SCHEDULES = Number.parseInt(process.env.DRIFTLESS_SCHEDULES ?? '', 10) || 2000;
/** Below this many schedules (a rerun of one seed), the yjs cases are not all expected to occur. */
const SCHEDULES_FOR_COVERAGE = 2000;

describe('convergence of 5 replicas under duplication, reordering, delay, restarts and bootstraps', () => {
  it(`converges to the reference model in ${SCHEDULES} seeded schedules, yjs keys included`, () => {
    const base = testSeed();
    const coverage = noYjsCoverage();
    for (let i = 0; i < SCHEDULES; i++) {
      const seed = (base + i) | 0;
      const failure = runSchedule(seed, coverage);
      expect(
        failure,
        `schedule seed ${seed} (rerun: DRIFTLESS_SEED=${seed} DRIFTLESS_SCHEDULES=1)`,
      ).toBeUndefined();
    }
    // The schedules reach every case of the yjs rule, so the model is not checked in vain.
    if (SCHEDULES >= SCHEDULES_FOR_COVERAGE) {
      for (const [what, count] of Object.entries(coverage))
        expect(count, `yjs ${what} in ${SCHEDULES} schedules from seed ${base}`).toBeGreaterThan(0);
    }
  }, 300_000);
});
