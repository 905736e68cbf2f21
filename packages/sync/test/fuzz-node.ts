import { MemoryStore, type Op, VersionVector } from '@driftless/core';
import { ReplicaState, ReplicaStore } from '@driftless/crdt';
import {
  CLOSE_CODES,
  type Connection,
  closeCodeName,
  decodeMessage,
  encodeMessage,
  type MemoryNetwork,
  type Message,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  Replicator,
  type SyncReplica,
  syncReplicaOf,
  type Transport,
} from '../src/index.js';
import { specProof } from './session-oracle.js';

/**
 * The node under fuzzing and the raw end of a connection to it. The node is a ReplicaStore on a
 * MemoryStore with a Replicator listening on the in-memory network; its replica is watched (each
 * batch of ops taken all or nothing) and followed by a reference replica that applies exactly
 * what its log makes durable, and every state it installs.
 */

/** The cluster the node belongs to, and its secret (which the fuzzer's peer knows). */
export const SECRET = new TextEncoder().encode('session-fuzz-secret-0123456789');
export const CLUSTER = 'fuzz';
/** The node under fuzzing, and where it listens. */
export const NODE = 'n';
export const URL = `mem://${NODE}`;
/** setImmediate turns to wait for an answer before calling the node hung. */
const MAX_TURNS = 20_000;

/**
 * The wall clock of the node and of the fuzzer's peer: virtual, so that a seed replays exactly (the
 * timestamps in ops, and which of them are too far ahead, do not depend on when the run happens).
 */
export class VirtualClock {
  #ms = Date.UTC(2030, 0, 1);
  readonly now = (): number => this.#ms;

  /** Moves the clock forward. */
  tick(ms = 1): void {
    this.#ms += ms;
  }
}

/** A decoded HELLO. */
export type Hello = Extract<Message, { type: 'hello' }>;

/** One turn of the event loop: every microtask (every in-memory delivery) runs before it ends. */
export const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether `condition` holds within MAX_TURNS turns of the event loop. */
export async function turnsUntil(condition: () => boolean): Promise<boolean> {
  for (let turn = 0; turn < MAX_TURNS; turn++) {
    if (condition()) return true;
    await immediate();
  }
  return condition();
}

/** Whether `condition` holds within `ms` of real time (checked every turn of the event loop). */
export async function within(ms: number, condition: () => boolean): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await immediate();
  }
  return true;
}

/** The node's log, every op in log order. */
export async function logOps(store: ReplicaStore): Promise<Op[]> {
  const ops: Op[] = [];
  for await (const chunk of store.log.readSince(VersionVector.EMPTY)) ops.push(...chunk.ops);
  return ops;
}

/**
 * The replica a node replicates through, watched: each receive() must apply all of its new ops or
 * none (the state's vector moves by exactly the batch's new ops, or not at all), and resolve them as
 * durable only once the log's vector holds them. An installed state
 * is joined into the reference replica too, so the reference stays what the node must hold.
 */
function watchedReplica(
  store: ReplicaStore,
  reference: ReplicaState,
  violations: string[],
): { replica: SyncReplica; inFlight: () => number } {
  const inner = syncReplicaOf(store);
  let inFlight = 0;
  const installState: SyncReplica['installState'] = async (bytes, check) => {
    inFlight++;
    try {
      const changed = await inner.installState(bytes, check);
      reference.applyDelta(bytes);
      return changed;
    } finally {
      inFlight--;
    }
  };
  const receive: SyncReplica['receive'] = (ops) => {
    const before = store.state.versionVector;
    const taken = new Map<string, number>();
    for (const op of ops) {
      const last = taken.get(op.origin) ?? before.get(op.origin);
      if (op.seq === last + 1) taken.set(op.origin, op.seq);
    }
    const expected = before.merge(VersionVector.from(taken));
    let received: ReturnType<SyncReplica['receive']>;
    try {
      received = inner.receive(ops);
    } catch (error) {
      const after = store.state.versionVector;
      if (!after.equals(before))
        violations.push(
          `a refused batch moved the vector ${JSON.stringify(before)} → ${JSON.stringify(after)}`,
        );
      throw error;
    }
    const after = store.state.versionVector;
    if (!after.equals(expected)) {
      violations.push(
        `partial apply: a batch of ${ops.length} ops moved the vector ${JSON.stringify(before)} → ` +
          `${JSON.stringify(after)}, not to ${JSON.stringify(expected)}`,
      );
    }
    inFlight++;
    const durable = received.durable
      .then(() => {
        if (!store.log.versionVector.dominates(expected))
          violations.push(
            `a batch resolved as durable before its ops were: the log holds ${JSON.stringify(store.log.versionVector)}, not ${JSON.stringify(expected)}`,
          );
      })
      .finally(() => inFlight--);
    return { fresh: received.fresh, durable };
  };
  // Everything else is the store's own (the replica interface grows with the protocol).
  const replica = Object.assign(Object.create(inner) as SyncReplica, { receive, installState });
  return { replica, inFlight: () => inFlight };
}

/** The node under fuzzing. */
export interface FuzzNode {
  readonly store: ReplicaStore;
  readonly replicator: Replicator;
  /** A replica that applies exactly what the node's log makes durable, in log order. */
  readonly reference: ReplicaState;
  readonly inFlight: () => number;
  /** Close codes of the node's sessions, by name. */
  readonly closes: Map<string, number>;
  /** How many of the node's sessions have ended. */
  sessionsEnded(): number;
  close(): Promise<void>;
}

/** Starts the node; anything it does wrong goes to `violations`. */
export async function startNode(
  network: MemoryNetwork,
  violations: string[],
  now: () => number = Date.now,
): Promise<FuzzNode> {
  const store = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: NODE, clock: { now } });
  const reference = new ReplicaState();
  store.log.onAppend((chunk) => {
    try {
      for (const op of chunk.ops) reference.apply(op);
    } catch (error) {
      violations.push(`the log made durable what a fresh replica cannot apply: ${(error as Error).message}`);
    }
  });
  const { replica, inFlight } = watchedReplica(store, reference, violations);
  const closes = new Map<string, number>();
  let ended = 0;
  const knownCodes = new Set<number>(Object.values(CLOSE_CODES));
  const replicator = await Replicator.start({
    replica,
    transport: network.transport({ host: URL }),
    clusterId: CLUSTER,
    secret: SECRET,
    listen: URL,
    now,
    // Heartbeats run on real timers: an hour apart, none fires during a run, so a seed replays.
    timing: { heartbeatIntervalMs: 3_600_000, heartbeatTimeoutMs: 7_200_000 },
    onEvent: (event) => {
      if (event.type !== 'disconnected') return;
      if (!knownCodes.has(event.code))
        violations.push(`a session closed with ${event.code}, not in CLOSE_CODES`);
      // A peer's frames are bad frames, never an internal impossibility or a reason to stop.
      if (event.code === CLOSE_CODES.INTERNAL_ERROR || event.code === CLOSE_CODES.SHUTDOWN)
        violations.push(`a session closed with ${closeCodeName(event.code)}: ${event.reason}`);
      ended++;
      const name = closeCodeName(event.code);
      closes.set(name, (closes.get(name) ?? 0) + 1);
    },
  });
  return {
    store,
    replicator,
    reference,
    inFlight,
    closes,
    sessionsEnded: () => ended,
    close: async () => {
      await replicator.close();
      await store.close();
    },
  };
}

/** The attacker's end of one connection: it records the node's HELLO, PONGs and the close. */
export class PeerLink {
  readonly connection: Connection;
  readonly pongs = new Set<number>();
  hello: Hello | undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(connection: Connection, violations: string[]) {
    this.connection = connection;
    connection.open({
      message: (frame) => {
        let message: Message;
        try {
          message = decodeMessage(frame);
        } catch (error) {
          violations.push(`the node sent a frame that does not decode: ${(error as Error).message}`);
          return;
        }
        if (message.type === 'hello') this.hello = message;
        else if (message.type === 'pong') this.pongs.add(message.time);
      },
      drain: () => {},
      close: (code, reason) => {
        this.closed = { code, reason };
      },
    });
  }

  /** Dials the node and waits for its HELLO. */
  static async open(transport: Transport, violations: string[]): Promise<PeerLink & { hello: Hello }> {
    const link = new PeerLink(await transport.dial(URL), violations);
    if (!(await turnsUntil(() => link.hello !== undefined)) || link.hello === undefined)
      throw new Error('the node sent no HELLO');
    return link as PeerLink & { hello: Hello };
  }

  send(frames: readonly Uint8Array[]): void {
    for (const frame of frames) this.connection.send(frame);
  }
}

/** The frames that open an authenticated session as `nodeId` on `link`. */
export function handshake(link: PeerLink & { hello: Hello }, nodeId: string): Uint8Array[] {
  const nonce = new Uint8Array(NONCE_BYTES).fill(7);
  const version = PROTOCOL_VERSION;
  return [
    encodeMessage({ type: 'hello', version, clusterId: CLUSTER, nodeId, role: 'multi', nonce }),
    encodeMessage({
      type: 'auth',
      proof: specProof(SECRET, CLUSTER, nodeId, NODE, link.hello.nonce, nonce),
      vector: VersionVector.EMPTY,
      tip: undefined,
    }),
  ];
}
