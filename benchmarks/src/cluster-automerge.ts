import * as Automerge from '@automerge/automerge';
import { MeshPeer } from './cluster-mesh.js';
import type { ClusterNodeSpec } from './cluster-spec.js';
import type { ClusterWrite } from './cluster-workload.js';
import type { CountedSocket } from './sync-ws.js';

/**
 * Automerge as a cluster node, synced as automerge-repo syncs a document: a sync state per link,
 * and after every turn of writes and every message received, `generateSyncMessage` for every link
 * (null: nothing to say); `receiveSyncMessage` updates the document (its JS view included, as a
 * DocHandle's does). Writes go to the document's engine directly (put, increment or splice, then
 * commit: one change per write), as crdt-automerge.ts does, because `Automerge.change` copies the
 * root object on every change. Sets and counters live in the root map, text in one text object.
 */

/** Automerge's low-level document (the engine under a document). */
type Backend = ReturnType<typeof Automerge.getBackend>;
/** The document's root. */
type Root = Record<string, unknown>;

/** The root key of the text object. */
const TEXT_PROP = 'text';
/** How far back from the heads `heldFrom` looks for a writer's latest change. */
const MAX_WALK = 256;

/** An Automerge actor id (hex) per node index. */
function actorOf(index: number): string {
  return (index + 1).toString(16).padStart(8, '0');
}

/** An Automerge cluster node. */
export class AutomergePeer extends MeshPeer {
  #doc: Automerge.Doc<Root>;
  /** The engine under #doc: the same one for every version of the document. */
  #engine: Backend;
  readonly #states = new Map<CountedSocket, Automerge.SyncState>();
  #textId: string | undefined;

  constructor(name: string, spec: ClusterNodeSpec, writes: readonly ClusterWrite[]) {
    super(name, spec, writes);
    this.#doc = Automerge.init<Root>({ actor: actorOf(spec.index) });
    this.#engine = Automerge.getBackend(this.#doc);
  }

  /** Every write is one change. */
  get held(): number {
    return this.#engine.stats().numChanges;
  }

  /** The seq of `origin`'s latest change here, found by walking back from the heads. */
  heldFrom(origin: string): number {
    const actor = actorOf(Number(origin.slice(1)));
    const queue = [...this.#engine.getHeads()];
    const seen = new Set<string>();
    for (let walked = 0; walked < MAX_WALK && queue.length > 0; walked++) {
      const hash = queue.shift() as string;
      if (seen.has(hash)) continue;
      seen.add(hash);
      const meta = this.#engine.getChangeMetaByHash(hash);
      if (meta === null) continue;
      if (meta.actor === actor) return meta.seq;
      queue.push(...meta.deps);
    }
    return 0;
  }

  protected apply(write: ClusterWrite): void {
    const doc = this.#engine;
    if (write.kind === 'text') {
      this.#textId ??= this.#textObject();
      doc.splice(this.#textId, write.pos, write.del, write.text);
    } else if (write.kind === 'set') {
      doc.put('_root', write.key, write.value);
    } else if (doc.get('_root', write.key) === undefined) {
      doc.put('_root', write.key, write.delta, 'counter');
    } else {
      doc.increment('_root', write.key, write.delta);
    }
    doc.commit();
  }

  /** The text object: the one a peer made, or a new one (the text scenario has one writer). */
  #textObject(): string {
    const existing = this.#engine.get('_root', TEXT_PROP);
    if (Array.isArray(existing) && existing[0] === 'text') return existing[1] as string;
    return this.#engine.putObject('_root', TEXT_PROP, '');
  }

  protected opened(link: CountedSocket): void {
    this.#states.set(link, Automerge.initSyncState());
    this.#syncLink(link);
  }

  protected override forget(link: CountedSocket): void {
    this.#states.delete(link);
  }

  protected received(link: CountedSocket, frame: Buffer): void {
    const state = this.#states.get(link);
    if (state === undefined) return;
    const [doc, next] = Automerge.receiveSyncMessage(this.#doc, state, frame);
    this.#doc = doc;
    this.#states.set(link, next);
    this.flush();
    this.grew();
  }

  /** Sends every link what its sync state says it lacks. */
  protected flush(): void {
    for (const link of this.#states.keys()) this.#syncLink(link);
  }

  #syncLink(link: CountedSocket): void {
    const state = this.#states.get(link);
    if (state === undefined) return;
    const [next, message] = Automerge.generateSyncMessage(this.#doc, state);
    this.#states.set(link, next);
    if (message !== null) link.send(message);
  }

  digest(): string {
    return [...this.#engine.getHeads()].sort().join(',');
  }

  protected save(): Uint8Array {
    return this.#engine.save();
  }

  protected load(bytes: Uint8Array): void {
    this.#doc = Automerge.load<Root>(bytes, { actor: actorOf(this.spec.index) });
    this.#engine = Automerge.getBackend(this.#doc);
  }
}
