/**
 * The liveness of an established session (see docs/PROTOCOL.md › Streaming, PING / PONG): a
 * heartbeat that sends PING and REPORTS, the round-trip time from PONG, and the two ways a link
 * is found dead.
 *
 *   each heartbeat ─▶ the peer has not read for a whole timeout  ─▶ close BACKPRESSURE
 *                  ─▶ nothing received for a whole timeout       ─▶ close TIMEOUT
 *                  ─▶ otherwise PING, REPORTS, and a resend if the peer's acks stalled
 *
 * Time this node spent not reading (its receive window full, or its event loop busy) is never
 * counted against the peer.
 */
import type { VersionVector } from '@driftless/core';
import { CLOSE_CODES } from '../close-codes.js';
import type { Message } from '../protocol/messages.js';
import type { SessionTiming } from './timing.js';

/** What liveness needs of its session. */
export interface LivenessLink {
  /** The heartbeat's interval and timeout. */
  readonly timing: SessionTiming;
  /** Milliseconds since the epoch. */
  now(): number;
  /** False once the session is no longer established: the heartbeat stops there. */
  established(): boolean;
  /** Whether the session stopped reading the peer (its receive window is full). */
  paused(): boolean;
  /** Whether the session sends each new entry as it lands (see LogSender). */
  live(): boolean;
  /** The peer's durable version vector, as last acknowledged. */
  acked(): VersionVector;
  /** What the peer has or has been sent on this session. */
  sent(): VersionVector;
  /** What the peer has shown it holds by sending it (see ReceiveQueue). */
  sentByPeer(): VersionVector;
  /** Members' durable vectors as this node last heard them, for REPORTS. */
  reports(): [string, VersionVector][];
  /** Sends a message. */
  send(message: Message): boolean;
  /** Sends again from what the peer holds (see LogSender.resendFrom). */
  resendFrom(held: VersionVector): void;
  close(code: number, reason: string): void;
}

/** The heartbeat, round-trip time and dead-link detection of one session. */
export class Liveness {
  readonly #link: LivenessLink;
  #lastReceivedAt: number;
  #rttMs: number | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  /** Since when the session has been waiting for the transport to drain. */
  #waitingSince: number | undefined;
  #ackedAtLastBeat: VersionVector | undefined;
  #sentAtLastBeat: VersionVector | undefined;

  constructor(link: LivenessLink) {
    this.#link = link;
    this.#lastReceivedAt = link.now();
  }

  /** The last measured round-trip time. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** A frame arrived, or the session reads the peer again: its silence counts from now. */
  heard(): void {
    this.#lastReceivedAt = this.#link.now();
  }

  /** The peer's PONG, answering a PING sent at `time`. */
  pong(time: number): void {
    this.#rttMs = Math.max(0, this.#link.now() - time);
  }

  /** The session waits for the transport to drain (from the first wait until the drain). */
  waiting(): void {
    this.#waitingSince ??= this.#link.now();
  }

  /** The transport drained: the peer reads again. */
  drained(): void {
    this.#waitingSince = undefined;
  }

  /** Starts the heartbeat, once the session is established. */
  start(): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.#link.timing;
    let dueAt = this.#link.now() + heartbeatIntervalMs;
    const beat = () => {
      if (!this.#link.established()) return;
      const now = this.#link.now();
      // Not reading is this node's doing, not the peer's silence: while paused, or when this beat
      // comes late because the event loop was busy (frames may be waiting unread in the socket).
      if (this.#link.paused() || now - dueAt > heartbeatIntervalMs) {
        this.#lastReceivedAt = now;
        if (this.#waitingSince !== undefined) this.#waitingSince = now;
      }
      if (this.#waitingSince !== undefined && now - this.#waitingSince > heartbeatTimeoutMs) {
        // Its frames may still arrive, but it has not read ours for a whole timeout.
        this.#link.close(
          CLOSE_CODES.BACKPRESSURE,
          `the peer has not read for ${now - this.#waitingSince} ms`,
        );
        return;
      }
      if (now - this.#lastReceivedAt > heartbeatTimeoutMs) {
        this.#link.close(CLOSE_CODES.TIMEOUT, `nothing received for ${now - this.#lastReceivedAt} ms`);
        return;
      }
      this.#link.send({ type: 'ping', time: now });
      this.#link.send({ type: 'reports', reports: this.#link.reports() });
      this.#resendIfStalled();
      dueAt = now + heartbeatIntervalMs;
      this.#heartbeatTimer = setTimeout(beat, heartbeatIntervalMs);
    };
    this.#heartbeatTimer = setTimeout(beat, heartbeatIntervalMs);
  }

  /** Stops the heartbeat: the session closed. */
  stop(): void {
    clearTimeout(this.#heartbeatTimer);
  }

  /**
   * A transport never loses a frame silently, but if ops sent a whole heartbeat ago are still not
   * acked and the peer's acks have not moved since, assume they were lost and send again from what
   * the peer acked (applying an op twice is harmless).
   */
  #resendIfStalled(): void {
    const acked = this.#link.acked();
    const sent = this.#link.sent();
    // What the peer sent counts as held: a peer that only writes never acks its own ops, and
    // counting them as unacked had this node send the peer back everything it wrote (a read of
    // its whole log) after each heartbeat.
    const held = acked.merge(this.#link.sentByPeer());
    const stalled =
      this.#link.live() &&
      this.#ackedAtLastBeat !== undefined &&
      acked.equals(this.#ackedAtLastBeat) &&
      this.#sentAtLastBeat !== undefined &&
      !held.dominates(this.#sentAtLastBeat);
    this.#ackedAtLastBeat = acked;
    this.#sentAtLastBeat = sent;
    if (!stalled) return;
    this.#link.resendFrom(held);
  }
}
