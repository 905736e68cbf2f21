import * as Y from 'yjs';
import type { Contender, Replica } from './crdt-contender.js';
import { BATCH_OPS, chunk } from './workload.js';

/**
 * Yjs as the CRDT benchmarks drive it: one Y.Doc per replica, keys in one Y.Map, one transaction
 * (and so one update, captured from `doc.on('update')`) per set, updates applied one by one with
 * Y.applyUpdate.
 */

/** The name of the map every benchmark key lives in. */
const MAP_NAME = 'm';

/** A replica: its document and, while it writes, the update of the set just made. */
class YjsReplica implements Replica<Uint8Array> {
  readonly #doc: Y.Doc;
  readonly #map: Y.Map<number>;
  #captured: Uint8Array | undefined;
  #listening = false;

  constructor(doc = new Y.Doc()) {
    this.#doc = doc;
    this.#map = doc.getMap(MAP_NAME);
  }

  readonly #capture = (update: Uint8Array): void => {
    this.#captured = update;
  };

  set(key: string, value: number): Uint8Array {
    if (!this.#listening) {
      this.#doc.on('update', this.#capture);
      this.#listening = true;
    }
    this.#map.set(key, value);
    const update = this.#captured;
    if (update === undefined) throw new Error(`Yjs made no update for the set of ${key}`);
    this.#captured = undefined;
    return update;
  }

  receive(updates: readonly Uint8Array[]): void {
    // A receiving replica has no update listener, so Yjs does not re-encode what it applies.
    if (this.#listening) {
      this.#doc.off('update', this.#capture);
      this.#listening = false;
    }
    const doc = this.#doc;
    for (const update of updates) Y.applyUpdate(doc, update);
  }

  read(key: string): unknown {
    return this.#map.get(key);
  }

  /** The map's entries in key order (each replica keeps its own insertion order). */
  fingerprint(): string {
    const entries = [...this.#map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify(entries);
  }

  stateBytes(): number {
    return Y.encodeStateAsUpdate(this.#doc).length;
  }

  copy(): YjsReplica {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(this.#doc));
    return new YjsReplica(doc);
  }
}

/** Yjs with a Y.Map; each update is sent as it is (Σ of their lengths on the wire). */
export const yjs: Contender<Uint8Array> = {
  name: 'Yjs',
  open: () => new YjsReplica(),
  wireBytes: (updates) => updates.reduce((sum, update) => sum + update.length, 0),
  batchedWireBytes: (updates) =>
    chunk(updates, BATCH_OPS).reduce((sum, batch) => sum + Y.mergeUpdates(batch).length, 0),
};
