/**
 * Contracts of the replication protocol about sessions, asserted through real Replicators on the
 * in-memory network: duplicate and self sessions are refused with DUPLICATE_NODE, and the cluster
 * secret never crosses the wire. No assertion depends on how long anything took.
 */
import { MemoryStore, MemoryVolume } from '@driftless/core';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CLOSE_CODES,
  decodeMessage,
  MemoryNetwork,
  Replicator,
  type ReplicatorEvent,
  syncReplicaOf,
} from '../src/index.js';
import { newWire, recording, rowOf, write } from './replicator-contract-fixtures.js';
import { node, onStop, openStore, SECRET, startNode, stopNodes, type TestNode, until } from './test-nodes.js';

afterEach(async () => {
  vi.useRealTimers();
  await stopNodes();
});

const closesOf = (n: TestNode) => n.events.flatMap((event) => (event.type === 'disconnected' ? [event] : []));

describe('Replicator protocol contracts', () => {
  it('keeps the session dialed by the smaller node id when two nodes dial each other at once', async () => {
    const network = new MemoryNetwork({ seed: 31, trace: true });
    const volumeA = new MemoryVolume();
    const [storeA, storeB] = await Promise.all([
      openStore('a', await MemoryStore.open(volumeA)),
      openStore('b'),
    ]);
    // Both replicators listen before either dials, so both dials land.
    const [a, b] = await Promise.all([
      startNode(network, storeA, { options: { peers: ['mem://b'] } }),
      startNode(network, storeB, { options: { peers: ['mem://a'] } }),
    ]);
    // b's dial is the loser: refused once (twice if a's session was admitted first and then
    // replaced), after which b waits for a's session to end instead of dialing again.
    await until(
      () => closesOf(b).some((close) => close.code === CLOSE_CODES.DUPLICATE_NODE),
      'b refused as a duplicate',
    );
    await until(() => a.replicator.connectedPeers.length === 1, 'a connected');
    const [writeA] = await Promise.all([write(a, 'from-a'), write(b, 'from-b')]);
    await until(
      () => a.store.log.versionVector.get('b') === 1 && b.store.log.versionVector.get('a') === 1,
      'both writes over the kept session',
    );
    expect(writeA.op.origin).toBe('a');
    for (const close of [...closesOf(a), ...closesOf(b)]) {
      expect(close).toMatchObject({ peer: expect.any(String), code: CLOSE_CODES.DUPLICATE_NODE });
      expect(close.reason).toMatch(/already connected to [ab]/);
    }
    const refusals = closesOf(b).length;
    expect(refusals).toBeGreaterThanOrEqual(1);
    expect(refusals).toBeLessThanOrEqual(2);
    // b's last refusal names no retry: it waits.
    expect(closesOf(b).at(-1)?.retryInMs).toBeUndefined();
    // One session each way, the one a dialed.
    expect(a.replicator.connectedPeers).toEqual(['b']);
    expect(b.replicator.connectedPeers).toEqual(['a']);
    expect(rowOf(a, 'b')).toMatchObject({ direction: 'outbound', state: 'streaming' });
    // b's configured peer is shown by the kept session, once, with no false lag.
    const rows = b.replicator.status();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      url: 'mem://a',
      nodeId: 'a',
      direction: 'inbound',
      state: 'streaming',
      opsNotDurable: 0,
      lastClose: undefined,
    });
    // No more dials while the kept session lasts: b is refused no more.
    const dials = network.trace.filter((entry) => entry.event === 'dial').length;
    await write(a, 'more');
    await until(() => b.store.log.versionVector.get('a') === 2, 'another write');
    expect(closesOf(b)).toHaveLength(refusals);
    expect(network.trace.filter((entry) => entry.event === 'dial').length).toBe(dials);
    // Once it ends (a restarts from its store, not dialing), b dials a again, and that replicates.
    await a.stop();
    const a2 = await startNode(network, await openStore('a', await MemoryStore.open(volumeA)));
    await until(() => b.replicator.connectedPeers.includes('a'), 'b dialed a again');
    expect(rowOf(b, 'a')).toMatchObject({ url: 'mem://a', direction: 'outbound', state: 'streaming' });
    await write(a2, 'after');
    await until(() => b.store.log.versionVector.get('a') >= 3, 'a write over the new session');
  });

  it('refuses a node that dials its own address, or a node using its id, with DUPLICATE_NODE', async () => {
    const network = new MemoryNetwork({ seed: 32 });
    const a = await node(network, 'a', { options: { peers: ['mem://a'] } });
    await until(() => closesOf(a).length >= 2, 'the self-dial closed');
    // Both ends of the connection are a's sessions: each hears the same refusal.
    for (const close of closesOf(a)) {
      expect(close.code).toBe(CLOSE_CODES.DUPLICATE_NODE);
      expect(close.reason).toMatch(/the peer is this node \(a\)/);
    }
    await until(
      () => a.replicator.status().some((row) => row.url === 'mem://a' && row.lastClose !== undefined),
      'the dialer row',
    );
    const row = a.replicator.status().find((r) => r.url === 'mem://a' && r.lastClose !== undefined);
    expect(row?.lastClose?.code).toBe(CLOSE_CODES.DUPLICATE_NODE);
    expect(a.replicator.connectedPeers).toEqual([]);
    // Another node that claims a's id, at another address.
    const twinStore = await openStore('a');
    const twinEvents: ReplicatorEvent[] = [];
    const twin = await Replicator.start({
      replica: syncReplicaOf(twinStore),
      transport: network.transport({ host: 'mem://twin' }),
      clusterId: 'test',
      secret: SECRET,
      peers: ['mem://a'],
      timing: { reconnectBaseMs: 5, reconnectMaxMs: 50 },
      onEvent: (event) => twinEvents.push(event),
    });
    onStop(async () => {
      await twin.close();
      await twinStore.close();
    });
    await until(() => twinEvents.some((event) => event.type === 'disconnected'), 'the twin refused');
    const refused = twinEvents.find((event) => event.type === 'disconnected');
    expect(refused).toMatchObject({ code: CLOSE_CODES.DUPLICATE_NODE });
    expect(twin.connectedPeers).toEqual([]);
    expect(a.replicator.connectedPeers).toEqual([]);
  });

  it('never puts the cluster secret on the wire, in bytes, hex or base64', async () => {
    const seed = testSeed();
    console.log(`secret on the wire: seed ${seed} (rerun with DRIFTLESS_SEED=${seed})`);
    const random = seededRandom(seed);
    const randomBytes = () => Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
    const secret = randomBytes();
    const wrongSecret = randomBytes();
    const network = new MemoryNetwork({ seed });
    const wire = newWire();
    const a = await node(network, 'a', { options: { secret }, transport: recording(wire) });
    for (let i = 0; i < 60; i++) await write(a, `k${i}`, `v${i}`);
    // A peer that joins after a truncation bootstraps from a snapshot: states cross the wire too.
    await a.store.log.truncate(a.store.log.versionVector);
    await write(a, 'tail');
    const b = await node(network, 'b', {
      options: { secret, peers: ['mem://a'], timing: { stateChunkBytes: 256 } },
      transport: recording(wire),
    });
    await until(() => b.store.log.versionVector.get('a') === 61, 'the snapshot and the tail');
    await write(b, 'from-b');
    await until(() => a.store.log.versionVector.get('b') === 1, 'a write from b');
    // A node holding another secret fails the handshake: its frames must not carry its secret either.
    const intruder = await node(network, 'intruder', {
      options: { secret: wrongSecret, peers: ['mem://a'] },
      transport: recording(wire),
    });
    await until(
      () => closesOf(intruder).some((close) => close.code === CLOSE_CODES.AUTH_FAILED),
      'the intruder refused',
    );
    const frames = [...wire.sent, ...wire.received];
    const kinds = new Set(frames.map((frame) => decodeMessage(frame).type));
    // The capture saw handshakes, ops, acks and a state transfer.
    expect([...kinds].sort()).toEqual(
      expect.arrayContaining(['ack', 'auth', 'hello', 'ops', 'state-begin', 'state-chunk', 'state-end']),
    );
    const encodings = (bytes: Uint8Array): Buffer[] => {
      const buffer = Buffer.from(bytes);
      return [
        buffer,
        Buffer.from(buffer.toString('hex')),
        Buffer.from(buffer.toString('hex').toUpperCase()),
        Buffer.from(buffer.toString('base64')),
        Buffer.from(buffer.toString('base64url')),
      ];
    };
    // The whole secret in each encoding, and any 8 bytes of it (a partial leak).
    const needles = [secret, wrongSecret].flatMap((s) => [
      ...encodings(s),
      ...Array.from({ length: s.length - 7 }, (_, i) => Buffer.from(s.subarray(i, i + 8))),
    ]);
    const haystacks = [
      ...frames.map((frame) => Buffer.from(frame)),
      Buffer.from(wire.closeReasons.join('\n')),
    ];
    // The search finds what is there: node ids travel in HELLO.
    expect(haystacks.some((h) => h.includes(Buffer.from('intruder')))).toBe(true);
    const leaks = haystacks.flatMap((haystack, i) =>
      needles.filter((needle) => haystack.includes(needle)).map(() => i),
    );
    expect(leaks).toEqual([]);
  });
});
