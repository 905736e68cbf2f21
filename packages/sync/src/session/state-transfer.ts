/**
 * State transfers within a session: a compacted delta or a whole snapshot, sent in resumable,
 * backpressured chunks (see docs/PROTOCOL.md › State transfer).
 *
 *   sender                                   receiver
 *   STATE_BEGIN(id, kind, size, sha256, v) ─▶ keeps a partial transfer of the same state, if any
 *                                          ◀─ STATE_RESUME(id, offset)
 *   STATE_CHUNK(id, offset, bytes) …       ─▶ in order, within the announced size
 *   STATE_END(id)                          ─▶ checks size and hash; the session installs the state
 *
 * Transfers interrupted by a closed connection survive in the node's StateTransfers, so the next
 * session resumes where the last one stopped: the sender reuses the same bytes (same hash), the
 * receiver keeps the chunks it has.
 */
import type { VersionVector } from '@driftless/core';
import { sha256 } from '@noble/hashes/sha2.js';
import { CLOSE_CODES } from '../close-codes.js';
import { sameProof } from '../protocol/auth.js';
import type { Message, StateKind } from '../protocol/messages.js';
import type { StateBlob, SyncReplica } from '../replica.js';

/** Interrupted state transfers, by peer node id, kept by the node across sessions. */
export interface StateTransfers {
  readonly outgoing: Map<
    string,
    { readonly since: VersionVector; readonly blob: StateBlob; readonly sha256: Uint8Array }
  >;
  readonly incoming: Map<string, IncomingState>;
}

/** A state being received: its announced size and hash, and the chunks so far. */
export interface IncomingState {
  readonly sha256: Uint8Array;
  readonly totalBytes: number;
  readonly kind: StateKind;
  readonly chunks: Uint8Array[];
  received: number;
}

/** What a transfer needs of its session. */
export interface TransferLink {
  /** The peer's node id (the session is established). */
  readonly peerId: string;
  readonly transfers: StateTransfers;
  readonly replica: SyncReplica;
  readonly chunkBytes: number;
  /**
   * How long the peer may take to answer STATE_BEGIN with STATE_RESUME before the session closes
   * with TIMEOUT. A peer answers as soon as it reads STATE_BEGIN, so only a broken peer, or one
   * that stopped reading (whose heartbeats may still arrive), takes that long.
   */
  readonly answerTimeoutMs: number;
  /** False once the session is no longer established: a transfer stops there. */
  established(): boolean;
  /** Sends a message; false when the transport asks to wait for a drain. */
  send(message: Message): boolean;
  /** Resolves when the transport drained (or the session closed). */
  drained(): Promise<void>;
  close(code: number, reason: string): void;
}

/** Interrupted incoming transfers kept for resumption, across peers. */
const MAX_PARTIAL_TRANSFERS = 4;

/** What a completed outgoing transfer sent. */
export interface SentState {
  readonly vector: VersionVector;
  /** Bytes sent by this session (a resumed transfer sends only the rest). */
  readonly bytes: number;
}

/** The sending end of state transfers on one session. */
export class StateSender {
  readonly #link: TransferLink;
  #lastId = 0;
  #resumeWaiter: { readonly id: number; readonly resolve: (offset: number | undefined) => void } | undefined;

  constructor(link: TransferLink) {
    this.#link = link;
  }

  /**
   * Sends a state for a peer at `since`: STATE_BEGIN, wait for STATE_RESUME (closing the session
   * with TIMEOUT after answerTimeoutMs), the chunks from the offset asked for, STATE_END.
   * Undefined when there is nothing worth sending (no consistent delta, or a delta no smaller than
   * half its ops) or the session ended first.
   */
  async send(kind: StateKind, since: VersionVector): Promise<SentState | undefined> {
    const link = this.#link;
    const cached = link.transfers.outgoing.get(link.peerId);
    let blob: StateBlob | undefined;
    let hash: Uint8Array;
    if (cached?.since.equals(since) && cached.blob.kind === kind) {
      blob = cached.blob;
      hash = cached.sha256;
    } else {
      blob = await link.replica.stateFor(since, kind);
      if (!blob || (kind === 'delta' && blob.bytes.length * 2 > blob.opsBytes)) return undefined;
      hash = sha256(blob.bytes);
      link.transfers.outgoing.set(link.peerId, { since, blob, sha256: hash });
    }
    if (!link.established()) return undefined;
    this.#lastId = (this.#lastId + 1) >>> 0;
    const id = this.#lastId;
    const resumed = new Promise<number | undefined>((resolve) => {
      this.#resumeWaiter = { id, resolve };
    });
    // Without a limit, a peer that reads STATE_BEGIN and never answers (heartbeats keep its
    // connection up) would hold this session's sending for as long as the connection lasts.
    const timer = setTimeout(() => {
      if (this.#resumeWaiter?.id !== id) return;
      this.stop();
      link.close(CLOSE_CODES.TIMEOUT, `no STATE_RESUME within ${link.answerTimeoutMs} ms of STATE_BEGIN`);
    }, link.answerTimeoutMs);
    link.send({
      type: 'state-begin',
      id,
      kind: blob.kind,
      totalBytes: blob.bytes.length,
      sha256: hash,
      vector: blob.vector,
    });
    const offset = await resumed;
    clearTimeout(timer);
    if (offset === undefined || !link.established()) return undefined;
    for (let at = offset; at < blob.bytes.length; at += link.chunkBytes) {
      const bytes = blob.bytes.subarray(at, at + link.chunkBytes);
      if (!link.send({ type: 'state-chunk', id, offset: at, bytes })) await link.drained();
      if (!link.established()) return undefined;
    }
    link.send({ type: 'state-end', id });
    link.transfers.outgoing.delete(link.peerId);
    return { vector: blob.vector, bytes: blob.bytes.length - offset };
  }

  /** The peer's STATE_RESUME: where to start the transfer it answers. */
  resume(message: Extract<Message, { type: 'state-resume' }>): void {
    if (this.#resumeWaiter?.id !== message.id) return;
    this.#resumeWaiter.resolve(message.offset);
    this.#resumeWaiter = undefined;
  }

  /** The session ended: a transfer waiting for STATE_RESUME stops. */
  stop(): void {
    this.#resumeWaiter?.resolve(undefined);
    this.#resumeWaiter = undefined;
  }
}

/** The receiving end of state transfers on one session. */
export class StateReceiver {
  readonly #link: TransferLink;
  #incomingId: number | undefined;

  constructor(link: TransferLink) {
    this.#link = link;
  }

  /**
   * An OPS frame arrived: true, having closed the session with OUT_OF_ORDER, when a state transfer
   * began on this session and has not ended. The sender sends no OPS frame in between (ops sent
   * after a state may build on it), so one arriving there overtook the state.
   */
  opsOutOfTurn(): boolean {
    if (this.#incomingId === undefined) return false;
    this.#link.close(CLOSE_CODES.OUT_OF_ORDER, 'an OPS frame arrived during a state transfer');
    return true;
  }

  /** STATE_BEGIN: resumes a partial transfer of the same state, or starts anew; answers STATE_RESUME. */
  begin(message: Extract<Message, { type: 'state-begin' }>): void {
    const { transfers, peerId } = this.#link;
    const partial = transfers.incoming.get(peerId);
    const same =
      partial !== undefined &&
      partial.totalBytes === message.totalBytes &&
      sameProof(partial.sha256, message.sha256);
    const incoming: IncomingState = same
      ? partial
      : {
          sha256: message.sha256,
          totalBytes: message.totalBytes,
          kind: message.kind,
          chunks: [],
          received: 0,
        };
    transfers.incoming.delete(peerId);
    transfers.incoming.set(peerId, incoming);
    // Keep the partial transfers of a few peers only, the most recent: each may be large.
    for (const stale of transfers.incoming.keys()) {
      if (transfers.incoming.size <= MAX_PARTIAL_TRANSFERS) break;
      transfers.incoming.delete(stale);
    }
    this.#incomingId = message.id;
    this.#link.send({ type: 'state-resume', id: message.id, offset: incoming.received });
  }

  /** STATE_CHUNK: the next bytes, in order and within the announced size, or the session closes. */
  chunk(message: Extract<Message, { type: 'state-chunk' }>): void {
    const incoming = this.#link.transfers.incoming.get(this.#link.peerId);
    if (!incoming || message.id !== this.#incomingId || message.offset !== incoming.received) {
      this.#link.close(CLOSE_CODES.BAD_FRAME, 'STATE_CHUNK out of turn');
      return;
    }
    if (incoming.received + message.bytes.length > incoming.totalBytes) {
      this.#link.close(CLOSE_CODES.BAD_FRAME, 'STATE_CHUNK beyond the announced size');
      return;
    }
    incoming.chunks.push(message.bytes);
    incoming.received += message.bytes.length;
  }

  /**
   * STATE_END: the whole state, once every byte arrived and the hash matches (the session installs
   * it); undefined after closing the session otherwise.
   */
  end(message: Extract<Message, { type: 'state-end' }>): Uint8Array | undefined {
    const { transfers, peerId } = this.#link;
    const incoming = transfers.incoming.get(peerId);
    if (!incoming || message.id !== this.#incomingId || incoming.received !== incoming.totalBytes) {
      this.#link.close(CLOSE_CODES.BAD_FRAME, 'STATE_END before the whole state arrived');
      return undefined;
    }
    transfers.incoming.delete(peerId);
    this.#incomingId = undefined;
    const bytes = concat(incoming.chunks, incoming.totalBytes);
    if (!sameProof(sha256(bytes), incoming.sha256)) {
      this.#link.close(CLOSE_CODES.BAD_FRAME, 'the state does not match its announced SHA-256');
      return undefined;
    }
    return bytes;
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}
