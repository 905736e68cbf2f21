/** The timers and limits of a replication session; every field has a default below. */
export interface SessionTiming {
  /** How long a new connection may take to authenticate. */
  readonly handshakeTimeoutMs: number;
  /** How often a PING goes out on an idle or busy session. */
  readonly heartbeatIntervalMs: number;
  /** A session that receives nothing for this long (while reading) is closed with TIMEOUT. */
  readonly heartbeatTimeoutMs: number;
  /** Most encoded op bytes in one OPS frame. */
  readonly maxBatchBytes: number;
  /** Op bytes received and not yet durable before the session stops reading from the peer. */
  readonly receiveWindowBytes: number;
  /** A catch-up of at least this many ops considers sending a compacted delta instead. */
  readonly deltaMinOps: number;
  /** Bytes of state per STATE_CHUNK frame. */
  readonly stateChunkBytes: number;
}

/** Defaults: a dead link is noticed within 15 s; frames stay far below the transport's limit. */
export const DEFAULT_SESSION_TIMING: SessionTiming = {
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 15_000,
  maxBatchBytes: 256 * 1024,
  receiveWindowBytes: 8 * 1024 * 1024,
  deltaMinOps: 1_000,
  stateChunkBytes: 256 * 1024,
};
