/**
 * Structured logs: one JSON object per line (pino), with the node id on every line, written
 * synchronously so nothing is lost on a crash or a signal. `driftless start` logs to stderr,
 * keeping stdout for what the command itself prints.
 */
import type { ReplicatorEvent } from '@driftless/sync';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';
import type { NodeEvent } from './node-options.js';

/** A pino logger. */
export type { Logger } from 'pino';

/** Options of createLogger. */
export interface LoggerOptions {
  /** Default `info`; `silent` logs nothing. */
  readonly level?: Level | 'silent';
  /** Bound to every line as `node`. */
  readonly nodeId?: string;
  /** A file descriptor (default 2, stderr) or a stream. */
  readonly destination?: number | DestinationStream;
}

/** A JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination =
    typeof options.destination === 'object'
      ? options.destination
      : pino.destination({ fd: options.destination ?? 2, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: options.nodeId !== undefined ? { node: options.nodeId } : {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * Logs one NodeEvent. Levels: peers coming and going and role changes are `info`; a failed dial
 * and a write that missed its ack target are `warn`; answered requests, writes and change feeds
 * are `debug` (one line per request is too many for production); a server error (5xx) is `warn`,
 * and an unexpected failure (`error`) is `error`.
 */
export function logNodeEvent(logger: Logger, event: NodeEvent): void {
  switch (event.type) {
    case 'listening':
      logger.info({ event: 'listening', url: event.url, peerUrl: event.peerUrl }, 'listening');
      return;
    case 'request': {
      const fields = {
        event: 'request',
        method: event.method,
        route: event.route,
        path: event.path,
        status: event.status,
        durationMs: Math.round(event.durationMs * 1000) / 1000,
      };
      if (event.status >= 500) logger.warn(fields, `${event.method} ${event.path} answered ${event.status}`);
      else logger.debug(fields, 'request');
      return;
    }
    case 'write': {
      const fields = {
        event: 'write',
        collection: event.collection,
        key: event.key,
        kind: event.kind,
        op: event.op,
        ack: event.ack,
        durable: event.outcome.durable,
        acked: event.outcome.acked,
      };
      if (event.outcome.ackTimedOut) {
        logger.warn(fields, `write ${event.op.origin}:${event.op.seq} missed its ack target (${event.ack})`);
      } else logger.debug(fields, 'write');
      return;
    }
    case 'peer':
      logPeerEvent(logger, event.event);
      return;
    case 'role':
      logger.info(
        { event: 'role', role: event.role, previous: event.previous },
        `role changed from ${event.previous} to ${event.role}`,
      );
      return;
    case 'feed':
      logger.debug(
        { event: 'feed', state: event.state, collection: event.collection, code: event.code },
        `change feed ${event.state}`,
      );
      return;
    case 'error':
      logger.error(
        { event: 'error', where: event.where, error: errorFields(event.error) },
        'unexpected failure',
      );
      return;
    case 'closed':
      logger.info({ event: 'closed' }, 'store closed');
      return;
    default:
      logger.info({ event: (event as { type: string }).type }, 'event');
  }
}

function logPeerEvent(logger: Logger, event: ReplicatorEvent): void {
  switch (event.type) {
    case 'connected':
      logger.info(
        { event: 'peer-connected', peer: event.peer, outbound: event.outbound },
        `peer ${event.peer} connected`,
      );
      return;
    case 'disconnected':
      logger.info(
        {
          event: 'peer-disconnected',
          peer: event.peer,
          code: event.code,
          reason: event.reason,
          ...(event.retryInMs === undefined ? {} : { retryInMs: event.retryInMs }),
        },
        `peer ${event.peer} disconnected`,
      );
      return;
    case 'dial-failed':
      logger.warn(
        { event: 'dial-failed', url: event.url, reason: event.message, retryInMs: event.retryInMs },
        `cannot reach ${event.url}; retrying`,
      );
      return;
    case 'collected':
      logger.info(
        { event: 'tombstones-collected', keys: event.keys, stable: event.stable.toJSON() },
        `collected ${event.keys} deleted keys every member holds`,
      );
      return;
    case 'collect-failed':
      logger.error({ event: 'collect-failed', reason: event.message }, 'tombstone collection failed');
      return;
    case 'rewound':
      logger.error(
        {
          event: 'origin-rewound',
          peer: event.peer,
          held: event.held,
          own: event.own,
          ...(event.conflict === undefined ? {} : { conflict: event.conflict }),
        },
        `${
          event.conflict === undefined
            ? `peer ${event.peer} holds this node's own ops up to seq ${event.held}, its log only to ${event.own}`
            : `peer ${event.peer} holds another op at seq ${event.conflict} of this node's own than its log does`
        }: its data was lost or restored from an older backup, so it refuses writes ` +
          '(restore its latest data, or start it afresh under a new node id)',
      );
      return;
    default:
      logger.info({ event: `peer-${(event as { type: string }).type}` }, 'peer event');
  }
}

/** An `onEvent` handler that logs every event. */
export function eventLogger(logger: Logger): (event: NodeEvent) => void {
  return (event) => logNodeEvent(logger, event);
}

/** An error as log fields: its name, code, message and stack. */
function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return {
    name: error.name,
    code: (error as { code?: unknown }).code,
    message: error.message,
    stack: error.stack,
  };
}
