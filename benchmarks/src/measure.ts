/**
 * Timing for benchmarks on a shared, noisy machine: every figure is the median of several
 * repetitions, and a Driftless trial and its baseline run interleaved, so that a burst of load
 * from a neighbour hits both rather than one.
 */

/** How long and how often each measurement runs. */
export interface Budget {
  /** Each repetition runs at least this long. */
  readonly minMs: number;
  /** Measured repetitions per trial (the median is reported); one warm-up comes first. */
  readonly reps: number;
  /** Ops appended before the read benchmark. */
  readonly readOps: number;
}

/** Repeated measurements of one quantity. */
export interface Sample {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** A trial: one repetition of a measurement, returning its figure (ops/s, say). */
export type Trial = () => number | Promise<number>;

/** The median and extremes of `values`. */
export function summarize(values: readonly number[]): Sample {
  if (values.length === 0) throw new Error('summarize: no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >>> 1;
  const at = (i: number) => sorted[i] as number;
  const median = sorted.length % 2 === 1 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
  return { median, min: at(0), max: at(sorted.length - 1), runs: sorted.length };
}

/** A quantity that was computed, not timed: one run, no spread. */
export function exact(value: number): Sample {
  return { median: value, min: value, max: value, runs: 1 };
}

/** Calls `step` (which returns the units it did) until `minMs` have passed; returns units per second. */
export function rateOf(step: () => number, minMs: number): number {
  const started = performance.now();
  let units = 0;
  let elapsedMs = 0;
  do {
    units += step();
    elapsedMs = performance.now() - started;
  } while (elapsedMs < minMs);
  return units / (elapsedMs / 1000);
}

/** Awaits `step` (which resolves with the units it did) until `minMs` have passed; returns units per second. */
export async function rateOfAsync(step: () => Promise<number>, minMs: number): Promise<number> {
  const started = performance.now();
  let units = 0;
  let elapsedMs = 0;
  do {
    units += await step();
    elapsedMs = performance.now() - started;
  } while (elapsedMs < minMs);
  return units / (elapsedMs / 1000);
}

/**
 * Runs every trial once to warm up, then `reps` rounds in which each trial runs once, in turn;
 * returns one Sample per trial, in the order given.
 */
export async function interleave(trials: readonly Trial[], reps: number): Promise<Sample[]> {
  for (const trial of trials) await trial();
  const results = trials.map((): number[] => []);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, trial] of trials.entries()) results[i]?.push(await trial());
  }
  return results.map(summarize);
}

/** Measures one trial (after a warm-up run) `reps` times. */
export async function measure(trial: Trial, reps: number): Promise<Sample> {
  const [sample] = await interleave([trial], reps);
  if (sample === undefined) throw new Error('measure: no sample');
  return sample;
}

/** Measures a Driftless trial and its baseline, interleaved; returns their samples in that order. */
export async function measurePair(
  driftless: Trial,
  baseline: Trial,
  reps: number,
): Promise<[Sample, Sample]> {
  const [ours, theirs] = await interleave([driftless, baseline], reps);
  if (ours === undefined || theirs === undefined) throw new Error('measurePair: missing sample');
  return [ours, theirs];
}
