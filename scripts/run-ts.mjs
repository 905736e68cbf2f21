// Runs a TypeScript entry point from sources: tsx strips types, and the `@driftless/source` export
// condition makes workspace packages resolve to their `src/` (no build step).
//
// The child runs asynchronously so this wrapper can pass SIGTERM on (a process manager stopping
// `npm start` stops the program, which then shuts down gracefully) and exit with its status.
// SIGINT from a terminal reaches the child directly (same process group): the wrapper only waits.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args...]');
  process.exit(2);
}
// tsx resolved from this repository, so the command works from any directory.
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--conditions=@driftless/source', '--import', tsx, entry, ...args], {
  stdio: 'inherit',
});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
