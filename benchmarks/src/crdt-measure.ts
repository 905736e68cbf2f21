import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Sample, summarize, type Trial } from './measure.js';

/**
 * What the CRDT benchmarks add to measure.ts: a full garbage collection before each timed pass (so
 * one pass does not pay for the garbage of the one before), and plain repetition for trials too
 * slow to warm up and interleave.
 */

let gc: (() => void) | undefined;

/** Runs a full garbage collection, exposing `gc` first when Node was started without --expose-gc. */
export function collectGarbage(): void {
  if (gc === undefined) {
    const exposed: unknown = Reflect.get(globalThis, 'gc');
    if (typeof exposed === 'function') {
      gc = exposed as () => void;
    } else {
      // The flag takes effect for contexts created after it is set: a new context hands out its gc.
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
}

/** Milliseconds `work` takes. */
export function timeMs(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

/** Runs `trial` `runs` times with no warm-up (for trials too slow to spare one); their median. */
export async function repeat(trial: Trial, runs: number): Promise<Sample> {
  const values: number[] = [];
  for (let run = 0; run < runs; run++) values.push(await trial());
  return summarize(values);
}
