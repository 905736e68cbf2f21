/**
 * What a node knows of its peers beyond the replicator's live sessions: every peer it has seen,
 * with its role and the url this node dials it at, kept after it disconnects. A replica names the
 * writable ones when it refuses a write; `ack=all` waits for all of them.
 */
import type { Replicator, Role } from '@driftless/sync';
import { apiUrlOf } from './addresses.js';

/** A writable node this one knows of, as REPLICA_READ_ONLY names it. */
export interface WritableNode {
  readonly id: string;
  /** Its API's base url, when this node dials it. */
  readonly url?: string;
}

/** The peers a node knows; see the module comment. */
export class PeerDirectory {
  readonly #replicator: Replicator;
  /** The peer urls this node is configured to dial. */
  readonly #configured: readonly string[];
  readonly #known = new Map<string, { role: Role | undefined; url: string | undefined }>();

  constructor(replicator: Replicator, configured: readonly string[]) {
    this.#replicator = replicator;
    this.#configured = configured;
  }

  /** Records what the replicator's sessions tell of each connected peer now. */
  refresh(): void {
    for (const row of this.#replicator.status()) {
      if (row.nodeId === undefined) continue;
      const known = this.#known.get(row.nodeId);
      this.#known.set(row.nodeId, { role: row.role ?? known?.role, url: row.url ?? known?.url });
    }
  }

  /** The writable peers (multi or primary when last seen), by id. */
  writable(): WritableNode[] {
    this.refresh();
    const writable: WritableNode[] = [];
    for (const [id, { role, url }] of this.#known) {
      if (role !== 'multi' && role !== 'primary') continue;
      const api = url === undefined ? undefined : apiUrlOf(url);
      writable.push(api === undefined ? { id } : { id, url: api });
    }
    return writable.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** How many peers there are: every one seen (or that ever acked), and configured ones not reached yet. */
  count(): number {
    this.refresh();
    const ids = new Set([...this.#known.keys(), ...this.#replicator.peerVectors.keys()]);
    const reached = new Set([...this.#known.values()].map(({ url }) => url));
    return ids.size + this.#configured.filter((url) => !reached.has(url)).length;
  }
}
