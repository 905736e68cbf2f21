/**
 * The soak run of the fault schedules (scripts/soak-faults.ts starts this file):
 *
 *   node scripts/run-ts.mjs scripts/soak-faults.ts --seed 7 --schedules 30 --duration-s 30
 *
 * Runs schedules seed, seed + 1, … one after another, prints a line per schedule, then a summary:
 * schedules, faults injected by kind, operations by outcome, violations by kind, and every seed
 * that found one (rerun it with `--seed S --schedules 1`, or DRIFTLESS_SEED=S in vitest; then add
 * it to regression-seeds.ts). Exits 1 when any schedule found a violation or could not run (the
 * harness failed: printed with its seed), 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { countByKind, type Violation } from './checker.js';
import type { Outcome } from './history.js';
import { type FaultKind, noFaults } from './nemesis.js';
import { runFaultSchedule, type ScheduleResult } from './schedule.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    schedules: { type: 'string', default: '20' },
    'duration-s': { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'usage: node scripts/run-ts.mjs scripts/soak-faults.ts [--seed S] [--schedules N] [--duration-s D]',
  );
  process.exit(0);
}
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) | 0 : Number(values.seed);
const schedules = Number(values.schedules);
const durationS = Number(values['duration-s']);
if (!Number.isSafeInteger(seed)) usage(`--seed must be a whole number, not ${values.seed}`);
if (!Number.isSafeInteger(schedules) || schedules < 1)
  usage(`--schedules must be a whole number ≥ 1, not ${values.schedules}`);
if (!(durationS >= 5 && durationS <= 3600))
  usage(`--duration-s must be from 5 to 3600, not ${values['duration-s']}`);

console.log(`soak: ${schedules} fault schedules of ${durationS} s on 5 nodes, from seed ${seed}`);
const started = performance.now();
const faults = noFaults();
const outcomes: Record<Outcome, number> = { ok: 0, fail: 0, info: 0 };
const violations: Violation[] = [];
const failedSeeds: number[] = [];
const errors: number[] = [];
let notConverged = 0;
for (let i = 0; i < schedules; i++) {
  const scheduleSeed = (seed + i) | 0;
  let result: ScheduleResult;
  try {
    result = await runFaultSchedule({ seed: scheduleSeed, durationMs: durationS * 1000 });
  } catch (error) {
    // The harness failed (not the system under test): reported with its seed, never hidden.
    errors.push(scheduleSeed);
    console.log(
      `schedule ${i + 1}/${schedules} seed ${scheduleSeed}: ERROR ${error instanceof Error ? error.message : String(error)}`,
    );
    continue;
  }
  for (const [kind, count] of Object.entries(result.faults)) faults[kind as FaultKind] += count;
  for (const op of result.operations) outcomes[op.outcome]++;
  violations.push(...result.violations);
  notConverged += result.converged.filter((done) => !done).length;
  const faultCount = Object.values(result.faults).reduce((sum, n) => sum + n, 0);
  console.log(
    `schedule ${i + 1}/${schedules} seed ${scheduleSeed}: ${result.operations.length} operations, ${faultCount} faults, ${result.violations.length} violations`,
  );
  if (result.violations.length > 0) {
    failedSeeds.push(scheduleSeed);
    for (const violation of result.violations.slice(0, 20))
      console.log(`  ${violation.kind}: ${violation.message}`);
  }
}

const total = (record: Record<string, number>) => Object.values(record).reduce((sum, n) => sum + n, 0);
const line = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
console.log('\nsummary');
console.log(`  seeds       ${seed} … ${(seed + schedules - 1) | 0} (${durationS} s each)`);
console.log(
  `  schedules   ${schedules} in ${((performance.now() - started) / 60_000).toFixed(1)} min${errors.length > 0 ? `; ${errors.length} could not run: seeds ${errors.join(' ')}` : ''}`,
);
console.log(`  faults      ${total(faults)}: ${line(faults)}`);
console.log(`  operations  ${total(outcomes)}: ${line(outcomes)}`);
const ran = schedules - errors.length;
console.log(`  converged   ${2 * ran - notConverged} of ${2 * ran} heals`);
console.log(`  violations  ${violations.length}: ${line(countByKind(violations))}`);
if (failedSeeds.length > 0)
  console.log(`  failing seeds: ${failedSeeds.join(' ')} (rerun: --seed S --schedules 1)`);
if (failedSeeds.length > 0 || errors.length > 0) process.exit(1);

function usage(message: string): never {
  console.error(`soak-faults: ${message}`);
  process.exit(2);
}
