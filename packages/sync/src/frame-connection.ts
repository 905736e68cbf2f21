/**
 * What every Connection implementation shares: buffering until open(), pause/resume of delivery,
 * close reported exactly once and after every frame that arrived before it, drain after a false
 * send(), and the hard limit on the send buffer. Subclasses supply the channel: write a frame,
 * shut down, stop/start reading, and how many bytes are buffered.
 *
 *   open ──close() / send past the hard limit──▶ closing ──close delivered──▶ reported
 *     └───────peer closed / channel failed──────────┘
 *
 * Invariant: in `closing` the inbox ends with exactly one close item, and nothing is sent.
 */
import { DriftlessError } from '@driftless/core';
import { CLOSE_CODES, isSendableCloseCode, truncateCloseReason } from './close-codes.js';
import { TransportError } from './errors.js';
import type { Connection, ConnectionHandlers, TransportLimits } from './transport.js';

type InboxItem =
  | { kind: 'frame'; frame: Uint8Array; accounted: number }
  | { kind: 'close'; code: number; reason: string };

/** The state of a FrameConnection; see the diagram in frame-connection.ts. */
export type FrameConnectionState = 'open' | 'closing' | 'reported';

/** A Connection over some frame channel; see the module comment. */
export abstract class FrameConnection implements Connection {
  abstract readonly label: string;
  abstract readonly bufferedBytes: number;
  /** The limits this side enforces. */
  readonly limits: TransportLimits;

  private handlers: ConnectionHandlers | undefined;
  private readonly inbox: InboxItem[] = [];
  private currentState: FrameConnectionState = 'open';
  private paused = false;
  private readingPaused = true;
  private flushing = false;
  private flushScheduled = false;
  private drainOwed = false;
  private drainDue = false;
  private closedLocally = false;

  constructor(limits: TransportLimits) {
    this.limits = limits;
  }

  /** Where the connection is in its life; see the diagram above. */
  get state(): FrameConnectionState {
    return this.currentState;
  }

  open(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) {
      throw new DriftlessError('INVALID_ARGUMENT', `${this.label}: open() was already called`);
    }
    this.handlers = handlers;
    this.scheduleFlush();
  }

  send(frame: Uint8Array): boolean {
    if (this.currentState !== 'open') {
      throw new TransportError('TRANSPORT_CLOSED', `${this.label} is closed: send on a new connection`);
    }
    if (!(frame instanceof Uint8Array)) {
      throw new DriftlessError('INVALID_ARGUMENT', `${this.label}: a frame must be a Uint8Array`);
    }
    const buffered = this.bufferedBytes;
    if (buffered + frame.byteLength > this.limits.maxBufferedBytes) {
      this.closeLocally(
        CLOSE_CODES.BACKPRESSURE,
        `peer stopped reading: ${buffered} bytes buffered, limit ${this.limits.maxBufferedBytes}`,
        true,
      );
      return false;
    }
    this.write(frame);
    if (this.bufferedBytes > this.limits.highWaterBytes) {
      this.drainOwed = true;
      return false;
    }
    return true;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (!this.readingPaused && this.currentState === 'open') {
      this.readingPaused = true;
      this.pauseReading();
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduleFlush();
  }

  close(code: number, reason: string): void {
    if (!isSendableCloseCode(code)) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `${this.label}: ${code} cannot be sent as a close code (use CLOSE_CODES; 1005, 1006 and 1015 are reserved)`,
      );
    }
    if (this.currentState === 'reported' || this.closedLocally) return;
    this.closeLocally(code, String(reason), false);
  }

  /** Writes one frame to the channel; bufferedBytes reflects it on return. */
  protected abstract write(frame: Uint8Array): void;
  /** Closes the channel; `abort` drops it at once (the peer is not reading, a close frame would wait). */
  protected abstract shutdown(code: number, reason: string, abort: boolean): void;
  /** Stops reading from the peer. */
  protected abstract pauseReading(): void;
  /** Starts reading from the peer again (also called once after open()). */
  protected abstract resumeReading(): void;
  /** A received frame left the inbox (delivered or discarded); `accounted` is what received() was given. */
  protected frameDone(_accounted: number): void {}
  /** The connection left `open` (for either reason); called once. */
  protected onClosing(): void {}

  /** The channel delivered a frame from the peer. */
  protected received(frame: Uint8Array, accounted = 0): void {
    if (this.currentState !== 'open') {
      this.frameDone(accounted);
      return;
    }
    this.inbox.push({ kind: 'frame', frame, accounted });
    this.flush();
  }

  /** The channel closed under us: the peer's close, a failure, a refused frame. */
  protected ended(code: number, reason: string): void {
    if (this.currentState !== 'open') return;
    this.currentState = 'closing';
    this.inbox.push({ kind: 'close', code, reason });
    this.onClosing();
    this.flush();
  }

  /** bufferedBytes may have fallen: fires drain when one is owed and the low-water mark is reached. */
  protected drained(): void {
    if (!this.drainOwed || this.currentState !== 'open') return;
    if (this.bufferedBytes > this.limits.lowWaterBytes) return;
    this.drainOwed = false;
    this.drainDue = true;
    this.scheduleFlush();
  }

  private closeLocally(code: number, reason: string, abort: boolean): void {
    const wasOpen = this.currentState === 'open';
    const shownReason = truncateCloseReason(reason);
    this.closedLocally = true;
    this.currentState = 'closing';
    // The owner closed: frames it has not read are dropped, and its own close is what it hears.
    for (const item of this.inbox.splice(0)) if (item.kind === 'frame') this.frameDone(item.accounted);
    this.inbox.push({ kind: 'close', code, reason: shownReason });
    if (wasOpen) {
      this.onClosing();
      this.shutdown(code, shownReason, abort);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const handlers = this.handlers;
    if (handlers === undefined || this.flushing || this.currentState === 'reported') return;
    this.flushing = true;
    try {
      if (this.drainDue) {
        this.drainDue = false;
        if (this.currentState === 'open') handlers.drain();
      }
      for (let item = this.inbox[0]; item !== undefined; item = this.inbox[0]) {
        if (item.kind === 'close') {
          this.inbox.length = 0;
          this.currentState = 'reported';
          handlers.close(item.code, item.reason);
          return;
        }
        if (this.paused) break;
        this.inbox.shift();
        this.frameDone(item.accounted);
        handlers.message(item.frame);
      }
      if (!this.paused && this.readingPaused && this.currentState === 'open') {
        this.readingPaused = false;
        this.resumeReading();
      }
    } finally {
      this.flushing = false;
    }
  }
}
