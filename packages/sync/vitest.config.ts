import { driftlessProject } from '../../vitest.shared.js';

export default driftlessProject('sync', { include: ['test/**/*.test.ts'] });
