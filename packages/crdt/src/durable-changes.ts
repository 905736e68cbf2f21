import { formatDot, type Op, type VersionVector } from '@driftless/core';
import { decodeMutation } from './mutation.js';
import type { Change } from './replica-state.js';

/**
 * What one commit made durable, for change feeds: ops appended to the log (local writes and ops
 * received from peers, one Change per op, in log order), or a state installed from a peer (the keys
 * it changed, and the vector of the ops whose effects it brought without them being in the log).
 */
export type DurableChanges =
  | { readonly type: 'ops'; readonly lsn: number; readonly changes: readonly Change[] }
  | {
      readonly type: 'state';
      readonly vector: VersionVector;
      readonly keys: readonly { readonly collection: string; readonly key: string }[];
    };

/**
 * A ReplicaStore's change feed: the Change of each op it applies, held from admission until the
 * commit that makes the op durable reports it to the listeners. Changes are held only while
 * someone listens.
 */
export class DurableChangeFeed {
  readonly #listeners = new Set<(changes: DurableChanges) => void>();
  /** Changes of ops admitted but not yet durable, by dot. */
  readonly #admitted = new Map<string, Change>();

  /** Whether anyone listens: when not, admitted changes need not be held. */
  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  /** Calls `listener` with what each commit makes durable from now on. Returns the unsubscribe function. */
  listen(listener: (changes: DurableChanges) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#admitted.clear();
    };
  }

  /** Holds the change of an op just admitted, until its commit. */
  admitted(change: Change): void {
    this.#admitted.set(formatDot(change.op), change);
  }

  /** Drops every change held: the ops admitted and not yet durable will never be (a commit failed). */
  clear(): void {
    this.#admitted.clear();
  }

  /** Reports the ops of a durable log entry, one Change each, in log order. */
  ops(lsn: number, ops: readonly Op[]): void {
    if (this.#listeners.size === 0) return;
    const changes = ops.map((op) => {
      const dot = formatDot(op);
      const change = this.#admitted.get(dot);
      this.#admitted.delete(dot);
      // An op admitted before anyone listened (or appended to the log directly).
      return change ?? { collection: op.collection, key: op.key, op, kind: kindOf(op), changed: true };
    });
    this.report({ type: 'ops', lsn, changes });
  }

  /** Calls every listener with `changes`; a listener that throws does not stop the others. */
  report(changes: DurableChanges): void {
    for (const listener of this.#listeners) {
      try {
        listener(changes);
      } catch (error) {
        // A listener's bug surfaces (as an unhandled rejection) without failing the commit.
        void Promise.reject(error);
      }
    }
  }
}

function kindOf(op: Op): Change['kind'] {
  try {
    return decodeMutation(op.mutation).kind;
  } catch {
    return 'rejected';
  }
}
