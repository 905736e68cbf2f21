import { createHash, createHmac } from 'node:crypto';
import {
  DEFAULT_MAX_SKEW_MS,
  decode,
  encode,
  hlcWallMs,
  type Op,
  OpLogError,
  ProtocolError,
  type Value,
  VersionVector,
  validateOp,
} from '@driftless/core';
import {
  CLOSE_CODES,
  decodeMessage,
  type Message,
  PROTOCOL_VERSION,
  type Role,
  type SessionPhase,
} from '../src/index.js';

/**
 * What a node must do with each frame a peer sends it, written from docs/PROTOCOL.md rather than
 * from the session's code (including the STATE messages of version 2): the fuzzer predicts every frame's fate here and then checks that the
 * node did exactly that. One model follows one connection, frame by frame, in the order sent.
 */

/** The fate of one frame. */
export type Verdict =
  /** Processed, the session goes on; `ops` are the ops it made the node take (all of them, or none). */
  | { readonly kind: 'continue'; readonly ops: readonly Op[] }
  /** The node must close the session with one of `codes` and take nothing of the frame. */
  | {
      readonly kind: 'close';
      readonly codes: readonly number[];
      readonly why: string;
      /** Too close to call (a timestamp at the skew limit): the session may also go on. */
      readonly orContinue?: boolean;
    }
  /** The session was closed by an earlier frame: this one is never read. */
  | { readonly kind: 'unread' };

/** A state transfer the node is receiving from one peer (kept across that peer's sessions). */
export interface IncomingTransfer {
  readonly sha256: Uint8Array;
  readonly totalBytes: number;
  readonly chunks: Uint8Array[];
  received: number;
}

/**
 * What installing a received state must do: take the node to `vector`, or close with `code`.
 * `latestHlc` is the latest timestamp the state's entries hold, or undefined when none: the node
 * refuses a state too far ahead of its clock (CLOCK_SKEW), after it read the state whole and before
 * it joins it (so before a REBOOTSTRAP_REQUIRED the join would find).
 */
export type InstallOutcome =
  | { readonly vector: VersionVector; readonly latestHlc: number | undefined }
  | { readonly code: number; readonly why: string; readonly latestHlc?: number | undefined };

/** Whom the model's node is and what it holds. */
export interface NodeFacts {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly secret: Uint8Array;
  /** The nonce of the node's HELLO on this connection. */
  readonly nonce: Uint8Array;
  /** Largest frame the node's transport accepts. */
  readonly maxFrameBytes: number;
  /** What the node holds when the connection opens. */
  readonly vector: VersionVector;
  /** The state transfers the node holds partly, by peer; shared by every connection's model. */
  readonly transfers: Map<string, IncomingTransfer>;
  /** The node's wall clock. */
  now(): number;
  /** What installing `bytes` (whole, hash checked) must do at the node as it is now. */
  install(bytes: Uint8Array): InstallOutcome;
}

/**
 * The proof `prover` sends `verifier` (docs/PROTOCOL.md, Authentication), computed here with
 * node:crypto, independently of the implementation under test.
 */
export function specProof(
  secret: Uint8Array,
  clusterId: string,
  prover: string,
  verifier: string,
  verifierNonce: Uint8Array,
  proverNonce: Uint8Array,
): Uint8Array {
  const message = encode(['driftless-auth-v1', clusterId, prover, verifier, verifierNonce, proverNonce]);
  return new Uint8Array(createHmac('sha256', secret).update(message).digest());
}

/** Timestamps this close to the skew limit may go either way (the node reads its clock later). */
const SKEW_TOLERANCE_MS = 1_000;

const close = (code: number, why: string): Verdict => ({ kind: 'close', codes: [code], why });

/** One connection's session at the node, as the specification says it must behave. */
export class SessionModel {
  readonly #facts: NodeFacts;
  #phase: SessionPhase = 'hello';
  #peer: { nodeId: string; role: Role; nonce: Uint8Array } | undefined;
  #framesIn = 0;
  /** The id of the state transfer this session receives, from its STATE_BEGIN. */
  #incomingId: number | undefined;
  /** What the node holds or has taken on this connection (ops of accepted frames). */
  readonly #vector: Map<string, number>;
  #revision = 0;

  constructor(facts: NodeFacts) {
    this.#facts = facts;
    this.#vector = new Map(facts.vector.entries());
  }

  /** The phase the node's session must be in after the frames judged so far. */
  get phase(): SessionPhase {
    return this.#phase;
  }

  /** What the node must hold once every frame judged so far has been applied. */
  get vector(): VersionVector {
    return VersionVector.from(this.#vector);
  }

  /** Counts the changes of `vector` (cheaper to compare than vectors). */
  get revision(): number {
    return this.#revision;
  }

  /** The number the next OPS frame must carry. */
  get nextFrameNumber(): number {
    return (this.#framesIn + 1) >>> 0;
  }

  /** The transfer this session's peer has under way at the node, if any. */
  get transfer(): IncomingTransfer | undefined {
    return this.#peer && this.#facts.transfers.get(this.#peer.nodeId);
  }

  /** The fate of `frame`, sent after every frame judged before it; advances the model. */
  judge(frame: Uint8Array): Verdict {
    if (this.#phase === 'closed') return { kind: 'unread' };
    const verdict = this.#judge(frame);
    if (verdict.kind === 'close' && !verdict.orContinue) this.#phase = 'closed';
    return verdict;
  }

  #judge(frame: Uint8Array): Verdict {
    if (frame.length > this.#facts.maxFrameBytes) return close(CLOSE_CODES.FRAME_TOO_LARGE, 'oversize frame');
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      // decodeMessage promises ProtocolError and nothing else; anything else is a finding.
      if (!(error instanceof ProtocolError)) throw error;
      return close(CLOSE_CODES.BAD_FRAME, `undecodable: ${error.message}`);
    }
    if (message.type === 'hello') return this.#hello(message);
    if (message.type === 'auth') return this.#auth(message);
    if (this.#phase !== 'established') return close(CLOSE_CODES.BAD_FRAME, `${message.type} before AUTH`);
    switch (message.type) {
      case 'ops':
        return this.#ops(message.number, message.ops);
      case 'state-begin':
        return this.#stateBegin(message);
      case 'state-chunk':
        return this.#stateChunk(message);
      case 'state-end':
        return this.#stateEnd(message);
      default:
        return { kind: 'continue', ops: [] };
    }
  }

  #stateBegin(begin: Extract<Message, { type: 'state-begin' }>): Verdict {
    const peer = (this.#peer as { nodeId: string }).nodeId;
    const partial = this.#facts.transfers.get(peer);
    // The same state again (size and hash) resumes where the last session stopped.
    const same = partial?.totalBytes === begin.totalBytes && sameBytes(partial.sha256, begin.sha256);
    if (!same)
      this.#facts.transfers.set(peer, {
        sha256: begin.sha256,
        totalBytes: begin.totalBytes,
        chunks: [],
        received: 0,
      });
    this.#incomingId = begin.id;
    return { kind: 'continue', ops: [] };
  }

  #stateChunk(chunk: Extract<Message, { type: 'state-chunk' }>): Verdict {
    const incoming = this.transfer;
    if (!incoming || chunk.id !== this.#incomingId || chunk.offset !== incoming.received)
      return close(CLOSE_CODES.BAD_FRAME, 'STATE_CHUNK out of turn');
    if (incoming.received + chunk.bytes.length > incoming.totalBytes)
      return close(CLOSE_CODES.BAD_FRAME, 'STATE_CHUNK past the announced size');
    incoming.chunks.push(chunk.bytes);
    incoming.received += chunk.bytes.length;
    return { kind: 'continue', ops: [] };
  }

  #stateEnd(end: Extract<Message, { type: 'state-end' }>): Verdict {
    const incoming = this.transfer;
    if (!incoming || end.id !== this.#incomingId || incoming.received !== incoming.totalBytes)
      return close(CLOSE_CODES.BAD_FRAME, 'STATE_END before the whole state');
    this.#facts.transfers.delete((this.#peer as { nodeId: string }).nodeId);
    this.#incomingId = undefined;
    const bytes = new Uint8Array(incoming.totalBytes);
    let at = 0;
    for (const chunk of incoming.chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    if (!sameBytes(createHash('sha256').update(bytes).digest(), incoming.sha256))
      return close(CLOSE_CODES.BAD_FRAME, 'state hash');
    const forged = this.#forgedState(bytes);
    if (forged) return close(CLOSE_CODES.FORBIDDEN_ORIGIN, forged);
    const outcome = this.#facts.install(bytes);
    const skewed =
      outcome.latestHlc === undefined || ('code' in outcome && outcome.code === CLOSE_CODES.BAD_FRAME)
        ? undefined
        : this.#skew(outcome.latestHlc);
    if (skewed !== undefined) return skewed;
    if ('code' in outcome) return close(outcome.code, outcome.why);
    for (const [origin, seq] of outcome.vector.entries())
      if (seq > (this.#vector.get(origin) ?? 0)) this.#vector.set(origin, seq);
    this.#revision++;
    return { kind: 'continue', ops: [] };
  }

  /** A state obeys the origin rules of OPS: none of the node's own ops it never wrote, none of a replica's. */
  #forgedState(bytes: Uint8Array): string | undefined {
    let vector: VersionVector;
    try {
      vector = VersionVector.fromValue((decode(bytes) as Value[])[1] as Value);
    } catch {
      return undefined; // not a state: the install refuses it
    }
    const peer = this.#peer as { nodeId: string; role: string };
    for (const [origin, seq] of vector.entries()) {
      if (origin === this.#facts.nodeId && seq > (this.#vector.get(origin) ?? 0)) return 'forged state';
      if (origin === peer.nodeId && peer.role === 'replica') return 'a replica originates';
    }
    return undefined;
  }

  #hello(hello: Extract<Message, { type: 'hello' }>): Verdict {
    if (this.#phase !== 'hello') return close(CLOSE_CODES.BAD_FRAME, 'HELLO out of turn');
    if (hello.version !== PROTOCOL_VERSION) return close(CLOSE_CODES.PROTOCOL_VERSION, 'version');
    if (hello.clusterId !== this.#facts.clusterId) return close(CLOSE_CODES.CLUSTER_MISMATCH, 'cluster');
    if (hello.nodeId === this.#facts.nodeId) return close(CLOSE_CODES.DUPLICATE_NODE, 'own node id');
    this.#peer = { nodeId: hello.nodeId, role: hello.role, nonce: hello.nonce };
    this.#phase = 'auth';
    return { kind: 'continue', ops: [] };
  }

  #auth(auth: Extract<Message, { type: 'auth' }>): Verdict {
    const peer = this.#peer;
    if (this.#phase !== 'auth' || peer === undefined) return close(CLOSE_CODES.BAD_FRAME, 'AUTH out of turn');
    const { secret, clusterId, nodeId, nonce } = this.#facts;
    const proof = specProof(secret, clusterId, peer.nodeId, nodeId, nonce, peer.nonce);
    if (!sameBytes(proof, auth.proof)) return close(CLOSE_CODES.AUTH_FAILED, 'proof');
    if (auth.tip !== undefined && auth.tip.seq > auth.vector.get(nodeId))
      return close(CLOSE_CODES.BAD_FRAME, 'tip beyond the vector');
    // The fuzzer opens one connection at a time, so no other session of this peer can be live.
    this.#phase = 'established';
    return { kind: 'continue', ops: [] };
  }

  #ops(number: number, ops: readonly Op[]): Verdict {
    // No OPS frame between STATE_BEGIN and STATE_END: ops sent after a state may build on it.
    if (this.#incomingId !== undefined) return close(CLOSE_CODES.OUT_OF_ORDER, 'OPS during a state transfer');
    const expected = (this.#framesIn + 1) >>> 0;
    if (number !== expected) {
      const behind = (expected - number) >>> 0;
      // A repeat of a frame already taken is ignored; a frame from beyond a hole closes.
      if (behind < 2 ** 31) return { kind: 'continue', ops: [] };
      return close(CLOSE_CODES.OUT_OF_ORDER, `frame ${number} when ${expected} was due`);
    }
    this.#framesIn = expected;
    const peer = this.#peer as { nodeId: string; role: Role };
    const me = this.#facts.nodeId;
    for (const op of ops) {
      if (op.origin === me && op.seq > this.#facts.vector.get(me))
        return close(CLOSE_CODES.FORBIDDEN_ORIGIN, 'forged op');
      if (op.origin === peer.nodeId && peer.role === 'replica')
        return close(CLOSE_CODES.FORBIDDEN_ORIGIN, 'a replica originates');
    }
    // The log takes each origin's next seq, skips what it holds, refuses a gap or an invalid op.
    const taken = new Map<string, number>();
    const fresh: Op[] = [];
    for (const op of ops) {
      try {
        validateOp(op);
      } catch (error) {
        if (!(error instanceof OpLogError)) throw error;
        return close(CLOSE_CODES.BAD_FRAME, `invalid op: ${error.message}`);
      }
      const last = taken.get(op.origin) ?? this.#vector.get(op.origin) ?? 0;
      if (op.seq <= last) continue;
      if (op.seq !== last + 1) return close(CLOSE_CODES.OUT_OF_ORDER, `gap before ${op.origin}:${op.seq}`);
      taken.set(op.origin, op.seq);
      fresh.push(op);
    }
    for (const op of fresh) {
      if (op.origin === me) continue;
      const skewed = this.#skew(op.hlc);
      if (skewed !== undefined) return skewed;
    }
    for (const [origin, seq] of taken) this.#vector.set(origin, seq);
    if (taken.size > 0) this.#revision++;
    return { kind: 'continue', ops: fresh };
  }

  /** CLOCK_SKEW when a peer's timestamp is too far ahead of the node's clock. */
  #skew(hlc: number): Verdict | undefined {
    const aheadMs = hlcWallMs(hlc) - this.#facts.now();
    if (Math.abs(aheadMs - DEFAULT_MAX_SKEW_MS) <= SKEW_TOLERANCE_MS) {
      // Too close to call: the round accepts either fate and resynchronises.
      return { kind: 'close', codes: [CLOSE_CODES.CLOCK_SKEW], why: 'skew at the limit', orContinue: true };
    }
    if (aheadMs > DEFAULT_MAX_SKEW_MS) return close(CLOSE_CODES.CLOCK_SKEW, 'timestamp ahead');
    return undefined;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => b[i] === byte);
}
