/**
 * One client's change feed (`GET /v1/changes`, a WebSocket): every change this node applies after a
 * causal token, then live, as JSON text messages. It is a reader of the op log, in log order:
 *
 *   catching-up ──(log read to its end, buffered live changes replayed)──▶ live ──▶ closed
 *        └──────────────(log truncated, client too slow, node closing)─────────────▶ closed
 *
 * It subscribes to the replica's durable changes before it reads the log, buffers them while it
 * catches up, and then replays them, skipping what the log read already sent; a running vector
 * (the ops sent or skipped, in log order) tells which. Each message carries that vector as its
 * token, so reconnecting with any message's token resumes right after that message, on this node or
 * any other: nothing is missed, and nothing is sent twice.
 *
 * A message's value is what the key reads when the message is sent, which may already include
 * changes that later messages announce, and (unlike a read's answer, see causal-reads.ts) writes
 * whose commit is still under way: their op and token are never sent before they are durable.
 */
import { isDriftlessError, type Op, type VersionVector } from '@driftless/core';
import { type DurableChanges, decodeMutation, type ReplicaStore } from '@driftless/crdt';
import type { WebSocket } from 'ws';
import { encodeToken } from './causal-token.js';
import { FEED_CLOSE_CODES, type FeedCloseCode } from './close-codes.js';
import { readJson } from './json-value.js';

/** How to run one feed. */
export interface ChangeFeedOptions {
  readonly replica: ReplicaStore;
  readonly socket: WebSocket;
  /** Only this collection's changes (all collections when undefined). */
  readonly collection: string | undefined;
  /** Send every change after this vector. */
  readonly since: VersionVector;
  /** A live feed whose client leaves more than this unread is closed with TOO_SLOW. */
  readonly maxBufferedBytes: number;
  /** Durable commits buffered while catching up before the feed gives up with TOO_SLOW. */
  readonly maxPendingCommits: number;
  /** Called with an error the feed did not expect (it closes with INTERNAL_ERROR). */
  readonly onError: (error: unknown) => void;
}

/** One message of the feed. */
export interface ChangeMessage {
  readonly collection: string;
  readonly key: string;
  /** The write's kind (set, mvset, patch, incr, add, remove, yjs, del), or `state` for a state from a peer. */
  readonly kind: string;
  /** The op's dot; absent for `state`. */
  readonly op?: { readonly origin: string; readonly seq: number };
  /** What the key reads now: absent when it reads as absent. */
  readonly type?: string;
  readonly value?: unknown;
  readonly siblings?: unknown[];
  /** Reconnect with this token to resume right after this message. */
  readonly token: string;
}

/** The feed of one WebSocket client; see the module comment. */
export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  readonly #socket: WebSocket;
  #vector: VersionVector;
  /** Durable commits that arrived while catching up; undefined once live. */
  #pending: DurableChanges[] | undefined = [];
  #closed = false;
  #drainWaiter: (() => void) | undefined;
  /** Whether the client answered the last ping. */
  #alive = true;
  readonly #unsubscribe: () => void;
  readonly #afterWrite = () => {
    if (this.#drainWaiter && this.#socket.bufferedAmount <= this.#options.maxBufferedBytes / 4) {
      this.#drainWaiter();
    }
  };
  /** Resolves once the feed has stopped reading the log (before the node closes its store). */
  readonly done: Promise<void>;
  /** Resolves once the WebSocket is closed. */
  readonly socketClosed: Promise<void>;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
    this.#socket = options.socket;
    this.#vector = options.since;
    this.#unsubscribe = options.replica.onChanges((changes) => this.#onChanges(changes));
    this.socketClosed = new Promise((resolve) => {
      this.#socket.on('close', () => {
        this.#stop();
        resolve();
      });
    });
    this.#socket.on('error', () => this.#socket.terminate());
    // Clients have nothing to say; the server's small maxPayload bounds what they may send anyway.
    this.#socket.on('message', () => {});
    this.#socket.on('pong', () => {
      this.#alive = true;
    });
    this.done = this.#catchUp();
  }

  /** Whether the feed has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends the feed with a close code from FEED_CLOSE_CODES and a reason. */
  close(code: FeedCloseCode, reason: string): void {
    if (this.#closed) return;
    this.#stop();
    this.#socket.close(code, reason);
  }

  /** Pings the client; drops a client that did not answer the previous ping (a dead connection). */
  heartbeat(): void {
    if (this.#closed) return;
    if (!this.#alive) {
      this.terminate();
      return;
    }
    this.#alive = false;
    this.#socket.ping();
  }

  /** Drops the connection at once (after a close the client did not answer). */
  terminate(): void {
    this.#stop();
    this.#socket.terminate();
  }

  async #catchUp(): Promise<void> {
    try {
      for await (const chunk of this.#options.replica.log.readSince(this.#vector)) {
        for (const op of chunk.ops) this.#sendOp(op);
        if (this.#closed) return;
        if (this.#socket.bufferedAmount > this.#options.maxBufferedBytes / 2) {
          await new Promise<void>((resolve) => {
            this.#drainWaiter = resolve;
          });
          this.#drainWaiter = undefined;
        }
        if (this.#closed) return;
      }
    } catch (error) {
      if (this.#closed) return;
      if (isDriftlessError(error, 'LOG_TRUNCATED')) {
        this.close(
          FEED_CLOSE_CODES.RESYNC_REQUIRED,
          'changes after this token are no longer in the log: re-read, then resume from its token',
        );
      } else {
        this.#options.onError(error);
        this.close(FEED_CLOSE_CODES.INTERNAL_ERROR, 'the feed failed: reconnect with the last token');
      }
      return;
    }
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    for (const changes of pending) {
      if (this.#closed) return;
      this.#apply(changes);
    }
  }

  #onChanges(changes: DurableChanges): void {
    if (this.#closed) return;
    if (this.#pending !== undefined) {
      this.#pending.push(changes);
      if (this.#pending.length > this.#options.maxPendingCommits) {
        this.close(FEED_CLOSE_CODES.TOO_SLOW, 'catching up too slowly: reconnect with the last token');
      }
      return;
    }
    if (this.#socket.bufferedAmount > this.#options.maxBufferedBytes) {
      this.close(FEED_CLOSE_CODES.TOO_SLOW, 'the client reads too slowly: reconnect with the last token');
      return;
    }
    this.#apply(changes);
  }

  #apply(changes: DurableChanges): void {
    if (changes.type === 'ops') {
      for (const { op } of changes.changes) this.#sendOp(op);
      return;
    }
    // A state from a peer: its keys, then the vector of the ops it brought. Every message but the
    // last carries the vector before it, so a client that drops out midway asks again for all of it.
    const before = this.#vector;
    this.#vector = before.merge(changes.vector);
    const filter = this.#options.collection;
    const keys = changes.keys.filter(({ collection }) => filter === undefined || collection === filter);
    keys.forEach(({ collection, key }, i) => {
      const token = i === keys.length - 1 ? this.#vector : before;
      this.#send(this.#message(collection, key, 'state', undefined, token));
    });
  }

  #sendOp(op: Op): void {
    if (this.#closed) return;
    const have = this.#vector.get(op.origin);
    if (op.seq <= have) return;
    if (op.seq !== have + 1) {
      // Cannot happen while the log and installs are reported in order; refuse to guess.
      this.close(
        FEED_CLOSE_CODES.RESYNC_REQUIRED,
        `the feed lost track of ${op.origin} (${have + 1} is missing): re-read, then resume`,
      );
      return;
    }
    this.#vector = this.#vector.with(op.origin, op.seq);
    const filter = this.#options.collection;
    if (filter !== undefined && op.collection !== filter) return;
    const kind = kindOf(op);
    // An op whose mutation this node cannot read changed nothing: it only moves the token on.
    if (kind === undefined) return;
    this.#send(this.#message(op.collection, op.key, kind, op, this.#vector));
  }

  #message(
    collection: string,
    key: string,
    kind: string,
    op: Op | undefined,
    token: VersionVector,
  ): ChangeMessage {
    const read = this.#options.replica.state.get(collection, key);
    return {
      collection,
      key,
      kind,
      ...(op === undefined ? {} : { op: { origin: op.origin, seq: op.seq } }),
      ...(read === undefined ? {} : readJson(read)),
      token: encodeToken(token),
    };
  }

  #send(message: ChangeMessage): void {
    if (this.#closed || this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify(message), this.#afterWrite);
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = undefined;
    this.#unsubscribe();
    this.#drainWaiter?.();
  }
}

function kindOf(op: Op): string | undefined {
  try {
    return decodeMutation(op.mutation).kind;
  } catch {
    return undefined;
  }
}
