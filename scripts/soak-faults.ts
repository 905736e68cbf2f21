/**
 * The soak run of the fault schedules: many more, or longer, than CI runs.
 *
 *   node scripts/run-ts.mjs scripts/soak-faults.ts --seed 7 --schedules 30 --duration-s 30
 *
 * A thin launcher: the runner lives in test/faults/soak.ts, beside the cluster code it drives
 * (which imports @driftless/node, a dependency of the test package, not of scripts/). It runs as a
 * child with the same flags, and this exits with its status: 0 clean, 1 violations found (their
 * seeds are printed), 2 bad arguments.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const child = spawn(
  process.execPath,
  [...process.execArgv, 'test/faults/soak.ts', ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
