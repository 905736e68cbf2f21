/**
 * The receiving end of a session (see docs/PROTOCOL.md › Streaming): OPS frames and received
 * states, applied durably one after the other in arrival order.
 *
 *   OPS(number, ops) ─▶ in frame order? ─▶ no forged origin? ─▶ the peer holds them ─▶ queue ─▶ apply
 *   STATE_END        ─────────────────────────────────────────────────────────────▶ queue ─▶ install
 *
 * A frame's ops are applied as soon as the frame before them is applied, not once it is durable:
 * frames that queued while one was being committed are committed together (group commit), instead
 * of one commit each in series. A state waits until everything before it is durable, and the
 * frames after it until it is. The peer stops being read while more than the receive window is
 * not yet durable, and is read again once half of it is. A failure to apply closes the session with
 * the close code that says why, before anything received later is applied. The session keeps the
 * phases and dispatches the frames; state-transfer.ts assembles the states.
 */
import { DriftlessError, type Op, VersionVector } from '@driftless/core';
import { CLOSE_CODES } from '../close-codes.js';
import type { SyncReplica } from '../replica.js';
import type { PeerIdentity } from './handshake.js';

/** What the receive queue needs of its session. */
export interface ReceiveLink {
  readonly replica: SyncReplica;
  /** The peer (the session is established). */
  readonly peer: PeerIdentity;
  /** Bytes received and not yet applied before the session stops reading from the peer. */
  readonly windowBytes: number;
  /** The session's counters of what it received. */
  readonly stats: { opsReceived: number; opsDuplicate: number; statesReceived: number };
  /** False once the session closed or is closing: nothing received after that is applied. */
  applying(): boolean;
  /** The peer has these ops: never send them to it (see OpStream.learn). */
  learn(dots: Iterable<[string, number]>): void;
  /** Stops reading from the peer. */
  pause(): void;
  /** Reads from the peer again. */
  resume(): void;
  close(code: number, reason: string): void;
}

/** Thrown inside installState's check to refuse a state that forges origins. */
class ForgedState extends Error {}

/** What one session receives from its peer, checked and applied in arrival order. */
export class ReceiveQueue {
  readonly #link: ReceiveLink;
  /** OPS frames received on this session, mod 2^32. */
  #framesIn = 0;
  /**
   * What the peer has shown it holds by sending it: ops in OPS frames and states' vectors. It holds
   * them durably (a node sends only what its log made durable) but acks only what it receives, so
   * a peer that only writes never acks its own ops.
   */
  readonly #sentByPeer = new Map<string, number>();
  /** Settles once what was received last is applied (or refused): the next ops go after it. */
  #admitting: Promise<void> = Promise.resolve();
  /** Settles once everything received so far is durable (or refused). */
  #receiving: Promise<void> = Promise.resolve();
  /** Bytes received and not yet durable. */
  #receivingBytes = 0;
  #paused = false;

  constructor(link: ReceiveLink) {
    this.#link = link;
  }

  /** Whether the session stopped reading the peer because its receive window is full. */
  get paused(): boolean {
    return this.#paused;
  }

  /** What the peer has shown it holds by sending it (see #sentByPeer). */
  get sentByPeer(): VersionVector {
    return VersionVector.from(this.#sentByPeer);
  }

  /** Resolves once every op received so far is durable (or refused). */
  settled(): Promise<void> {
    return this.#receiving;
  }

  /** An OPS frame: checks its number and its ops' origins, then queues the ops to be applied. */
  ops(number: number, ops: readonly Op[], batch: Uint8Array | undefined, frameBytes: number): void {
    // Transports deliver every frame once and in order; if one did not, do not apply ops past a hole.
    const expected = (this.#framesIn + 1) >>> 0;
    if (number !== expected) {
      if ((expected - number) >>> 0 < 2 ** 31) return; // a duplicate of a frame already applied
      this.#link.close(CLOSE_CODES.OUT_OF_ORDER, `OPS frame ${number} arrived when ${expected} was due`);
      return;
    }
    this.#framesIn = expected;
    // One [origin, highest seq] per origin, not a dot per op: what both checks need.
    const highest = highestSeqs(ops);
    const forged = this.#forgedOrigin(highest);
    if (forged !== undefined) {
      this.#link.close(CLOSE_CODES.FORBIDDEN_ORIGIN, `the peer sent ${forged}`);
      return;
    }
    this.#peerHolds(highest);
    this.#link.stats.opsReceived += ops.length;
    this.#hold(frameBytes);
    const applied = this.#admitting.then(() => this.#apply(ops, batch));
    this.#admitting = applied.then(() => undefined);
    this.#settle(
      frameBytes,
      applied.then((received) => received?.durable),
    );
  }

  /**
   * Applies received ops, unless the session is closing; returns the promise of their durability.
   * Refused ops close the session at once, so nothing received after them is applied.
   */
  #apply(ops: readonly Op[], batch: Uint8Array | undefined): { durable: Promise<void> } | undefined {
    if (!this.#link.applying()) return undefined;
    let received: { fresh: number; durable: Promise<void> };
    try {
      received = this.#link.replica.receive(ops, batch);
    } catch (error) {
      this.#fail(error);
      return undefined;
    }
    this.#link.stats.opsDuplicate += ops.length - received.fresh;
    return received;
  }

  /**
   * A whole received state (see StateReceiver.end): queues its install, which refuses it when its
   * vector forges an origin. `frameBytes`: the size of its STATE_END frame.
   */
  state(bytes: Uint8Array, frameBytes: number): void {
    const size = bytes.length + frameBytes;
    this.#hold(size);
    const installed = this.#receiving.then(async () => {
      if (!this.#link.applying()) return;
      let forged: string | undefined;
      try {
        await this.#link.replica.installState(bytes, (vector) => {
          forged = this.#forgedOrigin(vector.entries());
          if (forged !== undefined) throw new ForgedState();
          this.#peerHolds(vector.entries());
        });
      } catch (error) {
        if (!(error instanceof ForgedState)) throw error;
        this.#link.close(CLOSE_CODES.FORBIDDEN_ORIGIN, `the peer sent a state holding ${forged}`);
        return;
      }
      this.#link.stats.statesReceived++;
    });
    this.#settle(size, installed);
    this.#admitting = this.#receiving;
  }

  /** Counts `bytes` received and not yet durable; stops reading the peer past the receive window. */
  #hold(bytes: number): void {
    this.#receivingBytes += bytes;
    if (!this.#paused && this.#receivingBytes > this.#link.windowBytes) {
      this.#paused = true;
      this.#link.pause();
    }
  }

  /**
   * Once `durable` settles, `bytes` are no longer held (reading the peer again once half the window
   * is free); a failure closes the session. `durable` settles in arrival order or before its turn
   * (ops all known already), so settled() waits for each in turn.
   */
  #settle(bytes: number, durable: Promise<void>): void {
    const settled = durable
      .catch((error: unknown) => this.#fail(error))
      .finally(() => {
        this.#receivingBytes -= bytes;
        if (this.#paused && this.#receivingBytes <= this.#link.windowBytes / 2) {
          this.#paused = false;
          this.#link.resume();
        }
      });
    this.#receiving = this.#receiving.then(() => settled);
  }

  /**
   * A peer relays anyone's ops, but cannot hold ops of this node that this node never wrote, and a
   * read-only replica writes none of its own. `dots`: the highest seq of each origin. Returns a
   * forged dot, described.
   */
  #forgedOrigin(dots: Iterable<readonly [string, number]>): string | undefined {
    const peer = this.#link.peer;
    const me = this.#link.replica.nodeId;
    const mine = this.#link.replica.versionVector.get(me);
    for (const [origin, seq] of dots) {
      if (origin === me && seq > mine) return `${me}:${seq}, an op this node never wrote`;
      if (origin === peer.nodeId && peer.role === 'replica' && seq > 0)
        return `${origin}:${seq}, but ${origin} is a read-only replica and cannot originate ops`;
    }
    return undefined;
  }

  /** The peer holds these ops (it sent them): never send them back to it. */
  #peerHolds(dots: Iterable<[string, number]>): void {
    const held = this.#sentByPeer;
    for (const [origin, seq] of dots) if (seq > (held.get(origin) ?? 0)) held.set(origin, seq);
    this.#link.learn(held.entries());
  }

  /** Closes the session with the close code that says why applying failed. */
  #fail(error: unknown): void {
    if (!(error instanceof DriftlessError)) {
      this.#link.close(CLOSE_CODES.INTERNAL_ERROR, `applying ops failed: ${(error as Error)?.message}`);
      return;
    }
    switch (error.code) {
      case 'OP_GAP':
        this.#link.close(
          CLOSE_CODES.OUT_OF_ORDER,
          `${error.message}; reconnecting resumes from the durable vector`,
        );
        return;
      case 'CLOCK_SKEW':
        this.#link.close(CLOSE_CODES.CLOCK_SKEW, error.message);
        return;
      case 'REBOOTSTRAP_REQUIRED':
        this.#link.close(CLOSE_CODES.REBOOTSTRAP, error.message);
        return;
      case 'SNAPSHOT_INVALID':
      case 'MUTATION_INVALID':
      case 'OP_INVALID':
      case 'PROTOCOL_MALFORMED':
        this.#link.close(CLOSE_CODES.BAD_FRAME, error.message);
        return;
      default:
        // The store failed or closed: this node cannot take ops until it is reopened.
        this.#link.close(CLOSE_CODES.SHUTDOWN, `this node cannot apply ops: ${error.message}`);
    }
  }
}

/** The highest seq of each origin among `ops`. */
function highestSeqs(ops: readonly Op[]): Map<string, number> {
  const highest = new Map<string, number>();
  for (const op of ops) if (op.seq > (highest.get(op.origin) ?? 0)) highest.set(op.origin, op.seq);
  return highest;
}
