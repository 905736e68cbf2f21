import { DriftlessError, decode, type Op, type Value, VersionVector } from '@driftless/core';
import { seededRandom } from '@driftless/core/testing';
import { ReplicaState } from '@driftless/crdt';
import {
  CLOSE_CODES,
  closeCodeName,
  DEFAULT_TRANSPORT_LIMITS,
  decodeMessage,
  encodeMessage,
  type Message,
  type Role,
  type Transport,
} from '../src/index.js';
import { below, type Random, type Shot } from './frame-mutations.js';
import {
  CLUSTER,
  type FuzzNode,
  type Hello,
  NODE,
  PeerLink,
  SECRET,
  turnsUntil,
  type VirtualClock,
} from './fuzz-node.js';
import { Attacker } from './session-attacker.js';
import { type IncomingTransfer, type InstallOutcome, SessionModel, type Verdict } from './session-oracle.js';

/**
 * One fuzzing run: batches of frames from a peer that knows the cluster secret, over connection
 * after connection, each frame judged by the oracle before it is sent and the node checked against
 * the verdicts after every batch (see session.fuzz.test.ts).
 */

/** The fuzzer's peer. */
export const ATTACKER = 'x';
/** The limits a snapshot is decoded with (as @driftless/crdt does). */
const SNAPSHOT_LIMITS = { maxFrameBytes: 1024 * 1024 * 1024, maxDepth: 64, maxItems: 200_000_000 };
/** The tag of STATE_END frames (after an installed state the node's whole state is checked). */
const STATE_END_TAG = 9;
/** Batches between comparisons of the whole state with the reference replica. */
const DIGEST_EVERY = 128;

const hex = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 160)).toString('hex');

/** Tallies and counters of one fuzzing run. */
export class Tally {
  frames = 0;
  broken = 0;
  connections = 0;
  rounds = 0;
  readonly kinds = new Map<string, number>();

  count(shot: Shot, broken: boolean): void {
    this.frames++;
    if (!broken) return;
    this.broken++;
    const kind = shot.kind.replace(/:.*/, '');
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
  }
}

/** The frames of one batch, each judged by the model as it is added. */
class Plan {
  readonly shots: [Shot, boolean][] = [];
  readonly verdicts: Verdict[] = [];
  /** What the node may hold after the batch: what it held, then after each frame that moved it. */
  readonly vectors: VersionVector[];
  /** The model threw: decodeMessage failed with something other than a ProtocolError. */
  crash: { at: number; error: unknown } | undefined;
  readonly #model: SessionModel;

  constructor(model: SessionModel) {
    this.#model = model;
    this.vectors = [model.vector];
  }

  add(shot: Shot, broken: boolean): Verdict {
    this.shots.push([shot, broken]);
    const before = this.#model.revision;
    let verdict: Verdict;
    try {
      verdict = this.#model.judge(shot.bytes);
    } catch (error) {
      this.crash ??= { at: this.shots.length - 1, error };
      verdict = { kind: 'unread' };
    }
    this.verdicts.push(verdict);
    if (this.#model.revision !== before) this.vectors.push(this.#model.vector);
    return verdict;
  }
}

/** One fuzzing run against one node; see the module comment. */
export class SessionFuzzer {
  readonly violations: string[];
  readonly tally = new Tally();
  readonly #random: Random;
  readonly #seed: number;
  readonly #node: FuzzNode;
  readonly #transport: Transport;
  readonly #attacker: Attacker;
  readonly #clock: VirtualClock;
  #sentinel = 0;
  /** Broken (mutated or crafted) frames to send in all. */
  #budget = 0;
  /** The node's partial state transfers, by peer (the model of what it keeps across sessions). */
  readonly #transfers = new Map<string, IncomingTransfer>();

  constructor(
    seed: number,
    node: FuzzNode,
    transport: Transport,
    nodeOps: readonly Op[],
    violations: string[],
    clock: VirtualClock,
  ) {
    this.#seed = seed;
    this.#clock = clock;
    this.#random = seededRandom(seed);
    this.#node = node;
    this.#transport = transport;
    this.violations = violations;
    this.#attacker = new Attacker({
      random: this.#random,
      clusterId: CLUSTER,
      secret: SECRET,
      nodeId: NODE,
      self: ATTACKER,
      relayed: 'z',
      nodeOps,
      mirror: node.reference,
      now: clock.now,
    });
  }

  /**
   * Fires until `broken` mutated or crafted frames have been sent, with the valid frames around them
   * (or until something is found).
   */
  async run(broken: number): Promise<void> {
    const random = this.#random;
    this.#budget = broken;
    while (this.tally.broken < broken && this.violations.length === 0) {
      if (random() < 0.1) await this.#handshakeRound();
      else await this.#sessionRounds();
    }
  }

  #model(link: PeerLink & { hello: Hello }): SessionModel {
    return new SessionModel({
      nodeId: NODE,
      clusterId: CLUSTER,
      secret: SECRET,
      nonce: link.hello.nonce,
      maxFrameBytes: DEFAULT_TRANSPORT_LIMITS.maxFrameBytes,
      vector: this.#node.store.log.versionVector,
      transfers: this.#transfers,
      now: this.#clock.now,
      install: (bytes) => this.#install(bytes),
    });
  }

  /** What installing `bytes` must do: tried on a copy of the reference replica. */
  #install(bytes: Uint8Array): InstallOutcome {
    const scratch = ReplicaState.restore(this.#node.reference.snapshot());
    const latestHlc = latestStamp(bytes);
    try {
      scratch.applyDelta(bytes);
      return {
        vector: VersionVector.fromValue((decode(bytes, SNAPSHOT_LIMITS) as Value[])[1] as Value),
        latestHlc,
      };
    } catch (error) {
      if (!(error instanceof DriftlessError)) {
        this.violations.push(
          `joining a peer's state threw ${(error as Error)?.name}: ${(error as Error)?.message}`,
        );
        return { code: CLOSE_CODES.INTERNAL_ERROR, why: 'untyped error' };
      }
      const code =
        error.code === 'REBOOTSTRAP_REQUIRED'
          ? CLOSE_CODES.REBOOTSTRAP
          : ['SNAPSHOT_INVALID', 'MUTATION_INVALID', 'PROTOCOL_MALFORMED'].includes(error.code)
            ? CLOSE_CODES.BAD_FRAME
            : CLOSE_CODES.SHUTDOWN;
      return { code, why: `state refused: ${error.message}`, latestHlc };
    }
  }

  async #connect(): Promise<PeerLink & { hello: Hello }> {
    if (this.#node.sessionsEnded() !== this.tally.connections)
      this.violations.push('a session outlived its connection');
    this.tally.connections++;
    this.#attacker.newConnection();
    return PeerLink.open(this.#transport, this.violations);
  }

  /** A fresh connection whose handshake is broken (or out of turn, or — by luck — fine). */
  async #handshakeRound(): Promise<void> {
    const random = this.#random;
    const attacker = this.#attacker;
    const link = await this.#connect();
    const model = this.#model(link);
    const plan = new Plan(model);
    const nodeNonce = link.hello.nonce;
    const vector = this.#node.store.log.versionVector;
    const nonce = attacker.nonce();
    const hello: Shot = { bytes: attacker.hello(ATTACKER, 'multi', nonce), kind: 'hello' };
    const outOfTurn = (): Shot => {
      const frames: Shot[] = [
        { bytes: attacker.auth(nodeNonce, { nodeId: ATTACKER, nonce }, vector), kind: 'auth before hello' },
        { bytes: encodeMessage({ type: 'ops', number: 1, ops: [] }), kind: 'ops before auth' },
        { bytes: encodeMessage({ type: 'ack', vector }), kind: 'ack before auth' },
        { bytes: encodeMessage({ type: 'ping', time: 1 }), kind: 'ping before auth' },
        { bytes: encodeMessage({ type: 'pong', time: 1 }), kind: 'pong before auth' },
        {
          bytes: encodeMessage({ type: 'reports', reports: [[ATTACKER, vector]] }),
          kind: 'reports before auth',
        },
        { bytes: Uint8Array.from({ length: below(random, 40) }, () => below(random, 256)), kind: 'junk' },
      ];
      return frames[below(random, frames.length)] as Shot;
    };
    switch (below(random, 4)) {
      case 0: {
        const first = attacker.brokenHello(nodeNonce);
        plan.add(first, true);
        // A HELLO that survived its mutation gets the AUTH it asks for.
        const decoded = safeDecode(first.bytes);
        if (decoded?.type === 'hello' && model.phase === 'auth')
          plan.add({ bytes: attacker.auth(nodeNonce, decoded, vector), kind: 'auth' }, false);
        break;
      }
      case 1:
        plan.add(hello, false);
        plan.add(attacker.brokenAuth(nodeNonce, { nodeId: ATTACKER, nonce }, vector), true);
        break;
      case 2:
        plan.add(outOfTurn(), true);
        break;
      default:
        plan.add(hello, false);
        plan.add(random() < 0.2 ? hello : outOfTurn(), true);
    }
    await this.#fire(link, plan);
    if (link.closed === undefined) link.connection.close(CLOSE_CODES.NORMAL, 'handshake round done');
    await this.#quiet();
  }

  /** An authenticated connection, fired at batch after batch until the node closes it (or we do). */
  async #sessionRounds(): Promise<void> {
    const random = this.#random;
    const attacker = this.#attacker;
    const link = await this.#connect();
    const model = this.#model(link);
    const role: Role = random() < 0.1 ? 'replica' : 'multi';
    const nonce = attacker.nonce();
    const claimed = attacker.claimedVector(this.#node.store.log.versionVector);
    const state = () => ({ role, vector: model.vector, nextFrameNumber: model.nextFrameNumber });
    let plan = new Plan(model);
    plan.add({ bytes: attacker.hello(ATTACKER, role, nonce), kind: 'hello' }, false);
    plan.add(
      { bytes: attacker.auth(link.hello.nonce, { nodeId: ATTACKER, nonce }, claimed), kind: 'auth' },
      false,
    );
    while (this.violations.length === 0 && this.tally.broken < this.#budget) {
      const roll = random();
      if (roll < 0.025 && role !== 'replica') {
        // A state transfer alone in its batch: installing it must follow every op before it.
        const { shots, broken } = attacker.stateTransfer(state(), model.transfer);
        for (const [i, shot] of shots.entries()) plan.add(shot, broken && i === shots.length - 1);
      } else {
        // Valid frames are judged as they are written, so the next one builds on what the node took.
        for (let i = below(random, 5); i > 0; i--) plan.add(attacker.validFrame(state()), false);
        const shot = random();
        if (shot < 0.0004)
          plan.add(attacker.largeFrame(state(), DEFAULT_TRANSPORT_LIMITS.maxFrameBytes), true);
        else if (shot < 0.97) plan.add(attacker.brokenFrame(state(), link.hello.nonce), true);
      }
      if (!(await this.#fire(link, plan))) break;
      if (random() < 0.03) {
        link.connection.close(CLOSE_CODES.NORMAL, 'the attacker moves on');
        break;
      }
      plan = new Plan(model);
    }
    // The budget can run out while the session is still open.
    if (link.closed === undefined) link.connection.close(CLOSE_CODES.NORMAL, 'the attacker is done');
    await this.#quiet();
  }

  /**
   * Sends the plan's frames and a PING, waits for the PONG or the close, and checks the node
   * against the model: the close code of the first frame that must close, and each frame's ops
   * taken all or nothing. Resolves with whether the session goes on.
   */
  async #fire(link: PeerLink, plan: Plan): Promise<boolean> {
    const node = this.#node;
    const sentinel = ++this.#sentinel + 0.25;
    plan.add({ bytes: encodeMessage({ type: 'ping', time: sentinel }), kind: 'ping (sentinel)' }, false);
    const { shots, verdicts, vectors } = plan;
    if (plan.crash !== undefined) {
      const error = plan.crash.error as Error;
      this.#fail(`decodeMessage threw ${error?.name}: ${error?.message}`, shots, plan.crash.at);
      return false;
    }
    for (const [shot, broken] of shots) {
      this.tally.count(shot, broken);
      this.#attacker.sent(shot.bytes);
    }
    this.tally.rounds++;
    this.#clock.tick();
    link.send(shots.map(([shot]) => shot.bytes));
    if (
      !(await turnsUntil(
        () => (link.closed !== undefined || link.pongs.has(sentinel)) && node.inFlight() === 0,
      ))
    ) {
      this.#fail('the node neither answered the PING nor closed the session', shots, shots.length - 1);
      return false;
    }
    const at = verdicts.findIndex((v) => v.kind === 'close');
    const due = at < 0 ? undefined : (verdicts[at] as Extract<Verdict, { kind: 'close' }>);
    const closed = link.closed;
    const held = node.store.log.versionVector;
    const final = vectors[vectors.length - 1] as VersionVector;
    if (due !== undefined && !(due.orContinue && closed === undefined)) {
      const codes = due.codes.map(closeCodeName).join(' or ');
      if (closed === undefined) {
        this.#fail(`the session went on where ${codes} was due (${due.why})`, shots, at);
      } else if (!due.codes.includes(closed.code)) {
        this.#fail(
          `closed with ${closeCodeName(closed.code)} (${closed.reason}) where ${codes} was due (${due.why})`,
          shots,
          at,
        );
      } else if (!vectors.some((vector) => vector.equals(held))) {
        this.#fail(`partial apply: the node holds ${JSON.stringify(held)}`, shots, at);
      }
    } else if (closed !== undefined) {
      this.#fail(
        `closed with ${closeCodeName(closed.code)} (${closed.reason}) though nothing called for it`,
        shots,
        -1,
      );
    } else if (!held.equals(final) && !due?.orContinue) {
      this.#fail(`the node holds ${JSON.stringify(held)}, not ${JSON.stringify(final)}`, shots, -1);
    }
    // A partial apply leaves the state ahead of its log; comparing whole states costs more, so less often.
    if (!node.store.state.versionVector.equals(held))
      this.#fail(
        `the state holds ${JSON.stringify(node.store.state.versionVector)}, its log ${JSON.stringify(held)}`,
        shots,
        -1,
      );
    // After a state was installed, and now and then: the whole state, and that it restores.
    const installed = shots.some(
      ([shot], i) => shot.bytes[0] === STATE_END_TAG && verdicts[i]?.kind === 'continue',
    );
    if (installed || this.tally.rounds % DIGEST_EVERY === 0) this.#checkState(shots, installed);
    if (link.closed !== undefined) return false;
    // A timestamp right at the skew limit went either way: the model cannot follow this session.
    if (due?.orContinue) {
      link.connection.close(CLOSE_CODES.NORMAL, 'the model lost track');
      return false;
    }
    return true;
  }

  /**
   * The node's state is the reference's (the ops of its log and the states it installed), and
   * (`restore`) a snapshot of it restores to the same state: what a peer bootstrapping from it, or
   * the node reopening its store, would load.
   */
  #checkState(shots: readonly [Shot, boolean][], restore: boolean): void {
    const state = this.#node.store.state;
    const digest = state.digest();
    if (digest !== this.#node.reference.digest())
      this.#fail('the state differs from a replica that applied exactly the ops of the log', shots, -1);
    if (!restore) return;
    try {
      if (ReplicaState.restore(state.snapshot()).digest() !== digest)
        this.#fail('a snapshot of the node restores to another state', shots, -1);
    } catch (error) {
      this.#fail(`a snapshot of the node does not restore: ${(error as Error).message}`, shots, -1);
    }
  }

  /** Waits until the node has no session left. */
  async #quiet(): Promise<void> {
    // Replicator.status() walks the lag history: count the node's session ends instead.
    const quiet = () => this.#node.sessionsEnded() === this.tally.connections && this.#node.inFlight() === 0;
    if (!(await turnsUntil(quiet))) {
      const { connections } = this.tally;
      this.violations.push(
        `a session did not end after its connection closed: ${this.#node.sessionsEnded()} of ${connections} ended, ` +
          `${this.#node.inFlight()} applies in flight, seed ${this.#seed}: ${JSON.stringify(this.#node.replicator.status())}`,
      );
    }
  }

  #fail(what: string, shots: readonly [Shot, boolean][], at: number): void {
    const lines = shots.map(([shot], i) => `${i === at ? '>' : ' '} ${shot.kind}: ${hex(shot.bytes)}`);
    this.violations.push(
      `${what}\n  seed ${this.#seed}, round ${this.tally.rounds}; rerun with DRIFTLESS_SEED=${this.#seed}\n${lines.join('\n')}`,
    );
  }
}

function safeDecode(bytes: Uint8Array): Message | undefined {
  try {
    return decodeMessage(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The latest timestamp of the winners and tombstones of a state's entries, read from its encoding
 * (docs/PROTOCOL.md: [format, vector, collected, [collection, key, entry, …], …], an entry
 * [type, winner, tombstone, state, …], a stamp [hlc, origin, seq, …]); undefined when it holds
 * none, or is not a state (the install refuses it whole).
 */
function latestStamp(bytes: Uint8Array): number | undefined {
  let state: Value;
  try {
    state = decode(bytes, SNAPSHOT_LIMITS);
  } catch {
    return undefined;
  }
  if (!Array.isArray(state)) return undefined;
  let latest: number | undefined;
  for (const collection of state.slice(3)) {
    if (!Array.isArray(collection)) continue;
    for (let i = 2; i < collection.length; i += 2) {
      const entry = collection[i];
      if (!Array.isArray(entry)) continue;
      for (const stamp of [entry[1], entry[2]]) {
        const hlc = Array.isArray(stamp) ? stamp[0] : undefined;
        if (typeof hlc === 'number' && (latest === undefined || hlc > latest)) latest = hlc;
      }
    }
  }
  return latest;
}
