import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

/** The condition that makes `@driftless/*` imports resolve to `src/` instead of `dist/`. */
export const SOURCE_CONDITION = '@driftless/source';

/** A vitest project that resolves workspace packages from their sources. */
export function driftlessProject(name: string, overrides: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    resolve: { conditions: [SOURCE_CONDITION, 'import', 'node', 'default'] },
    ssr: { resolve: { conditions: [SOURCE_CONDITION, 'import', 'node', 'default'] } },
    test: {
      name,
      include: ['test/**/*.test.ts', '**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**'],
      // A guard against hangs, not a measure: vitest's 5 s default failed a 2 s property test
      // (key-table.test.ts, 5.9 s) with three busy processes on the 2 cores CI has.
      testTimeout: 30_000,
      ...overrides,
    },
  });
}
