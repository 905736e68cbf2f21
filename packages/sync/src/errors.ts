import { DriftlessError, type ErrorCode } from '@driftless/core';

/** The stable codes a transport fails with (a subset of core's closed ERROR_CODES list). */
export type TransportErrorCode = Extract<ErrorCode, `TRANSPORT_${string}`>;

/**
 * A dial, listen or send that failed. `code` says what a caller can do about it:
 * - TRANSPORT_CLOSED: the connection is closed; open a new one.
 * - TRANSPORT_UNREACHABLE: nothing answered at the address (refused, no route, partitioned, timed
 *   out); retry later with backoff.
 * - TRANSPORT_HANDSHAKE_FAILED: something answered but refused the connection (HTTP status, TLS
 *   certificate); fix the configuration or credentials rather than retrying at once.
 * - TRANSPORT_ADDRESS_IN_USE: another listener holds the address; pick another or stop it.
 * - TRANSPORT_INVALID_URL: the address cannot be parsed or used by this transport.
 * - TRANSPORT_ABORTED: the caller's AbortSignal fired.
 */
export class TransportError extends DriftlessError {
  override name = 'TransportError';
  declare readonly code: TransportErrorCode;
  /** The HTTP status of a refused WebSocket upgrade (TRANSPORT_HANDSHAKE_FAILED), when there was one. */
  readonly status: number | undefined;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}

/** Narrows an unknown thrown value to a TransportError, optionally with the given code. */
export function isTransportError(error: unknown, code?: TransportErrorCode): error is TransportError {
  return error instanceof TransportError && (code === undefined || error.code === code);
}
