import { driftlessProject } from '../../vitest.shared.js';

export default driftlessProject('core', { include: ['test/**/*.test.ts'] });
