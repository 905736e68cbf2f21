/**
 * Where a V8 CPU profile (node --cpu-prof, or bench:sync --profile DIR) spent its time: the
 * functions with the most self time, the same summed per source file, and the functions with the
 * most inclusive time (themselves and what they called).
 *
 *   node --import tsx benchmarks/src/cpuprofile-top.ts FILE.cpuprofile [--top 25]
 *     [--under NAME] [--without NAME]
 *
 * `--under NAME` keeps only the samples with a caller (or the function itself) whose name starts
 * with NAME ("takeNow", "extraWrites packages/core"); `--without NAME` drops those samples instead,
 * say the checkpoint a node writes at close, after the measured part.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The parts of a .cpuprofile this reads. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly children?: readonly number[];
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Time per key, in microseconds, largest first. */
type Tally = [string, number][];

/** What a profile spent, per function and per file. */
export interface ProfileSummary {
  /** Time in each function itself. */
  readonly functions: Tally;
  /** Time in each function and everything it called (a recursive function counts once per sample). */
  readonly inclusive: Tally;
  /** Self time per source file. */
  readonly files: Tally;
  readonly totalUs: number;
}

/** Which samples to count, by the names on their stacks. */
export interface SampleFilter {
  readonly under?: string;
  readonly without?: string;
}

/**
 * Summarizes `profile`: self and inclusive time of every function, self time of every file, over
 * the samples `filter` keeps.
 */
export function summarize(profile: CpuProfile, filter: SampleFilter = {}): ProfileSummary {
  const byNode = new Map<number, number>();
  profile.samples.forEach((node, i) => {
    byNode.set(node, (byNode.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const parents = new Map<number, number>();
  const names = new Map<number, { name: string; file: string }>();
  for (const { id, children, callFrame } of profile.nodes) {
    for (const child of children ?? []) parents.set(child, id);
    const file = shortFile(callFrame.url);
    const line = file === '' ? '' : `:${callFrame.lineNumber + 1}`;
    names.set(id, {
      name: `${callFrame.functionName || '(anonymous)'} ${file}${line}`,
      file: file || callFrame.functionName,
    });
  }
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  const add = (tally: Map<string, number>, key: string, us: number) =>
    tally.set(key, (tally.get(key) ?? 0) + us);
  let totalUs = 0;
  for (const [id, us] of byNode) {
    const own = names.get(id);
    if (own === undefined || us === 0) continue;
    const stack = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) {
      const name = names.get(node)?.name;
      if (name !== undefined) stack.add(name);
    }
    const onStack = (prefix: string) => [...stack].some((name) => name.startsWith(prefix));
    if (filter.under !== undefined && !onStack(filter.under)) continue;
    if (filter.without !== undefined && onStack(filter.without)) continue;
    totalUs += us;
    add(functions, own.name, us);
    add(files, own.file, us);
    for (const name of stack) add(inclusive, name, us);
  }
  const sorted = (tally: Map<string, number>): Tally => [...tally].sort((a, b) => b[1] - a[1]);
  return { functions: sorted(functions), inclusive: sorted(inclusive), files: sorted(files), totalUs };
}

/** A url as a short path: the package and file for node_modules, the repo path for sources. */
function shortFile(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length);
  const inRepo = path.search(/\/(packages|benchmarks)\//);
  return inRepo >= 0 ? path.slice(inRepo + 1) : path;
}

function render(title: string, tally: Tally, totalUs: number, top: number): string[] {
  return [
    title,
    ...tally
      .slice(0, top)
      .map(
        ([name, us]) =>
          `${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`,
      ),
  ];
}

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '25' },
    under: { type: 'string' },
    without: { type: 'string' },
  },
  allowPositionals: true,
  strict: true,
});
if (positionals.length === 0) {
  console.error('usage: cpuprofile-top.ts FILE.cpuprofile… [--top N] [--under NAME] [--without NAME]');
  process.exitCode = 2;
}
for (const file of positionals) {
  const { functions, inclusive, files, totalUs } = summarize(
    JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
    {
      ...(values.under === undefined ? {} : { under: values.under }),
      ...(values.without === undefined ? {} : { without: values.without }),
    },
  );
  const top = Number(values.top);
  console.log(
    [
      `${file}: ${(totalUs / 1000).toFixed(0)} ms sampled`,
      ...render('self time by function:', functions, totalUs, top),
      ...render('self time by file:', files, totalUs, Math.min(top, 15)),
      ...render('inclusive time (the function and what it called):', inclusive, totalUs, top),
      '',
    ].join('\n'),
  );
}
