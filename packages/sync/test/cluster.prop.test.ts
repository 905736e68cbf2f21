import { testSeed } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { ClusterSim, TOPOLOGIES } from './cluster-sim.js';

/** Schedules per topology in CI; raise with DRIFTLESS_SCHEDULES for a soak. */
const SCHEDULES = Number.parseInt(process.env.DRIFTLESS_SCHEDULES ?? '', 10) || 125;
const STEPS = 40;

async function runSchedule(seed: number, topology: (typeof TOPOLOGIES)[number]): Promise<void> {
  const sim = new ClusterSim(seed, topology);
  try {
    await sim.startAll();
    for (let step = 0; step < STEPS; step++) {
      const roll = sim.random();
      if (roll < 0.7) sim.write();
      else if (roll < 0.8) sim.partition();
      else if (roll < 0.88) sim.heal();
      else if (roll < 0.93) await sim.restart();
      else await sim.settle(Math.floor(sim.random() * 4));
      if (sim.random() < 0.3) await sim.settle(0);
    }
    const converged = await sim.converge(10_000);
    const context = `seed ${seed} (${topology}); rerun with DRIFTLESS_SEED=${seed}\n${sim.describe()}`;
    expect(sim.violations, context).toEqual([]);
    expect(converged, `did not converge: ${context}`).toBe(true);
    expect(sim.lost(), context).toEqual([]);
  } finally {
    await sim.closeAll();
  }
}

describe('5 replicas converge under partitions, heals and restarts', () => {
  for (const topology of TOPOLOGIES) {
    it(`${topology}: ${SCHEDULES} seeded schedules`, { timeout: 600_000 }, async () => {
      const base = testSeed();
      console.log(`${topology}: base seed ${base} (schedule i uses seed base+i)`);
      for (let i = 0; i < SCHEDULES; i++) await runSchedule((base + i) | 0, topology);
    });
  }
});
