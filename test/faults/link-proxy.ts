/**
 * A TCP proxy in front of one peer link (the dialing node → the node it dials), driven by the test:
 * the network faults of a fault schedule, on loopback, where `tc netem` is not available.
 *
 * Each direction (`forward`: dialer → listener, `backward`: the answers) is either flowing, with
 * optional latency, jitter and a byte rate, or stalled. A stalled direction holds its bytes and
 * delivers them, in order, once it flows again: what TCP does through a silent partition that
 * heals before either end gives up (bytes inside one connection are never lost or reordered; a
 * node notices a long stall only through its heartbeat timeout). `reset` is the loud partition:
 * every connection is dropped and new ones are refused until it is lifted.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** The two directions of a link. */
export type Direction = 'forward' | 'backward';

/** How one direction of a link behaves. */
export interface DirectionShape {
  /** Held, delivered on heal (a silent partition, a one-way cut). */
  readonly stalled: boolean;
  /** Added to every chunk's delivery. */
  readonly latencyMs: number;
  /** Up to this much more, at random per chunk (order is kept). */
  readonly jitterMs: number;
  /** A slow link: bytes per second (0: unlimited). */
  readonly bytesPerSecond: number;
}

/** A clean direction: no delay, no limit. */
export const CLEAN: DirectionShape = { stalled: false, latencyMs: 0, jitterMs: 0, bytesPerSecond: 0 };

interface Pipe {
  shape: DirectionShape;
  /** Chunks not yet delivered, oldest first. */
  readonly queue: { chunk: Buffer; dueMs: number; to: Socket }[];
  /** When the last scheduled chunk is delivered: later chunks never overtake it. */
  lastDueMs: number;
  timer: NodeJS.Timeout | undefined;
}

/** One proxied link; see the module comment. */
export class LinkProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #random: () => number;
  readonly #sockets = new Set<Socket>();
  readonly #pipes: Record<Direction, Pipe> = { forward: newPipe(), backward: newPipe() };
  #refusing = false;
  #port = 0;

  /** A proxy to `targetPort` on 127.0.0.1; `random` draws the jitter (seeded by the caller). */
  constructor(targetPort: number, random: () => number) {
    this.#target = { host: '127.0.0.1', port: targetPort };
    this.#random = random;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Listens on `port` of 127.0.0.1 (0: a free one); resolves with the port. */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as { port: number }).port;
    return this.#port;
  }

  /** The port dialers connect to. */
  get port(): number {
    return this.#port;
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.#sockets.size / 2;
  }

  /** Sets how `direction` behaves from now on; stalled bytes flow again once it is unstalled. */
  shape(direction: Direction, shape: Partial<DirectionShape>): void {
    const pipe = this.#pipes[direction];
    pipe.shape = { ...pipe.shape, ...shape };
    if (!pipe.shape.stalled) this.#release(pipe);
  }

  /** Drops every open connection (both ends see a reset); new ones are accepted. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
    for (const pipe of Object.values(this.#pipes)) pipe.queue.length = 0;
  }

  /** A loud partition: drops every connection and refuses new ones until `refuse(false)`. */
  refuse(on: boolean): void {
    this.#refusing = on;
    if (on) this.dropConnections();
  }

  /** Back to a clean link: flowing both ways, no delay, accepting. Held bytes are delivered. */
  heal(): void {
    this.#refusing = false;
    this.shape('forward', CLEAN);
    this.shape('backward', CLEAN);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.dropConnections();
    for (const pipe of Object.values(this.#pipes)) clearTimeout(pipe.timer);
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket): void {
    if (this.#refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(this.#target.port, this.#target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      // A reset on one side is passed on to the other, as a real network would show it.
      socket.on('error', () => {});
      socket.on('close', () => {
        this.#sockets.delete(socket);
        (socket === client ? upstream : client).destroy();
      });
    }
    client.on('data', (chunk: Buffer) => this.#send(this.#pipes.forward, chunk, upstream));
    upstream.on('data', (chunk: Buffer) => this.#send(this.#pipes.backward, chunk, client));
  }

  #send(pipe: Pipe, chunk: Buffer, to: Socket): void {
    const { latencyMs, jitterMs, bytesPerSecond } = pipe.shape;
    const now = performance.now();
    const transmitMs = bytesPerSecond > 0 ? (chunk.length / bytesPerSecond) * 1000 : 0;
    const dueMs = Math.max(now + latencyMs + this.#random() * jitterMs, pipe.lastDueMs + transmitMs);
    pipe.lastDueMs = dueMs;
    pipe.queue.push({ chunk, dueMs, to });
    if (!pipe.shape.stalled && pipe.timer === undefined) this.#release(pipe);
  }

  /** Delivers every chunk that is due, in order, and waits for the next one. */
  #release(pipe: Pipe): void {
    clearTimeout(pipe.timer);
    pipe.timer = undefined;
    const now = performance.now();
    while (pipe.queue.length > 0 && !pipe.shape.stalled) {
      const next = pipe.queue[0] as Pipe['queue'][number];
      if (next.dueMs > now) {
        pipe.timer = setTimeout(() => this.#release(pipe), next.dueMs - now);
        return;
      }
      pipe.queue.shift();
      if (!next.to.destroyed) next.to.write(next.chunk);
    }
  }
}

function newPipe(): Pipe {
  return { shape: CLEAN, queue: [], lastDueMs: 0, timer: undefined };
}
