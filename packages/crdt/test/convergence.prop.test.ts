import { testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { runSchedule } from './convergence-schedule.js';

const SCHEDULES = Number.parseInt(process.env.DRIFTLESS_SCHEDULES ?? '', 10) || 2000;

describe('convergence of 5 replicas under duplication, reordering, delay, restarts and bootstraps', () => {
  it(`converges to the reference model in ${SCHEDULES} seeded schedules`, () => {
    const base = testSeed();
    for (let i = 0; i < SCHEDULES; i++) {
      const seed = (base + i) | 0;
      const failure = runSchedule(seed);
      expect(
        failure,
        `schedule seed ${seed} (rerun: DRIFTLESS_SEED=${seed} DRIFTLESS_SCHEDULES=1)`,
      ).toBeUndefined();
    }
  }, 300_000);
});
