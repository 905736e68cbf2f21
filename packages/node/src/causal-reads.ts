/**
 * Causal tokens at a node: what a request's `after=` waits for, and the token every answer carries.
 * A token names only ops durable here: a read answers once what it saw is durable
 * (ReplicaStore.readDurable; a read of one key waits only for changes of that key), and a write
 * answers the durable vector, which holds it. An op that
 * a crash could still take back would give its seq to another write when the node restarts, and a
 * token naming it would then name that other write.
 *
 * `after=` waits until the node holds the token durably and its state shows it (read-your-writes
 * and monotonic reads on any node). Waiters are checked whenever a commit lands (the owner calls
 * `check`), and give up after the read timeout.
 */
import type { VersionVector } from '@driftless/core';
import type { ReplicaState, ReplicaStore } from '@driftless/crdt';
import { decodeToken, encodeToken } from './causal-token.js';
import { ApiError } from './errors.js';

/** What CausalReads needs of its node. */
export interface CausalReadsOptions {
  readonly readTimeoutMs: number;
  /** True once the node is shutting down. */
  closing(): boolean;
  /** Called with an error that only a bug can cause (the node logs it). */
  onBug(error: Error): void;
}

interface Waiter {
  readonly target: VersionVector;
  readonly done: (reached: boolean) => void;
}

/** A node's causal tokens; see the module comment. */
export class CausalReads {
  readonly #replica: ReplicaStore;
  readonly #options: CausalReadsOptions;
  readonly #waiters = new Set<Waiter>();

  constructor(replica: ReplicaStore, options: CausalReadsOptions) {
    this.#replica = replica;
    this.#options = options;
  }

  /**
   * Waits until the node reached the request's `after=` token, if it has one. Throws INVALID_TOKEN,
   * READ_TIMEOUT, or SHUTTING_DOWN when the node closes meanwhile.
   */
  async awaitAfter(query: URLSearchParams): Promise<void> {
    const after = query.get('after');
    if (after === null) return;
    const target = decodeToken(after);
    if (await this.#waitFor(target)) return;
    const { log, state } = this.#replica;
    if (log.versionVector.dominates(target) && !state.versionVector.dominates(target)) {
      const vectors = `state ${JSON.stringify(state.versionVector.toJSON())}, log ${JSON.stringify(log.versionVector.toJSON())}`;
      this.#options.onBug(new Error(`the state lacks ops its durable log holds: ${vectors}`));
    }
    if (this.#options.closing())
      throw new ApiError('SHUTTING_DOWN', 'the node is shutting down: retry on another node');
    throw new ApiError(
      'READ_TIMEOUT',
      `this node has not applied everything in the token within ${this.#options.readTimeoutMs} ms ` +
        '(it lags, or is cut off from the node that wrote): retry, or read from that node',
    );
  }

  /** Runs `read` now; resolves once what it saw is durable, with its token (see the module comment). */
  async readDurable<T>(read: (state: ReplicaState) => T): Promise<{ value: T; token: string }> {
    const { value, vector } = await this.#replica.readDurable(read);
    return { value, token: encodeToken(vector) };
  }

  /** readDurable for a read of one key: waits only while a change of that key is not durable. */
  async readDurableKey<T>(
    collection: string,
    key: string,
    read: (state: ReplicaState) => T,
  ): Promise<{ value: T; token: string }> {
    const { value, vector } = await this.#replica.readDurableKey(collection, key, read);
    return { value, token: encodeToken(vector) };
  }

  /** The token of what the node holds durably now: a write's answer, its op included. */
  token(): string {
    return encodeToken(this.#replica.log.versionVector);
  }

  /** Releases every waiter the node now covers; call after every commit. */
  check(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of this.#waiters) if (this.#covers(waiter.target)) waiter.done(true);
  }

  /** Releases every waiter as not reached. */
  close(): void {
    for (const waiter of this.#waiters) waiter.done(false);
  }

  /**
   * The log holds `target` durably and the state shows it. The state applies what the log admits,
   * so the first implies the second; checking both keeps a bug that broke this from answering a
   * token that reads would not show.
   */
  #covers(target: VersionVector): boolean {
    return (
      this.#replica.log.versionVector.dominates(target) && this.#replica.state.versionVector.dominates(target)
    );
  }

  /** Resolves true once the node covers `target`, false after the read timeout or on close. */
  #waitFor(target: VersionVector): Promise<boolean> {
    if (this.#covers(target)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => waiter.done(false), this.#options.readTimeoutMs);
      const waiter: Waiter = {
        target,
        done: (reached) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(reached);
        },
      };
      this.#waiters.add(waiter);
    });
  }
}
