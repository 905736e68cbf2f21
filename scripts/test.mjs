// The whole suite: lint, type check, then every vitest project. Prints `N passed, N failed` from
// vitest's JSON report as its last line (CI reads that line), and exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules', '.bin', name);
const report = join(root, '.vitest-report.json');

function run(step, command, args) {
  console.log(`\n== ${step}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  return result.status === 0;
}

if (!run('lint (biome)', bin('biome'), ['ci', '.'])) fail('lint failed');
if (!run('type check (tsc -b)', bin('tsc'), ['-b'])) fail('type check failed');

rmSync(report, { force: true });
const passedRun = run('tests (vitest)', bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...process.argv.slice(2),
]);
if (!existsSync(report)) fail('vitest wrote no report');
const summary = JSON.parse(readFileSync(report, 'utf8'));
const passed = summary.numPassedTests;
// A file that failed without a failed test (it did not load, a hook threw) counts as one failure;
// numFailedTestSuites would also count every describe block around a failed test.
const brokenFiles = (summary.testResults ?? []).filter(
  (file) => file.status === 'failed' && !file.assertionResults?.some((test) => test.status === 'failed'),
).length;
// Vitest also fails a run whose tests all passed when an error escaped them (an unhandled
// rejection, a throw in a timer): the report does not count it, so it counts as one failure here.
const escaped = !passedRun && summary.numFailedTests + brokenFiles === 0 ? 1 : 0;
if (escaped) console.log('\nvitest failed the run without a failed test: see "Unhandled Errors" above');
const failed = summary.numFailedTests + brokenFiles + escaped;
console.log(`${passed} passed, ${failed} failed`);
process.exit(passedRun && failed === 0 && summary.numTotalTests > 0 ? 0 : 1);

function fail(reason) {
  console.log(`\n${reason}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
