/**
 * The change feed endpoint, `GET /v1/changes?collection=&since=<token>` (a WebSocket upgrade on the
 * API's port). The query is checked before the upgrade: a bad one is answered with an HTTP error
 * and no socket is opened. Each accepted client gets a ChangeFeed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isCollectionName, VersionVector } from '@driftless/core';
import type { ReplicaStore } from '@driftless/crdt';
import { WebSocketServer } from 'ws';
import { decodeToken } from './causal-token.js';
import { ChangeFeed } from './change-feed.js';
import { FEED_CLOSE_CODES } from './close-codes.js';
import { ApiError } from './errors.js';
import { refuseUpgrade } from './http-reply.js';
import type { NodeEvent } from './node-options.js';

/** The path of the change feed. */
export const FEED_PATH = '/v1/changes';
/** A live feed whose client leaves more than this unread is closed (TOO_SLOW). */
const MAX_FEED_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Commits buffered while a feed catches up before it gives up (TOO_SLOW). */
const MAX_PENDING_COMMITS = 100_000;
/** Feeds are pinged this often; one that misses a ping's answer until the next is dropped. */
export const FEED_HEARTBEAT_MS = 30_000;

/** The feeds of one node; see the module comment. */
export class FeedEndpoint {
  readonly #replica: ReplicaStore;
  readonly #emit: (event: NodeEvent) => void;
  readonly #server = new WebSocketServer({
    noServer: true,
    maxPayload: 4096,
    perMessageDeflate: false,
    clientTracking: false,
  });
  readonly #feeds = new Set<ChangeFeed>();
  #closing = false;

  readonly #heartbeat: ReturnType<typeof setInterval>;

  constructor(replica: ReplicaStore, emit: (event: NodeEvent) => void) {
    this.#replica = replica;
    this.#emit = emit;
    this.#heartbeat = setInterval(() => {
      for (const feed of this.#feeds) feed.heartbeat();
    }, FEED_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Feeds open now. */
  get size(): number {
    return this.#feeds.size;
  }

  /** Accepts (or refuses) an upgrade request for FEED_PATH. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    if (this.#closing) {
      const error = new ApiError('SHUTTING_DOWN', 'the node is shutting down: connect to another node');
      refuseUpgrade(socket, error.status, error.toJSON());
      return;
    }
    let collection: string | undefined;
    let since: VersionVector;
    try {
      ({ collection, since } = feedQuery(query));
    } catch (error) {
      const apiError = error as ApiError;
      refuseUpgrade(socket, apiError.status, apiError.toJSON());
      return;
    }
    socket.on('error', () => socket.destroy());
    this.#server.handleUpgrade(request, socket, head, (ws) => {
      const feed = new ChangeFeed({
        replica: this.#replica,
        socket: ws,
        collection,
        since,
        maxBufferedBytes: MAX_FEED_BUFFERED_BYTES,
        maxPendingCommits: MAX_PENDING_COMMITS,
        onError: (cause) => this.#emit({ type: 'error', where: 'change feed', error: cause }),
      });
      this.#feeds.add(feed);
      this.#emit({ type: 'feed', state: 'opened', collection });
      ws.once('close', (code) => {
        this.#feeds.delete(feed);
        this.#emit({ type: 'feed', state: 'closed', collection, code });
      });
      if (this.#closing) feed.close(FEED_CLOSE_CODES.GOING_AWAY, 'the node is shutting down');
    });
  }

  /**
   * Closes every feed (GOING_AWAY) and resolves once none reads the log and every socket is closed;
   * clients that do not answer the close within `graceMs` are dropped.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const feeds = [...this.#feeds];
    for (const feed of feeds) {
      feed.close(FEED_CLOSE_CODES.GOING_AWAY, 'the node is shutting down: reconnect with your last token');
    }
    const grace = setTimeout(() => {
      for (const feed of feeds) feed.terminate();
    }, graceMs);
    await Promise.all(feeds.map((feed) => Promise.all([feed.done, feed.socketClosed])));
    clearTimeout(grace);
    this.#server.close();
  }
}

function feedQuery(query: URLSearchParams): { collection: string | undefined; since: VersionVector } {
  const collection = query.get('collection') ?? undefined;
  if (collection !== undefined && !isCollectionName(collection)) {
    throw new ApiError('INVALID_QUERY', `invalid collection ${JSON.stringify(collection)}`);
  }
  const since = query.get('since');
  return { collection, since: since === null ? VersionVector.EMPTY : decodeToken(since) };
}
