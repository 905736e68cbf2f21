import type { WebSocket } from 'ws';
import type { PeerCounters } from './sync-ipc.js';
import { type SyncNode, unsupported } from './sync-node.js';
import type { Traffic } from './sync-workload.js';
import { type CountedSocket, listenWs, sumTraffic, type WsServer } from './sync-ws.js';

/**
 * The receiving end of a baseline (the raw pipe, Yjs): a WebSocket server that takes frames and
 * counts them. It writes nothing and has none of Driftless's store or session counters.
 */
export abstract class BaselineReceiver implements SyncNode {
  readonly #role: string;
  readonly #listeners: (() => void)[] = [];
  readonly #sockets: CountedSocket[] = [];
  #server: WsServer | undefined;

  constructor(role: string) {
    this.#role = role;
  }

  /** How many of A's ops this node holds. */
  abstract get held(): number;

  /** Wraps an accepted WebSocket; the subclass handles its frames and calls `grew()`. */
  protected abstract accept(socket: WebSocket): CountedSocket;

  get url(): string | undefined {
    return this.#server?.url;
  }

  /** Listens on 127.0.0.1:`port` (0: a free port). */
  async start(port = 0): Promise<void> {
    this.#server = await listenWs((socket) => this.#sockets.push(this.accept(socket)), port);
  }

  /** Tells the listeners that `held` grew. */
  protected grew(): void {
    for (const listener of this.#listeners) listener();
  }

  connected(_peers: number): Promise<void> {
    return unsupported('dial', this.#role);
  }

  burst(_from: number, _to: number): Promise<void> {
    return unsupported('write', this.#role);
  }

  write(_i: number): undefined {
    return unsupported('write', this.#role);
  }

  endTurn(): void {}

  async settled(): Promise<void> {}

  onHeld(listener: () => void): void {
    this.#listeners.push(listener);
  }

  traffic(): Traffic {
    return sumTraffic(this.#sockets.map(({ traffic }) => traffic));
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
    await this.#server?.close();
  }
}
