import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SystemName } from './crdt-contender.js';
import { exact } from './measure.js';
import type { Figure, Resources } from './report.js';

/**
 * Memory per key (figure 4): each system builds a state of N distinct keys in a child process of its
 * own (crdt-heap-child.ts, run with --expose-gc), which reports the growth across the build after
 * full collections; the bytes per key are that growth over N.
 */

/** What one child measured. */
export interface HeapMeasurement {
  readonly system: SystemName;
  readonly keys: number;
  /** Growth of the JS heap (heapUsed) across the build, after full collections. */
  readonly heapBytes: number;
  /** Growth of memory outside the JS heap that V8 accounts for (ArrayBuffers and the like). */
  readonly externalBytes: number;
  /** Growth of WebAssembly linear memory (Automerge; 0 for the others). */
  readonly wasmBytes: number;
  /** Automerge: what materialising a JS view of the document's root adds to the heap. */
  readonly viewHeapBytes?: number;
  readonly buildMs: number;
  /** What the child cost in all. */
  readonly resources: Resources;
}

/** The target for Driftless. */
const TARGET_BYTES_PER_KEY = 300;
/** The child's entry point. */
const CHILD_ENTRY = fileURLToPath(new URL('./crdt-heap-child.ts', import.meta.url));
/** Node flags not passed on to children: profilers and inspectors of this process. */
const PROFILING_FLAG = /^--(cpu-prof|heap-prof|prof|inspect)/;
/** Profiling flags whose value may come as the next argument. */
const PROFILING_FLAG_WITH_VALUE = /^--(cpu|heap)-prof-(dir|name|interval)$/;

const execFileAsync = promisify(execFile);

/** Measures `system` at `keys` keys in a fresh child process. */
export async function measureHeap(system: SystemName, keys: number): Promise<HeapMeasurement> {
  const args = [...childFlags(), '--expose-gc', CHILD_ENTRY, '--system', system, '--keys', String(keys)];
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 1 << 20 }));
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`the ${system} heap child failed: ${stderr ?? String(error)}`, { cause: error });
  }
  const line = stdout.trim().split('\n').pop() ?? '';
  const measurement = JSON.parse(line) as HeapMeasurement;
  if (measurement.system !== system || measurement.keys !== keys)
    throw new Error(`the ${system} heap child answered ${line}`);
  return measurement;
}

/**
 * What a measurement grew by, over its keys: the JS heap, plus memory outside it. V8 counts
 * WebAssembly memory among its external memory, so that part is the larger of the two, not their sum.
 */
export function bytesPerKey(measurement: HeapMeasurement): number {
  const { heapBytes, externalBytes, wasmBytes, keys } = measurement;
  return (heapBytes + Math.max(externalBytes, wasmBytes)) / keys;
}

/**
 * Figure 4: Driftless beside each other system. `driftless` holds one Driftless measurement per
 * key count used by the others, the one at `keys` first.
 */
export function heapFigures(
  driftless: readonly HeapMeasurement[],
  others: readonly HeapMeasurement[],
): Figure[] {
  return others.map((other) => {
    const ours = driftless.find((measurement) => measurement.keys === other.keys);
    if (ours === undefined) throw new Error(`no Driftless measurement at ${other.keys} keys`);
    return {
      id: `heap.${other.system.toLowerCase()}`,
      label: `4  memory per key at ${formatCount(other.keys)} keys · ${other.system}`,
      unit: 'B/key',
      driftless: exact(bytesPerKey(ours)),
      baseline: exact(bytesPerKey(other)),
      ...(other.system === 'Yjs'
        ? { target: { of: 'driftless', bound: 'max', value: TARGET_BYTES_PER_KEY } as const }
        : {}),
    };
  });
}

/** The children's cost together: the largest peak RSS, CPU and wall time summed. */
export function combineResources(measurements: readonly HeapMeasurement[]): Resources {
  const all = measurements.map(({ resources }) => resources);
  const sum = (pick: (resources: Resources) => number) => all.reduce((total, r) => total + pick(r), 0);
  return {
    peakRssMiB: Math.max(0, ...all.map((r) => r.peakRssMiB)),
    userCpuS: sum((r) => r.userCpuS),
    systemCpuS: sum((r) => r.systemCpuS),
    wallS: sum((r) => r.wallS),
  };
}

/** 1M, 100k, 1,234. */
export function formatCount(count: number): string {
  if (count >= 1e6 && count % 1e6 === 0) return `${count / 1e6}M`;
  if (count >= 1e3 && count % 1e3 === 0) return `${count / 1e3}k`;
  return count.toLocaleString('en-US');
}

/** This process's Node flags without profiling ones (so `--cpu-prof` profiles only the main process). */
function childFlags(): string[] {
  const flags: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    if (!PROFILING_FLAG.test(flag)) flags.push(flag);
    else if (PROFILING_FLAG_WITH_VALUE.test(flag)) i++;
  }
  return flags;
}
