/**
 * The errors the HTTP API answers with: one class, a closed list of stable codes, each with its
 * HTTP status. Every error body is `{ "error": { "code": "…", "message": "…" } }`; the message
 * says what happened and what to do. Codes never change meaning once released: add new ones.
 */
import { DriftlessError } from '@driftless/core';

/** Every code the API answers with, and its HTTP status. */
export const API_ERRORS = {
  /** The body is not JSON (or not UTF-8, or empty where a value is due). */
  INVALID_JSON: 400,
  /** The JSON is well formed but not a value this write takes (wrong shape, too deep, not finite, …). */
  INVALID_VALUE: 400,
  /** The collection name in the path is not valid. */
  INVALID_COLLECTION: 400,
  /** The key in the path is not valid (empty, too long, bad percent-encoding). */
  INVALID_KEY: 400,
  /** A query parameter (ack, limit, prefix, cursor, collection, …) is not valid. */
  INVALID_QUERY: 400,
  /** A causal token (after=, since=) is not one this API issued. */
  INVALID_TOKEN: 400,
  /** /v1/admin/* without the right `Authorization: Bearer <cluster secret>`. */
  UNAUTHORIZED: 401,
  /** This node is a read-only replica: write to one of the writable nodes the error names. */
  REPLICA_READ_ONLY: 403,
  /** The key reads as absent. */
  NOT_FOUND: 404,
  /** DELETE /v1/admin/slots/:node: this node keeps no log slot for that peer. */
  SLOT_NOT_FOUND: 404,
  /** No route at this path. */
  ROUTE_NOT_FOUND: 404,
  /** The path exists, the method does not (the Allow header lists those that do). */
  METHOD_NOT_ALLOWED: 405,
  /** The key holds a value of another type than this write makes (delete it first). */
  TYPE_CONFLICT: 409,
  /** A Yjs update builds on document state this node does not hold: sync the Y.Doc with the key first. */
  YJS_MISSING_DEPENDENCY: 409,
  /**
   * A peer holds ops of this node's own origin that its log lacks (its data was lost, or restored
   * from an older backup): a write would reuse their seqs, so the node refuses writes until it
   * restarts (and again once a peer shows it).
   */
  ORIGIN_REWOUND: 409,
  /** The body is larger than the node's maxBodyBytes; it was not read past the limit. */
  BODY_TOO_LARGE: 413,
  /** The change feed is a WebSocket: send an upgrade request. */
  UPGRADE_REQUIRED: 426,
  /** A bug: the node hit something it did not expect. The request may be retried. */
  INTERNAL: 500,
  /** The node's storage failed; it refuses writes until it is restarted. */
  STORAGE_FAILED: 503,
  /** The node is shutting down: retry on another node, or once it is back. */
  SHUTTING_DOWN: 503,
  /** `after=<token>`: this node did not apply everything in the token within readTimeoutMs. */
  READ_TIMEOUT: 504,
} as const;

/** A stable API error code. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** An error answered to an API client; see API_ERRORS. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  /** More fields for the error body, e.g. the writable nodes of REPLICA_READ_ONLY. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Readonly<Record<string, unknown>> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return API_ERRORS[this.code];
  }

  /** The error body. */
  toJSON(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

/**
 * The API error for anything a request handler threw: ApiErrors as they are, Driftless errors by
 * their code, anything else INTERNAL.
 */
export function apiErrorOf(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (!(error instanceof DriftlessError)) {
    return new ApiError('INTERNAL', `internal error: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  }
  switch (error.code) {
    case 'TYPE_CONFLICT':
    case 'YJS_MISSING_DEPENDENCY':
    case 'ORIGIN_REWOUND':
      return new ApiError(error.code, error.message, { cause: error });
    case 'INVALID_ARGUMENT':
    case 'MUTATION_INVALID':
    case 'OP_INVALID':
    case 'PROTOCOL_MALFORMED':
    case 'PROTOCOL_LIMIT_EXCEEDED':
    case 'PROTOCOL_FRAME_TOO_LARGE':
    case 'PROTOCOL_UNSUPPORTED_TYPE':
      return new ApiError('INVALID_VALUE', error.message, { cause: error });
    case 'STORE_CLOSED':
      return new ApiError('SHUTTING_DOWN', 'the node is shutting down: retry on another node', {
        cause: error,
      });
    case 'LOG_FAILED':
    case 'STORE_WRITE_FAILED':
    case 'STORE_CORRUPT':
      return new ApiError(
        'STORAGE_FAILED',
        `${error.message} (the node refuses writes until it is restarted; reads still work)`,
        { cause: error },
      );
    default:
      return new ApiError('INTERNAL', `internal error (${error.code}): ${error.message}`, { cause: error });
  }
}
