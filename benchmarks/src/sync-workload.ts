import { Buffer } from 'node:buffer';

/**
 * The one workload of the replication benchmarks, the same for every system: process A sets
 * registers under distinct 16-byte ASCII keys to 32-byte ASCII values, and process B receives
 * them. Keys and values are made before anything is timed, so that making them costs no system
 * anything; with the flow-control limits below, every system sends under the same rules.
 */

/** The collection (Driftless) every write goes to. */
export const COLLECTION = 'bench';
/** The Y.Map (Yjs) every write goes to. */
export const MAP_NAME = 'm';
/** The node ids: A writes, B receives, C is the third node of the mesh. */
export const NODE_A = 'a';
export const NODE_B = 'b';
export const NODE_C = 'c';
/** The cluster the Driftless nodes form, and its shared secret. */
export const CLUSTER_ID = 'bench';
export const CLUSTER_SECRET = 'the-sync-benchmark-cluster-secret';

/** Bytes of each key and value (hex, so also their lengths in characters). */
export const KEY_BYTES = 16;
export const VALUE_BYTES = 32;
/** Driftless writes A keeps in flight (issued, not yet durable) while writing as fast as it can. */
export const WRITE_WINDOW = 1000;
/** Ops per raw-pipe frame (msgpackr batch). */
export const RAW_BATCH_OPS = 1000;
/** The raw pipe and Yjs stop sending while ws buffers more than this (Driftless's transport default). */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** …and resume once it has fallen to this. */
export const LOW_WATER_BYTES = 256 * 1024;
/** The largest frame any receiver accepts. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Keys and values of ops 0 … count − 1. */
export interface Workload {
  readonly keys: readonly string[];
  readonly values: readonly string[];
}

/**
 * `count` distinct keys and their values. Key i is a scrambled half then i (so keys are distinct
 * and not in order); its value is a hash of i. Each is decoded from bytes, so it is a flat string,
 * as one read off the wire would be.
 */
export function makeWorkload(count: number): Workload {
  const bytes = Buffer.alloc((KEY_BYTES + VALUE_BYTES) / 2);
  const keys: string[] = new Array(count);
  const values: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    bytes.writeUInt32BE(Math.imul(i, 0x9e3779b1) >>> 0, 0);
    bytes.writeUInt32BE(i, 4);
    for (let word = 0; word < 4; word++)
      bytes.writeUInt32BE(Math.imul(i ^ (word << 28), 0x85ebca6b) >>> 0, 8 + 4 * word);
    keys[i] = bytes.toString('hex', 0, KEY_BYTES / 2);
    values[i] = bytes.toString('hex', KEY_BYTES / 2);
  }
  return { keys, values };
}

/**
 * Now, in milliseconds, on CLOCK_MONOTONIC (process.hrtime): one clock for every process on the
 * machine, so a time taken in A and one taken in B subtract. (performance.timeOrigin differs per
 * process: it is the wall clock read once at each start.)
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}

/** Bytes a WebSocket frame with `payload` bytes takes on the wire (RFC 6455; clients mask). */
export function wsFrameBytes(payload: number, masked: boolean): number {
  const length = payload < 126 ? 0 : payload < 65_536 ? 2 : 8;
  return 2 + length + (masked ? 4 : 0) + payload;
}

/** Frames and bytes one side put on, or took off, its WebSockets (frame headers included). */
export interface Traffic {
  sentFrames: number;
  sentBytes: number;
  receivedFrames: number;
  receivedBytes: number;
}

/** A fresh, zeroed Traffic. */
export function noTraffic(): Traffic {
  return { sentFrames: 0, sentBytes: 0, receivedFrames: 0, receivedBytes: 0 };
}

/**
 * A bound on work in flight: `acquire` waits while `limit` are out, and then until they have
 * fallen to half of it (so a writer refills in bursts, not one at a time); `release` returns one.
 */
export class InFlightWindow {
  readonly #limit: number;
  #out = 0;
  #wake: (() => void) | undefined;
  #wakeAt = 0;
  #failure: unknown;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Takes a slot; a promise when the caller must wait for one. */
  acquire(): Promise<void> | undefined {
    this.#check();
    if (this.#out < this.#limit) {
      this.#out++;
      return undefined;
    }
    return this.#until(this.#limit >>> 1).then(() => {
      this.#check();
      this.#out++;
    });
  }

  /**
   * Starts `task` once a slot is free: at once (undefined), or when the returned promise resolves.
   * The task's settling returns the slot (a failure is kept for the next acquire or drain).
   */
  issue(task: () => Promise<unknown>): Promise<void> | undefined {
    const start = () => {
      task().then(this.release, this.fail);
    };
    const wait = this.acquire();
    if (wait !== undefined) return wait.then(start);
    start();
    return undefined;
  }

  /** Returns a slot. */
  readonly release = (): void => {
    this.#out--;
    if (this.#wake !== undefined && this.#out <= this.#wakeAt) {
      const wake = this.#wake;
      this.#wake = undefined;
      wake();
    }
  };

  /** Returns a slot, recording the first failure (thrown by the next acquire or drain). */
  readonly fail = (error: unknown): void => {
    this.#failure ??= error;
    this.release();
  };

  /** Resolves once nothing is out; rejects with the first failure. */
  async drain(): Promise<void> {
    if (this.#out > 0) await this.#until(0);
    this.#check();
  }

  #until(level: number): Promise<void> {
    this.#wakeAt = level;
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** The time of each percentile of `samples` (nearest rank), e.g. percentiles(x, [0.5, 0.99]). */
export function percentiles(samples: Float64Array, ranks: readonly number[]): number[] {
  if (samples.length === 0) throw new Error('percentiles: no samples');
  const sorted = Float64Array.from(samples).sort();
  return ranks.map(
    (rank) => sorted[Math.min(sorted.length - 1, Math.ceil(rank * sorted.length) - 1)] as number,
  );
}
