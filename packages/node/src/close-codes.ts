/**
 * Every close code the change feed (`/v1/changes`) sends its clients, in one table. Standard codes
 * keep their RFC 6455 meaning; the feed's own start at 4100, apart from the peer protocol's
 * (4001–4099, in @driftless/sync). A code never changes meaning once released.
 */
export const FEED_CLOSE_CODES = {
  /** The node is shutting down: reconnect (to it or any node) with the last token received. */
  GOING_AWAY: 1001,
  /** A bug on the node; reconnect with the last token received. */
  INTERNAL_ERROR: 1011,
  /**
   * This node's log no longer holds every change after the token (it was truncated, or a state
   * from a peer replaced ops): read the collection again (GET /v1/c/:collection) and resume the
   * feed from the token that read returns.
   */
  RESYNC_REQUIRED: 4100,
  /** The client read too slowly and the node stopped buffering for it: reconnect with the last token. */
  TOO_SLOW: 4101,
} as const;

/** A close code from FEED_CLOSE_CODES. */
export type FeedCloseCode = (typeof FEED_CLOSE_CODES)[keyof typeof FEED_CLOSE_CODES];
