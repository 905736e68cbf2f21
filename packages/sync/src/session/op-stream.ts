/**
 * The outgoing op stream of a session (see docs/PROTOCOL.md › Streaming): what the peer has or has
 * been sent, the batch of ops waiting to go, and the numbering of OPS frames. The log sender
 * (log-sender.ts) decides which ops to send and when (catching-up, live, blocked), asking the stream
 * what the peer lacks.
 */
import { encodeValidatedOps, type LogChunk, type Op, sizeBound, VersionVector } from '@driftless/core';
import { opsFrame } from '../protocol/messages.js';

/** What the op stream needs of its session. */
export interface OpStreamLink {
  /** Most encoded op bytes in one OPS frame. */
  readonly maxBatchBytes: number;
  /** Sends an OPS frame holding `ops` ops; false when the transport asks to wait for a drain. */
  sendOps(frame: Uint8Array, ops: number): boolean;
  /** A flush scheduled by scheduleFlush found the transport's buffer above its high-water mark. */
  flushBlocked(): void;
}

const MAX_BATCH_OPS = 4096;

/** The ops one session sends its peer, in numbered OPS frames. */
export class OpStream {
  readonly #link: OpStreamLink;
  /** Per origin, the highest seq the peer has or has been sent on this session. */
  readonly #sent = new Map<string, number>();
  /** The peer's own node id, once authenticated: it holds every op of that origin (see holdsOwn). */
  #own: string | undefined;
  #batch: Op[] = [];
  #batchBytes = 0;
  #flushScheduled = false;
  /** OPS frames sent on this session, mod 2^32. */
  #framesOut = 0;

  constructor(link: OpStreamLink) {
    this.#link = link;
  }

  /** What the peer has or has been sent on this session. */
  get sent(): VersionVector {
    return VersionVector.from(this.#sent);
  }

  /**
   * The highest seq of `origin` the peer has or has been sent; 0 for none, and Infinity for the
   * peer's own origin (holdsOwn): no op of it is ever sent to the peer.
   */
  seq(origin: string): number {
    return origin === this.#own ? Number.POSITIVE_INFINITY : (this.#sent.get(origin) ?? 0);
  }

  /**
   * The peer authenticated as `nodeId`: it holds every op of its own origin. Those it had at the
   * handshake are in its vector; one written since can only be its own write during this session
   * (ops go out only once durable at their origin, so no other node can have one it lacks). A relay
   * that reaches this node before the origin's own copy would otherwise go back to the origin.
   */
  holdsOwn(nodeId: string): void {
    this.#own = nodeId;
  }

  /** Records that the peer has these ops (it sent or acked them), so they are never sent to it. */
  learn(dots: Iterable<[string, number]>): void {
    for (const [origin, seq] of dots) if (seq > (this.#sent.get(origin) ?? 0)) this.#sent.set(origin, seq);
  }

  /** Forgets what was sent: the peer has what it acked and nothing more. */
  restartFrom(acked: VersionVector): void {
    this.#sent.clear();
    this.learn(acked.entries());
  }

  /**
   * The stored bytes of a log entry that can go to the peer as they are: an entry it lacks
   * entirely, each origin's ops following on from what it has, that fits in a frame. Undefined
   * otherwise (it then goes op by op through the batch).
   */
  wholeEntry(chunk: LogChunk): Uint8Array | undefined {
    const { bytes, ops } = chunk;
    if (bytes === undefined || bytes.length > this.#link.maxBatchBytes) return undefined;
    // Ops come in runs of one origin; a map only for an entry of several.
    let others: Map<string, number> | undefined;
    let origin = '';
    let next = 0;
    for (const op of ops) {
      if (op.origin !== origin) {
        if (origin !== '') {
          others ??= new Map();
          others.set(origin, next);
        }
        origin = op.origin;
        next = others?.get(origin) ?? this.seq(origin) + 1;
      }
      if (op.seq !== next) return undefined;
      next++;
    }
    return bytes;
  }

  /**
   * Sends the batch, then a whole log entry (see wholeEntry) as stored: no encoding. False when
   * the transport asked to wait.
   */
  sendWhole(ops: readonly Op[], bytes: Uint8Array): boolean {
    const flushed = this.flush();
    for (const op of ops) this.#sent.set(op.origin, op.seq);
    this.#framesOut = (this.#framesOut + 1) >>> 0;
    return this.#link.sendOps(opsFrame(this.#framesOut, bytes), ops.length) && flushed;
  }

  /**
   * Adds an op to the outgoing batch; false when the transport asked to wait. A batch holds at most
   * maxBatchBytes (by an upper bound of its ops' encoding) unless it is a single op larger than that.
   */
  queue(op: Op): boolean {
    // Ops come from the log, which admits only validated ones: the bound needs no checks.
    const bytes = op.key.length * 3 + op.collection.length + sizeBound(op.mutation) + 16;
    // The batch goes first when this op would take it past the limit (it went over by up to an op).
    const sent = this.#batchBytes + bytes > this.#link.maxBatchBytes ? this.flush() : true;
    this.#batch.push(op);
    this.#sent.set(op.origin, op.seq);
    this.#batchBytes += bytes;
    if (this.#batchBytes >= this.#link.maxBatchBytes || this.#batch.length >= MAX_BATCH_OPS) {
      return this.flush() && sent;
    }
    return sent;
  }

  /** Flushes the batch in a microtask, so ops queued in one turn of the event loop share a frame. */
  scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (!this.flush()) this.#link.flushBlocked();
    });
  }

  /** Sends the batch; false when the transport's buffer is above its high-water mark. */
  flush(): boolean {
    if (this.#batch.length === 0) return true;
    const ops = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#framesOut = (this.#framesOut + 1) >>> 0;
    // Every op here was read from the log, which validated it on admission.
    const frame = opsFrame(this.#framesOut, encodeValidatedOps(ops));
    return this.#link.sendOps(frame, ops.length);
  }

  /** The session closed: ops still in the batch never go out. */
  dropBatch(): void {
    this.#batch = [];
  }
}
