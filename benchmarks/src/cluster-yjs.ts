import { createHash } from 'node:crypto';
import * as sync from 'y-protocols/sync';
import * as Y from 'yjs';
import { MeshPeer } from './cluster-mesh.js';
import { type ClusterNodeSpec, relays } from './cluster-spec.js';
import type { ClusterWrite } from './cluster-workload.js';
import { MAP_NAME } from './sync-workload.js';
import type { CountedSocket } from './sync-ws.js';
import { answer, syncMessage } from './sync-yjs.js';

/**
 * Yjs as a cluster node, synced as y-websocket syncs (sync-yjs.ts: the same y-protocols messages):
 * each link opens with sync step 1 both ways, and every update leaves at once, one frame each.
 * Outside a mesh a node relays the updates it receives, as y-websocket's server does. Sets go to
 * one Y.Map; Yjs has no counter, so an increment sets the writer's own entry of the key to its
 * running sum (a grow-only counter over the map); text edits go to one Y.Text.
 */

/** The Y.Text of the text scenario. */
const TEXT_NAME = 't';

/** A Yjs cluster node. */
export class YjsPeer extends MeshPeer {
  readonly #doc = new Y.Doc();
  readonly #map: Y.Map<unknown>;
  readonly #text: Y.Text;
  /** Text edits held: a delete does not advance a Yjs clock, so updates are counted instead. */
  #edits = 0;

  constructor(name: string, spec: ClusterNodeSpec, writes: readonly ClusterWrite[]) {
    super(name, spec, writes);
    this.#doc.clientID = spec.index + 1;
    this.#map = this.#doc.getMap(MAP_NAME);
    this.#text = this.#doc.getText(TEXT_NAME);
    this.#doc.on('update', (update: Uint8Array, origin: unknown) => {
      const remote = origin !== null && origin !== undefined;
      if (remote) this.#edits++;
      // y-websocket: a local update goes to every link; a server relays a remote one to the others.
      if (!remote || relays(this.spec)) {
        const frame = syncMessage((encoder) => sync.writeUpdate(encoder, update));
        this.broadcast(frame, remote ? (origin as CountedSocket) : undefined);
      }
    });
  }

  get held(): number {
    if (this.spec.scenario === 'text') return this.#edits;
    let held = 0;
    const { store } = this.#doc;
    for (const client of store.clients.keys()) held += Y.getState(store, client);
    return held;
  }

  heldFrom(origin: string): number {
    if (this.spec.scenario === 'text') return this.#edits;
    return Y.getState(this.#doc.store, Number(origin.slice(1)) + 1);
  }

  protected apply(write: ClusterWrite): void {
    if (write.kind === 'text') {
      this.#doc.transact(() => {
        if (write.del > 0) this.#text.delete(write.pos, write.del);
        if (write.text.length > 0) this.#text.insert(write.pos, write.text);
      });
      this.#edits++;
    } else if (write.kind === 'set') {
      this.#map.set(write.key, write.value);
    } else {
      const own = `${write.key}/${this.#doc.clientID}`;
      this.#map.set(own, ((this.#map.get(own) as number | undefined) ?? 0) + write.delta);
    }
  }

  protected opened(link: CountedSocket): void {
    link.send(syncMessage((encoder) => sync.writeSyncStep1(encoder, this.#doc)));
  }

  protected received(link: CountedSocket, frame: Buffer): void {
    answer(frame, this.#doc, link);
    this.grew();
  }

  /** Every update left as it was made. */
  protected flush(): void {}

  digest(): string {
    const entries = [...this.#map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return createHash('sha256').update(JSON.stringify(entries)).update(this.#text.toString()).digest('hex');
  }

  protected save(): Uint8Array {
    return Y.encodeStateAsUpdate(this.#doc);
  }

  protected load(bytes: Uint8Array): void {
    Y.applyUpdate(this.#doc, bytes);
  }

  override async close(): Promise<void> {
    await super.close();
    this.#doc.destroy();
  }
}
