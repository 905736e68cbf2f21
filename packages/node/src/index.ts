/**
 * @driftless/node: a running Driftless node (replica, replication and client API on one port),
 * for Node. See docs/API.md for the HTTP and WebSocket API.
 */
export { apiUrlOf, PEER_PATH, parseListen, peerDialUrl } from './addresses.js';
export { decodeToken, encodeToken, MAX_TOKEN_LENGTH } from './causal-token.js';
export type { ChangeMessage } from './change-feed.js';
export { FEED_CLOSE_CODES, type FeedCloseCode } from './close-codes.js';
export { type AckRequest, MAX_LIST_LIMIT, type WriteOutcome } from './data-routes.js';
export { API_ERRORS, ApiError, type ApiErrorCode } from './errors.js';
export { FEED_PATH } from './feed-endpoint.js';
export { createLogger, eventLogger, type Logger, type LoggerOptions, logNodeEvent } from './logger.js';
export {
  type MetricsOptions,
  type MetricsStatus,
  mountMetrics,
  type NodeMetrics,
  WRITE_SECONDS_BUCKETS,
} from './metrics.js';
export {
  DriftlessNode,
  type NodeEvent,
  type NodeOptions,
  type NodeStatus,
  type RawRouteHandler,
  type WritableNode,
} from './node.js';
