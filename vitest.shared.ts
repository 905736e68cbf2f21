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
      ...overrides,
    },
  });
}
