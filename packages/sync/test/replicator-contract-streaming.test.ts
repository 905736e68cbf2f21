/**
 * Contracts of the replication protocol about what streams carry, asserted through real Replicators
 * on the in-memory network: duplicates in a full mesh stay bounded, acks follow durability, OPS
 * frames respect the batch bounds and leave at once under light load, and a restarted peer resumes
 * from what it holds. No assertion depends on how long anything took.
 */
import { MemoryStore, MemoryVolume } from '@driftless/core';
import { FaultyStore, seededRandom, testSeed } from '@driftless/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeMessage, MemoryNetwork } from '../src/index.js';
import { newWire, recording, rowOf, write } from './replicator-contract-fixtures.js';
import { type NodeSetup, node, openStore, startNode, stopNodes, type TestNode, until } from './test-nodes.js';

/**
 * Most ops in one OPS frame: op-stream.ts flushes a batch at MAX_BATCH_OPS (4,096), and a log
 * entry, which a frame may carry whole, holds at most MAX_ENTRY_OPS (4,096) ops (log-commit.ts);
 * docs/PROTOCOL.md › Streaming states the bound.
 */
const MAX_OPS_PER_FRAME = 4096;
/** An OPS frame is its tag byte and a u32 frame number, then the op batch. */
const OPS_HEADER_BYTES = 5;

afterEach(async () => {
  vi.useRealTimers();
  await stopNodes();
});

/** The OPS frames among `frames`, decoded, with their op batch's size. */
function opsFrames(frames: readonly Uint8Array[]) {
  return frames.flatMap((frame) => {
    const message = decodeMessage(frame);
    if (message.type !== 'ops') return [];
    return [{ ops: message.ops.length, batchBytes: frame.length - OPS_HEADER_BYTES }];
  });
}

const digests = (nodes: readonly TestNode[]) => new Set(nodes.map((n) => n.store.state.digest()));

describe('Replicator protocol contracts', () => {
  it('keeps duplicates in a full mesh to one copy per peer, never echoing an op to its sender', async () => {
    // Relay (log-sender.ts, op-stream.ts): a node sends each new durable entry to every peer whose
    // `sent` lacks it, and `sent` grows with each op sent and each op the peer sent (ReceiveQueue
    // learns them before they are applied) or acked. So each node sends an op at most once per
    // session, never back to the peer it first got it from, and never to its origin (OpStream.holdsOwn:
    // a relay that overtook the origin's own copy used to go back to it, 6–124 times a run): the
    // origin sends it n - 1 times and every other node at most n - 2 times, (n - 1)² copies in all,
    // of which n - 1 are new. Hence Σ opsDuplicate / Σ opsReceived ≤ (n - 2) / (n - 1): 3/4 for 5 nodes. Relaying to
    // the peer an op came from too makes it n(n - 1) copies, ratio (n - 1) / n = 4/5, and relaying
    // again what arrived twice grows without bound. Only an ack that overtakes a relay saves a copy,
    // which links of 0–2 ms rarely allow, so the mesh sits at the bound: relays race the direct copy
    // (the benchmark measured 46 % for 3 nodes, bound 50 %). The bound is exact, not a guess with
    // slack: the margin is to the echo bug's 4/5. Heartbeats are off: a resend after a PING
    // (liveness.ts) is recovery from a lossy link, outside this bound.
    const seed = testSeed();
    console.log(`full-mesh duplicates: seed ${seed} (rerun with DRIFTLESS_SEED=${seed})`);
    const random = seededRandom(seed);
    const network = new MemoryNetwork({ seed, faults: { latencyMs: { min: 0, max: 2 } } });
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const n = ids.length;
    /** Copies each op arrived in, over every node. */
    const copies = new Map<string, number>();
    let backToOrigin = 0;
    const nodes: TestNode[] = [];
    for (const [i, id] of ids.entries()) {
      nodes.push(
        await node(network, id, {
          options: {
            // One dial per pair (each node dials those started before it): every pair connected once.
            peers: ids.slice(0, i).map((peer) => `mem://${peer}`),
            timing: {
              reconnectBaseMs: 5,
              reconnectMaxMs: 50,
              heartbeatIntervalMs: 600_000,
              heartbeatTimeoutMs: 1_200_000,
            },
          },
          replica: (replica) => {
            const receive = replica.receive;
            replica.receive = (ops, batch) => {
              for (const op of ops) {
                const dot = `${op.origin}:${op.seq}`;
                copies.set(dot, (copies.get(dot) ?? 0) + 1);
                if (op.origin === id) backToOrigin++;
              }
              return receive(ops, batch);
            };
            return replica;
          },
        }),
      );
    }
    await until(() => nodes.every((x) => x.replicator.connectedPeers.length === n - 1), 'the full mesh');
    // Rounds of writes: a single writer first, then several at once, in bursts of 1–40 ops.
    let written = 0;
    for (let round = 0; round < 30; round++) {
      const writers = round < 10 ? [nodes[0] as TestNode] : nodes.filter(() => random() < 0.5);
      await Promise.all(
        writers.map((w) => {
          const count = 1 + Math.floor(random() * 40);
          written += count;
          return Promise.all(
            Array.from({ length: count }, (_, i) => write(w, `r${round}-${w.id}-${i % 7}`, `${i}`)),
          );
        }),
      );
    }
    await until(
      () => digests(nodes).size === 1 && nodes.every((x) => x.store.log.versionVector.total === written),
      'convergence',
      15_000,
    );
    // Relays that lost the race may still be on their way: count once nothing moves.
    const totals = () => {
      const rows = nodes.flatMap((x) => x.replicator.status());
      return {
        received: rows.reduce((sum, row) => sum + row.stats.opsReceived, 0),
        duplicate: rows.reduce((sum, row) => sum + row.stats.opsDuplicate, 0),
      };
    };
    let counted = totals();
    for (;;) {
      await network.idle();
      await Promise.all(nodes.map((x) => x.store.log.settled()));
      const again = totals();
      if (again.received === counted.received && again.duplicate === counted.duplicate) break;
      counted = again;
    }
    const { received, duplicate } = counted;
    const percent = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
    console.log(
      `full-mesh duplicates: ${n} nodes, ${written} ops, ${received} received, ${duplicate} duplicate: ` +
        `${percent(duplicate / received)} (bound ${percent((n - 2) / (n - 1))}); ` +
        `${backToOrigin} relayed back to their origin`,
    );
    // Every op reached every other node exactly once as new: the counts are real receipts.
    expect(received - duplicate).toBe(written * (n - 1));
    expect(copies.size).toBe(written);
    // duplicate / received ≤ (n - 2) / (n - 1), in whole numbers.
    expect(duplicate * (n - 1)).toBeLessThanOrEqual(received * (n - 2));
    // And op by op: no op crossed a link twice, nor went back to the peer it came from.
    expect(Math.max(...copies.values())).toBeLessThanOrEqual((n - 1) ** 2);
    // No op went back to its origin.
    expect(backToOrigin).toBe(0);
  });

  it('acks only what the peer made durable: waitForAcks and opsNotDurable follow its commits', async () => {
    const network = new MemoryNetwork({ seed: 33 });
    const disk = new FaultyStore(await MemoryStore.open());
    const a = await node(network, 'a');
    const b = await node(network, 'b', { disk, options: { peers: ['mem://a'] } });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    const release = disk.holdCommits();
    const { op: dot } = await write(a, 'held');
    // b received the op; its commit is held, so it is not durable there.
    await until(() => rowOf(b, 'a')?.stats.opsReceived === 1, 'the op at b');
    expect(b.store.log.versionVector.get('a')).toBe(0);
    expect(rowOf(a, 'b')).toMatchObject({ opsNotSent: 0, opsNotDurable: 1 });
    expect(await a.replicator.waitForAcks(dot, 1, 30)).toEqual({ peers: [], complete: false });
    expect(a.replicator.peerVectors.get('b')?.includes('a', 1) ?? false).toBe(false);
    release();
    expect(await a.replicator.waitForAcks(dot, 1, 5_000)).toEqual({ peers: ['b'], complete: true });
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'opsNotDurable back to 0');
    expect(b.store.log.versionVector.get('a')).toBe(1);
  });

  it('sends OPS frames of at most maxBatchBytes of ops, live, blocked and catching up', async () => {
    const maxBatchBytes = 4 * 1024;
    const network = new MemoryNetwork({ seed: 34 });
    const wire = newWire();
    const a = await node(network, 'a', {
      options: { timing: { maxBatchBytes } },
      // A small send buffer, so bursts block the stream and it catches up from the log.
      limits: { highWaterBytes: 16 * 1024, lowWaterBytes: 4 * 1024 },
      transport: recording(wire),
    });
    const b = await node(network, 'b', { options: { peers: ['mem://a'] } });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    // Binary values, whose encoding the batch's size estimate bounds tightly (strings it counts at
    // 3 bytes a character), of 0–1,500 bytes: a batch that let one more op in would pass the limit.
    const value = (i: number) => new Uint8Array((i * 397) % 1_500);
    await Promise.all(Array.from({ length: 3_000 }, (_, i) => write(a, `live-${i}`, value(i))));
    await until(() => b.store.log.versionVector.get('a') === 3_000, 'the live burst');
    // b misses a burst and catches up from a's log.
    network.partition(['mem://a'], ['mem://b']);
    await Promise.all(Array.from({ length: 3_000 }, (_, i) => write(a, `later-${i}`, value(i))));
    network.heal();
    await until(() => b.store.log.versionVector.get('a') === 6_000, 'the catch-up');
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    const frames = opsFrames(wire.sent);
    const largest = Math.max(...frames.map((frame) => frame.batchBytes));
    console.log(`batching: ${frames.length} OPS frames, largest batch ${largest} bytes of ${maxBatchBytes}`);
    expect(frames.reduce((sum, frame) => sum + frame.ops, 0)).toBeGreaterThanOrEqual(6_000);
    expect(frames.filter((frame) => frame.batchBytes > maxBatchBytes)).toEqual([]);
    expect(frames.filter((frame) => frame.ops > MAX_OPS_PER_FRAME)).toEqual([]);
    // The limit is what cut the frames: they come close to it.
    expect(largest).toBeGreaterThan(maxBatchBytes * 0.75);
  });

  it('sends OPS frames of at most 4,096 ops when small ops fit many more in a frame', async () => {
    const network = new MemoryNetwork({ seed: 35 });
    const wire = newWire();
    const a = await node(network, 'a', { transport: recording(wire) });
    const b = await node(network, 'b', { options: { peers: ['mem://a'] } });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    // 10,000 ops of ~40 bytes: 256 KiB would hold over 6,000, so the op count is what must cut.
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => write(a, `k${i}`, 'v')));
    await until(() => b.store.log.versionVector.get('a') === 10_000, 'the burst', 15_000);
    const frames = opsFrames(wire.sent);
    expect(frames.filter((frame) => frame.ops > MAX_OPS_PER_FRAME)).toEqual([]);
    expect(Math.max(...frames.map((frame) => frame.ops))).toBe(MAX_OPS_PER_FRAME);
  });

  it('sends a single write under light load at once, without waiting for any timer', async () => {
    const network = new MemoryNetwork({ seed: 36 });
    const wire = newWire();
    const a = await node(network, 'a', { transport: recording(wire) });
    const b = await node(network, 'b', { options: { peers: ['mem://a'] } });
    await until(() => rowOf(a, 'b')?.state === 'streaming', 'b connected and live');
    const sentBefore = wire.sent.length;
    // From here on no timer fires: had the op waited for a batching timer, it would never leave.
    // At zero latency the network delivers on microtasks, so the op can reach b without one.
    vi.useFakeTimers({
      toFake: [
        'setTimeout',
        'clearTimeout',
        'setInterval',
        'clearInterval',
        'setImmediate',
        'clearImmediate',
      ],
    });
    let landed = false;
    const stop = b.store.log.onAppend(() => {
      landed = true;
    });
    await write(a, 'one');
    for (let turn = 0; turn < 10_000 && !landed; turn++) await Promise.resolve();
    stop();
    vi.useRealTimers();
    expect(landed).toBe(true);
    // One OPS frame, of the one op.
    expect(opsFrames(wire.sent.slice(sentBefore))).toEqual([{ ops: 1, batchBytes: expect.any(Number) }]);
    expect(b.store.state.get('c', 'one')?.value).toBe('one');
  });

  it('a restarted peer resumes from its store: only the ops written while it was away are sent', async () => {
    const network = new MemoryNetwork({ seed: 37 });
    const a = await node(network, 'a');
    const volume = new MemoryVolume();
    const setupB: NodeSetup = { options: { peers: ['mem://a'] } };
    const first = await node(network, 'b', { ...setupB, disk: await MemoryStore.open(volume) });
    const history = 400;
    for (let round = 0; round < 8; round++) {
      await Promise.all(Array.from({ length: history / 8 }, (_, i) => write(a, `h${round}-${i}`)));
    }
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'b caught up');
    await first.stop();
    await until(() => a.replicator.connectedPeers.length === 0, 'b gone');
    const away = 25;
    for (let i = 0; i < away; i++) await write(a, `away-${i}`);
    // b again, from the same volume.
    const b = await startNode(network, await openStore('b', await MemoryStore.open(volume)), setupB);
    expect(b.store.log.versionVector.get('a')).toBe(history);
    await until(() => digests([a, b]).size === 1 && rowOf(a, 'b')?.opsNotDurable === 0, 'b caught up again');
    const stats = rowOf(a, 'b')?.stats;
    // Ops from where b's store left off: no state, not the history again.
    expect(stats?.statesSent).toBe(0);
    expect(stats?.opsSent).toBeGreaterThanOrEqual(away);
    expect(stats?.opsSent).toBeLessThan(history + away);
    console.log(`restart: ${stats?.opsSent} ops sent on the new session for ${away} written while away`);
  });
});
