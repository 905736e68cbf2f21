/**
 * The CI tier of the fault schedules: a 5-node cluster of real processes behind fault proxies,
 * clients on every node writing every type while the nemesis partitions, cuts, slows, kills,
 * pauses and skews, then a heal, an `ack=k` phase and the checker (see schedule.ts).
 *
 * Seeds that ever failed (regression-seeds.ts) run first, then fresh ones from DRIFTLESS_SEED (or
 * random), DRIFTLESS_SCHEDULES of them (default: enough for 12 in all). A failure prints its seed:
 *
 *   DRIFTLESS_SEED=<seed> DRIFTLESS_SCHEDULES=1 npx vitest run test/faults/fault-schedules.test.ts
 */
import { testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { REGRESSION_SEEDS } from './regression-seeds.js';
import { runFaultSchedule } from './schedule.js';

const SCHEDULE_MS = 30_000;
const MIN_SCHEDULES = 12;
const base = testSeed();
const fresh = Number.parseInt(process.env.DRIFTLESS_SCHEDULES ?? '', 10);
const freshCount = fresh > 0 ? fresh : Math.max(MIN_SCHEDULES - REGRESSION_SEEDS.length, 1);
const seeds = [
  ...REGRESSION_SEEDS.map(({ seed }) => seed),
  ...Array.from({ length: freshCount }, (_, i) => (base + i) | 0),
];

describe('fault schedules on a 5-node cluster', () => {
  it.each(seeds)(
    'seed %i: nothing acknowledged is lost, nobody reads what no one wrote, sessions hold, replicas converge',
    async (seed) => {
      const rerun = `seed ${seed}; rerun with DRIFTLESS_SEED=${seed} DRIFTLESS_SCHEDULES=1`;
      const result = await runFaultSchedule({ seed, durationMs: SCHEDULE_MS });
      const messages = result.violations.map((violation) => `${violation.kind}: ${violation.message}`);
      expect(messages.slice(0, 30), rerun).toEqual([]);
      // The schedule did what it is for: faults struck, clients were answered, some were not.
      const faults = Object.values(result.faults).reduce((sum, n) => sum + n, 0);
      expect(faults, rerun).toBeGreaterThanOrEqual(4);
      const acked = result.operations.filter((op) => op.kind !== 'read' && op.outcome === 'ok');
      expect(acked.length, rerun).toBeGreaterThan(100);
      expect(
        result.operations.some((op) => op.kind === 'read' && op.after !== undefined),
        rerun,
      ).toBe(true);
    },
    240_000,
  );
});
