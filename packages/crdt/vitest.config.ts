import { driftlessProject } from '../../vitest.shared.js';

export default driftlessProject('crdt', { include: ['test/**/*.test.ts'] });
