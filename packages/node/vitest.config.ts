import { driftlessProject } from '../../vitest.shared.js';

export default driftlessProject('node', { include: ['test/**/*.test.ts'] });
