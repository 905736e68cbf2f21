/**
 * The frames a session sends its peer, and the wait for its transport to drain. A send returns
 * false when the transport's buffer is above its high-water mark; whoever sent then waits for the
 * drain (see LogSender, StateSender), and liveness.ts closes a session whose peer has not read for
 * a whole heartbeat timeout.
 */
import { isTransportError } from '../errors.js';
import { encodeMessage, type Message } from '../protocol/messages.js';
import type { Connection } from '../transport.js';

/** What the outbox needs of its session. */
export interface OutboxLink {
  readonly connection: Connection;
  /** The session's counters of what it sent. */
  readonly stats: { framesSent: number; bytesSent: number };
  /** True once the session closed: nothing more goes out, and nobody waits for a drain. */
  closed(): boolean;
  /** The session started waiting for a drain (see Liveness.waiting). */
  waiting(): void;
  /** The transport drained (see Liveness.drained). */
  drained(): void;
}

/** The outgoing frames of one session. */
export class Outbox {
  readonly #link: OutboxLink;
  #drainWaiters: (() => void)[] = [];

  constructor(link: OutboxLink) {
    this.#link = link;
  }

  /** Sends a message; false when the transport asks to wait for a drain. */
  send(message: Message): boolean {
    return this.sendFrame(encodeMessage(message));
  }

  /** Sends an encoded frame; false when the transport asks to wait for a drain. */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#link.closed()) return true;
    this.#link.stats.framesSent++;
    this.#link.stats.bytesSent += frame.length;
    try {
      return this.#link.connection.send(frame);
    } catch (error) {
      // Frames received before a close are still delivered; the close event follows them.
      if (isTransportError(error) && error.code === 'TRANSPORT_CLOSED') return true;
      throw error;
    }
  }

  /** Resolves when the transport drained (or the session closed). */
  drained(): Promise<void> {
    if (this.#link.closed()) return Promise.resolve();
    this.#link.waiting();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** The transport drained, or the session closed: everyone waiting goes on. */
  onDrain(): void {
    this.#link.drained();
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
