/**
 * Log retention, in the spirit of PostgreSQL's replication slots: the node keeps a slot per peer
 * (the vector that peer has made durable, persisted so it survives restarts) and deletes a log
 * prefix only once
 *
 *   - every slot, and every configured peer not yet reached, holds it durably, and
 *   - it is older than the keep window (so a change feed can resume from a recent token),
 *
 * or, whatever the slots say, once it is older than the retention limit (like
 * `max_slot_wal_keep_size`: a peer gone for good must not fill the disk). A peer behind the
 * retained log is bootstrapped from a state snapshot and then streamed the tail; a change-feed
 * client behind it is told RESYNC_REQUIRED.
 *
 * Ages come from samples of the node's vector taken at each check, so they count from when the
 * node applied an op (after a restart, from the restart).
 */
import { decode, encode, type Store, VersionVector } from '@driftless/core';
import type { ReplicaStore } from '@driftless/crdt';
import type { Replicator } from '@driftless/sync';

/** Where slots are kept: node id → the peer's durable vector, msgpack. */
const SLOTS_TABLE = 'peer_slots';

/** Samples kept at most (then every other one is dropped). */
const MAX_SAMPLES = 4096;

/** Options of LogRetention. */
export interface RetentionOptions {
  /** Keep every entry at least this long, for change feeds resuming from a token; default 10 min. */
  readonly keepMs: number;
  /** Delete entries older than this even if a slot still needs them; 0: never. Default 7 days. */
  readonly maxAgeMs: number;
  /** How often to check; default 10 s. */
  readonly checkIntervalMs: number;
  /** The configured peers' urls: one not reached yet holds the log as an empty slot would. */
  readonly configuredPeers: readonly string[];
  /** Clock (ms); injectable for tests. */
  readonly now?: () => number;
}

/** Defaults of RetentionOptions. */
export const DEFAULT_RETENTION = {
  keepMs: 10 * 60_000,
  maxAgeMs: 7 * 24 * 3_600_000,
  checkIntervalMs: 10_000,
} as const;

/** What status shows of retention. */
export interface RetentionStatus {
  /** Every op at or below this vector has been deleted from the log. */
  readonly base: Record<string, number>;
  /** Ops the log still holds. */
  readonly retainedOps: number;
  /** Each slot: the ops of this node's log that peer has not made durable yet. */
  readonly slots: { readonly node: string; readonly opsBehind: number }[];
  /** Configured peers never reached since the node started (each holds the whole log). */
  readonly unreached: readonly string[];
}

/** What one check did. */
export interface RetentionCheck {
  readonly removedEntries: number;
  readonly base: VersionVector;
}

/** The retention policy of one node; see the module comment. */
export class LogRetention {
  readonly #store: Store;
  readonly #replica: ReplicaStore;
  readonly #replicator: Replicator;
  readonly #options: RetentionOptions;
  readonly #now: () => number;
  readonly #slots: Map<string, VersionVector>;
  /** Slots changed since they were last persisted. */
  readonly #dirty = new Set<string>();
  /** Dropped slots: the peer's vector when dropped; a slot comes back only if the peer acks more. */
  readonly #dropped = new Map<string, VersionVector>();
  /** (when, vector) samples, oldest first, for ages. */
  #samples: { at: number; vector: VersionVector }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();

  private constructor(
    store: Store,
    replica: ReplicaStore,
    replicator: Replicator,
    options: RetentionOptions,
    slots: Map<string, VersionVector>,
  ) {
    this.#store = store;
    this.#replica = replica;
    this.#replicator = replicator;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#slots = slots;
    this.#samples.push({ at: this.#now(), vector: replica.log.versionVector });
  }

  /** Loads the persisted slots; call start() to check periodically. */
  static async open(
    store: Store,
    replica: ReplicaStore,
    replicator: Replicator,
    options: RetentionOptions,
  ): Promise<LogRetention> {
    const slots = new Map<string, VersionVector>();
    for await (const { key, value } of store.range(SLOTS_TABLE)) {
      slots.set(String(key), VersionVector.fromValue(decode(value)));
    }
    return new LogRetention(store, replica, replicator, options, slots);
  }

  /** Checks every checkIntervalMs until stop(). */
  start(): void {
    if (this.#timer !== undefined || this.#options.checkIntervalMs <= 0) return;
    this.#timer = setInterval(() => void this.check().catch(() => {}), this.#options.checkIntervalMs);
    this.#timer.unref();
  }

  /** Stops checking and waits for a check in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running.catch(() => {});
  }

  /** Samples the vector, updates and persists the slots, and truncates what the policy allows. */
  check(): Promise<RetentionCheck> {
    const run = this.#running.catch(() => {}).then(() => this.#check());
    this.#running = run;
    return run;
  }

  /** Forgets a peer's slot (a node removed for good), so it no longer holds the log. */
  async dropSlot(node: string): Promise<boolean> {
    this.#mergeSlots();
    const slot = this.#slots.get(node);
    if (slot === undefined) return false;
    this.#slots.delete(node);
    this.#dirty.delete(node);
    this.#dropped.set(node, slot);
    await this.#store.commit([{ table: SLOTS_TABLE, key: node, value: undefined }]);
    return true;
  }

  /** The log's base, retained ops and slots. */
  status(): RetentionStatus {
    const log = this.#replica.log;
    const local = log.versionVector;
    this.#mergeSlots();
    return {
      base: log.baseVector.toJSON(),
      retainedOps: local.opsMissingFrom(log.baseVector),
      slots: [...this.#slots]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([node, vector]) => ({ node, opsBehind: local.opsMissingFrom(vector) })),
      unreached: this.#unreached(),
    };
  }

  async #check(): Promise<RetentionCheck> {
    const log = this.#replica.log;
    const now = this.#now();
    const local = log.versionVector;
    this.#samples.push({ at: now, vector: local });
    this.#mergeSlots();
    const changed = [...this.#dirty].filter((node) => this.#slots.has(node));
    this.#dirty.clear();
    if (changed.length > 0) {
      await this.#store.commit(
        changed.map((node) => ({
          table: SLOTS_TABLE,
          key: node,
          value: encode((this.#slots.get(node) as VersionVector).toValue()),
        })),
      );
    }
    const keepMark = this.#sampleAtOrBefore(now - this.#options.keepMs) ?? log.baseVector;
    let needed = this.#unreached().length > 0 ? log.baseVector : local;
    for (const vector of this.#slots.values()) needed = needed.meet(vector);
    let watermark = needed.meet(keepMark);
    if (this.#options.maxAgeMs > 0) {
      const expired = this.#sampleAtOrBefore(now - this.#options.maxAgeMs);
      if (expired !== undefined) watermark = watermark.merge(expired);
    }
    this.#pruneSamples(now);
    watermark = watermark.meet(local);
    if (log.baseVector.dominates(watermark)) return { removedEntries: 0, base: log.baseVector };
    return log.truncate(watermark);
  }

  /** Raises the slots to what the replicator learned from acks (to be persisted by the next check). */
  #mergeSlots(): void {
    for (const [node, vector] of this.#replicator.peerVectors) {
      const dropped = this.#dropped.get(node);
      if (dropped !== undefined) {
        if (dropped.dominates(vector)) continue;
        this.#dropped.delete(node); // it is back, and acks: a slot again
      }
      const slot = this.#slots.get(node);
      if (slot?.dominates(vector)) continue;
      this.#slots.set(node, slot === undefined ? vector : slot.merge(vector));
      this.#dirty.add(node);
    }
  }

  /** Configured peer urls that have not answered since the node started. */
  #unreached(): string[] {
    const reached = new Set(
      this.#replicator
        .status()
        .filter((row) => row.url !== undefined && row.nodeId !== undefined)
        .map((row) => row.url),
    );
    return this.#options.configuredPeers.filter((url) => !reached.has(url));
  }

  /** The newest sample taken at or before `at`. */
  #sampleAtOrBefore(at: number): VersionVector | undefined {
    let found: VersionVector | undefined;
    for (const sample of this.#samples) {
      if (sample.at > at) break;
      found = sample.vector;
    }
    return found;
  }

  /** Drops samples older than the newest one each window still needs. */
  #pruneSamples(now: number): void {
    const oldestNeeded = now - Math.max(this.#options.keepMs, this.#options.maxAgeMs);
    let drop = 0;
    while (
      drop + 1 < this.#samples.length &&
      (this.#samples[drop + 1] as { at: number }).at <= oldestNeeded
    ) {
      drop++;
    }
    if (drop > 0) this.#samples = this.#samples.slice(drop);
    // Thinning only makes a window's sample older: the log keeps more, never less.
    if (this.#samples.length > MAX_SAMPLES) this.#samples = this.#samples.filter((_, i) => i % 2 === 0);
  }
}
