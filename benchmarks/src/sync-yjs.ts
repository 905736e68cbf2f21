import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { WebSocket } from 'ws';
import * as sync from 'y-protocols/sync';
import * as Y from 'yjs';
import type { ChildOptions, PeerCounters } from './sync-ipc.js';
import { type SyncNode, unsupported } from './sync-node.js';
import { BaselineReceiver } from './sync-receiver.js';
import { MAP_NAME, type Traffic, type Workload } from './sync-workload.js';
import { CountedSocket, dialWs } from './sync-ws.js';

/**
 * Yjs as y-websocket syncs it: A's Y.Doc sets one Y.Map entry per transaction, and each update
 * leaves at once as a y-protocols sync message (`messageSync`, then `writeUpdate`), one WebSocket
 * frame per update, exactly as y-websocket's provider sends it. B answers each frame as
 * y-websocket's server does (readSyncMessage into its one Y.Doc, replying when there is a reply);
 * it does not relay updates to other clients, as a server would (there are none), and neither side
 * runs awareness. Both sides start with the sync handshake (step 1, step 2) on empty documents.
 */

/** y-websocket's message type for sync messages (awareness and auth are the others). */
const MESSAGE_SYNC = 0;

/** A sync message: y-websocket's outer type, then whatever `write` puts in. */
export function syncMessage(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

/**
 * Handles one frame as y-websocket does on either side: reads the sync message into `doc` and
 * sends the reply, if any. Returns the sync message type (step 1, step 2 or update).
 */
export function answer(frame: Uint8Array, doc: Y.Doc, socket: CountedSocket): number {
  const decoder = decoding.createDecoder(frame);
  if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) throw new Error('Yjs: not a sync message');
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  const type = sync.readSyncMessage(decoder, encoder, doc, socket);
  if (encoding.length(encoder) > 1) socket.send(encoding.toUint8Array(encoder));
  return type;
}

/** A: sets one map entry per transaction; each update is sent as it is made. */
class YjsSender implements SyncNode {
  readonly url = undefined;
  readonly held = 0;
  readonly #doc: Y.Doc;
  readonly #map: Y.Map<string>;
  readonly #socket: CountedSocket;
  readonly #synced: Promise<void>;
  readonly #workload: Workload;

  constructor(doc: Y.Doc, socket: CountedSocket, synced: Promise<void>, workload: Workload) {
    this.#doc = doc;
    this.#map = doc.getMap(MAP_NAME);
    this.#socket = socket;
    this.#synced = synced;
    this.#workload = workload;
  }

  connected(): Promise<void> {
    return this.#synced;
  }

  async burst(from: number, to: number): Promise<void> {
    const { keys, values } = this.#workload;
    const map = this.#map;
    const socket = this.#socket;
    for (let i = from; i < to; i++) {
      map.set(keys[i] as string, values[i] as string);
      if (socket.full) await socket.drained();
    }
  }

  write(i: number): undefined {
    this.#map.set(this.#workload.keys[i] as string, this.#workload.values[i] as string);
  }

  endTurn(): void {}

  async settled(): Promise<void> {}

  onHeld(): void {
    unsupported('hold ops', 'Yjs sender');
  }

  traffic(): Traffic {
    return { ...this.#socket.traffic };
  }

  status(): PeerCounters[] {
    return [];
  }

  storeStats(): undefined {
    return undefined;
  }

  receiveCounts(): undefined {
    return undefined;
  }

  disconnects(): readonly string[] {
    return [];
  }

  async close(): Promise<void> {
    await this.#socket.close();
    this.#doc.destroy();
  }
}

/** B: applies every sync message to its one Y.Doc. */
class YjsReceiver extends BaselineReceiver {
  readonly #doc = new Y.Doc();

  constructor() {
    super('Yjs receiver');
  }

  /** A is the only writer: its clock is the sum over clients (each set is one item of length 1). */
  get held(): number {
    const { store } = this.#doc;
    let held = 0;
    for (const client of store.clients.keys()) held += Y.getState(store, client);
    return held;
  }

  protected accept(ws: WebSocket): CountedSocket {
    const socket = new CountedSocket(ws, false, (frame, self) => {
      answer(frame, this.#doc, self);
      this.grew();
    });
    // y-websocket's server opens with its sync step 1.
    socket.send(syncMessage((encoder) => sync.writeSyncStep1(encoder, this.#doc)));
    return socket;
  }

  override async close(): Promise<void> {
    await super.close();
    this.#doc.destroy();
  }
}

/** Starts one end of the Yjs pipe. */
export async function startYjs(options: ChildOptions, workload: Workload | undefined): Promise<SyncNode> {
  if (options.role === 'receiver') {
    const receiver = new YjsReceiver();
    await receiver.start();
    return receiver;
  }
  const [url] = options.peers;
  if (options.role !== 'sender' || url === undefined || workload === undefined)
    throw new Error('the Yjs pipe has a sender, which dials one url, and a receiver');
  const doc = new Y.Doc();
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve;
  });
  const open = await dialWs(url, (frame, socket) => {
    if (answer(frame, doc, socket) === sync.messageYjsSyncStep2) markSynced();
  });
  // y-websocket's provider: every update not from the socket goes out at once, one frame each.
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== open) open.send(syncMessage((encoder) => sync.writeUpdate(encoder, update)));
  });
  open.send(syncMessage((encoder) => sync.writeSyncStep1(encoder, doc)));
  return new YjsSender(doc, open, synced, workload);
}
