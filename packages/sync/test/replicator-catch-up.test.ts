// Catching a peer up: from the log in full frames, from a snapshot when the log was truncated, with a
// compacted delta only when it is worth sending, and state transfers that survive truncations,
// interruptions and a lost STATE_END, or end in REBOOTSTRAP when there is nothing to send.
import { MemoryStore, VersionVector } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CLOSE_CODES,
  decodeMessage,
  MemoryNetwork,
  Replicator,
  syncReplicaOf,
  type Transport,
} from '../src/index.js';
import { node } from './replicator-fixtures.js';
import { onStop, SECRET, stopNodes, type TestNode, node as testNode, until, write } from './test-nodes.js';

afterEach(stopNodes);

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
});
