// Live replication over the in-memory network: writes stream both ways and are acked, ops written
// together share frames, relays along a chain keep entries whole and causal order, no op goes back to
// its writer, a peer that stops reading is cut off, and status() reports each peer's lag.

import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, encodeMessage, MemoryNetwork, Replicator, syncReplicaOf } from '../src/index.js';
import { node } from './replicator-fixtures.js';
import { authenticatedPeer, onStop, SECRET, stopNodes, type TestNode, until, write } from './test-nodes.js';

afterEach(stopNodes);

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
