/**
 * Read latency of a node under writes: one DriftlessNode on LMDB, a client sending `GET`s of random
 * keys one after the other, first alone (the baseline), then beside a steady stream of writes to
 * the same keys. A read answers only what is durable (docs/API.md › Causal tokens): a read of a key
 * whose commit is under way waits for it, so the writes cost reads what the ratio shows.
 *
 *   node scripts/run-ts.mjs benchmarks/src/reads.ts [--writes-per-s N] [--seconds S] [--keys K]
 *     [--memory] [--quick]
 *   npm run bench:reads -- --quick
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DriftlessNode } from '@driftless/node';

const USAGE =
  'usage: node scripts/run-ts.mjs benchmarks/src/reads.ts [--writes-per-s N] [--seconds S] [--keys K] [--memory] [--quick]\n' +
  '  N, S, K: whole numbers > 0 (defaults 5000, 5, 1000); --quick: 1 s each';
let values: { 'writes-per-s'?: string; seconds?: string; keys?: string; memory?: boolean; quick?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      'writes-per-s': { type: 'string', default: '5000' },
      seconds: { type: 'string' },
      keys: { type: 'string', default: '1000' },
      memory: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
const writesPerS = Number(values['writes-per-s']);
const seconds = Number(values.seconds ?? (values.quick ? 1 : 5));
const keys = Number(values.keys);
if (![writesPerS, seconds, keys].every((n) => Number.isSafeInteger(n) && n > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'driftless-bench-reads-'));
const node = await DriftlessNode.start({
  id: 'a',
  secret: 'bench-reads-secret-0123456789',
  ...(values.memory ? {} : { dataDir: join(dir, 'a') }),
});
try {
  for (let i = 0; i < keys; i++) await node.replica.write('c', `k${i}`, { kind: 'set', value: i });
  const alone = await readFor(seconds * 1000);
  let writing = true;
  let written = 0;
  // A write every 1/writesPerS s, issued a millisecond's worth at a time, none awaited.
  const writer = (async () => {
    const started = performance.now();
    while (writing) {
      const due = Math.floor(((performance.now() - started) * writesPerS) / 1000);
      for (; written < due; written++) {
        void node.replica.write('c', `k${written % keys}`, { kind: 'set', value: written });
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  const beside = await readFor(seconds * 1000);
  writing = false;
  await writer;
  const store = values.memory ? 'memory' : 'LMDB';
  console.log(`GET of random keys (of ${keys}) on one ${store} node, one at a time, ${seconds} s each`);
  console.log(`  alone (baseline)          ${line(alone)}`);
  console.log(`  beside ${writesPerS} writes/s      ${line(beside)}  (${written} writes)`);
  console.log(
    `  ratio                     p50 ${(quantile(beside, 0.5) / quantile(alone, 0.5)).toFixed(2)}×, p99 ${(quantile(beside, 0.99) / quantile(alone, 0.99)).toFixed(2)}×`,
  );
} finally {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
}

/** GETs one after the other for `ms`; their latencies in ms, sorted. */
async function readFor(ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const started = performance.now();
    const response = await fetch(`${node.url}/v1/c/c/k${Math.floor(Math.random() * keys)}`);
    await response.arrayBuffer();
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function line(sorted: readonly number[]): string {
  return `${sorted.length} reads, p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms`;
}
