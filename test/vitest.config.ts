import { driftlessProject } from '../vitest.shared.js';

export default driftlessProject('cross-package', { include: ['**/*.test.ts'], testTimeout: 120_000 });
