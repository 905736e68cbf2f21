import { MemoryStore, type Op, VersionVector } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  authProof,
  CLOSE_CODES,
  createNonce,
  decodeMessage,
  encodeMessage,
  MemoryNetwork,
  PROTOCOL_VERSION,
  Replicator,
  syncReplicaOf,
  type Transport,
} from '../src/index.js';
import {
  authenticatedPeer,
  type NodeSetup,
  onStop,
  rawPeer,
  SECRET,
  stopNodes,
  type TestNode,
  node as testNode,
  until,
  write,
} from './test-nodes.js';

afterEach(stopNodes);

/** A node on the memory network (test-nodes.ts), given its Replicator options and transport limits. */
const node = (
  network: MemoryNetwork,
  id: string,
  options: NodeSetup['options'] = {},
  limits: NodeSetup['limits'] = {},
): Promise<TestNode> => testNode(network, id, { options, limits });

/**
 * Node a with 400 keys and a truncated log, so a new peer b must bootstrap from a snapshot, sent
 * slowly: small chunks, a small send buffer and 2 ms of latency towards mem://b.
 */
async function slowSnapshotSource(network: MemoryNetwork): Promise<TestNode> {
  const a = await node(
    network,
    'a',
    { timing: { stateChunkBytes: 512 } },
    { highWaterBytes: 2048, lowWaterBytes: 512 },
  );
  network.setLinkFaults('mem://a', 'mem://b', { latencyMs: 2 });
  for (let i = 0; i < 400; i++) await write(a, `key-${i}`, { kind: 'set', value: 'v'.repeat(50) });
  await a.store.log.truncate(a.store.log.versionVector);
  return a;
}

describe('Replicator over the in-memory network', () => {
  it('replicates writes both ways and acks them durably', async () => {
    const network = new MemoryNetwork({ seed: 1 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    const { op } = await write(a, 'k1');
    await write(b, 'k2');
    await until(
      () => a.store.state.digest() === b.store.state.digest() && a.store.log.versionVector.total === 2,
      'convergence',
    );
    const acked = await a.replicator.waitForAcks(op, 1, 5_000);
    expect(acked).toEqual({ peers: ['b'], complete: true });
    expect(b.store.state.get('c', 'k1')?.value).toBe('k1');
  });

  it('waitForAcks reports the peers that hold the write when the timeout comes first', async () => {
    const network = new MemoryNetwork({ seed: 2 });
    const a = await node(network, 'a');
    await node(network, 'b', { peers: ['mem://a'] });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    network.partition(['mem://a'], ['mem://b']);
    const { op } = await write(a, 'k');
    expect(await a.replicator.waitForAcks(op, 1, 50)).toEqual({ peers: [], complete: false });
  });

  it('reports per-peer lag while a peer is cut off, and none once it caught up', async () => {
    const network = new MemoryNetwork({ seed: 3 });
    let now = 1_000_000;
    const a = await node(network, 'a', { now: () => now });
    await node(network, 'b', { peers: ['mem://a'] });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    network.cut('mem://a', 'mem://b');
    for (let i = 0; i < 10; i++) await write(a, `k${i}`);
    now += 2_500;
    const [lagging] = a.replicator.status();
    expect(lagging).toMatchObject({ nodeId: 'b', direction: 'inbound', opsNotDurable: 10 });
    expect(lagging?.lagMs).toBe(2_500);
    network.heal();
    await until(() => a.replicator.status()[0]?.opsNotDurable === 0, 'b acked');
    expect(a.replicator.status()[0]).toMatchObject({
      opsNotSent: 0,
      opsNotDurable: 0,
      lagMs: 0,
      state: 'streaming',
    });
  });

  it('sends a single op at once, and coalesces ops written together into few frames', async () => {
    const network = new MemoryNetwork({ seed: 4 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    await write(a, 'one');
    await until(() => b.store.log.versionVector.get('a') === 1, 'the single op');
    const framesBefore = a.replicator.status()[0]?.stats.framesSent ?? 0;
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => write(a, `k${i}`)));
    await until(() => b.store.log.versionVector.get('a') === 2_001, 'the burst');
    const stats = a.replicator.status()[0]?.stats;
    // 2,000 ops in a handful of OPS frames (plus ACKs and PINGs), not one frame per op.
    expect((stats?.framesSent ?? 0) - framesBefore).toBeLessThan(50);
  });

  it('catches a peer up from a log of one-op entries in full frames, not a frame an entry', async () => {
    const network = new MemoryNetwork({ seed: 21 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    network.partition(['mem://a'], ['mem://b']);
    // One at a time: each write is an entry of its own in a's log.
    for (let i = 0; i < 500; i++) await write(a, `k${i}`);
    const appends: number[] = [];
    b.store.log.onAppend((chunk) => appends.push(chunk.ops.length));
    network.heal();
    await until(() => b.store.log.versionVector.get('a') === 500, 'b caught up', 10_000);
    // A frame is appended as one entry: 500 ops in a handful of appends, not 500.
    expect(appends.length).toBeLessThan(20);
    expect(b.store.state.digest()).toBe(a.store.state.digest());
  });

  it("relays log entries whole: down a chain, every node holds the writer's entries byte for byte", async () => {
    const network = new MemoryNetwork({ seed: 14 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    const c = await node(network, 'c', { peers: ['mem://b'] });
    const stored = (n: TestNode) => {
      const entries: string[] = [];
      n.store.log.onAppend((chunk) => entries.push(Buffer.from(chunk.bytes ?? []).toString('hex')));
      return entries;
    };
    const [atA, atB, atC] = [stored(a), stored(b), stored(c)];
    await until(() => b.replicator.connectedPeers.length === 2, 'the chain connected');
    await Promise.all(Array.from({ length: 3_000 }, (_, i) => write(a, `k${i}`)));
    await write(a, 'last');
    await until(() => c.store.log.versionVector.get('a') === 3_001, 'c holds every write');
    expect(atA.length).toBeGreaterThan(1);
    // Each entry went out as one frame and was stored as one entry, at b and again at c.
    expect(atB).toEqual(atA);
    expect(atC).toEqual(atA);
    expect(new Set([a, b, c].map((n) => n.store.state.digest())).size).toBe(1);
  });

  it('relays ops of other origins along a chain, in causal order', async () => {
    const network = new MemoryNetwork({ seed: 5 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    const c = await node(network, 'c', { peers: ['mem://b'] });
    await write(a, 'from-a');
    await write(c, 'from-c');
    await until(
      () => [a, b, c].every((n) => n.store.log.versionVector.total === 2),
      'every node holds both writes',
    );
    expect(new Set([a, b, c].map((n) => n.store.state.digest())).size).toBe(1);
  });

  it('keeps one session between two nodes that dial each other', async () => {
    const network = new MemoryNetwork({ seed: 6 });
    const a = await node(network, 'a', { peers: ['mem://b'] });
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await write(a, 'x');
    await until(() => b.store.log.versionVector.get('a') === 1, 'replication');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(a.replicator.connectedPeers).toEqual(['b']);
    expect(b.replicator.connectedPeers).toEqual(['a']);
  });

  it('refuses a peer with the wrong secret, another cluster, or itself, with a clear close code', async () => {
    const network = new MemoryNetwork({ seed: 7 });
    const a = await node(network, 'a');
    const events: { code: number; reason: string }[] = [];
    const onEvent = (event: { type: string; code?: number; reason?: string }) => {
      if (event.type === 'disconnected')
        events.push({ code: event.code as number, reason: event.reason as string });
    };
    await node(network, 'wrong-secret', {
      peers: ['mem://a'],
      secret: 'not-the-cluster-secret-at-all',
      onEvent,
    });
    await until(() => events.some((e) => e.code === CLOSE_CODES.AUTH_FAILED), 'AUTH_FAILED');
    await node(network, 'other-cluster', { peers: ['mem://a'], clusterId: 'elsewhere', onEvent });
    await until(() => events.some((e) => e.code === CLOSE_CODES.CLUSTER_MISMATCH), 'CLUSTER_MISMATCH');
    expect(a.replicator.connectedPeers).toEqual([]);
    expect(events.find((e) => e.code === CLOSE_CODES.AUTH_FAILED)?.reason).toMatch(/cluster secret/);
  });

  it('refuses an unknown protocol version by name', async () => {
    const network = new MemoryNetwork({ seed: 8 });
    await node(network, 'a');
    const peer = await rawPeer(network, 'mem://a');
    peer.connection.send(
      encodeMessage({
        type: 'hello',
        version: PROTOCOL_VERSION + 1,
        clusterId: 'test',
        nodeId: 'raw',
        role: 'multi',
        nonce: createNonce(),
      }),
    );
    await until(() => peer.closed() !== undefined, 'close');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.PROTOCOL_VERSION);
    expect(peer.closed()?.reason).toContain(
      `protocol ${PROTOCOL_VERSION} and the peer ${PROTOCOL_VERSION + 1}`,
    );
  });

  it('a replayed handshake fails: a proof is bound to the nonce of one connection', async () => {
    const network = new MemoryNetwork({ seed: 9 });
    await node(network, 'a');
    // A genuine peer authenticates on a first connection; its frames are recorded…
    const first = await rawPeer(network, 'mem://a');
    const nonce = createNonce();
    const hello = encodeMessage({
      type: 'hello',
      version: PROTOCOL_VERSION,
      clusterId: 'test',
      nodeId: 'raw',
      role: 'multi',
      nonce,
    });
    first.connection.send(hello);
    await until(() => first.frames.length > 0, 'HELLO from a');
    const theirs = first.messages()[0];
    if (theirs?.type !== 'hello') throw new Error('expected HELLO');
    const proof = authProof(new TextEncoder().encode(SECRET), 'test', 'raw', 'a', theirs.nonce, nonce);
    const auth = encodeMessage({ type: 'auth', proof, vector: VersionVector.EMPTY, tip: undefined });
    first.connection.send(auth);
    await until(() => first.messages().some((m) => m.type === 'auth'), 'AUTH from a');
    expect(first.closed()).toBeUndefined();
    // …and replayed on a second connection, where a sent a new nonce.
    const second = await rawPeer(network, 'mem://a', 'mem://raw2');
    second.connection.send(hello);
    second.connection.send(auth);
    await until(() => second.closed() !== undefined, 'close');
    expect(second.closed()?.code).toBe(CLOSE_CODES.AUTH_FAILED);
  });

  it('closes a session that forges ops of this node, or ops originated by a read-only replica', async () => {
    const network = new MemoryNetwork({ seed: 10 });
    const a = await node(network, 'a');
    const forge = async (nodeId: string, role: 'multi' | 'replica', op: Op) => {
      const peer = await authenticatedPeer(network, 'a', nodeId, role);
      peer.connection.send(encodeMessage({ type: 'ops', number: 1, ops: [op] }));
      await until(() => peer.closed() !== undefined, 'close');
      return peer.closed();
    };
    const mutation = [0, 'forged'];
    const op = (origin: string): Op => ({ origin, seq: 1, hlc: 1, collection: 'c', key: 'k', mutation });
    expect((await forge('mallory', 'multi', op('a')))?.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    expect((await forge('ro', 'replica', op('ro')))?.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(a.store.log.versionVector.total).toBe(0);
  });

  it('a malformed frame closes the session with BAD_FRAME and applies nothing', async () => {
    const network = new MemoryNetwork({ seed: 11 });
    const a = await node(network, 'a');
    const peer = await rawPeer(network, 'mem://a');
    peer.connection.send(Uint8Array.from([2, 0, 0, 0, 1, 0xc1]));
    await until(() => peer.closed() !== undefined, 'close');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.BAD_FRAME);
    expect(a.store.log.versionVector.total).toBe(0);
  });

  it('promotion re-announces the role: a replica cannot originate ops until promoted', async () => {
    const network = new MemoryNetwork({ seed: 12 });
    const primary = await node(network, 'p', { role: 'primary' });
    const replica = await node(network, 'r', { role: 'replica', peers: ['mem://p'] });
    await until(() => primary.replicator.connectedPeers.includes('r'), 'replica connected');
    expect(primary.replicator.status()[0]?.role).toBe('replica');
    replica.replicator.setRole('multi');
    await until(() => primary.replicator.status()[0]?.role === 'multi', 'role re-announced');
    await write(replica, 'after-promotion');
    await until(() => primary.store.log.versionVector.get('r') === 1, 'the promoted node replicates');
  });

  it('bootstraps a peer behind the retained log from a snapshot, then streams the tail', async () => {
    const network = new MemoryNetwork({ seed: 13 });
    const a = await node(network, 'a');
    for (let i = 0; i < 300; i++) await write(a, `k${i % 40}`, { kind: 'incr', delta: 1 });
    await a.store.log.truncate(a.store.log.versionVector);
    expect(a.store.log.canServe(VersionVector.EMPTY)).toBe(false);
    const b = await node(network, 'b', { peers: ['mem://a'], timing: { stateChunkBytes: 128 } });
    await until(() => b.store.log.versionVector.get('a') === 300, 'the snapshot');
    await write(a, 'after', { kind: 'set', value: 'tail' });
    await until(() => b.store.state.get('c', 'after')?.value === 'tail', 'the tail');
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    const sent = a.replicator.status()[0]?.stats;
    expect(sent?.statesSent).toBe(1);
    expect(sent?.opsSent).toBe(1); // only the tail went as an op
    // b's log now starts at the snapshot: it serves peers above it and snapshots those below.
    expect(b.store.log.baseVector.get('a')).toBe(300);
  });

  it('catches up a peer that missed heavy overwrites with a compacted delta far smaller than the ops', async () => {
    const network = new MemoryNetwork({ seed: 14 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await write(a, 'first');
    await until(() => b.store.log.versionVector.get('a') === 1, 'b connected and caught up');
    network.partition(['mem://a'], ['mem://b']);
    for (let round = 0; round < 300; round++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          write(a, `hot${i}`, { kind: 'set', value: { round, pad: 'x'.repeat(40) } }),
        ),
      );
    }
    network.heal();
    await until(() => b.store.log.versionVector.get('a') === 3_001, 'the delta');
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    const stats = a.replicator.status()[0]?.stats;
    expect(stats?.statesSent).toBe(1);
    // 3,000 ops of ~60 bytes each, against the final state of 10 keys.
    expect(stats?.stateBytesSent).toBeLessThan(3_000 * 60 * 0.05);
  });

  it('catches up a peer that missed writes of fresh keys with the ops, without building a delta', async () => {
    const network = new MemoryNetwork({ seed: 17 });
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await write(a, 'first');
    await until(() => b.store.log.versionVector.get('a') === 1, 'b connected and caught up');
    network.partition(['mem://a'], ['mem://b']);
    await Promise.all(
      Array.from({ length: 3_000 }, (_, i) => write(a, `fresh${i}`, { kind: 'set', value: i })),
    );
    const deltas = vi.spyOn(a.store.state, 'delta');
    network.heal();
    await until(() => b.store.log.versionVector.get('a') === 3_001, 'the ops');
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    // One key per op: a delta would be as large as the ops, so none is built.
    expect(deltas).not.toHaveBeenCalled();
    expect(a.replicator.status()[0]?.stats.statesSent).toBe(0);
  });

  it('after a delta not worth sending, tries another only once the peer is twice as far behind', async () => {
    const network = new MemoryNetwork({ seed: 18 });
    const b = await node(network, 'b');
    // a's send buffer fills at once on a slow link: each time, its stream catches up from the log.
    const store = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'a' });
    const replica = syncReplicaOf(store);
    const asked: number[] = [];
    const stateFor = replica.stateFor;
    replica.stateFor = (since, kind) => {
      if (kind === 'delta') asked.push(store.log.versionVector.get('a') - since.get('a'));
      return stateFor(since, kind);
    };
    const replicator = await Replicator.start({
      replica,
      transport: network.transport({ host: 'mem://a', highWaterBytes: 2048, lowWaterBytes: 512 }),
      clusterId: 'test',
      secret: SECRET,
      peers: ['mem://b'],
      timing: { reconnectBaseMs: 5, reconnectMaxMs: 50 },
    });
    onStop(async () => {
      await replicator.close();
      await store.close();
    });
    network.setLinkFaults('mem://a', 'mem://b', { latencyMs: 20 });
    await until(() => replicator.connectedPeers.length === 1, 'a connected');
    // Bursts the stream falls behind on while live: a first entry fills the send buffer, and the
    // next lands while it drains, so the stream catches up from the log, 1,500 ops behind.
    const writes = (burst: number, from: number, count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          store.write('c', `b${burst}-${from + i}`, { kind: 'set', value: 'v'.repeat(40) }),
        ),
      );
    for (let burst = 1; burst <= 4; burst++) {
      await writes(burst, 0, 100);
      await writes(burst, 100, 1_500);
      await until(() => b.store.log.versionVector.get('a') === burst * 1_600, `burst ${burst}`, 20_000);
    }
    expect(b.store.state.digest()).toBe(store.state.digest());
    // Each attempt at least twice as far behind as the one before (every one was refused).
    expect(asked.length).toBeGreaterThan(0);
    for (let i = 1; i < asked.length; i++)
      expect(asked[i]).toBeGreaterThanOrEqual(2 * (asked[i - 1] as number));
  });

  it('never sends a writing peer its own ops back, across heartbeats in which it acks nothing', async () => {
    const network = new MemoryNetwork({ seed: 19 });
    const timing = { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 2_000 };
    const a = await node(network, 'a', { timing });
    const b = await node(network, 'b', { peers: ['mem://a'], timing });
    await write(a, 'first');
    await until(() => b.store.log.versionVector.get('a') === 1, 'b connected and caught up');
    // a writes for many heartbeats; b writes nothing, so a never has anything to ack to b.
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => write(a, `r${round}-${i}`)));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await until(() => b.store.log.versionVector.get('a') === 301, 'every write at b');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(b.replicator.status().find((row) => row.nodeId === 'a')?.stats.opsSent).toBe(0);
    expect(a.replicator.status().find((row) => row.nodeId === 'b')?.stats.opsDuplicate).toBe(0);
  });

  it('a truncation during a state transfer is followed by another state, never sent back', async () => {
    const network = new MemoryNetwork({ seed: 20 });
    // The first state stays in flight while a writes on.
    const a = await slowSnapshotSource(network);
    const events: string[] = [];
    const b = await node(network, 'b', {
      peers: ['mem://a'],
      timing: { stateChunkBytes: 512 },
      onEvent: (event) => events.push(JSON.stringify(event)),
    });
    await until(() => (a.replicator.status()[0]?.stats.bytesSent ?? 0) > 4_000, 'part of the first state');
    // Writes past what a announced in its handshake, gone from its log: b gets them as a second
    // state, which holds more than b's session knew a to hold.
    for (let i = 0; i < 50; i++) await write(a, `more-${i}`);
    await a.store.log.truncate(a.store.log.versionVector);
    await until(() => b.store.log.versionVector.get('a') === 450, 'both states at b');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One session: the truncation during the first state made a send a second, not start over.
    expect(events.filter((event) => event.startsWith('{"type":"disconnected"'))).toEqual([]);
    expect(a.replicator.status()[0]?.stats.statesSent).toBe(2);
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    // b's install caught its session up: a holds what it sent, so b sends it nothing.
    const fromB = b.replicator.status()[0]?.stats;
    expect(fromB?.statesSent).toBe(0);
    expect(fromB?.opsSent).toBe(0);
  });

  it('a peer behind a log that cannot be served, with no snapshot to send it, is told to re-bootstrap', async () => {
    const network = new MemoryNetwork({ seed: 21 });
    // A replica port that has no snapshot to give (SyncReplica.stateFor may return undefined).
    const store = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'a' });
    const replica = syncReplicaOf(store);
    const stateFor = replica.stateFor;
    let asked = 0;
    replica.stateFor = (since, kind) => {
      if (kind !== 'snapshot') return stateFor(since, kind);
      asked++;
      // After a timer, as a real refusal would come: a catch-up that asked again and again would
      // still let the test see it.
      return new Promise((resolve) => setTimeout(() => resolve(undefined), 1));
    };
    const replicator = await Replicator.start({
      replica,
      transport: network.transport({ host: 'mem://a' }),
      clusterId: 'test',
      secret: SECRET,
      listen: 'mem://a',
      timing: { reconnectBaseMs: 50, reconnectMaxMs: 50 },
    });
    onStop(async () => {
      await replicator.close();
      await store.close();
    });
    for (let i = 0; i < 20; i++) await store.write('c', `k${i}`, { kind: 'set', value: i });
    await store.log.truncate(store.log.versionVector);
    const closes: number[] = [];
    await node(network, 'b', {
      peers: ['mem://a'],
      timing: { reconnectBaseMs: 50, reconnectMaxMs: 50 },
      onEvent: (event) => {
        if (event.type === 'disconnected') closes.push(event.code);
      },
    });
    await until(() => closes.length > 0, 'the session closed');
    expect(closes[0]).toBe(CLOSE_CODES.REBOOTSTRAP);
    // One refusal per session: the catch-up does not spin asking for snapshots it will not get.
    expect(asked).toBeLessThanOrEqual(closes.length + 1);
  });

  it('resumes an interrupted state transfer where it stopped', async () => {
    const network = new MemoryNetwork({ seed: 15 });
    // The snapshot is spread over time, so it can be cut midway.
    const a = await slowSnapshotSource(network);
    const b = await node(network, 'b', { peers: ['mem://a'], timing: { stateChunkBytes: 512 } });
    // Cut the link once part of the snapshot has arrived.
    await until(() => (a.replicator.status()[0]?.stats.bytesSent ?? 0) > 8_000, 'part of the snapshot');
    network.partition(['mem://a'], ['mem://b']);
    expect(b.store.log.versionVector.get('a')).toBe(0);
    const total = a.store.state.snapshot().length;
    network.heal();
    await until(() => b.store.log.versionVector.get('a') === 400, 'the rest of the snapshot');
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    // The second session sent only what the first had not.
    const second = a.replicator.status()[0]?.stats;
    expect(second?.statesSent).toBe(1);
    expect(second?.stateBytesSent).toBeLessThan(total);
  });

  it('sends a state again, on the same session, a heartbeat after its STATE_END was lost', async () => {
    // A transport never loses a frame; one that did would leave the peer waiting for the end of a
    // state whose vector the sender counts as sent. Liveness sees the sent ops unacknowledged.
    const network = new MemoryNetwork({ seed: 18 });
    const timing = { heartbeatIntervalMs: 25, heartbeatTimeoutMs: 5_000 };
    let lost = 0;
    const losingFirstStateEnd = (inner: Transport): Transport => ({
      dial: (url, options) => inner.dial(url, options),
      listen: (address, onConnection) =>
        inner.listen(address, (connection) => {
          const send = connection.send.bind(connection);
          connection.send = (frame) => {
            if (lost === 0 && decodeMessage(frame).type === 'state-end') {
              lost++;
              return true;
            }
            return send(frame);
          };
          onConnection(connection);
        }),
    });
    const a = await testNode(network, 'a', { options: { timing }, transport: losingFirstStateEnd });
    for (let i = 0; i < 20; i++) await write(a, `key-${i}`);
    await a.store.log.truncate(a.store.log.versionVector);
    const b = await node(network, 'b', { peers: ['mem://a'], timing });
    await until(() => b.store.log.versionVector.get('a') === 20, 'the state, sent again');
    expect(lost).toBe(1);
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    expect(a.events.filter((event) => event.type === 'disconnected')).toEqual([]);
    // The second time only STATE_END: b kept every chunk of the first.
    expect(a.replicator.status()[0]?.stats.statesSent).toBe(2);
  });

  it('disconnects a peer that stops reading, having buffered no more than the high-water mark', async () => {
    const network = new MemoryNetwork({ seed: 16 });
    const closes: number[] = [];
    const a = await node(network, 'a', {
      timing: { heartbeatIntervalMs: 25, heartbeatTimeoutMs: 500 },
      onEvent: (event) => {
        if (event.type === 'disconnected') closes.push(event.code);
      },
    });
    const peer = await authenticatedPeer(network, 'a', 'sleepy', 'multi');
    peer.connection.pause();
    // Alive (it keeps sending) but not reading.
    const pings = setInterval(() => {
      try {
        peer.connection.send(encodeMessage({ type: 'ping', time: Date.now() }));
      } catch {
        clearInterval(pings); // the node closed the connection
      }
    }, 10);
    onStop(async () => clearInterval(pings));
    let peakQueued = 0;
    const big = 'x'.repeat(1_000);
    for (let i = 0; i < 30 && closes.length === 0; i++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => write(a, `k${i}-${j}`, { kind: 'set', value: big })),
      );
      peakQueued = Math.max(peakQueued, a.replicator.status()[0]?.bytesQueued ?? 0);
    }
    // The peer reads nothing, not even the close: the node closes the session on its own, and
    // keeps reporting the peer as disconnected, with why.
    await until(() => closes.length > 0, 'the close');
    expect(closes).toEqual([CLOSE_CODES.BACKPRESSURE]);
    expect(a.replicator.status()).toMatchObject([
      {
        nodeId: 'sleepy',
        direction: 'inbound',
        state: 'disconnected',
        bytesQueued: 0,
        lastClose: { code: CLOSE_CODES.BACKPRESSURE },
      },
    ]);
    // The session stops at the transport's 1 MiB high-water mark and reads the rest from the log later.
    expect(peakQueued).toBeLessThan(1.5 * 1024 * 1024);
  });

  it('reports lag for a configured peer it never reached while it holds ops that peer lacks', async () => {
    const network = new MemoryNetwork({ seed: 17 });
    let now = 5_000_000;
    const a = await node(network, 'a', { now: () => now, peers: ['mem://nowhere'] });
    // b acks everything, so a forgets the history b has: lag must not read 0 for the unreached peer.
    await node(network, 'b', { peers: ['mem://a'] });
    const { op } = await write(a, 'k');
    expect((await a.replicator.waitForAcks(op, 1, 5_000)).complete).toBe(true);
    now += 1_500;
    const row = a.replicator.status().find((peer) => peer.url === 'mem://nowhere');
    expect(row).toMatchObject({ url: 'mem://nowhere', state: 'disconnected', opsNotDurable: 1 });
    expect(row?.lagMs).toBe(1_500);
  });

  it('keeps reporting an inbound peer after it disconnects, with its lag, until it is back', async () => {
    const network = new MemoryNetwork({ seed: 18 });
    let now = 7_000_000;
    const a = await node(network, 'a', { now: () => now });
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    await b.replicator.close();
    await until(() => a.replicator.connectedPeers.length === 0, 'b gone');
    await write(a, 'k1');
    await write(a, 'k2');
    now += 3_000;
    expect(a.replicator.status()).toMatchObject([
      {
        nodeId: 'b',
        url: undefined,
        direction: 'inbound',
        state: 'disconnected',
        opsNotDurable: 2,
        lagMs: 3_000,
        lastClose: { code: CLOSE_CODES.SHUTDOWN },
      },
    ]);
    // Back, from its store: one row again, streaming and caught up.
    const back = await Replicator.start({
      replica: syncReplicaOf(b.store),
      transport: network.transport({ host: 'mem://b' }),
      clusterId: 'test',
      secret: SECRET,
      peers: ['mem://a'],
      timing: { reconnectBaseMs: 5, reconnectMaxMs: 50 },
    });
    onStop(() => back.close());
    await until(() => a.replicator.status()[0]?.opsNotDurable === 0, 'b caught up');
    expect(a.replicator.status()).toMatchObject([{ nodeId: 'b', state: 'streaming', lastClose: undefined }]);
    expect(b.store.state.get('c', 'k2')?.value).toBe('k2');
  });

  it("counts a peer's own writes as durable there, though it never acks entries of only its own writes", async () => {
    const network = new MemoryNetwork({ seed: 19 });
    let now = 9_000_000;
    const a = await node(network, 'a');
    const b = await node(network, 'b', { peers: ['mem://a'], now: () => now });
    await until(() => b.replicator.connectedPeers.length === 1, 'connected');
    for (let i = 0; i < 5; i++) await write(a, `k${i}`);
    await until(() => b.store.log.versionVector.get('a') === 5, 'b holds a:5');
    now += 10_000;
    expect(b.replicator.status()[0]).toMatchObject({ nodeId: 'a', opsNotDurable: 0, lagMs: 0 });
    expect(b.replicator.peerVectors.get('a')?.get('a')).toBe(5);
  });
});
