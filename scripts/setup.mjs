// Installs the workspace with the pinned pnpm when the lockfile or a manifest changed since the last
// install. `npm start` and `npm test` run this first, so a fresh clone needs nothing but Node.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PNPM = 'pnpm@10.34.9';
const root = new URL('..', import.meta.url).pathname;
const stampFile = join(root, 'node_modules', '.driftless-setup-stamp');

function manifests() {
  const files = [
    'package.json',
    'pnpm-lock.yaml',
    'pnpm-workspace.yaml',
    'test/package.json',
    'benchmarks/package.json',
  ];
  for (const dir of readdirSync(join(root, 'packages'))) files.push(join('packages', dir, 'package.json'));
  return files.filter((file) => existsSync(join(root, file)));
}

const hash = createHash('sha256');
for (const file of manifests()) hash.update(file).update(readFileSync(join(root, file)));
const stamp = hash.digest('hex');

if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) process.exit(0);

const args = ['--yes', PNPM, 'install', '--config.confirmModulesPurge=false'];
if (process.env.CI) args.push('--frozen-lockfile');
console.log(`setup: installing dependencies with ${PNPM}`);
execFileSync('npx', args, { cwd: root, stdio: 'inherit' });
writeFileSync(stampFile, stamp);
