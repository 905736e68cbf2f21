/**
 * The transport port: what the replication protocol needs from a network, and nothing more. Two
 * implementations pass one conformance suite (`@driftless/sync/testing`): WebSocket
 * (`@driftless/sync/ws`, Node) and the in-memory network with fault injection (MemoryNetwork).
 *
 * Flow control is the same in both. A connection counts `bufferedBytes`, the bytes it has queued
 * and not yet handed to the network. `send()` returns false once that passes `highWaterBytes`;
 * `drain` fires when it falls back to `lowWaterBytes`. A sender that keeps sending anyway is cut
 * off: a send that would take the buffer past `maxBufferedBytes` closes the connection with
 * CLOSE_CODES.BACKPRESSURE instead of queueing, so a peer that stops reading costs at most that.
 */
import { DriftlessError } from '@driftless/core';

/** Callbacks a connection delivers to its owner. */
export interface ConnectionHandlers {
  /** One whole frame from the peer (frames are never split or merged). */
  message(frame: Uint8Array): void;
  /** bufferedBytes fell to or below the low-water mark after send() returned false. */
  drain(): void;
  /** The connection closed (by either side or by failure); called exactly once. */
  close(code: number, reason: string): void;
}

/** One bidirectional, ordered, reliable frame stream to a peer (a WebSocket, or an in-memory pipe). */
export interface Connection {
  /** For logs: e.g. "ws 127.0.0.1:53211" or "mem a→b#3". */
  readonly label: string;
  /** Starts delivering events; frames that arrived before are buffered and delivered first. Call once. */
  open(handlers: ConnectionHandlers): void;
  /**
   * Queues a frame. Returns false when bufferedBytes is above the high-water mark (wait for
   * drain). Throws TransportError TRANSPORT_CLOSED after close. Never buffers without bound: a
   * send that would pass maxBufferedBytes closes the connection with CLOSE_CODES.BACKPRESSURE
   * (and returns false) instead. The frame must not be modified after the call.
   */
  send(frame: Uint8Array): boolean;
  /** Bytes queued locally and not yet handed to the network. */
  readonly bufferedBytes: number;
  /** Stop / resume reading from the peer (so the peer's sends back up), for receiver-side flow control. */
  pause(): void;
  resume(): void;
  /** Closes with a code (see close-codes.ts) and a reason shown to the peer. Idempotent. */
  close(code: number, reason: string): void;
}

/** A listening endpoint. */
export interface Listener {
  /** The url peers dial, with the real port when listening on port 0. */
  readonly url: string;
  /** Stops accepting and closes every connection it accepted (GOING_AWAY). */
  close(): Promise<void>;
}

/** Dials and listens for connections. */
export interface Transport {
  /** Connects to a listener's url; rejects with TransportError TRANSPORT_UNREACHABLE etc. */
  dial(url: string, options?: { signal?: AbortSignal }): Promise<Connection>;
  /** Accepts connections at `url`-ish address (port 0 allowed for ws); calls onConnection for each. */
  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener>;
}

/** Size limits of one transport's connections; see the module comment for how they interact. */
export interface TransportLimits {
  /** Largest frame accepted from a peer; a larger one closes with FRAME_TOO_LARGE. */
  maxFrameBytes: number;
  /** send() returns false while bufferedBytes is above this. */
  highWaterBytes: number;
  /** drain fires when bufferedBytes falls to or below this. */
  lowWaterBytes: number;
  /** Hard cap on bufferedBytes: a send past it closes with BACKPRESSURE. */
  maxBufferedBytes: number;
}

const MiB = 1024 * 1024;

/** 4 MiB frames (the codec's limit), 1 MiB high water, 256 KiB low water, 16 MiB hard limit. */
export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxFrameBytes: 4 * MiB,
  highWaterBytes: 1 * MiB,
  lowWaterBytes: MiB / 4,
  maxBufferedBytes: 16 * MiB,
});

/**
 * Fills in defaults and checks that the limits make sense together:
 * 0 ≤ lowWater ≤ highWater < maxBuffered, and 1 ≤ maxFrame ≤ maxBuffered.
 */
export function resolveTransportLimits(limits: Partial<TransportLimits> = {}): TransportLimits {
  const resolved: TransportLimits = {
    maxFrameBytes: limits.maxFrameBytes ?? DEFAULT_TRANSPORT_LIMITS.maxFrameBytes,
    highWaterBytes: limits.highWaterBytes ?? DEFAULT_TRANSPORT_LIMITS.highWaterBytes,
    lowWaterBytes:
      limits.lowWaterBytes ??
      Math.min(DEFAULT_TRANSPORT_LIMITS.lowWaterBytes, Math.floor((limits.highWaterBytes ?? Infinity) / 4)),
    maxBufferedBytes: limits.maxBufferedBytes ?? DEFAULT_TRANSPORT_LIMITS.maxBufferedBytes,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new DriftlessError(
        'INVALID_ARGUMENT',
        `${name} must be a whole number of bytes ≥ 0, got ${value}`,
      );
    }
  }
  const { maxFrameBytes, highWaterBytes, lowWaterBytes, maxBufferedBytes } = resolved;
  if (!(lowWaterBytes <= highWaterBytes && highWaterBytes < maxBufferedBytes)) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      `transport limits need lowWaterBytes ≤ highWaterBytes < maxBufferedBytes, got ${lowWaterBytes}, ` +
        `${highWaterBytes}, ${maxBufferedBytes}`,
    );
  }
  if (maxFrameBytes < 1 || maxFrameBytes > maxBufferedBytes) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      `maxFrameBytes must be between 1 and maxBufferedBytes (${maxBufferedBytes}), got ${maxFrameBytes}`,
    );
  }
  return resolved;
}
