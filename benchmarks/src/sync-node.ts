import type { PeerCounters, ReceiveCounts, StoreStats } from './sync-ipc.js';
import type { Traffic } from './sync-workload.js';

/**
 * What a node process runs, whatever the system: sync-child.ts drives a SyncNode. A sender (A)
 * writes op i of the workload; a receiver (B) counts A's ops it holds. Ops of A arrive in order in
 * every system, so what B holds is always ops 0 … held − 1.
 */
export interface SyncNode {
  /** Where it listens, when it does. */
  readonly url: string | undefined;
  /** Resolves once it is connected, handshakes done, to `peers` peers. */
  connected(peers: number): Promise<void>;
  /** Writes ops [from, to) as fast as its flow control allows; resolves once every one has settled. */
  burst(from: number, to: number): Promise<void>;
  /**
   * Writes op i now (paced writing); the raw pipe adds it to the batch of this turn. A promise
   * when the op had to wait for flow control (Driftless: the write window was full).
   */
  write(i: number): Promise<void> | undefined;
  /**
   * Driftless: calls `listener` with i once paced write i is durable in this node's own log (what
   * the writer's promise waits for). The baselines have no such step.
   */
  onWritten?(listener: (i: number) => void): void;
  /** The end of a turn of paced writes: the raw pipe sends the turn's batch. */
  endTurn(): void;
  /** Resolves once every write issued has settled. */
  settled(): Promise<void>;
  /** How many of A's ops this node holds. */
  readonly held: number;
  /** Calls `listener` each time `held` grows. */
  onHeld(listener: () => void): void;
  /** What its WebSockets carried so far. */
  traffic(): Traffic;
  /** Driftless: its store's commits so far. */
  storeStats(): StoreStats | undefined;
  /** Driftless: the counters of every peer session. */
  status(): PeerCounters[];
  /** Driftless: the peers' ops it applied, over all sessions. */
  receiveCounts(): ReceiveCounts | undefined;
  /** Driftless: every session that closed so far. */
  disconnects(): readonly string[];
  /** A cluster node: how many writes of writer `origin` it holds. */
  heldFrom?(origin: string): number;
  /** A cluster node: a digest of its state, equal on nodes that hold the same state. */
  digest?(): string;
  /** A Driftless cluster node: truncates its whole log. */
  truncate?(): Promise<void>;
  close(): Promise<void>;
}

/** Throws: `what` is not something this system's `role` does. */
export function unsupported(what: string, role: string): never {
  throw new Error(`a ${role} does not ${what}`);
}
