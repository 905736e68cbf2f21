import { DriftlessError, type LogChunk, type Op, ProtocolError, VersionVector } from '@driftless/core';
import { CLOSE_CODES, type CloseCode } from '../close-codes.js';
import { isTransportError } from '../errors.js';
import {
  decodeMessage,
  encodeMessage,
  type Message,
  type Role,
  type StateKind,
} from '../protocol/messages.js';
import type { SyncReplica } from '../replica.js';
import type { Connection } from '../transport.js';
import { Handshake, type PeerIdentity } from './handshake.js';
import { OpStream } from './op-stream.js';
import { StateReceiver, StateSender, type StateTransfers, type TransferLink } from './state-transfer.js';
import type { SessionTiming } from './timing.js';

export type { PeerIdentity } from './handshake.js';
export type { IncomingState, StateTransfers } from './state-transfer.js';

/**
 * One replication session over one connection, the same on the dialing and the accepting side.
 *
 *    hello ──HELLO ok, send AUTH──▶ auth ──AUTH ok──▶ established ──close──▶ closed
 *      │                             │                    │
 *      └─ bad frame, wrong version, wrong cluster or secret, timeout ─▶ closed (with a close code)
 *
 * Both sides send HELLO at once. Established, the session sends the peer every op it lacks, in
 * this node's log order, which keeps causal order through relays:
 *
 *    catching-up ──read the log to its end──▶ live ──backpressure──▶ blocked ──drain──▶ catching-up
 *         ▲                                     │
 *         └──────── an entry it cannot follow ──┘
 *
 * catching-up reads the durable log from what the peer has; live sends each new durable entry
 * as it lands (a frame per turn of the event loop, so one op under light load leaves at once and
 * ops under load coalesce); blocked waits for the transport to drain, then catches up from the
 * log, so a slow peer costs the transport's bounded buffer and nothing more. Received ops are
 * applied durably in arrival order, and the peer stops being read while too many bytes are in
 * flight. The session acks this replica's durable version vector whenever it grows.
 *
 * The handshake's checks are in handshake.ts, the outgoing batches and OPS frame numbering in
 * op-stream.ts, and state transfers in state-transfer.ts.
 */

/** What a session needs from the node that owns it. */
export interface SessionHost {
  readonly replica: SyncReplica;
  readonly clusterId: string;
  readonly secret: Uint8Array;
  readonly timing: SessionTiming;
  /** This node's current role. */
  role(): Role;
  /** Milliseconds since the epoch (injectable for tests). */
  now(): number;
  /** The peer authenticated: undefined to accept it, or a close code and reason to refuse it. */
  admit(session: PeerSession): { code: CloseCode; reason: string } | undefined;
  /** The peer's durable version vector grew. */
  acked(session: PeerSession): void;
  /** Members' durable vectors as this node last heard them, its own first (see StabilityTracker). */
  reports(): [string, VersionVector][];
  /** The peer told what it last heard of members' durable vectors. */
  reported(session: PeerSession, reports: readonly (readonly [string, VersionVector])[]): void;
  /** The session ended; called once. */
  closed(session: PeerSession, code: number, reason: string): void;
  /**
   * State transfers kept across sessions so an interrupted one resumes: what this node last sent
   * each peer, and what it received so far from each peer.
   */
  readonly transfers: StateTransfers;
}

/** The phases of a session. */
export type SessionPhase = 'hello' | 'auth' | 'established' | 'closed';
/** How an established session is sending. */
export type StreamMode = 'catching-up' | 'live' | 'blocked';

/** Counters of one session. */
export interface SessionStats {
  opsSent: number;
  bytesSent: number;
  framesSent: number;
  opsReceived: number;
  /** Ops received that this replica already had (relays in a mesh send some twice). */
  opsDuplicate: number;
  bytesReceived: number;
  /** State transfers (deltas and snapshots) completed each way, and the state bytes sent. */
  statesSent: number;
  statesReceived: number;
  stateBytesSent: number;
}

/** Thrown inside installState's check to refuse a state that forges origins. */
class ForgedState extends Error {}
/** WebSocket close reasons hold at most 123 bytes. */
const MAX_REASON_CHARS = 120;

/** One replication session with one peer over one connection. */
export class PeerSession {
  readonly connection: Connection;
  /** Whether this side dialed. */
  readonly outbound: boolean;
  readonly stats: SessionStats = {
    opsSent: 0,
    bytesSent: 0,
    framesSent: 0,
    opsReceived: 0,
    opsDuplicate: 0,
    bytesReceived: 0,
    statesSent: 0,
    statesReceived: 0,
    stateBytesSent: 0,
  };
  readonly #host: SessionHost;
  readonly #handshake: Handshake;
  #phase: SessionPhase = 'hello';
  #peer: PeerIdentity | undefined;
  #mode: StreamMode = 'catching-up';
  /** What the peer has or has been sent, and the ops on their way to it. */
  readonly #stream: OpStream;
  /** The peer's durable version vector, from AUTH and ACKs. */
  #acked = VersionVector.EMPTY;
  /**
   * What the peer has shown it holds by sending it: ops in OPS frames and states' vectors. It holds
   * them durably (a node sends only what its log made durable) but acks only what it receives, so
   * a peer that only writes never acks its own ops.
   */
  readonly #sentByPeer = new Map<string, number>();
  #catchingUp = false;
  #catchUpAgain = false;
  /** How far behind the peer was when a delta last was not worth sending (0: none since). */
  #deltaRefusedAt = 0;
  #lastAppendLsn = 0;
  #unsubscribe: (() => void) | undefined;
  #drainWaiters: (() => void)[] = [];
  #receiving: Promise<void> = Promise.resolve();
  #receivingBytes = 0;
  #paused = false;
  #ackScheduled = false;
  #lastReceivedAt: number;
  #rttMs: number | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  #closeCode: number | undefined;
  #closing = false;
  /** Since when the session has been waiting for the transport to drain. */
  #waitingSince: number | undefined;
  readonly #stateSender: StateSender;
  readonly #stateReceiver: StateReceiver;
  /** OPS frames received on this session, mod 2^32. */
  #framesIn = 0;
  #ackedAtLastBeat: VersionVector | undefined;
  #sentAtLastBeat: VersionVector | undefined;
  #closeReason = '';

  constructor(host: SessionHost, connection: Connection, outbound: boolean) {
    this.#host = host;
    this.connection = connection;
    this.outbound = outbound;
    this.#lastReceivedAt = host.now();
    this.#handshake = new Handshake({
      clusterId: host.clusterId,
      secret: host.secret,
      replica: host.replica,
      close: (code, reason) => this.close(code, reason),
    });
    this.#stream = new OpStream({
      maxBatchBytes: host.timing.maxBatchBytes,
      sendOps: (frame, ops) => {
        this.stats.opsSent += ops;
        return this.#sendFrame(frame);
      },
      flushBlocked: () => {
        if (this.#mode === 'live') this.#block();
      },
    });
    const link: TransferLink = {
      get peerId() {
        return session.#peer?.nodeId as string;
      },
      transfers: host.transfers,
      replica: host.replica,
      chunkBytes: host.timing.stateChunkBytes,
      established: () => this.#phase === 'established',
      send: (message) => this.#sendMessage(message),
      drained: () => this.#drained(),
      close: (code, reason) => this.close(code, reason),
    };
    const session = this;
    this.#stateSender = new StateSender(link);
    this.#stateReceiver = new StateReceiver(link);
  }

  /** Starts the session: delivers the connection's events here and sends HELLO. */
  start(): void {
    this.connection.open({
      message: (frame) => this.#onFrame(frame),
      drain: () => this.#onDrain(),
      close: (code, reason) => this.#onClose(code, reason),
    });
    this.#handshakeTimer = setTimeout(() => {
      if (this.#phase !== 'established') this.close(CLOSE_CODES.TIMEOUT, 'handshake timed out');
    }, this.#host.timing.handshakeTimeoutMs);
    this.#sendMessage(this.#handshake.hello(this.#host.role()));
  }

  /** The session's phase. */
  get phase(): SessionPhase {
    return this.#phase;
  }

  /** How the session is sending, once established. */
  get mode(): StreamMode {
    return this.#mode;
  }

  /** The peer, once its HELLO arrived. */
  get peer(): PeerIdentity | undefined {
    return this.#peer;
  }

  /** The peer's durable version vector, as last acknowledged. */
  get acked(): VersionVector {
    return this.#acked;
  }

  /** What the peer has or has been sent on this session. */
  get sent(): VersionVector {
    return this.#stream.sent;
  }

  /** The last measured round-trip time. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** Why the session closed, once it has. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** The reason given with the close code. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Closes the session with a code from CLOSE_CODES. */
  close(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    // Nothing received after this point is applied, even before the transport reports the close.
    this.#closing = true;
    this.connection.close(
      code,
      reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason,
    );
  }

  /** Resolves once every op received so far has been applied (or refused). */
  settled(): Promise<void> {
    return this.#receiving;
  }

  /** Sends an ACK of this replica's durable vector soon (coalesced within a turn of the event loop). */
  scheduleAck(): void {
    if (this.#phase !== 'established' || this.#ackScheduled) return;
    this.#ackScheduled = true;
    queueMicrotask(() => {
      this.#ackScheduled = false;
      if (this.#phase === 'established')
        this.#sendMessage({ type: 'ack', vector: this.#host.replica.versionVector });
    });
  }

  // --- receiving ------------------------------------------------------------------------------

  #onFrame(frame: Uint8Array): void {
    if (this.#phase === 'closed' || this.#closing) return;
    this.#lastReceivedAt = this.#host.now();
    this.stats.bytesReceived += frame.length;
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.close(CLOSE_CODES.BAD_FRAME, error.message);
      return;
    }
    switch (message.type) {
      case 'hello':
        this.#onHello(message);
        return;
      case 'auth':
        this.#onAuth(message);
        return;
      case 'ping':
        // A peer pings only once established, and its AUTH precedes its first PING on the wire.
        if (this.#requireEstablished('PING')) this.#sendMessage({ type: 'pong', time: message.time });
        return;
      case 'pong':
        if (this.#requireEstablished('PONG')) this.#rttMs = Math.max(0, this.#host.now() - message.time);
        return;
      case 'ack':
        if (!this.#requireEstablished('ACK')) return;
        this.#acked = this.#acked.merge(message.vector);
        this.#stream.learn(message.vector.entries());
        this.#host.acked(this);
        return;
      case 'reports':
        if (this.#requireEstablished('REPORTS')) this.#host.reported(this, message.reports);
        return;
      case 'state-begin':
        if (this.#requireEstablished('STATE_BEGIN')) this.#stateReceiver.begin(message);
        return;
      case 'state-resume':
        if (this.#requireEstablished('STATE_RESUME')) this.#stateSender.resume(message);
        return;
      case 'state-chunk':
        if (this.#requireEstablished('STATE_CHUNK')) this.#stateReceiver.chunk(message);
        return;
      case 'state-end':
        if (this.#requireEstablished('STATE_END')) this.#onStateEnd(message, frame.length);
        return;
      case 'ops':
        if (!this.#requireEstablished('OPS')) return;
        this.#onOps(message.number, message.ops, message.batch, frame.length);
        return;
    }
  }

  #requireEstablished(what: string): boolean {
    if (this.#phase === 'established') return true;
    this.close(CLOSE_CODES.BAD_FRAME, `${what} before the handshake completed`);
    return false;
  }

  #onHello(hello: Extract<Message, { type: 'hello' }>): void {
    if (this.#phase !== 'hello') {
      this.close(CLOSE_CODES.BAD_FRAME, 'a second HELLO');
      return;
    }
    const peer = this.#handshake.acceptHello(hello);
    if (peer === undefined) return;
    this.#peer = peer;
    this.#phase = 'auth';
    this.#sendMessage(this.#handshake.auth());
  }

  #onAuth(auth: Extract<Message, { type: 'auth' }>): void {
    if (this.#phase !== 'auth') {
      this.close(CLOSE_CODES.BAD_FRAME, 'AUTH out of turn');
      return;
    }
    if (!this.#handshake.acceptAuth(auth)) return;
    this.#phase = 'established';
    clearTimeout(this.#handshakeTimer);
    this.#acked = auth.vector;
    this.#stream.learn(auth.vector.entries());
    const refusal = this.#host.admit(this);
    if (refusal) {
      this.close(refusal.code, refusal.reason);
      return;
    }
    const stopAppends = this.#host.replica.onAppend((chunk) => this.#onAppend(chunk));
    const stopInstalls = this.#host.replica.onInstall(() => this.#onInstall());
    this.#unsubscribe = () => {
      stopAppends();
      stopInstalls();
    };
    this.#startHeartbeat();
    this.#sendMessage({ type: 'reports', reports: this.#host.reports() });
    void this.#catchUp();
  }

  #onOps(number: number, ops: readonly Op[], batch: Uint8Array | undefined, frameBytes: number): void {
    // Transports deliver every frame once and in order; if one did not, do not apply ops past a hole.
    const expected = (this.#framesIn + 1) >>> 0;
    if (number !== expected) {
      if ((expected - number) >>> 0 < 2 ** 31) return; // a duplicate of a frame already applied
      this.close(CLOSE_CODES.OUT_OF_ORDER, `OPS frame ${number} arrived when ${expected} was due`);
      return;
    }
    this.#framesIn = expected;
    // One [origin, highest seq] per origin, not a dot per op: what both checks need.
    const highest = highestSeqs(ops);
    const forged = this.#forgedOrigin(highest);
    if (forged !== undefined) {
      this.close(CLOSE_CODES.FORBIDDEN_ORIGIN, `the peer sent ${forged}`);
      return;
    }
    this.#peerHolds(highest);
    this.stats.opsReceived += ops.length;
    this.#enqueueReceive(frameBytes, async () => {
      const fresh = await this.#host.replica.receive(ops, batch);
      this.stats.opsDuplicate += ops.length - fresh;
    });
  }

  /**
   * Applies received ops or states one after the other, in arrival order; stops reading the peer
   * while more than the receive window is waiting.
   */
  #enqueueReceive(bytes: number, apply: () => Promise<void>): void {
    this.#receivingBytes += bytes;
    if (!this.#paused && this.#receivingBytes > this.#host.timing.receiveWindowBytes) {
      this.#paused = true;
      this.connection.pause();
    }
    this.#receiving = this.#receiving
      .then(async () => {
        if (this.#phase !== 'closed' && !this.#closing) await apply();
      })
      .catch((error: unknown) => this.#failReceive(error))
      .finally(() => {
        this.#receivingBytes -= bytes;
        if (this.#paused && this.#receivingBytes <= this.#host.timing.receiveWindowBytes / 2) {
          this.#paused = false;
          this.#lastReceivedAt = this.#host.now();
          if (this.#phase !== 'closed') this.connection.resume();
        }
      });
  }

  /**
   * A peer relays anyone's ops, but cannot hold ops of this node that this node never wrote, and a
   * read-only replica writes none of its own. `dots`: the highest seq of each origin. Returns a
   * forged dot, described.
   */
  #forgedOrigin(dots: Iterable<readonly [string, number]>): string | undefined {
    const peer = this.#peer as PeerIdentity;
    const me = this.#host.replica.nodeId;
    const mine = this.#host.replica.versionVector.get(me);
    for (const [origin, seq] of dots) {
      if (origin === me && seq > mine) return `${me}:${seq}, an op this node never wrote`;
      if (origin === peer.nodeId && peer.role === 'replica' && seq > 0)
        return `${origin}:${seq}, but ${origin} is a read-only replica and cannot originate ops`;
    }
    return undefined;
  }

  #failReceive(error: unknown): void {
    if (!(error instanceof DriftlessError)) {
      this.close(CLOSE_CODES.INTERNAL_ERROR, `applying ops failed: ${(error as Error)?.message}`);
      return;
    }
    switch (error.code) {
      case 'OP_GAP':
        this.close(
          CLOSE_CODES.OUT_OF_ORDER,
          `${error.message}; reconnecting resumes from the durable vector`,
        );
        return;
      case 'CLOCK_SKEW':
        this.close(CLOSE_CODES.CLOCK_SKEW, error.message);
        return;
      case 'REBOOTSTRAP_REQUIRED':
        this.close(CLOSE_CODES.REBOOTSTRAP, error.message);
        return;
      case 'SNAPSHOT_INVALID':
      case 'MUTATION_INVALID':
      case 'OP_INVALID':
      case 'PROTOCOL_MALFORMED':
        this.close(CLOSE_CODES.BAD_FRAME, error.message);
        return;
      default:
        // The store failed or closed: this node cannot take ops until it is reopened.
        this.close(CLOSE_CODES.SHUTDOWN, `this node cannot apply ops: ${error.message}`);
    }
  }

  // --- sending --------------------------------------------------------------------------------

  #onAppend(chunk: LogChunk): void {
    this.#lastAppendLsn = chunk.lsn;
    if (this.#mode !== 'live' || this.#phase !== 'established') return;
    const whole = this.#stream.wholeEntry(chunk);
    if (whole !== undefined) {
      if (!this.#stream.sendWhole(chunk.ops, whole)) this.#block();
      return;
    }
    for (const op of chunk.ops) {
      const has = this.#stream.seq(op.origin);
      if (op.seq <= has) continue;
      if (op.seq !== has + 1) {
        // The peer lacks something this entry builds on: read it from the log in order.
        void this.#catchUp();
        return;
      }
      if (!this.#stream.queue(op)) {
        this.#block();
        return;
      }
    }
    this.#stream.scheduleFlush();
  }

  /**
   * A state is being installed here: the log will hold ops whose past it lacks, so sending each new
   * entry as it lands is no longer enough. Catch up again, which sends this peer a state when the
   * log cannot serve it.
   */
  #onInstall(): void {
    if (this.#phase !== 'established') return;
    if (this.#mode === 'live') void this.#catchUp();
    else this.#catchUpAgain = true;
  }

  #block(): void {
    if (this.#mode === 'blocked' || this.#catchingUp) return;
    this.#mode = 'blocked';
    void this.#drained().then(() => this.#catchUp());
  }

  async #catchUp(): Promise<void> {
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
        if (!this.#host.replica.canServe(this.sent)) await this.#sendState('snapshot');
        if (this.#phase !== 'established') return;
        const target = this.#lastAppendLsn;
        for await (const chunk of this.#host.replica.readSince(this.sent)) {
          if (this.#phase !== 'established') return;
          const whole = this.#stream.wholeEntry(chunk);
          if (whole !== undefined) {
            if (!this.#stream.sendWhole(chunk.ops, whole)) await this.#drained();
            continue;
          }
          for (const op of chunk.ops) {
            const has = this.#stream.seq(op.origin);
            if (op.seq <= has) continue; // the peer sent or acked it meanwhile
            if (!this.#stream.queue(op)) await this.#drained();
            if (this.#phase !== 'established') return;
          }
        }
        if (!this.#stream.flush()) await this.#drained();
        if (this.#lastAppendLsn > target) this.#catchUpAgain = true;
      } while (this.#catchUpAgain && this.#phase === 'established');
      if (this.#phase === 'established') this.#mode = 'live';
    } catch (error) {
      if (error instanceof DriftlessError && error.code === 'LOG_TRUNCATED') {
        this.close(
          CLOSE_CODES.REBOOTSTRAP,
          'the peer is behind the retained log and must bootstrap from a snapshot',
        );
      } else {
        this.close(CLOSE_CODES.INTERNAL_ERROR, `reading the log failed: ${(error as Error)?.message}`);
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
    const local = this.#host.replica.versionVector;
    let lacking = 0;
    for (const [origin, seq] of local.entries()) lacking += Math.max(0, seq - this.#stream.seq(origin));
    if (lacking < this.#host.timing.deltaMinOps || !this.#host.replica.canServe(this.sent)) return;
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
    // Ops counted as sent must be on the wire before the state: it leaves out what they carry.
    if (!this.#stream.flush()) await this.#drained();
    if (this.#phase !== 'established') return false;
    const sent = await this.#stateSender.send(kind, this.sent);
    if (sent === undefined) return false;
    this.stats.statesSent++;
    this.stats.stateBytesSent += sent.bytes;
    this.#stream.learn(sent.vector.entries());
    return true;
  }

  #onStateEnd(message: Extract<Message, { type: 'state-end' }>, frameBytes: number): void {
    const bytes = this.#stateReceiver.end(message);
    if (bytes === undefined) return;
    this.#enqueueReceive(bytes.length + frameBytes, async () => {
      let forged: string | undefined;
      try {
        await this.#host.replica.installState(bytes, (vector) => {
          forged = this.#forgedOrigin(vector.entries());
          if (forged !== undefined) throw new ForgedState();
          this.#peerHolds(vector.entries());
        });
      } catch (error) {
        if (!(error instanceof ForgedState)) throw error;
        this.close(CLOSE_CODES.FORBIDDEN_ORIGIN, `the peer sent a state holding ${forged}`);
        return;
      }
      this.stats.statesReceived++;
    });
  }

  #drained(): Promise<void> {
    if (this.#phase === 'closed') return Promise.resolve();
    this.#waitingSince ??= this.#host.now();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #onDrain(): void {
    this.#waitingSince = undefined;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #sendMessage(message: Message): boolean {
    return this.#sendFrame(encodeMessage(message));
  }

  #sendFrame(frame: Uint8Array): boolean {
    if (this.#phase === 'closed') return true;
    this.stats.framesSent++;
    this.stats.bytesSent += frame.length;
    try {
      return this.connection.send(frame);
    } catch (error) {
      // Frames received before a close are still delivered; the close event follows them.
      if (isTransportError(error) && error.code === 'TRANSPORT_CLOSED') return true;
      throw error;
    }
  }

  // --- liveness and closing -------------------------------------------------------------------

  #startHeartbeat(): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.#host.timing;
    let dueAt = this.#host.now() + heartbeatIntervalMs;
    const beat = () => {
      if (this.#phase !== 'established') return;
      const now = this.#host.now();
      // Not reading is this node's doing, not the peer's silence: while paused, or when this beat
      // comes late because the event loop was busy (frames may be waiting unread in the socket).
      if (this.#paused || now - dueAt > heartbeatIntervalMs) {
        this.#lastReceivedAt = now;
        if (this.#waitingSince !== undefined) this.#waitingSince = now;
      }
      if (this.#waitingSince !== undefined && now - this.#waitingSince > heartbeatTimeoutMs) {
        // Its frames may still arrive, but it has not read ours for a whole timeout.
        this.close(CLOSE_CODES.BACKPRESSURE, `the peer has not read for ${now - this.#waitingSince} ms`);
        return;
      }
      if (now - this.#lastReceivedAt > heartbeatTimeoutMs) {
        this.close(CLOSE_CODES.TIMEOUT, `nothing received for ${now - this.#lastReceivedAt} ms`);
        return;
      }
      this.#sendMessage({ type: 'ping', time: now });
      this.#sendMessage({ type: 'reports', reports: this.#host.reports() });
      this.#resendIfStalled();
      dueAt = now + heartbeatIntervalMs;
      this.#heartbeatTimer = setTimeout(beat, heartbeatIntervalMs);
    };
    this.#heartbeatTimer = setTimeout(beat, heartbeatIntervalMs);
  }

  /**
   * A transport never loses a frame silently, but if ops sent a whole heartbeat ago are still not
   * acked and the peer's acks have not moved since, assume they were lost and send again from what
   * the peer acked (applying an op twice is harmless).
   */
  #resendIfStalled(): void {
    const sent = this.sent;
    // What the peer sent counts as held: a peer that only writes never acks its own ops, and
    // counting them as unacked had this node send the peer back everything it wrote (a read of
    // its whole log) after each heartbeat.
    const held = this.#acked.merge(VersionVector.from(this.#sentByPeer));
    const stalled =
      this.#mode === 'live' &&
      this.#ackedAtLastBeat !== undefined &&
      this.#acked.equals(this.#ackedAtLastBeat) &&
      this.#sentAtLastBeat !== undefined &&
      !held.dominates(this.#sentAtLastBeat);
    this.#ackedAtLastBeat = this.#acked;
    this.#sentAtLastBeat = sent;
    if (!stalled) return;
    this.#stream.restartFrom(held);
    void this.#catchUp();
  }

  /** The peer holds these ops (it sent them): never send them back to it. */
  #peerHolds(dots: Iterable<[string, number]>): void {
    const held = this.#sentByPeer;
    for (const [origin, seq] of dots) if (seq > (held.get(origin) ?? 0)) held.set(origin, seq);
    this.#stream.learn(held.entries());
  }

  #onClose(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#closeCode = code;
    this.#closeReason = reason;
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#heartbeatTimer);
    this.#unsubscribe?.();
    this.#stream.dropBatch();
    this.#onDrain();
    this.#stateSender.stop();
    this.#host.closed(this, code, reason);
  }
}

/** The dots of ops, each [origin, seq], without an array of them. */
/** The highest seq of each origin among `ops`. */
function highestSeqs(ops: readonly Op[]): Map<string, number> {
  const highest = new Map<string, number>();
  for (const op of ops) if (op.seq > (highest.get(op.origin) ?? 0)) highest.set(op.origin, op.seq);
  return highest;
}
