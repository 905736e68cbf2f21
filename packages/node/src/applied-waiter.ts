/**
 * Waiting until a node has applied a version vector: how a read that presents a causal token
 * (`after=`) gets read-your-writes and monotonic reads on any node. Waiters are checked whenever
 * the node's durable vector grows (the owner calls `check`), and give up after their timeout.
 */
import type { VersionVector } from '@driftless/core';

interface Waiter {
  readonly target: VersionVector;
  readonly done: (reached: boolean) => void;
}

/** Waiters for the applied vector; see the module comment. */
export class AppliedWaiter {
  readonly #applied: () => VersionVector;
  readonly #waiters = new Set<Waiter>();

  /** `applied` reads the vector to wait on (the node's durable one). */
  constructor(applied: () => VersionVector) {
    this.#applied = applied;
  }

  /** Resolves true once the applied vector covers `target`, false after `timeoutMs` or on close. */
  waitFor(target: VersionVector, timeoutMs: number): Promise<boolean> {
    if (this.#applied().dominates(target)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
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

  /** Releases every waiter the applied vector now covers. */
  check(): void {
    if (this.#waiters.size === 0) return;
    const applied = this.#applied();
    for (const waiter of this.#waiters) if (applied.dominates(waiter.target)) waiter.done(true);
  }

  /** Releases every waiter as not reached. */
  close(): void {
    for (const waiter of this.#waiters) waiter.done(false);
  }

  /** How many waiters there are. */
  get size(): number {
    return this.#waiters.size;
  }
}
