/** Test kits for Driftless backends: the conformance suites every store must pass, and fault injection. */
export { FaultyStore } from './faulty-store.js';
export { remoteOp, runOpLogConformance } from './op-log-conformance.js';
export { propertyParameters, seededRandom, testSeed } from './seed.js';
export { runStoreConformance, type StoreHarness } from './store-conformance.js';
