import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CLUSTER_SYSTEMS,
  type ClusterParams,
  type ClusterSystem,
  OP_TYPES,
  SCENARIOS,
  type ScenarioName,
  STORES,
  TOPOLOGIES,
} from './cluster-params.js';

/**
 * The command line of the convergence suite (suite.ts, and `driftless bench`, which passes its
 * flags through): which scenarios and systems, quick or full, where results go, and parameters
 * that override every scenario's defaults. A bad flag is a BenchFlagError with a stable code.
 */

/** The codes of bad command lines. */
export const BENCH_FLAG_CODES = ['BENCH_UNKNOWN_FLAG', 'BENCH_BAD_VALUE', 'BENCH_UNKNOWN_NAME'] as const;

/** A bad command line: printed as one line, `driftless bench: CODE: message`, exit status 2. */
export class BenchFlagError extends Error {
  override name = 'BenchFlagError';
  readonly code: (typeof BENCH_FLAG_CODES)[number];

  constructor(code: BenchFlagError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/** What the command line asks for. */
export interface SuiteFlags {
  readonly help: boolean;
  readonly quick: boolean;
  readonly json: boolean;
  readonly outDir: string;
  readonly scenarios: readonly ScenarioName[];
  readonly systems: readonly ClusterSystem[];
  /** Parameters given on the command line, over every scenario's defaults. */
  readonly overrides: Partial<ClusterParams>;
}

/** The usage text. */
export const SUITE_USAGE = `usage: driftless bench [options]   (or: npm run bench -- [options])
  --scenario LIST     comma-separated: ${SCENARIOS.join(', ')} (default: all)
  --systems LIST      comma-separated: ${CLUSTER_SYSTEMS.join(', ')} (default: all; driftless is always run)
  --quick             small workloads: the whole suite in under 2 minutes
  --json              print only the JSON report on stdout
  --out DIR           where results go (default benchmarks/results)
  --nodes N           node processes (2-16)
  --topology T        ${TOPOLOGIES.join(', ')}
  --writers N         nodes that write
  --rate N|max        writes per second per writer, or max (as fast as possible)
  --writes N          writes per writer (burst, catch-up), edits of the trace (text)
  --keys N            keys each writer draws from
  --conflict F        share of writes to keys every writer shares, 0-1
  --value-bytes N     bytes of each value
  --ops LIST          op types writes cycle through: ${OP_TYPES.join(', ')}
  --store S           Driftless store: ${STORES.join(', ')}
  --seconds N         steady: how long to write; partition: how long the partition lasts`;

/** The default output directory: benchmarks/results. */
const DEFAULT_OUT = new URL('../results/', import.meta.url);

function names<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): T[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((name) => {
    const found = allowed.find((item) => item === name.trim());
    if (found === undefined)
      throw new BenchFlagError(
        'BENCH_UNKNOWN_NAME',
        `${flag}: unknown ${JSON.stringify(name)} (use ${allowed.join(', ')})`,
      );
    return found;
  });
}

function number(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
  whole = true,
): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isFinite(parsed) || parsed < min || parsed > max || (whole && !Number.isInteger(parsed)))
    throw new BenchFlagError(
      'BENCH_BAD_VALUE',
      `${flag} needs a ${whole ? 'whole ' : ''}number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  return parsed;
}

/** Reads the command line; throws BenchFlagError. */
export function parseSuiteFlags(args: readonly string[]): SuiteFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        help: { type: 'boolean', short: 'h' },
        quick: { type: 'boolean' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        scenario: { type: 'string' },
        systems: { type: 'string' },
        nodes: { type: 'string' },
        topology: { type: 'string' },
        writers: { type: 'string' },
        rate: { type: 'string' },
        writes: { type: 'string' },
        keys: { type: 'string' },
        conflict: { type: 'string' },
        'value-bytes': { type: 'string' },
        ops: { type: 'string' },
        store: { type: 'string' },
        seconds: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new BenchFlagError('BENCH_UNKNOWN_FLAG', (error as Error).message.split('\n')[0] ?? 'bad flag');
  }
  const text = (key: string) => values[key] as string | undefined;
  const rate = text('rate');
  const overrides: { -readonly [K in keyof ClusterParams]?: ClusterParams[K] } = {};
  const set = <K extends keyof ClusterParams>(key: K, value: ClusterParams[K] | undefined) => {
    if (value !== undefined) overrides[key] = value;
  };
  set('nodes', number(text('nodes'), '--nodes', 2, 16));
  set('topology', names(text('topology'), TOPOLOGIES, '--topology')?.[0]);
  set('writers', number(text('writers'), '--writers', 1, 16));
  if (rate !== undefined)
    overrides.ratePerS = rate === 'max' ? undefined : number(rate, '--rate', 1, 1_000_000);
  set('writes', number(text('writes'), '--writes', 1, 10_000_000));
  set('keys', number(text('keys'), '--keys', 1, 10_000_000));
  set('conflictShare', number(text('conflict'), '--conflict', 0, 1, false));
  set('valueBytes', number(text('value-bytes'), '--value-bytes', 1, 1_000_000));
  set('ops', names(text('ops'), OP_TYPES, '--ops'));
  set('store', names(text('store'), STORES, '--store')?.[0]);
  set('seconds', number(text('seconds'), '--seconds', 0.1, 600, false));
  const systems = names(text('systems'), CLUSTER_SYSTEMS, '--systems') ?? [...CLUSTER_SYSTEMS];
  return {
    help: values.help === true,
    quick: values.quick === true,
    json: values.json === true,
    outDir: resolve(text('out') ?? new URL(DEFAULT_OUT).pathname),
    scenarios: names(text('scenario'), SCENARIOS, '--scenario') ?? [...SCENARIOS],
    systems: systems.includes('driftless') ? systems : ['driftless', ...systems],
    overrides,
  };
}
