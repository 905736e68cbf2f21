/**
 * Tombstone collection for one node: what members report (REPORTS frames and ACKs) feeds a
 * StabilityTracker, and a timer collects below the causally stable vector it gives — again after
 * a peer's state raised the replica's collected vector (that peer dropped tombstones below it that
 * this side may still hold). Without configured members nothing is collected.
 */
import { VersionVector } from '@driftless/core';
import type { SyncReplica } from './replica.js';
import { type StabilityStatus, StabilityTracker } from './stability.js';

/** What a collection reports. */
export type CollectEvent =
  | { readonly type: 'collected'; readonly keys: number; readonly stable: VersionVector }
  | { readonly type: 'collect-failed'; readonly message: string };

/** One node's tombstone collection; see the module comment. */
export class TombstoneCollector {
  readonly #replica: SyncReplica;
  readonly #tracker: StabilityTracker;
  readonly #onEvent: (event: CollectEvent) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();
  /** The replica's collected vector right after this node last collected (undefined: not yet). */
  #collectedAfterLast: VersionVector | undefined;
  #stopped = false;

  constructor(replica: SyncReplica, members: readonly string[], onEvent: (event: CollectEvent) => void) {
    this.#replica = replica;
    this.#tracker = new StabilityTracker(replica.nodeId, members);
    this.#onEvent = onEvent;
  }

  /** Records what `node` holds durably; what peers tell of this node itself is ignored (stale). */
  report(node: string, vector: VersionVector): void {
    if (node !== this.#replica.nodeId) this.#tracker.report(node, vector);
  }

  /** Every report heard, this node's own first, for a REPORTS message. */
  reports(): [string, VersionVector][] {
    return this.#tracker.reports(this.#replica.versionVector);
  }

  /** The members, the causally stable vector and the members still waited for. */
  stability(): StabilityStatus {
    return this.#tracker.stability(this.#replica.versionVector);
  }

  /** Collects every intervalMs while members are configured, until stop(). */
  start(intervalMs: number): void {
    if (this.#tracker.members.length === 0 || intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      this.collect().catch((error: unknown) => {
        this.#onEvent({ type: 'collect-failed', message: (error as Error).message });
      });
    }, intervalMs);
    this.#timer.unref?.();
  }

  /** Collects now (one collection at a time); resolves with how many keys were dropped. */
  collect(): Promise<number> {
    const run = this.#running.catch(() => {}).then(() => this.#collect());
    this.#running = run;
    return run;
  }

  /** Stops the timer and waits for a collection under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running.catch(() => {});
  }

  async #collect(): Promise<number> {
    const replica = this.#replica;
    if (this.#stopped || replica.collectTombstones === undefined) return 0;
    const { stable } = this.#tracker.stability(replica.versionVector);
    if (stable === undefined) return 0;
    const collected = replica.collectedBelow ?? VersionVector.EMPTY;
    // Nothing new: collected here last time, no state raised the vector since, nothing newly stable.
    if (this.#collectedAfterLast?.equals(collected) && collected.dominates(stable)) return 0;
    // A vector another member collected below was stable there, and this replica holds it all.
    const keys = await replica.collectTombstones(stable.merge(collected).meet(replica.versionVector));
    this.#collectedAfterLast = replica.collectedBelow;
    if (keys > 0) this.#onEvent({ type: 'collected', keys, stable });
    return keys;
  }
}
