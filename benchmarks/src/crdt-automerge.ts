import * as Automerge from '@automerge/automerge';
import type { Contender, Replica } from './crdt-contender.js';

/**
 * Automerge as the CRDT benchmarks drive it. A writer makes one change per set on the document's
 * backend (put, commit, `getLastLocalChange`): `Automerge.change` copies the frozen root object on
 * every change, so with one key per change it is quadratic in the keys (0.8 ms a change at 2,000
 * keys, 2.3 ms at 8,000) and could not make 100,000 changes in a run. A receiver is an ordinary
 * document, and `Automerge.applyChanges` applies the changes in calls of APPLY_BATCH: one change
 * per call was quadratic too (under 1,000 changes/s by 10,000 keys).
 */

/** Changes per `Automerge.applyChanges` call. */
export const APPLY_BATCH = 1000;

/** The document's root: the benchmark keys. */
type Root = Record<string, number>;
/** Automerge's low-level document (the WASM engine under a document). */
type Backend = ReturnType<typeof Automerge.getBackend>;

/** A replica: a low-level writer until it first receives, an ordinary document from then on. */
class AutomergeReplica implements Replica<Uint8Array> {
  #writer: Backend | undefined;
  #doc: Automerge.Doc<Root> | undefined;

  constructor(doc?: Automerge.Doc<Root>) {
    this.#doc = doc;
  }

  set(key: string, value: number): Uint8Array {
    if (this.#doc !== undefined) throw new Error('an Automerge replica here writes before it receives');
    this.#writer ??= Automerge.getBackend(Automerge.init<Root>());
    this.#writer.put('_root', key, value);
    this.#writer.commit();
    const change = this.#writer.getLastLocalChange();
    if (change === null) throw new Error(`Automerge made no change for the set of ${key}`);
    return change;
  }

  receive(changes: readonly Uint8Array[]): void {
    let doc = this.#receiver();
    for (let start = 0; start < changes.length; start += APPLY_BATCH) {
      [doc] = Automerge.applyChanges(doc, changes.slice(start, start + APPLY_BATCH));
    }
    this.#doc = doc;
  }

  read(key: string): unknown {
    return this.#doc === undefined ? this.#writer?.get('_root', key) : this.#doc[key];
  }

  fingerprint(): string {
    const heads = this.#doc === undefined ? (this.#writer?.getHeads() ?? []) : Automerge.getHeads(this.#doc);
    return [...heads].sort().join(',');
  }

  stateBytes(): number {
    return this.#saved().length;
  }

  copy(): AutomergeReplica {
    return new AutomergeReplica(Automerge.load<Root>(this.#saved()));
  }

  /** The document to receive into: a new one, or this writer's history loaded as one. */
  #receiver(): Automerge.Doc<Root> {
    if (this.#doc === undefined) {
      this.#doc =
        this.#writer === undefined ? Automerge.init<Root>() : Automerge.load<Root>(this.#writer.save());
      this.#writer = undefined;
    }
    return this.#doc;
  }

  #saved(): Uint8Array {
    if (this.#doc !== undefined) return Automerge.save(this.#doc);
    return this.#writer?.save() ?? Automerge.save(Automerge.init<Root>());
  }
}

/** Automerge; each change is sent as it is (Σ of their lengths on the wire). */
export const automerge: Contender<Uint8Array> = {
  name: 'Automerge',
  open: () => new AutomergeReplica(),
  wireBytes: (changes) => changes.reduce((sum, change) => sum + change.length, 0),
};
