/**
 * A soak run of the crdt convergence test: many more seeded schedules than the test suite runs.
 *
 *   node scripts/run-ts.mjs scripts/soak-crdt.ts --runs 100000 --seed 42
 *
 * Runs schedules seed, seed + 1, …; stops at the first failure, printing its seed (rerun it with
 * `--runs 1 --seed <seed>`, or DRIFTLESS_SEED=<seed> DRIFTLESS_SCHEDULES=1 in vitest) and exits 1.
 */
import { parseArgs } from 'node:util';
import { runSchedule } from '../packages/crdt/test/convergence-schedule.js';

const PROGRESS_EVERY = 5_000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node scripts/run-ts.mjs scripts/soak-crdt.ts [--runs N] [--seed S]');
  process.exit(0);
}

const runs = Number(values.runs);
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) | 0 : Number(values.seed);
if (!Number.isSafeInteger(runs) || runs < 1) usage(`--runs must be a whole number ≥ 1, not ${values.runs}`);
if (!Number.isSafeInteger(seed)) usage(`--seed must be a whole number, not ${values.seed}`);

console.log(`soak: ${runs} convergence schedules from seed ${seed}`);
const started = performance.now();
for (let i = 0; i < runs; i++) {
  const scheduleSeed = (seed + i) | 0;
  let failure: string | undefined;
  try {
    failure = runSchedule(scheduleSeed);
  } catch (error) {
    failure = `threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  if (failure !== undefined) {
    console.error(`FAILED at schedule ${i + 1} of ${runs}, seed ${scheduleSeed}: ${failure}`);
    console.error(`rerun: node scripts/run-ts.mjs scripts/soak-crdt.ts --runs 1 --seed ${scheduleSeed}`);
    process.exit(1);
  }
  if ((i + 1) % PROGRESS_EVERY === 0) {
    const seconds = (performance.now() - started) / 1000;
    console.log(`${i + 1} / ${runs} schedules passed (${seconds.toFixed(1)} s)`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`all ${runs} schedules converged in ${seconds.toFixed(1)} s`);

function usage(message: string): never {
  console.error(message);
  process.exit(2);
}
