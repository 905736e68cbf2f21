import { type OpTip, ProtocolError, VersionVector } from '@driftless/core';
import { CLOSE_CODES, type CloseCode } from '../close-codes.js';
import { decodeMessage, type Message, type Role } from '../protocol/messages.js';
import type { SyncReplica } from '../replica.js';
import type { Connection } from '../transport.js';
import { Handshake, type PeerIdentity } from './handshake.js';
import { Liveness } from './liveness.js';
import { LogSender, type StreamMode } from './log-sender.js';
import { OpStream } from './op-stream.js';
import { Outbox } from './outbox.js';
import { ReceiveQueue } from './receive-queue.js';
import { type SessionStats, zeroStats } from './session-stats.js';
import { StateReceiver, StateSender, type StateTransfers, type TransferLink } from './state-transfer.js';
import type { SessionTiming } from './timing.js';

export type { PeerIdentity } from './handshake.js';
export type { StreamMode } from './log-sender.js';
export type { SessionStats } from './session-stats.js';
export type { IncomingState, StateTransfers } from './state-transfer.js';

/**
 * One replication session over one connection, the same on the dialing and the accepting side.
 *
 *    hello ──HELLO ok, send AUTH──▶ auth ──AUTH ok──▶ established ──close──▶ closed
 *      │                             │                    │
 *      └─ bad frame, wrong version, wrong cluster or secret, timeout ─▶ closed (with a close code)
 *
 * Both sides send HELLO at once. Established, the session sends the peer every op it lacks, in
 * this node's log order, which keeps causal order through relays (catching-up, live, blocked: see
 * log-sender.ts). Received ops are applied durably in arrival order, and the peer stops being read
 * while too many bytes are in flight (receive-queue.ts). The session acks this replica's durable
 * version vector whenever it grows, and a heartbeat finds a dead link (liveness.ts).
 *
 * The handshake's checks are in handshake.ts, the outgoing batches and OPS frame numbering in
 * op-stream.ts, state transfers in state-transfer.ts, and the frames going out with the wait for
 * the transport to drain in outbox.ts. The session keeps the phases, dispatches the frames it
 * receives, and wires these parts together.
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

/** WebSocket close reasons hold at most 123 bytes. */
const MAX_REASON_CHARS = 120;

/** One replication session with one peer over one connection. */
export class PeerSession {
  readonly connection: Connection;
  /** Whether this side dialed. */
  readonly outbound: boolean;
  readonly stats: SessionStats = zeroStats();
  readonly #host: SessionHost;
  readonly #handshake: Handshake;
  #phase: SessionPhase = 'hello';
  #peer: PeerIdentity | undefined;
  /** What the peer has or has been sent, and the ops on their way to it. */
  readonly #stream: OpStream;
  /** Which ops go to the peer when: catching up from the log, live, or blocked. */
  readonly #sender: LogSender;
  /** What the peer sent, checked and applied in arrival order. */
  readonly #receive: ReceiveQueue;
  /** Heartbeats, the round-trip time, and dead-link detection. */
  readonly #liveness: Liveness;
  /** The frames going out, and the wait for the transport to drain. */
  readonly #outbox: Outbox;
  /** The peer's durable version vector, from AUTH and ACKs. */
  #acked = VersionVector.EMPTY;
  #peerTip: OpTip | undefined;
  #unsubscribe: (() => void) | undefined;
  #ackScheduled = false;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeCode: number | undefined;
  #closing = false;
  readonly #stateSender: StateSender;
  readonly #stateReceiver: StateReceiver;
  #closeReason = '';

  constructor(host: SessionHost, connection: Connection, outbound: boolean) {
    this.#host = host;
    this.connection = connection;
    this.outbound = outbound;
    const session = this;
    const established = () => this.#phase === 'established';
    const close = (code: number, reason: string) => this.close(code, reason);
    this.#liveness = new Liveness({
      timing: host.timing,
      now: () => host.now(),
      established,
      paused: () => this.#receive.paused,
      live: () => this.#sender.mode === 'live',
      acked: () => this.#acked,
      sent: () => this.sent,
      sentByPeer: () => this.#receive.sentByPeer,
      reports: () => host.reports(),
      send: (message) => this.#outbox.send(message),
      resendFrom: (held) => this.#sender.resendFrom(held),
      close,
    });
    this.#outbox = new Outbox({
      connection,
      stats: this.stats,
      closed: () => this.#phase === 'closed',
      waiting: () => this.#liveness.waiting(),
      drained: () => this.#liveness.drained(),
    });
    this.#handshake = new Handshake({
      clusterId: host.clusterId,
      secret: host.secret,
      replica: host.replica,
      close,
    });
    this.#stream = new OpStream({
      maxBatchBytes: host.timing.maxBatchBytes,
      sendOps: (frame, ops) => {
        this.stats.opsSent += ops;
        return this.#outbox.sendFrame(frame);
      },
      flushBlocked: () => {
        if (this.#sender.mode === 'live') this.#sender.block();
      },
    });
    this.#receive = new ReceiveQueue({
      replica: host.replica,
      get peer() {
        return session.#peer as PeerIdentity;
      },
      windowBytes: host.timing.receiveWindowBytes,
      stats: this.stats,
      applying: () => this.#phase !== 'closed' && !this.#closing,
      learn: (dots) => this.#stream.learn(dots),
      pause: () => this.connection.pause(),
      resume: () => {
        this.#liveness.heard();
        if (this.#phase !== 'closed') this.connection.resume();
      },
      close,
    });
    const link: TransferLink = {
      get peerId() {
        return session.#peer?.nodeId as string;
      },
      transfers: host.transfers,
      replica: host.replica,
      chunkBytes: host.timing.stateChunkBytes,
      answerTimeoutMs: host.timing.heartbeatTimeoutMs,
      established,
      send: (message) => this.#outbox.send(message),
      drained: () => this.#outbox.drained(),
      close,
    };
    this.#stateSender = new StateSender(link);
    this.#stateReceiver = new StateReceiver(link);
    this.#sender = new LogSender({
      replica: host.replica,
      stream: this.#stream,
      deltaMinOps: host.timing.deltaMinOps,
      stats: this.stats,
      established,
      drained: () => this.#outbox.drained(),
      sendState: (kind, since) => this.#stateSender.send(kind, since),
      close,
    });
  }

  /** Starts the session: delivers the connection's events here and sends HELLO. */
  start(): void {
    this.connection.open({
      message: (frame) => this.#onFrame(frame),
      drain: () => this.#outbox.onDrain(),
      close: (code, reason) => this.#onClose(code, reason),
    });
    this.#handshakeTimer = setTimeout(() => {
      if (this.#phase !== 'established') this.close(CLOSE_CODES.TIMEOUT, 'handshake timed out');
    }, this.#host.timing.handshakeTimeoutMs);
    this.#outbox.send(this.#handshake.hello(this.#host.role()));
  }

  /** The session's phase. */
  get phase(): SessionPhase {
    return this.#phase;
  }

  /** How the session is sending, once established. */
  get mode(): StreamMode {
    return this.#sender.mode;
  }

  /** The peer, once its HELLO arrived. */
  get peer(): PeerIdentity | undefined {
    return this.#peer;
  }

  /** The peer's durable version vector, as last acknowledged. */
  get acked(): VersionVector {
    return this.#acked;
  }

  /** The last op of this node's origin the peer held at the handshake, as its AUTH told. */
  get peerTip(): OpTip | undefined {
    return this.#peerTip;
  }

  /** What the peer has or has been sent on this session. */
  get sent(): VersionVector {
    return this.#stream.sent;
  }

  /** The last measured round-trip time. */
  get rttMs(): number | undefined {
    return this.#liveness.rttMs;
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
    return this.#receive.settled();
  }

  /** Sends an ACK of this replica's durable vector soon (coalesced within a turn of the event loop). */
  scheduleAck(): void {
    if (this.#phase !== 'established' || this.#ackScheduled) return;
    this.#ackScheduled = true;
    queueMicrotask(() => {
      this.#ackScheduled = false;
      if (this.#phase === 'established')
        this.#outbox.send({ type: 'ack', vector: this.#host.replica.versionVector });
    });
  }

  // --- receiving ------------------------------------------------------------------------------

  #onFrame(frame: Uint8Array): void {
    if (this.#phase === 'closed' || this.#closing) return;
    this.#liveness.heard();
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
        if (this.#requireEstablished('PING')) this.#outbox.send({ type: 'pong', time: message.time });
        return;
      case 'pong':
        if (this.#requireEstablished('PONG')) this.#liveness.pong(message.time);
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
      case 'state-end': {
        if (!this.#requireEstablished('STATE_END')) return;
        const bytes = this.#stateReceiver.end(message);
        if (bytes !== undefined) this.#receive.state(bytes, frame.length);
        return;
      }
      case 'ops':
        if (!this.#requireEstablished('OPS') || this.#stateReceiver.opsOutOfTurn()) return;
        this.#receive.ops(message.number, message.ops, message.batch, frame.length);
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
    this.#outbox.send(this.#handshake.auth());
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
    this.#peerTip = auth.tip;
    this.#stream.learn(auth.vector.entries());
    this.#stream.holdsOwn((this.#peer as PeerIdentity).nodeId);
    const refusal = this.#host.admit(this);
    if (refusal) {
      this.close(refusal.code, refusal.reason);
      return;
    }
    const stopAppends = this.#host.replica.onAppend((chunk) => this.#sender.append(chunk));
    const stopInstalls = this.#host.replica.onInstall(() => this.#sender.install());
    this.#unsubscribe = () => {
      stopAppends();
      stopInstalls();
    };
    this.#liveness.start();
    this.#outbox.send({ type: 'reports', reports: this.#host.reports() });
    void this.#sender.catchUp();
  }

  // --- closing --------------------------------------------------------------------------------

  #onClose(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#closeCode = code;
    this.#closeReason = reason;
    clearTimeout(this.#handshakeTimer);
    this.#liveness.stop();
    this.#unsubscribe?.();
    this.#stream.dropBatch();
    this.#outbox.onDrain();
    this.#stateSender.stop();
    this.#host.closed(this, code, reason);
  }
}
