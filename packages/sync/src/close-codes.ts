/**
 * Every WebSocket close code Driftless sends or reports, in one table. Standard codes (1000–1015)
 * keep their RFC 6455 meaning; Driftless's own live in the application range 4000–4999 (from 4001). A code
 * never changes meaning once released: add new ones at the end.
 */
export const CLOSE_CODES = {
  /** The session ended normally; nothing is wrong. */
  NORMAL: 1000,
  /** The endpoint is going away: its listener closed, its process is exiting, its tab closed. */
  GOING_AWAY: 1001,
  /** The peer broke the WebSocket framing rules (sent by ws itself, e.g. a bad opcode). */
  PROTOCOL_ERROR: 1002,
  /** Reported locally, never sent: the connection was lost without a close frame. */
  ABNORMAL: 1006,
  /** A frame was larger than the receiver's maxFrameBytes (RFC 6455 "message too big"; ws sends it). */
  FRAME_TOO_LARGE: 1009,
  /** The endpoint hit an internal impossibility (a bug); the peer should reconnect later. */
  INTERNAL_ERROR: 1011,
  /** The peer speaks a protocol version this node does not. */
  PROTOCOL_VERSION: 4001,
  /** The peer's credentials were missing, wrong or expired. */
  AUTH_FAILED: 4002,
  /** A frame failed to decode or did not match the message schema (text frames included). */
  BAD_FRAME: 4003,
  /** The peer sent an op with an origin it may not write for (forged or not relayable). */
  FORBIDDEN_ORIGIN: 4004,
  /** The peer stopped reading: our send buffer for it passed the hard limit. */
  BACKPRESSURE: 4005,
  /** No heartbeat (or answer) from the peer within the timeout. */
  TIMEOUT: 4006,
  /** The peer belongs to another cluster (different cluster id). */
  CLUSTER_MISMATCH: 4007,
  /** The same node id is already connected; the newer (or older, by rule) session is closed. */
  DUPLICATE_NODE: 4008,
  /**
   * Reserved, never sent by this version: a read-only replica's own ops are refused with
   * FORBIDDEN_ORIGIN, and writes to it over HTTP get 403 REPLICA_READ_ONLY.
   */
  REPLICA_READ_ONLY: 4009,
  /** The peer is behind the retained log: reconnect and bootstrap from a snapshot. */
  REBOOTSTRAP: 4010,
  /** This node is shutting down on purpose; reconnect to another peer or retry later. */
  SHUTDOWN: 4011,
  /** The peer sent an op that does not follow its origin's last seq, or ops ahead of the state they follow; reconnecting resumes from the durable vector. */
  OUT_OF_ORDER: 4012,
  /** The peer's op carried a timestamp too far ahead of this node's clock; fix NTP on the nodes. */
  CLOCK_SKEW: 4013,
} as const;

/** The name of a close code in CLOSE_CODES. */
export type CloseCodeName = keyof typeof CLOSE_CODES;
/** A close code from CLOSE_CODES. */
export type CloseCode = (typeof CLOSE_CODES)[CloseCodeName];

/** The longest close reason a WebSocket close frame carries, in UTF-8 bytes (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

const NAMES = new Map<number, CloseCodeName>(
  Object.entries(CLOSE_CODES).map(([name, code]) => [code, name as CloseCodeName]),
);

/** The table name of a close code for logs: "BACKPRESSURE", or "4711" when it is not in the table. */
export function closeCodeName(code: number): string {
  return NAMES.get(code) ?? String(code);
}

/**
 * Whether `code` may be sent in a close frame: the RFC 6455 codes an endpoint may send, and the
 * registered and application ranges 3000–4999. 1005, 1006 and 1015 are only ever reported locally.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** Cuts `reason` to at most MAX_CLOSE_REASON_BYTES of UTF-8 without splitting a character. */
export function truncateCloseReason(reason: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(reason).length <= MAX_CLOSE_REASON_BYTES) return reason;
  let bytes = 0;
  let end = 0;
  for (const char of reason) {
    const size = encoder.encode(char).length;
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break;
    bytes += size;
    end += char.length;
  }
  return reason.slice(0, end);
}
