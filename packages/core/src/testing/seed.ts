/**
 * The seed of a randomised test: from DRIFTLESS_SEED when set (to rerun a failure), else fresh.
 * Printed by the caller on failure so every failure can be rerun.
 */
export function testSeed(): number {
  const fromEnv = process.env.DRIFTLESS_SEED;
  if (fromEnv !== undefined && fromEnv !== '') return Number.parseInt(fromEnv, 10) | 0;
  return (Math.random() * 2 ** 31) | 0;
}

/** fast-check parameters with a printed seed; `numRuns` can be raised with DRIFTLESS_RUNS. */
export function propertyParameters(numRuns: number): { seed: number; numRuns: number } {
  const runs = Number.parseInt(process.env.DRIFTLESS_RUNS ?? '', 10);
  return { seed: testSeed(), numRuns: Number.isFinite(runs) && runs > 0 ? runs : numRuns };
}

/** A small, fast, seeded PRNG (mulberry32) for fuzzers and schedules. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
