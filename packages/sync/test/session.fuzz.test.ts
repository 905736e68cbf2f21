import { createHash } from 'node:crypto';
import {
  decode,
  decodeOps,
  encode,
  hlcFromWall,
  MemoryStore,
  ProtocolError,
  type Value,
  VersionVector,
} from '@driftless/core';
import { testSeed } from '@driftless/core/testing';
import { ReplicaState, ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  encodeMessage,
  MemoryNetwork,
  Replicator,
  syncReplicaOf,
  type Transport,
} from '../src/index.js';
import {
  CLUSTER,
  type FuzzNode,
  handshake,
  logOps,
  NODE,
  PeerLink,
  SECRET,
  startNode,
  turnsUntil,
  URL,
  VirtualClock,
  within,
} from './fuzz-node.js';
import { ATTACKER, SessionFuzzer } from './session-fuzzer.js';

/**
 * A live node under fire: a ReplicaStore and a Replicator on the in-memory network, and a peer that
 * knows the cluster secret sending valid, mutated and crafted frames over many connections. For
 * every frame the oracle (session-oracle.ts, written from docs/PROTOCOL.md) predicts the node's
 * answer; after every batch the fuzzer checks that the node did exactly that: the close code, and
 * ops taken all or nothing, frame by frame. The node's state must always equal a replica that
 * applied exactly the ops its log holds (and the states it installed), and no error may escape a
 * session. Rerun a failure with DRIFTLESS_SEED=<seed> (the run is deterministic: the node's clock
 * is virtual); DRIFTLESS_FUZZ_FRAMES sets how many mutated or crafted frames to send (the valid
 * frames between them come on top: about four for each), DRIFTLESS_STACKS=1 keeps error
 * stacks (dropped during the run for speed).
 */

const FRAMES = Number.parseInt(process.env.DRIFTLESS_FUZZ_FRAMES ?? '', 10) || 100_000;
/** How long a clean peer may take to catch up with the fuzzed node. */
const CONVERGE_MS = 20_000;

describe('a live session under fuzzed frames', () => {
  it(`survives ${FRAMES} mutated and crafted frames among valid ones: typed closes, all-or-nothing applies, still serving`, {
    timeout: 900_000,
  }, async () => {
    const seed = testSeed();
    console.log(`session fuzz: seed ${seed}; rerun with DRIFTLESS_SEED=${seed}`);
    const escaped: unknown[] = [];
    const violations: string[] = [];
    const onEscape = (error: unknown) => {
      escaped.push(error);
      violations.push(`escaped the session: ${(error as Error)?.stack ?? String(error)}`);
    };
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    const network = new MemoryNetwork({ seed });
    const clock = new VirtualClock();
    const node = await startNode(network, violations, clock.now);
    const cleanups: (() => Promise<void>)[] = [node.close];
    try {
      for (let i = 0; i < 40; i++) {
        const key = `s${i % 25}`;
        await node.store.write(
          'seed',
          key,
          i % 5 === 0 ? { kind: 'incr', delta: i + 1 } : { kind: 'set', value: i },
        );
      }
      const stored = await logOps(node.store);
      const seedKeys = Array.from({ length: 25 }, (_, i) => `s${i}`);
      const seedEntries = seedKeys.map((key) => node.store.state.encodedEntry('seed', key));
      const fuzzer = new SessionFuzzer(
        seed,
        node,
        network.transport({ host: `mem://${ATTACKER}` }),
        stored,
        violations,
        clock,
      );
      const started = performance.now();
      // Every refused frame builds an error or two whose stacks nobody reads: skip capturing them.
      const stackTraceLimit = Error.stackTraceLimit;
      Error.stackTraceLimit = process.env.DRIFTLESS_STACKS ? 30 : 0;
      try {
        await fuzzer.run(FRAMES);
      } finally {
        Error.stackTraceLimit = stackTraceLimit;
      }
      const seconds = (performance.now() - started) / 1000;
      const { tally } = fuzzer;
      console.log(
        `session fuzz: ${tally.frames} frames (${tally.broken} broken) in ${tally.rounds} batches over ` +
          `${tally.connections} connections, ${seconds.toFixed(1)} s, ${Math.round(tally.frames / seconds)} frames/s`,
      );
      console.log(`session fuzz: close codes ${JSON.stringify(Object.fromEntries([...node.closes].sort()))}`);
      console.log(
        `session fuzz: broken frames by kind ${JSON.stringify(Object.fromEntries([...tally.kinds].sort()))}`,
      );
      expect(violations.slice(0, 3)).toEqual([]);
      expect(tally.broken).toBeGreaterThanOrEqual(FRAMES);
      // No session is left open: the peers it heard from are listed, every one disconnected.
      expect(node.replicator.status().filter((row) => row.state !== 'disconnected')).toEqual([]);
      expect(node.replicator.connectedPeers).toEqual([]);

      // Nothing stored before is lost, the log is sound, and the state is what it must be: the
      // reference's, and (unless a peer's state was installed) exactly what the log's ops make.
      const log = node.store.log;
      expect(log.versionVector.dominates(VersionVector.from(stored.map((op) => [op.origin, op.seq])))).toBe(
        true,
      );
      await log.verify();
      expect(node.store.state.digest()).toBe(node.reference.digest());
      expect(ReplicaState.restore(node.store.state.snapshot()).digest()).toBe(node.store.state.digest());
      // A peer's state may carry any content (it is trusted as ops are); without one, no frame
      // touched the node's own keys.
      if (log.baseVector.size === 0) {
        expect(seedKeys.map((key) => node.store.state.encodedEntry('seed', key))).toEqual(seedEntries);
        const ops = await logOps(node.store);
        expect(ops.slice(0, stored.length)).toEqual(stored);
        const fresh = new ReplicaState();
        for (const op of ops) fresh.apply(op);
        expect(node.store.state.digest()).toBe(fresh.digest());
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();

      // The node still serves: a clean peer catches up and replicates a write both ways.
      const peerStore = await ReplicaStore.open({
        store: await MemoryStore.open(),
        nodeId: 'clean',
        clock: { now: clock.now },
      });
      const peer = await Replicator.start({
        replica: syncReplicaOf(peerStore),
        transport: network.transport({ host: 'mem://clean' }),
        clusterId: CLUSTER,
        secret: SECRET,
        peers: [URL],
        now: clock.now,
      });
      cleanups.push(async () => {
        await peer.close();
        await peerStore.close();
      });
      // An AUTH vector claiming more of the node's own origin than its log holds, or a tip naming
      // another op than the node's own at that seq, says the node lost data (PROTOCOL.md › A node
      // behind its own origin): from then on it refuses local writes, and still serves reads and
      // replication.
      const rewound = node.replicator.rewound;
      console.log(
        `session fuzz: the node ${rewound ? `refuses writes (${JSON.stringify(rewound)})` : 'writes'}`,
      );
      if (rewound) {
        await expect(
          node.store.write('after', 'from-node', { kind: 'set', value: 'n' }),
        ).rejects.toMatchObject({ code: 'ORIGIN_REWOUND' });
        if (rewound.conflict === undefined) expect(rewound.held).toBeGreaterThan(rewound.own);
        else expect(rewound.conflict).toBeLessThanOrEqual(rewound.own);
      } else {
        await node.store.write('after', 'from-node', { kind: 'set', value: 'n' });
      }
      await peerStore.write('after', 'from-peer', { kind: 'set', value: 'clean' });
      const converged = await within(CONVERGE_MS, () => {
        const vector = node.store.log.versionVector;
        return vector.get('clean') === 1 && peerStore.log.versionVector.equals(vector);
      });
      expect(converged, JSON.stringify({ node: node.replicator.status(), peer: peer.status() })).toBe(true);
      if (!rewound) expect(peerStore.state.get('after', 'from-node')?.value).toBe('n');
      expect(node.store.state.get('after', 'from-peer')?.value).toBe('clean');
      expect(peerStore.state.digest()).toBe(node.store.state.digest());
      expect(violations).toEqual([]);
      expect(escaped).toEqual([]);
    } finally {
      process.off('unhandledRejection', onEscape);
      process.off('uncaughtException', onEscape);
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
  });
});

/** A whole state transfer of `bytes`: STATE_BEGIN, one STATE_CHUNK, STATE_END. */
function stateFrames(bytes: Uint8Array): Uint8Array[] {
  const sha256 = new Uint8Array(createHash('sha256').update(bytes).digest());
  const vector = VersionVector.EMPTY;
  return [
    encodeMessage({ type: 'state-begin', id: 1, kind: 'snapshot', totalBytes: bytes.length, sha256, vector }),
    encodeMessage({ type: 'state-chunk', id: 1, offset: 0, bytes }),
    encodeMessage({ type: 'state-end', id: 1 }),
  ];
}

describe('regressions found by the session fuzzer', () => {
  const withNode = async (test: (node: FuzzNode, transport: Transport) => Promise<void>) => {
    const violations: string[] = [];
    const network = new MemoryNetwork({ seed: 1 });
    const node = await startNode(network, violations);
    try {
      await test(node, network.transport({ host: 'mem://r' }));
      expect(violations).toEqual([]);
    } finally {
      await node.close();
    }
  };

  it('a PING or PONG before the handshake completes closes the session with BAD_FRAME', async () => {
    await withNode(async (_node, transport) => {
      for (const type of ['ping', 'pong'] as const) {
        for (const afterHello of [false, true]) {
          const link = await PeerLink.open(transport, []);
          const frames = afterHello ? handshake(link, 'r').slice(0, 1) : [];
          link.send([...frames, encodeMessage({ type, time: 1 })]);
          expect(await turnsUntil(() => link.closed !== undefined)).toBe(true);
          expect(link.closed?.code, `${type}${afterHello ? ' after HELLO' : ''}`).toBe(CLOSE_CODES.BAD_FRAME);
        }
      }
    });
  });

  it('an OPS run whose last seq is past 2^53 closes the session with BAD_FRAME and applies nothing', async () => {
    // (2^53 - 1) + 2 - 1 rounds through 2^53 back to a safe integer: the codec took the run, and
    // the session closed with OUT_OF_ORDER or, racing its catch-up, INTERNAL_ERROR.
    const hlc = hlcFromWall(Date.now());
    const batch = encode([1, ['a'], ['r', 2 ** 53 - 1, hlc, 0, 0, 'k', [0, 1], 0, 0, 'k', [0, 1]]]);
    expect(() => decodeOps(batch)).toThrow(ProtocolError);
    await withNode(async (node, transport) => {
      const link = await PeerLink.open(transport, []);
      const ops = new Uint8Array(batch.length + 5);
      ops.set([2, 0, 0, 0, 1]);
      ops.set(batch, 5);
      link.send([...handshake(link, 'r'), ops]);
      expect(await turnsUntil(() => link.closed !== undefined)).toBe(true);
      expect(link.closed?.code).toBe(CLOSE_CODES.BAD_FRAME);
      expect(node.store.log.versionVector.get('r')).toBe(0);
    });
  });
  it('an op whose mutation kind is a map with its own toString is applied as a rejected op, not half a frame', async () => {
    // KINDS[kind] turned the map into a property key, which threw a TypeError in the middle of
    // applying the frame: INTERNAL_ERROR, and the frame's earlier ops in the state but not the log.
    const hostile = [{ toString: '', valueOf: 1 }, 1] as unknown as Value;
    expect(() => decodeOps(encode([{ toString: '' }, []]))).toThrow(ProtocolError);
    await withNode(async (node, transport) => {
      const link = await PeerLink.open(transport, []);
      const hlc = hlcFromWall(Date.now());
      const op = (seq: number, mutation: Value) => ({
        origin: 'r',
        seq,
        hlc,
        collection: 'a',
        key: 'k',
        mutation,
      });
      const ops = [op(1, [0, 'fine']), op(2, hostile)];
      link.send([
        ...handshake(link, 'r'),
        encodeMessage({ type: 'ops', number: 1, ops }),
        encodeMessage({ type: 'ping', time: 1 }),
      ]);
      expect(await turnsUntil(() => link.pongs.has(1) && node.inFlight() === 0)).toBe(true);
      expect(link.closed).toBeUndefined();
      expect(node.store.log.versionVector.get('r')).toBe(2);
      expect(node.store.state.versionVector.equals(node.store.log.versionVector)).toBe(true);
      expect(node.store.state.rejectedOps).toBe(1);
      expect(node.store.state.digest()).toBe(node.reference.digest());
    });
  });

  it('a STATE whose tombstone carries a counter total past 2^53 is refused, and the node still snapshots', async () => {
    // The tombstone decoder took any number; the delete copied 2^68 into the counter, whose own
    // decoder refuses it: every later snapshot of the node, and its stored entry, failed to load.
    await withNode(async (node, transport) => {
      const scratch = new ReplicaState();
      const hlc = hlcFromWall(Date.now());
      const op = (seq: number, mutation: Value) => ({
        origin: 'r',
        seq,
        hlc: hlc + seq,
        collection: 'a',
        key: 'c',
        mutation,
      });
      scratch.apply(op(1, [3, 1]));
      scratch.apply(op(2, [1, [], ['r', 1, 0]]));
      const snapshot = decode(scratch.snapshot()) as Value[];
      const [, , entry] = snapshot[3] as Value[][];
      const [, , tombstone] = entry as Value[][];
      (tombstone?.[3] as Value[])[1] = 2 ** 68;
      const link = await PeerLink.open(transport, []);
      link.send([...handshake(link, 'r'), ...stateFrames(encode(snapshot))]);
      expect(await turnsUntil(() => link.closed !== undefined && node.inFlight() === 0)).toBe(true);
      expect(link.closed?.code).toBe(CLOSE_CODES.BAD_FRAME);
      expect(node.store.log.versionVector.get('r')).toBe(0);
      expect(ReplicaState.restore(node.store.state.snapshot()).digest()).toBe(node.store.state.digest());
    });
  });
});

describe('found by the session fuzzer: states obey the origin rules', () => {
  // A peer (even a read-only replica) could send a state whose vector claimed ops of the receiving
  // node beyond what it wrote; the node installed it, and its next write took seq 1001.
  it('a STATE claiming ops of the receiving node it never wrote closes with FORBIDDEN_ORIGIN', async () => {
    const violations: string[] = [];
    const network = new MemoryNetwork({ seed: 1 });
    const node = await startNode(network, violations);
    try {
      await node.store.write('a', 'k', { kind: 'set', value: 1 });
      const link = await PeerLink.open(network.transport({ host: 'mem://r' }), violations);
      const snapshot = decode(node.store.state.snapshot()) as Value[];
      snapshot[1] = VersionVector.from({ [NODE]: 1000 }).toValue();
      link.send([...handshake(link, 'r'), ...stateFrames(encode(snapshot))]);
      await turnsUntil(() => link.closed !== undefined);
      expect(node.store.log.versionVector.get(NODE)).toBe(1);
      expect(link.closed?.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    } finally {
      await node.close();
    }
  });
});

describe('found by the cluster simulation: OPS frames never overtake a state', () => {
  // On a link that reorders frames, STATE_END arrived after the next OPS frame (which the sender
  // sent after the state): the node applied ops whose causal past only the state held.
  it('an OPS frame between STATE_BEGIN and STATE_END closes with OUT_OF_ORDER; after STATE_END it applies', async () => {
    const violations: string[] = [];
    const network = new MemoryNetwork({ seed: 1 });
    const node = await startNode(network, violations);
    const transport = network.transport({ host: 'mem://r' });
    try {
      const hlc = hlcFromWall(Date.now());
      const op = (seq: number) => ({
        origin: 'r',
        seq,
        hlc: hlc + seq,
        collection: 'a',
        key: `k${seq}`,
        mutation: [0, seq] as Value,
      });
      const scratch = new ReplicaState();
      scratch.apply(op(1));
      const [begin, chunk, end] = stateFrames(scratch.snapshot()) as [Uint8Array, Uint8Array, Uint8Array];
      const next = encodeMessage({ type: 'ops', number: 1, ops: [op(2)] });

      const overtaken = await PeerLink.open(transport, violations);
      overtaken.send([...handshake(overtaken, 'r'), begin, chunk, next, end]);
      expect(await turnsUntil(() => overtaken.closed !== undefined && node.inFlight() === 0)).toBe(true);
      expect(overtaken.closed?.code).toBe(CLOSE_CODES.OUT_OF_ORDER);
      expect(node.store.log.versionVector.get('r')).toBe(0);

      const inOrder = await PeerLink.open(transport, violations);
      // The node kept the chunk of the broken-off transfer: it resumes past it.
      inOrder.send([...handshake(inOrder, 'r'), begin, end, next, encodeMessage({ type: 'ping', time: 1 })]);
      expect(await turnsUntil(() => inOrder.pongs.has(1) && node.inFlight() === 0)).toBe(true);
      expect(inOrder.closed).toBeUndefined();
      expect(node.store.log.versionVector.get('r')).toBe(2);
    } finally {
      await node.close();
    }
  });
});
