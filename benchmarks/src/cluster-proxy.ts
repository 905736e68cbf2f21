import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on one link of a cluster (the partition-heal scenario): the dialing node connects
 * to the proxy, which connects on to the dialed node and copies bytes both ways, counting them.
 * `cut` drops every connection through it and refuses new ones (a partition), `heal` lets them
 * through again. It works below WebSocket, so it treats every system alike.
 */
export class LinkProxy {
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #pairs = new Set<readonly [Socket, Socket]>();
  #cut = false;
  /** Bytes copied, both directions. */
  bytes = 0;

  private constructor(server: Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** A proxy on a free port of 127.0.0.1 in front of 127.0.0.1:`targetPort`. */
  static async open(targetPort: number): Promise<LinkProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new LinkProxy(server, targetPort);
  }

  /** The proxy's port. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #accept(socket: Socket): void {
    if (this.#cut) {
      socket.destroy();
      return;
    }
    const upstream = connect(this.#targetPort, '127.0.0.1');
    const pair = [socket, upstream] as const;
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      socket.destroy();
      upstream.destroy();
    };
    for (const [from, to] of [pair, [upstream, socket] as const]) {
      from.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => from.resume());
      from.on('error', end);
      from.on('close', end);
    }
  }

  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void {
    this.#cut = true;
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  /** Lets connections through again. */
  heal(): void {
    this.#cut = false;
  }

  /** Closes the proxy and every connection through it. */
  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
