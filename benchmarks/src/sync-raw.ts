import { HybridLogicalClock } from '@driftless/core';
import { pack, unpack } from 'msgpackr';
import type { WebSocket } from 'ws';
import type { ChildOptions, PeerCounters } from './sync-ipc.js';
import { type SyncNode, unsupported } from './sync-node.js';
import { BaselineReceiver } from './sync-receiver.js';
import { COLLECTION, NODE_A, RAW_BATCH_OPS, type Traffic, type Workload } from './sync-workload.js';
import { CountedSocket, dialWs } from './sync-ws.js';

/**
 * The raw pipe, the ceiling of the replication benchmarks: the same ops Driftless would send
 * (origin, seq, HLC timestamp, collection, key, mutation `[0, value]`) as plain objects, packed by
 * msgpackr's default `pack` (no records) in batches of RAW_BATCH_OPS over one ws connection; B
 * unpacks each batch and keeps every op's mutation in a Map by key. No log, no store, no
 * validation, no acknowledgement: what is left is building, encoding, sending and decoding.
 */

/** A Driftless op as a plain object; here every mutation is a set, `[0, value]`. */
export interface RawOp<M extends readonly unknown[] = readonly [0, string]> {
  readonly origin: string;
  readonly seq: number;
  readonly hlc: number;
  readonly collection: string;
  readonly key: string;
  readonly mutation: M;
}

/** A: builds op objects, batches them, sends each batch as one frame. */
class RawSender implements SyncNode {
  readonly url = undefined;
  readonly held = 0;
  readonly #socket: CountedSocket;
  readonly #workload: Workload;
  readonly #clock = new HybridLogicalClock();
  #batch: RawOp[] = [];

  constructor(socket: CountedSocket, workload: Workload) {
    this.#socket = socket;
    this.#workload = workload;
  }

  async connected(): Promise<void> {}

  async burst(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      this.write(i);
      if (this.#batch.length >= RAW_BATCH_OPS) {
        this.endTurn();
        if (this.#socket.full) await this.#socket.drained();
      }
    }
    this.endTurn();
  }

  write(i: number): undefined {
    const { keys, values } = this.#workload;
    this.#batch.push({
      origin: NODE_A,
      seq: i + 1,
      hlc: this.#clock.now(),
      collection: COLLECTION,
      key: keys[i] as string,
      mutation: [0, values[i] as string],
    });
  }

  endTurn(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#socket.send(pack(batch));
  }

  async settled(): Promise<void> {}

  onHeld(): void {
    unsupported('hold ops', 'raw-pipe sender');
  }

  traffic(): Traffic {
    return { ...this.#socket.traffic };
  }

  status(): PeerCounters[] {
    return [];
  }

  storeStats(): undefined {
    return undefined;
  }

  receiveCounts(): undefined {
    return undefined;
  }

  disconnects(): readonly string[] {
    return [];
  }

  close(): Promise<void> {
    return this.#socket.close();
  }
}

/** B: unpacks each batch and keeps every op's mutation by key. */
class RawReceiver extends BaselineReceiver {
  readonly #ops = new Map<string, unknown>();
  #held = 0;

  constructor() {
    super('raw-pipe receiver');
  }

  get held(): number {
    return this.#held;
  }

  protected accept(socket: WebSocket): CountedSocket {
    return new CountedSocket(socket, false, (frame) => this.#receive(frame));
  }

  #receive(frame: Buffer): void {
    const batch = unpack(frame) as RawOp[];
    const ops = this.#ops;
    for (const op of batch) ops.set(op.key, op.mutation);
    this.#held += batch.length;
    this.grew();
  }
}

/** Starts one end of the raw pipe. */
export async function startRaw(options: ChildOptions, workload: Workload | undefined): Promise<SyncNode> {
  if (options.role === 'receiver') {
    const receiver = new RawReceiver();
    await receiver.start();
    return receiver;
  }
  const [url] = options.peers;
  if (options.role !== 'sender' || url === undefined || workload === undefined)
    throw new Error('the raw pipe has a sender, which dials one url, and a receiver');
  const socket = await dialWs(url, () => {});
  return new RawSender(socket, workload);
}
