/**
 * What an established session sends its peer: every op it lacks, in this node's log order, which
 * keeps causal order through relays (see docs/PROTOCOL.md › Streaming).
 *
 *    catching-up ──read the log to its end──▶ live ──backpressure──▶ blocked ──drain──▶ catching-up
 *         ▲                                     │
 *         └──────── an entry it cannot follow ──┘
 *
 * catching-up reads the durable log from what the peer has; live sends each new durable entry
 * as it lands (a frame per turn of the event loop, so one op under light load leaves at once and
 * ops under load coalesce); blocked waits for the transport to drain, then catches up from the
 * log, so a slow peer costs the transport's bounded buffer and nothing more. When the log cannot
 * serve the peer, or a compacted delta costs far less than the ops, a state goes instead.
 *
 * The batches and OPS frame numbering are in op-stream.ts, the state transfers in state-transfer.ts.
 */
import { DriftlessError, type LogChunk, type VersionVector } from '@driftless/core';
import { CLOSE_CODES } from '../close-codes.js';
import type { StateKind } from '../protocol/messages.js';
import type { SyncReplica } from '../replica.js';
import type { OpStream } from './op-stream.js';
import type { SentState } from './state-transfer.js';

/**
 * A catch-up sends a log entry whole (its stored bytes as one frame) only when it holds this many
 * ops; smaller ones go op by op through the batch, which fills frames. A log written under light
 * load holds an entry for every op or few, and a frame each made the peer commit each alone: a
 * 5 s partition at 500 writes/s a node took 1.4–1.8 s to heal (`npm run bench -- --scenario
 * partition`), frame by frame. Live sending keeps every entry whole: one op under light load
 * leaves at once.
 */
const CATCH_UP_WHOLE_MIN_OPS = 64;

/** How an established session is sending. */
export type StreamMode = 'catching-up' | 'live' | 'blocked';

/** What the log sender needs of its session. */
export interface LogSenderLink {
  readonly replica: SyncReplica;
  /** What the peer has or has been sent, and the ops on their way to it. */
  readonly stream: OpStream;
  /** A catch-up of at least this many ops considers sending a compacted delta instead. */
  readonly deltaMinOps: number;
  /** The session's counters of the states it sent. */
  readonly stats: { statesSent: number; stateBytesSent: number };
  /** False once the session is no longer established: sending stops there. */
  established(): boolean;
  /** Resolves when the transport drained (or the session closed). */
  drained(): Promise<void>;
  /** Sends a state for a peer at `since` (see StateSender.send). */
  sendState(kind: StateKind, since: VersionVector): Promise<SentState | undefined>;
  close(code: number, reason: string): void;
}

/** Sends one session's peer the ops it lacks, from the log and as they land. */
export class LogSender {
  readonly #link: LogSenderLink;
  #mode: StreamMode = 'catching-up';
  #catchingUp = false;
  #catchUpAgain = false;
  /** How far behind the peer was when a delta last was not worth sending (0: none since). */
  #deltaRefusedAt = 0;
  #lastAppendLsn = 0;

  constructor(link: LogSenderLink) {
    this.#link = link;
  }

  /** How the session is sending. */
  get mode(): StreamMode {
    return this.#mode;
  }

  /** A new durable log entry: sent at once when live. */
  append(chunk: LogChunk): void {
    const stream = this.#link.stream;
    this.#lastAppendLsn = chunk.lsn;
    if (this.#mode !== 'live' || !this.#link.established()) return;
    const whole = stream.wholeEntry(chunk);
    if (whole !== undefined) {
      if (!stream.sendWhole(chunk.ops, whole)) this.block();
      return;
    }
    for (const op of chunk.ops) {
      const has = stream.seq(op.origin);
      if (op.seq <= has) continue;
      if (op.seq !== has + 1) {
        // The peer lacks something this entry builds on: read it from the log in order.
        void this.catchUp();
        return;
      }
      if (!stream.queue(op)) {
        this.block();
        return;
      }
    }
    stream.scheduleFlush();
  }

  /**
   * A state is being installed here: the log will hold ops whose past it lacks, so sending each new
   * entry as it lands is no longer enough. Catch up again, which sends this peer a state when the
   * log cannot serve it.
   */
  install(): void {
    if (!this.#link.established()) return;
    if (this.#mode === 'live') void this.catchUp();
    else this.#catchUpAgain = true;
  }

  /** The transport asked to wait: wait for the drain, then catch up from the log. */
  block(): void {
    if (this.#mode === 'blocked' || this.#catchingUp) return;
    this.#mode = 'blocked';
    void this.#link.drained().then(() => this.catchUp());
  }

  /** Ops sent seem lost (see Liveness): forgets what was sent beyond `held` and catches up from there. */
  resendFrom(held: VersionVector): void {
    this.#link.stream.restartFrom(held);
    void this.catchUp();
  }

  /** Reads the log from what the peer has to its end, then goes live (again, if one is running). */
  async catchUp(): Promise<void> {
    const { replica, stream } = this.#link;
    if (this.#catchingUp) {
      this.#catchUpAgain = true;
      return;
    }
    this.#catchingUp = true;
    this.#mode = 'catching-up';
    try {
      await this.#sendStateIfBetter();
      do {
        this.#catchUpAgain = false;
        // A truncation while a state is on its way can take what the peer lacks next: send another.
        let refused = false;
        while (!refused && !replica.canServe(stream.sent)) refused = !(await this.#sendState('snapshot'));
        if (!this.#link.established()) return;
        const target = this.#lastAppendLsn;
        try {
          for await (const chunk of replica.readSince(stream.sent)) {
            if (!this.#link.established()) return;
            const whole = chunk.ops.length >= CATCH_UP_WHOLE_MIN_OPS ? stream.wholeEntry(chunk) : undefined;
            if (whole !== undefined) {
              if (!stream.sendWhole(chunk.ops, whole)) await this.#link.drained();
              continue;
            }
            for (const op of chunk.ops) {
              const has = stream.seq(op.origin);
              if (op.seq <= has) continue; // the peer sent or acked it meanwhile
              if (!stream.queue(op)) await this.#link.drained();
              if (!this.#link.established()) return;
            }
          }
        } catch (error) {
          // Truncated while being read (the reads wait on the transport): go round again, with a
          // state, unless the replica gave none (then the peer must bootstrap: see below).
          if (!isTruncated(error) || refused || replica.canServe(stream.sent)) throw error;
          this.#catchUpAgain = true;
          continue;
        }
        if (!stream.flush()) await this.#link.drained();
        if (this.#lastAppendLsn > target) this.#catchUpAgain = true;
      } while (this.#catchUpAgain && this.#link.established());
      if (this.#link.established()) this.#mode = 'live';
    } catch (error) {
      if (isTruncated(error)) {
        this.#link.close(
          CLOSE_CODES.REBOOTSTRAP,
          'the peer is behind the retained log and must bootstrap from a snapshot',
        );
      } else {
        this.#link.close(CLOSE_CODES.INTERNAL_ERROR, `reading the log failed: ${(error as Error)?.message}`);
      }
    } finally {
      this.#catchingUp = false;
    }
  }

  /**
   * At the start of a catch-up: when the peer lacks many ops, a compacted delta that is less than
   * half their size goes instead (after heavy overwrites it costs what the state costs).
   */
  async #sendStateIfBetter(): Promise<void> {
    const { replica, stream } = this.#link;
    const sent = stream.sent;
    const lacking = replica.versionVector.opsMissingFrom(sent);
    if (lacking < this.#link.deltaMinOps || !replica.canServe(sent)) return;
    // After a delta that was not worth sending, the next catch-up tries one only when it is twice as
    // far behind: a peer that keeps falling behind a stream of fresh keys (each catch-up after a
    // full send buffer) would otherwise have each catch-up read its ops twice.
    if (lacking < this.#deltaRefusedAt * 2) return;
    this.#deltaRefusedAt = (await this.#sendState('delta')) ? 0 : lacking;
  }

  /**
   * Sends a state (snapshot or delta) in resumable chunks (see StateSender); the peer then has
   * everything up to the state's vector.
   */
  async #sendState(kind: StateKind): Promise<boolean> {
    const stream = this.#link.stream;
    // Ops counted as sent must be on the wire before the state: it leaves out what they carry.
    if (!stream.flush()) await this.#link.drained();
    if (!this.#link.established()) return false;
    const sent = await this.#link.sendState(kind, stream.sent);
    if (sent === undefined) return false;
    this.#link.stats.statesSent++;
    this.#link.stats.stateBytesSent += sent.bytes;
    stream.learn(sent.vector.entries());
    return true;
  }
}

function isTruncated(error: unknown): boolean {
  return error instanceof DriftlessError && error.code === 'LOG_TRUNCATED';
}
