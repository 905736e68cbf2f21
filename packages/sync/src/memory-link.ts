/**
 * One in-memory connection between two transports: a link of two pipes (one per direction) and a
 * MemoryConnection at each end. A pipe applies the network's faults to each frame when it is sent
 * and delivers it when its (virtual) latency has passed. Until the receiver's owner has read a
 * frame, the frame counts in the sender's bufferedBytes, so a receiver that pauses makes its
 * sender's send() return false and, past the hard limit, close with BACKPRESSURE, as over ws.
 */
import { CLOSE_CODES } from './close-codes.js';
import type { DeliveryScheduler } from './delivery-scheduler.js';
import { FrameConnection } from './frame-connection.js';
import { seededRandom } from './seeded-random.js';
import type { TransportLimits } from './transport.js';

/** Faults injected on a one-way link, per frame; decided from the network's seed. */
export interface LinkFaults {
  /** Delay per frame in ms: 0 delivers on a microtask, a number is fixed, {min, max} is uniform. Order is kept. */
  readonly latencyMs?: number | { readonly min: number; readonly max: number };
  /**
   * Chance per frame that the link fails while carrying it. A reliable stream never loses a frame
   * mid-stream: the connection closes with ABNORMAL (1006) on both sides, as a broken TCP
   * connection does, after the receiver got every frame before that one and none after it.
   */
  readonly dropProbability?: number;
  /**
   * Opt-in: breaks the reliable-stream contract on purpose, for protocol robustness tests. Frames
   * may vanish silently (loss), arrive twice (duplicate) or overtake each other (reorder).
   */
  readonly unreliable?: {
    readonly lossProbability?: number;
    readonly duplicateProbability?: number;
    readonly reorderProbability?: number;
  };
}

/** What one link needs from the network it belongs to. */
export interface LinkContext {
  readonly scheduler: DeliveryScheduler;
  faultsFor(from: string, to: string): LinkFaults;
  isCut(from: string, to: string): boolean;
  record(event: string, link: string, bytes?: number, detail?: string): void;
  forget(link: MemoryLink): void;
}

type PipeItem =
  | { kind: 'frame'; frame: Uint8Array; accounted: number }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'fail' };

const short = (address: string) => address.replace(/^mem:\/\//, '');

function sampleLatency(latency: LinkFaults['latencyMs'], random: () => number): number {
  if (latency === undefined) return 0;
  if (typeof latency === 'number') return latency;
  return latency.min + random() * (latency.max - latency.min);
}

function maxLatency(latency: LinkFaults['latencyMs']): number {
  if (latency === undefined) return 0;
  return typeof latency === 'number' ? latency : latency.max;
}

const chance = (probability: number | undefined, random: () => number) =>
  probability !== undefined && probability > 0 && random() < probability;

/** One direction of a link. */
class Pipe {
  /** Bytes sent into this pipe and not yet read by the receiver's owner: the sender's bufferedBytes. */
  pendingBytes = 0;
  broken = false;
  /** The connections at either end; set once, right after construction. */
  sender!: MemoryConnection;
  receiver!: MemoryConnection;
  private lastDueMs = 0;
  private readonly held: PipeItem[] = [];
  private readonly random: () => number;

  constructor(
    private readonly link: MemoryLink,
    readonly from: string,
    readonly to: string,
    readonly name: string,
    seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  send(frame: Uint8Array): void {
    const context = this.link.context;
    const faults = context.faultsFor(this.from, this.to);
    const random = this.random;
    if (chance(faults.unreliable?.lossProbability, random)) {
      context.record('lose', this.name, frame.byteLength);
      return;
    }
    if (chance(faults.dropProbability, random)) {
      this.schedule({ kind: 'fail' }, sampleLatency(faults.latencyMs, random), true);
      return;
    }
    const copy = frame.slice();
    this.pendingBytes += copy.byteLength;
    const delayMs = sampleLatency(faults.latencyMs, random);
    if (chance(faults.unreliable?.reorderProbability, random)) {
      // Held back past frames sent in the next latency window, so they overtake it.
      const holdMs = (1 + random()) * Math.max(1, maxLatency(faults.latencyMs));
      context.record('reorder', this.name, copy.byteLength);
      this.schedule({ kind: 'frame', frame: copy, accounted: copy.byteLength }, delayMs + holdMs, false);
    } else {
      this.schedule({ kind: 'frame', frame: copy, accounted: copy.byteLength }, delayMs, true);
    }
    if (chance(faults.unreliable?.duplicateProbability, random)) {
      context.record('duplicate', this.name, copy.byteLength);
      const again = copy.slice();
      this.schedule(
        { kind: 'frame', frame: again, accounted: 0 },
        sampleLatency(faults.latencyMs, random),
        false,
      );
    }
  }

  sendClose(code: number, reason: string): void {
    const faults = this.link.context.faultsFor(this.from, this.to);
    this.schedule({ kind: 'close', code, reason }, sampleLatency(faults.latencyMs, this.random), true);
  }

  /** The receiver's owner read (or dropped) `bytes` of what was sent here. */
  release(bytes: number): void {
    if (this.broken || bytes === 0) return;
    this.pendingBytes -= bytes;
    this.sender.outboundReleased();
  }

  /** Frames parked by a one-way cut continue, in order, once it heals. */
  releaseHeld(): void {
    const items = this.held.splice(0);
    for (const item of items) this.schedule(item, 0, true);
  }

  private schedule(item: PipeItem, delayMs: number, inOrder: boolean): void {
    const scheduler = this.link.context.scheduler;
    let dueMs = scheduler.now + delayMs;
    if (inOrder) {
      dueMs = Math.max(dueMs, this.lastDueMs);
      this.lastDueMs = dueMs;
    }
    scheduler.at(dueMs, () => this.arrive(item));
  }

  private arrive(item: PipeItem): void {
    if (this.broken) return;
    const context = this.link.context;
    if (this.held.length > 0 || context.isCut(this.from, this.to)) {
      if (this.held.length === 0) context.record('hold', this.name);
      this.held.push(item);
      return;
    }
    const receiver = this.receiver;
    switch (item.kind) {
      case 'frame':
        context.record('deliver', this.name, item.frame.byteLength);
        receiver.arrived(item.frame, item.accounted);
        return;
      case 'close':
        context.record('close', this.name, undefined, String(item.code));
        receiver.peerClosed(item.code, item.reason);
        return;
      case 'fail':
        context.record('drop', this.name);
        this.link.fail(
          CLOSE_CODES.ABNORMAL,
          `connection lost: a frame on ${short(this.from)}→${short(this.to)} was dropped (injected fault)`,
        );
        return;
    }
  }
}

/** One end of an in-memory connection. */
export class MemoryConnection extends FrameConnection {
  readonly label: string;

  constructor(
    private readonly link: MemoryLink,
    private readonly outbound: Pipe,
    private readonly inbound: Pipe,
    label: string,
    limits: TransportLimits,
    private readonly onClose: (connection: MemoryConnection) => void,
  ) {
    super(limits);
    this.label = label;
  }

  get bufferedBytes(): number {
    return this.outbound.pendingBytes;
  }

  /** A frame reached this end; enforced here because maxFrameBytes is the receiver's limit. */
  arrived(frame: Uint8Array, accounted: number): void {
    if (frame.byteLength > this.limits.maxFrameBytes && this.state === 'open') {
      this.inbound.release(accounted);
      this.close(
        CLOSE_CODES.FRAME_TOO_LARGE,
        `frame of ${frame.byteLength} bytes exceeds maxFrameBytes (${this.limits.maxFrameBytes})`,
      );
      return;
    }
    this.received(frame, accounted);
  }

  /** The peer's close reached this end. */
  peerClosed(code: number, reason: string): void {
    this.ended(code, reason);
  }

  /** The link failed under this end. */
  lost(code: number, reason: string): void {
    this.ended(code, reason);
  }

  /** The peer read frames this end sent. */
  outboundReleased(): void {
    this.drained();
  }

  protected write(frame: Uint8Array): void {
    this.outbound.send(frame);
  }

  protected shutdown(code: number, reason: string, abort: boolean): void {
    if (abort) {
      // Over ws the socket is dropped (the peer is not reading the close frame anyway): mirror that.
      this.link.fail(
        CLOSE_CODES.ABNORMAL,
        `connection lost: ${short(this.outbound.from)} dropped it (${reason})`,
      );
    } else {
      this.outbound.sendClose(code, reason);
    }
  }

  protected pauseReading(): void {}
  protected resumeReading(): void {}

  protected override frameDone(accounted: number): void {
    this.inbound.release(accounted);
  }

  protected override onClosing(): void {
    this.onClose(this);
    this.link.endClosed();
  }
}

/** Two pipes and the connection at each end. */
export class MemoryLink {
  readonly dialer: MemoryConnection;
  readonly acceptor: MemoryConnection;
  private readonly forward: Pipe;
  private readonly backward: Pipe;
  private openEnds = 2;

  constructor(
    readonly context: LinkContext,
    readonly id: number,
    readonly dialerHost: string,
    readonly acceptorHost: string,
    seeds: readonly [number, number],
    limits: { dialer: TransportLimits; acceptor: TransportLimits },
    onClose: { dialer: (c: MemoryConnection) => void; acceptor: (c: MemoryConnection) => void },
  ) {
    const [a, b] = [short(dialerHost), short(acceptorHost)];
    this.forward = new Pipe(this, dialerHost, acceptorHost, `${a}→${b}#${id}`, seeds[0]);
    this.backward = new Pipe(this, acceptorHost, dialerHost, `${b}→${a}#${id}`, seeds[1]);
    this.dialer = new MemoryConnection(
      this,
      this.forward,
      this.backward,
      `mem ${a}→${b}#${id}`,
      limits.dialer,
      onClose.dialer,
    );
    this.acceptor = new MemoryConnection(
      this,
      this.backward,
      this.forward,
      `mem ${b}←${a}#${id}`,
      limits.acceptor,
      onClose.acceptor,
    );
    this.forward.sender = this.backward.receiver = this.dialer;
    this.forward.receiver = this.backward.sender = this.acceptor;
  }

  /** Breaks the link: everything in flight is lost and both ends close with `code`. */
  fail(code: number, reason: string): void {
    if (this.forward.broken) return;
    this.context.record('fail', this.forward.name, undefined, reason);
    for (const pipe of [this.forward, this.backward]) {
      pipe.broken = true;
      pipe.pendingBytes = 0;
    }
    this.dialer.lost(code, reason);
    this.acceptor.lost(code, reason);
  }

  /** A one-way cut healed: release what it held. */
  heal(): void {
    this.forward.releaseHeld();
    this.backward.releaseHeld();
  }

  /** One end left `open`; once both have, the network forgets the link. */
  endClosed(): void {
    if (--this.openEnds === 0) this.context.forget(this);
  }
}
