import { defineConfig } from 'vitest/config';

// One vitest project per package plus the top-level cross-package tests. Every project resolves
// workspace packages through the `@driftless/source` export condition, so tests run from sources.
export default defineConfig({
  test: {
    projects: ['packages/*', 'test'],
  },
});
