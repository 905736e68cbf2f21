import type { RangeOptions, Store, StoreEntry, StoreKey, StoreWrite } from '@driftless/core';
import type { Connection, ConnectionHandlers, Listener, SyncReplica, Transport } from '@driftless/sync';
import type { ReceiveCounts, StoreStats } from './sync-ipc.js';
import { monotonicMs, noTraffic, type Traffic, wsFrameBytes } from './sync-workload.js';

/**
 * Instruments a Driftless node wears in the benchmarks, each a thin wrapper that only counts: a
 * transport whose connections count the frames they carry (header included), a store that counts
 * and times its commits, and a replica that counts the peers' ops handed to it and how many were
 * new (over every session, so the counts survive a session that is replaced). Frames, writes and
 * ops pass through untouched.
 */

/** A connection that counts the frames through it; `masked`: this side dialed (clients mask frames). */
class CountedConnection implements Connection {
  readonly #inner: Connection;
  readonly #traffic: Traffic;
  readonly #masked: boolean;

  constructor(inner: Connection, traffic: Traffic, masked: boolean) {
    this.#inner = inner;
    this.#traffic = traffic;
    this.#masked = masked;
  }

  get label(): string {
    return this.#inner.label;
  }

  get bufferedBytes(): number {
    return this.#inner.bufferedBytes;
  }

  open(handlers: ConnectionHandlers): void {
    const traffic = this.#traffic;
    const peerMasks = !this.#masked;
    this.#inner.open({
      ...handlers,
      message: (frame) => {
        traffic.receivedFrames++;
        traffic.receivedBytes += wsFrameBytes(frame.length, peerMasks);
        handlers.message(frame);
      },
    });
  }

  send(frame: Uint8Array): boolean {
    this.#traffic.sentFrames++;
    this.#traffic.sentBytes += wsFrameBytes(frame.length, this.#masked);
    return this.#inner.send(frame);
  }

  pause(): void {
    this.#inner.pause();
  }

  resume(): void {
    this.#inner.resume();
  }

  close(code: number, reason: string): void {
    this.#inner.close(code, reason);
  }
}

/** A transport whose connections count their frames into `traffic`. */
export class CountingTransport implements Transport {
  readonly traffic = noTraffic();
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  async dial(url: string, options?: { signal?: AbortSignal }): Promise<Connection> {
    return new CountedConnection(await this.#inner.dial(url, options), this.traffic, true);
  }

  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    return this.#inner.listen(address, (connection) =>
      onConnection(new CountedConnection(connection, this.traffic, false)),
    );
  }
}

/** A store that counts and times the commits it passes on. */
export class TimedStore implements Store {
  readonly stats: StoreStats = { commits: 0, writes: 0, commitMs: 0, maxCommitMs: 0 };
  readonly #inner: Store;

  constructor(inner: Store) {
    this.#inner = inner;
  }

  get kind(): string {
    return this.#inner.kind;
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    const started = monotonicMs();
    await this.#inner.commit(writes);
    const ms = monotonicMs() - started;
    const { stats } = this;
    stats.commits++;
    stats.writes += writes.length;
    stats.commitMs += ms;
    stats.maxCommitMs = Math.max(stats.maxCommitMs, ms);
  }

  get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    return this.#inner.get(table, key);
  }

  range(table: string, options?: RangeOptions): AsyncIterable<StoreEntry> {
    return this.#inner.range(table, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/**
 * `replica`, counting into `counts` every op peers hand it and how many of them were new. A proxy,
 * so that every other member of the SyncReplica port passes through as it is, whatever it holds.
 */
export function countingReplica(replica: SyncReplica, counts: ReceiveCounts): SyncReplica {
  // The batch passes through: without it the log encodes every received op again.
  const receive: SyncReplica['receive'] = (ops, batch) => {
    const received = replica.receive(ops, batch);
    counts.received += ops.length;
    counts.fresh += received.fresh;
    return received;
  };
  return new Proxy(replica, {
    get: (target, key) => (key === 'receive' ? receive : Reflect.get(target, key)),
  });
}
