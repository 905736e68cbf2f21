/**
 * `driftless bench`: runs the convergence suite of a Driftless checkout (benchmarks/src/suite.ts)
 * as a child process, passing the flags through; the suite checks their values and prints its
 * table or JSON itself. The suite is found relative to this file and never imported: the
 * benchmarks depend on this package, and a dependency back would be a cycle (TypeScript project
 * references cannot be cyclic). Where it is absent (an installed package), the command fails with
 * BENCH_SUITE_MISSING.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { CliHost } from './program.js';
import { CommandError } from './usage-error.js';

/** The suite's entry, from src/cli/ or dist/cli/ of packages/node in a checkout. */
const SUITE_ENTRY = fileURLToPath(new URL('../../../../benchmarks/src/suite.ts', import.meta.url));

/** The flags of `driftless bench`, as the suite reads them (benchmarks/src/suite-flags.ts). */
export const BENCH_OPTIONS: readonly { readonly flag: string; readonly help: string }[] = [
  {
    flag: '--scenario <list>',
    help: 'comma-separated: burst, steady, partition, catchup, text (default: all)',
  },
  { flag: '--systems <list>', help: 'comma-separated: driftless, raw, yjs, automerge (default: all)' },
  { flag: '--quick', help: 'small workloads: the whole suite in under 2 minutes' },
  { flag: '--json', help: 'print only the JSON report on stdout' },
  {
    flag: '--out <dir>',
    help: 'where the JSON, the table and the SVG charts go (default benchmarks/results)',
  },
  { flag: '--nodes <n>', help: 'node processes (2-16)' },
  { flag: '--topology <t>', help: 'mesh, star or ring' },
  { flag: '--writers <n>', help: 'nodes that write' },
  { flag: '--rate <n|max>', help: 'writes per second per writer, or max' },
  { flag: '--writes <n>', help: 'writes per writer (burst, catch-up), edits of the trace (text)' },
  { flag: '--keys <n>', help: 'keys each writer draws from' },
  { flag: '--conflict <share>', help: 'share of writes to keys every writer shares, 0-1' },
  { flag: '--value-bytes <n>', help: 'bytes of each value' },
  { flag: '--ops <list>', help: 'op types writes cycle through: set, incr' },
  { flag: '--store <store>', help: 'Driftless store: memory or lmdb' },
  { flag: '--seconds <n>', help: 'steady: how long to write; partition: how long it lasts' },
];

/** A checkout's suite could not be found (or tsx, which runs it). */
export class BenchSuiteMissingError extends CommandError {
  override name = 'BenchSuiteMissingError';
  readonly code = 'BENCH_SUITE_MISSING';
}

/** The command line the suite runs with: this Node, the sources' export condition, and tsx. */
export function suiteCommand(args: readonly string[]): string[] {
  if (!existsSync(SUITE_ENTRY)) {
    throw new BenchSuiteMissingError(
      `BENCH_SUITE_MISSING: no benchmark suite at ${SUITE_ENTRY}: driftless bench runs from a Driftless ` +
        'checkout (git clone, then npx pnpm install)',
    );
  }
  let tsx: string;
  try {
    tsx = pathToFileURL(createRequire(SUITE_ENTRY).resolve('tsx')).href;
  } catch {
    throw new BenchSuiteMissingError(
      'BENCH_SUITE_MISSING: tsx is not installed next to the benchmark suite: run npx pnpm install in the checkout',
    );
  }
  return [process.execPath, '--conditions=@driftless/source', '--import', tsx, SUITE_ENTRY, ...args];
}

/** The suite's arguments from the options commander parsed. */
function suiteArgs(options: Record<string, string | boolean | undefined>): string[] {
  const args: string[] = [];
  for (const { flag } of BENCH_OPTIONS) {
    const name = flag.split(' ')[0] as string;
    const key = name.slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const value = options[key];
    if (value === true) args.push(name);
    else if (typeof value === 'string') args.push(name, value);
  }
  return args;
}

/** Runs the suite with the parsed options; resolves with its exit status. */
export async function runBench(
  options: Record<string, string | boolean | undefined>,
  host: CliHost,
): Promise<number> {
  const [command, ...args] = suiteCommand(suiteArgs(options));
  const child = spawn(command as string, args, { stdio: 'inherit' });
  // SIGTERM to `driftless bench` stops the suite, which ends its node processes.
  void host.stopSignal().then(() => child.kill('SIGTERM'));
  return new Promise((resolve, reject) => {
    child.once('error', (error) =>
      reject(new CommandError(`could not start the benchmark suite: ${error.message}`)),
    );
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

/** Registers `driftless bench` on `program`. */
export function addBenchCommand(program: Command, host: CliHost, setStatus: (status: number) => void): void {
  const command = program
    .command('bench')
    .description(
      'run the convergence benchmarks (burst, steady, partition-heal, catch-up, text) against the raw ' +
        'ws pipe, Yjs and Automerge, from a Driftless checkout',
    );
  for (const { flag, help } of BENCH_OPTIONS) command.option(flag, help);
  command.action(async (options: Record<string, string | boolean | undefined>) => {
    setStatus(await runBench(options, host));
  });
}
