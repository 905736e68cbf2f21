import { encodeOps, hlcFromWall, type LogChunk, type Op, VersionVector } from '@driftless/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../src/index.js';
import { LogBytes, MAX_POINTS_PER_ORIGIN } from '../src/log-bytes.js';
import { type NodeSetup, node, stopNodes, type TestNode, until, write } from './test-nodes.js';

afterEach(stopNodes);

/** Every entry logged at a node since it started, with its ops' origins and seqs and its size. */
interface Entry {
  readonly origins: readonly string[];
  readonly seqs: readonly number[];
  readonly bytes: number;
}

/** A node (test-nodes.ts) that also lists every entry its log makes durable. */
async function lagNode(
  network: MemoryNetwork,
  id: string,
  setup: NodeSetup = {},
): Promise<TestNode & { readonly entries: Entry[] }> {
  const started = await node(network, id, setup);
  const entries: Entry[] = [];
  started.store.log.onAppend((chunk) =>
    entries.push({
      origins: chunk.ops.map((op) => op.origin),
      seqs: chunk.ops.map((op) => op.seq),
      bytes: chunk.bytes?.length ?? Number.NaN,
    }),
  );
  return { ...started, entries };
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);

const rowOf = (n: TestNode, peer: string) => n.replicator.status().find((row) => row.nodeId === peer);

describe('lag in log bytes per peer', () => {
  it('counts the log bytes a partitioned peer lacks, growing with writes, and none once it caught up', async () => {
    const network = new MemoryNetwork({ seed: 41 });
    const a = await lagNode(network, 'a');
    const b = await lagNode(network, 'b', { options: { peers: ['mem://a'] } });
    await write(a, 'before');
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'b holds the first write');
    expect(rowOf(a, 'b')).toMatchObject({ bytesNotSent: 0, bytesNotDurable: 0 });

    network.partition(['mem://a'], ['mem://b']);
    await until(() => rowOf(a, 'b')?.state === 'disconnected', 'the partition noticed');
    const logged = a.entries.length;
    const ops: Op[] = [];
    const value = { kind: 'set', value: 'v'.repeat(100) } as const;
    for (let i = 0; i < 10; i++) ops.push((await write(a, `k${i}`, value)).op);
    const first = rowOf(a, 'b');
    const firstBytes = sum(a.entries.slice(logged).map((entry) => entry.bytes));
    expect(first).toMatchObject({ opsNotDurable: 10, bytesNotDurable: firstBytes, bytesNotSent: firstBytes });
    const encoded = encodeOps(ops).length;
    expect(first?.bytesNotDurable).toBeGreaterThan(0.5 * encoded);
    expect(first?.bytesNotDurable).toBeLessThan(2 * encoded);

    for (let i = 10; i < 30; i++) ops.push((await write(a, `k${i}`, value)).op);
    const second = rowOf(a, 'b');
    const secondBytes = sum(a.entries.slice(logged).map((entry) => entry.bytes));
    expect(second).toMatchObject({
      opsNotDurable: 30,
      bytesNotDurable: secondBytes,
      bytesNotSent: secondBytes,
    });
    expect(second?.bytesNotDurable).toBeGreaterThan(2 * (first?.bytesNotDurable ?? 0));
    expect(second?.bytesNotDurable).toBeGreaterThan(0.5 * encodeOps(ops).length);
    expect(second?.bytesNotDurable).toBeLessThan(2 * encodeOps(ops).length);
    // Nothing of b's is missing at a.
    expect(rowOf(b, 'a')).toMatchObject({ bytesNotDurable: 0 });

    network.heal();
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'b caught up');
    expect(rowOf(a, 'b')).toMatchObject({
      state: 'streaming',
      opsNotSent: 0,
      opsNotDurable: 0,
      bytesNotSent: 0,
      bytesNotDurable: 0,
    });
    expect(b.store.state.digest()).toBe(a.store.state.digest());
  });

  it('separates bytes not sent from bytes not durable while a one-way cut holds what was sent', async () => {
    const network = new MemoryNetwork({ seed: 42 });
    // A small send buffer: the session stops sending once the cut has held 2 KiB.
    const a = await lagNode(network, 'a', { limits: { highWaterBytes: 2048, lowWaterBytes: 512 } });
    await lagNode(network, 'b', { options: { peers: ['mem://a'] } });
    await until(() => rowOf(a, 'b')?.state === 'streaming', 'b connected');
    network.cut('mem://a', 'mem://b');
    const logged = a.entries.length;
    const value = { kind: 'set', value: 'v'.repeat(200) } as const;
    for (let i = 0; i < 40; i++) await write(a, `k${i}`, value);
    await until(() => (rowOf(a, 'b')?.opsNotSent ?? 0) > 0, 'the session to stop sending');
    const row = rowOf(a, 'b');
    const entries = a.entries.slice(logged);
    // Each write is an entry of one op, sent in log order: the entries not sent are the last ones.
    const unsent = row?.opsNotSent ?? 0;
    expect(row?.opsNotDurable).toBe(40);
    expect(unsent).toBeLessThan(40);
    expect(row?.bytesNotDurable).toBe(sum(entries.map((entry) => entry.bytes)));
    expect(row?.bytesNotSent).toBe(sum(entries.slice(40 - unsent).map((entry) => entry.bytes)));
    expect(row?.bytesNotSent).toBeLessThan(row?.bytesNotDurable ?? 0);

    network.heal();
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'b caught up');
    expect(rowOf(a, 'b')).toMatchObject({ bytesNotSent: 0, bytesNotDurable: 0 });
  });

  it("does not count a peer's own ops, relayed back through a third node, as bytes it lacks", async () => {
    const network = new MemoryNetwork({ seed: 43 });
    const a = await lagNode(network, 'a');
    const b = await lagNode(network, 'b', { options: { peers: ['mem://a'] } });
    const c = await lagNode(network, 'c', { options: { peers: ['mem://a', 'mem://b'] } });
    await until(() => c.replicator.connectedPeers.length === 2, 'c connected to both');
    await until(() => a.replicator.connectedPeers.length === 2, 'a connected to both');
    network.partition(['mem://a'], ['mem://b']);
    await until(() => rowOf(a, 'b')?.state === 'disconnected', 'the partition noticed');
    const logged = a.entries.length;
    // a's log interleaves its own entries with b's, which reach it through c.
    for (let i = 1; i <= 5; i++) {
      await write(a, `a${i}`);
      await write(b, `b${i}`);
      await until(() => a.store.log.versionVector.get('b') === i, `a holds b:${i}`);
    }
    const entries = a.entries.slice(logged);
    expect(entries.some((entry) => entry.origins.includes('b'))).toBe(true);
    const own = sum(entries.filter((entry) => entry.origins.every((o) => o === 'a')).map((e) => e.bytes));
    // a has not heard from b since the partition: b lacks a's 5 ops as far as a knows, not its own.
    expect(rowOf(a, 'b')).toMatchObject({ opsNotDurable: 5, bytesNotDurable: own, bytesNotSent: own });

    network.heal();
    await until(() => rowOf(a, 'b')?.opsNotDurable === 0, 'b acked');
    expect(rowOf(a, 'b')).toMatchObject({ bytesNotSent: 0, bytesNotDurable: 0 });
  });
});

/** An entry of `count` ops of `origin` from `seq` on, `bytes` long. */
function chunk(entries: readonly [origin: string, from: number, count: number][], bytes: number): LogChunk {
  const ops: Op[] = [];
  for (const [origin, from, count] of entries) {
    for (let seq = from; seq < from + count; seq++) {
      ops.push({ origin, seq, hlc: hlcFromWall(1_000_000), collection: 'c', key: `k${seq}`, mutation: seq });
    }
  }
  return { lsn: 0, ops, bytes: new Uint8Array(bytes) };
}

const vv = (entries: Record<string, number>) => VersionVector.from(entries);

describe('LogBytes', () => {
  it('counts whole entries exactly, and part of an entry as its ops’ even share', () => {
    const log = new LogBytes(VersionVector.EMPTY);
    log.logged(chunk([['a', 1, 2]], 100));
    log.logged(chunk([['b', 1, 1]], 30));
    log.logged(
      chunk(
        [
          ['a', 3, 2],
          ['b', 2, 2],
        ],
        200,
      ),
    );
    const local = vv({ a: 4, b: 3 });
    expect(log.missing(local, local)).toBe(0);
    expect(log.missing(local, vv({ a: 9, b: 9 }))).toBe(0);
    expect(log.missing(local, VersionVector.EMPTY)).toBe(330);
    // Not a prefix of the log: holds the last entry's b ops but not a's.
    expect(log.missing(local, vv({ a: 2, b: 3 }))).toBe(100);
    expect(log.missing(local, vv({ a: 2 }))).toBe(230);
    // Half of the last entry's a ops: a quarter of its bytes.
    expect(log.missing(local, vv({ a: 3, b: 3 }))).toBe(50);
  });

  it('counts the bytes of entries without their encoding by encoding them', () => {
    const log = new LogBytes(VersionVector.EMPTY);
    const entry = chunk([['a', 1, 3]], 0);
    log.logged({ lsn: entry.lsn, ops: entry.ops });
    expect(log.missing(vv({ a: 3 }), VersionVector.EMPTY)).toBe(encodeOps(entry.ops).length);
  });

  it('counts ops held only through a state transfer as no log bytes', () => {
    const log = new LogBytes(VersionVector.EMPTY);
    log.logged(chunk([['a', 1, 1]], 10));
    // a:2..a:50 were installed from a snapshot, never logged here.
    log.logged(chunk([['a', 51, 1]], 10));
    const local = vv({ a: 51, b: 7 });
    expect(log.missing(local, VersionVector.EMPTY)).toBe(20);
    expect(log.missing(local, vv({ a: 1 }))).toBe(10);
    expect(log.missing(local, vv({ a: 30 }))).toBe(10);
  });

  it('counts ops held before tracking began at the mean size of the ops logged since', () => {
    const log = new LogBytes(vv({ a: 10 }));
    expect(log.missing(vv({ a: 10 }), VersionVector.EMPTY)).toBe(0);
    log.logged(chunk([['a', 11, 2]], 40));
    expect(log.missing(vv({ a: 12 }), vv({ a: 10 }))).toBe(40);
    expect(log.missing(vv({ a: 12 }), vv({ a: 5 }))).toBe(140);
  });

  it('stays exact for every peer at or above what all known peers hold once it forgets below it', () => {
    const log = new LogBytes(VersionVector.EMPTY);
    for (let seq = 1; seq <= 100; seq++) log.logged(chunk([['a', seq, 1]], seq));
    const local = vv({ a: 100 });
    const exact = (from: number) => sum(Array.from({ length: 100 - from }, (_, i) => from + 1 + i));
    log.forget(vv({ a: 40 }));
    for (const seq of [40, 41, 77, 99, 100]) expect(log.missing(local, vv({ a: seq }))).toBe(exact(seq));
    // A peer behind all of them (a new one) is counted from the ends of what was forgotten.
    expect(log.missing(local, VersionVector.EMPTY)).toBe(exact(0));
    const between = log.missing(local, vv({ a: 20 }));
    expect(between).toBeGreaterThanOrEqual(exact(40));
    expect(between).toBeLessThanOrEqual(exact(0));
  });

  it('keeps a bounded number of points, approximate between them, exact at the ends, never negative', () => {
    const log = new LogBytes(VersionVector.EMPTY);
    const entries = 3 * MAX_POINTS_PER_ORIGIN;
    const size = (seq: number) => 10 + (seq % 7);
    for (let seq = 1; seq <= entries; seq++) log.logged(chunk([['a', seq, 1]], size(seq)));
    const local = vv({ a: entries });
    let total = 0;
    for (let seq = 1; seq <= entries; seq++) total += size(seq);
    expect(log.missing(local, VersionVector.EMPTY)).toBe(total);
    let behind = 0;
    for (let seq = entries; seq > 0; seq -= 97) {
      const counted = log.missing(local, vv({ a: seq }));
      expect(counted).toBeGreaterThanOrEqual(0);
      // Within the sizes of the few entries between two points kept.
      expect(Math.abs(counted - behind)).toBeLessThanOrEqual(8 * 16);
      behind += sum(Array.from({ length: 97 }, (_, i) => size(seq - i)));
    }
    expect(log.missing(local, local)).toBe(0);
  });
});
