// Runs a TypeScript entry point from sources: tsx strips types, and the `@driftless/source` export
// condition makes workspace packages resolve to their `src/` (no build step).
import { spawnSync } from 'node:child_process';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args...]');
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  ['--conditions=@driftless/source', '--import', 'tsx', entry, ...args],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
