/**
 * Every error Driftless throws on purpose: one base class with a stable `code` from a closed list,
 * and a subclass wherever a caller must tell failures apart (protocol, storage, clock, op log).
 * Messages say what happened and what to do about it.
 */

/** The closed list of stable error codes. Codes never change meaning once released. */
export const ERROR_CODES = [
  // codec and wire
  'PROTOCOL_MALFORMED',
  'PROTOCOL_FRAME_TOO_LARGE',
  'PROTOCOL_LIMIT_EXCEEDED',
  'PROTOCOL_UNSUPPORTED_TYPE',
  // clocks
  'CLOCK_SKEW',
  // ops and the op log
  'OP_INVALID',
  'OP_GAP',
  'LOG_TRUNCATED',
  'LOG_FAILED',
  'ORIGIN_REWOUND',
  // conflict resolution
  'MUTATION_INVALID',
  'TYPE_CONFLICT',
  'SNAPSHOT_INVALID',
  'REBOOTSTRAP_REQUIRED',
  'YJS_MISSING_DEPENDENCY',
  // stores
  'STORE_CLOSED',
  'STORE_CORRUPT',
  'STORE_DATA_DIR',
  'STORE_FORMAT',
  'STORE_WRONG_NODE',
  'STORE_WRITE_FAILED',
  'STORE_INVALID_WRITE',
  // transports (@driftless/sync)
  'TRANSPORT_CLOSED',
  'TRANSPORT_UNREACHABLE',
  'TRANSPORT_ADDRESS_IN_USE',
  'TRANSPORT_INVALID_URL',
  'TRANSPORT_HANDSHAKE_FAILED',
  'TRANSPORT_ABORTED',
  // caller mistakes at an API boundary
  'INVALID_ARGUMENT',
] as const;

/**
 * What to do about a damaged store, for the messages that report one. Under its old id a node
 * started afresh would refuse writes once a peer shows it lost ops of its own (ORIGIN_REWOUND).
 */
export const DAMAGED_STORE_ADVICE =
  'restore the data directory from a backup, or remove it and start the node under a new node id ' +
  '(it bootstraps from its peers)';

/** A stable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The base of every error Driftless throws on purpose. */
export class DriftlessError extends Error {
  override name = 'DriftlessError';
  /** Stable, machine-readable code; see ERROR_CODES. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A frame or message from a peer (or a file) that is not valid Driftless data. */
export class ProtocolError extends DriftlessError {
  override name = 'ProtocolError';
}

/** A store that cannot be opened, read or written as asked. */
export class StorageError extends DriftlessError {
  override name = 'StorageError';
}

/** A remote clock too far ahead of ours to be absorbed. */
export class ClockSkewError extends DriftlessError {
  override name = 'ClockSkewError';
  /** How far ahead of our wall clock the remote timestamp was, in milliseconds. */
  readonly aheadMs: number;

  constructor(aheadMs: number, maxSkewMs: number) {
    super(
      'CLOCK_SKEW',
      `a remote timestamp is ${aheadMs} ms ahead of this node's clock (the limit is ${maxSkewMs} ms); ` +
        'check NTP on both nodes, or raise maxSkewMs if the offset is expected',
    );
    this.aheadMs = aheadMs;
  }
}

/** An op or batch the op log refuses: malformed, out of order, or no longer retained. */
export class OpLogError extends DriftlessError {
  override name = 'OpLogError';
}

/** Narrows an unknown thrown value to a DriftlessError with the given code. */
export function isDriftlessError(error: unknown, code?: ErrorCode): error is DriftlessError {
  return error instanceof DriftlessError && (code === undefined || error.code === code);
}
