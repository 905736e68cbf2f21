/**
 * @driftless/sync: the replication transport port, its close codes and errors, and the in-memory
 * network with fault injection. Browser-safe: the WebSocket transport lives in `@driftless/sync/ws`
 * and the conformance suite in `@driftless/sync/testing`.
 */

export { type BackoffTiming, backoffDelayMs, DEFAULT_BACKOFF } from './backoff.js';
export {
  CLOSE_CODES,
  type CloseCode,
  type CloseCodeName,
  closeCodeName,
  isSendableCloseCode,
  MAX_CLOSE_REASON_BYTES,
  truncateCloseReason,
} from './close-codes.js';
export { isTransportError, TransportError, type TransportErrorCode } from './errors.js';
export { FrameConnection, type FrameConnectionState } from './frame-connection.js';
export type { LinkFaults } from './memory-link.js';
export {
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryTransportOptions,
  parseMemoryAddress,
  type TraceEntry,
} from './memory-network.js';
export type { OriginEvent } from './origin-check.js';
export type { AckResult, PeerStatus } from './peer-status.js';
export { authProof, createNonce, MIN_SECRET_BYTES } from './protocol/auth.js';
export {
  decodeMessage,
  encodeMessage,
  isClusterId,
  MAX_REPORTS,
  MAX_STATE_BYTES,
  type Message,
  NONCE_BYTES,
  PROOF_BYTES,
  ROLES,
  type Role,
  type StateKind,
} from './protocol/messages.js';
export { PROTOCOL_VERSION } from './protocol/version.js';
export { type ReplicaStoreLike, type StateBlob, type SyncReplica, syncReplicaOf } from './replica.js';
export {
  type CollectTiming,
  Replicator,
  type ReplicatorEvent,
  type ReplicatorOptions,
} from './replicator.js';
export {
  type PeerIdentity,
  PeerSession,
  type SessionHost,
  type SessionPhase,
  type SessionStats,
  type StateTransfers,
  type StreamMode,
} from './session/peer-session.js';
export { DEFAULT_SESSION_TIMING, type SessionTiming } from './session/timing.js';
export { type StabilityStatus, StabilityTracker } from './stability.js';
export {
  type Connection,
  type ConnectionHandlers,
  DEFAULT_TRANSPORT_LIMITS,
  type Listener,
  resolveTransportLimits,
  type Transport,
  type TransportLimits,
} from './transport.js';
