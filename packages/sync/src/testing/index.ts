/** Test kits for Driftless transports: the conformance suite every transport must pass, and its helpers. */
export {
  ConnectionRecorder,
  firstDifference,
  frameIndex,
  numberedFrame,
  type RecordedClose,
} from './connection-recorder.js';
export { runTransportConformance, type TransportHarness } from './transport-conformance.js';
