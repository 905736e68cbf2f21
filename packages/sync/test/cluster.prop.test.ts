import { testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { TOPOLOGIES } from './cluster-plan.js';
import { ClusterSim } from './cluster-sim.js';

/** Schedules per topology in CI; raise with DRIFTLESS_SCHEDULES for a soak. */
const SCHEDULES = Number.parseInt(process.env.DRIFTLESS_SCHEDULES ?? '', 10) || 125;
const STEPS = 40;
let states = 0;
let collected = 0;
let lostToCrashes = 0;

async function runSchedule(seed: number, topology: (typeof TOPOLOGIES)[number]): Promise<void> {
  const sim = new ClusterSim(seed, topology);
  try {
    await sim.startAll();
    for (let step = 0; step < STEPS; step++) {
      const roll = sim.random();
      if (roll < 0.7) sim.write();
      else if (roll < 0.8) sim.partition();
      else if (roll < 0.88) sim.heal();
      else if (roll < 0.9) await sim.restart();
      else if (roll < 0.92) await sim.crash();
      else if (roll < 0.94) await sim.truncate();
      else if (roll < 0.97) sim.slowDisk();
      else await sim.settle(Math.floor(sim.random() * 4));
      if (sim.random() < 0.3) await sim.settle(0);
      sim.checkAll(`after step ${step}`);
    }
    const converged = await sim.converge(10_000);
    const context = `seed ${seed} (${topology}); rerun with DRIFTLESS_SEED=${seed}\n${sim.describe()}`;
    expect(sim.violations, context).toEqual([]);
    expect(converged, `did not converge: ${context}`).toBe(true);
    expect(sim.lost(), context).toEqual([]);
    states += sim.statesInstalled;
    collected += sim.keysCollected;
    lostToCrashes += sim.writesLost;
  } finally {
    await sim.closeAll();
  }
}

describe('5 replicas converge under partitions, heals, restarts and crashes', () => {
  for (const topology of TOPOLOGIES) {
    it(`${topology}: ${SCHEDULES} seeded schedules`, { timeout: 600_000 }, async () => {
      const base = testSeed();
      console.log(`${topology}: base seed ${base} (schedule i uses seed base+i)`);
      states = 0;
      collected = 0;
      lostToCrashes = 0;
      for (let i = 0; i < SCHEDULES; i++) await runSchedule((base + i) | 0, topology);
      console.log(
        `${topology}: ${states} deltas and snapshots installed, ${collected} tombstones collected, ` +
          `${lostToCrashes} unacknowledged writes lost to crashes`,
      );
      if (SCHEDULES >= 20) {
        expect(states, 'catch-up by state was exercised').toBeGreaterThan(0);
        expect(collected, 'tombstone collection was exercised').toBeGreaterThan(0);
        expect(lostToCrashes, 'crashes took back writes').toBeGreaterThan(0);
      }
    });
  }
});
