import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  HIGH_WATER_BYTES,
  LOW_WATER_BYTES,
  MAX_FRAME_BYTES,
  noTraffic,
  type Traffic,
  wsFrameBytes,
} from './sync-workload.js';

/**
 * The plain `ws` plumbing of the baselines (the raw pipe and Yjs), set up as Driftless's
 * WebSocket transport sets up its own: binary frames, no compression, a 4 MiB frame limit, and
 * the same high- and low-water marks on the send buffer. Every frame is counted, header included.
 */

/** One end of a baseline's WebSocket. */
export class CountedSocket {
  readonly socket: WebSocket;
  readonly traffic: Traffic = noTraffic();
  readonly #masked: boolean;
  #drainWaiter: (() => void) | undefined;

  readonly #afterWrite = (): void => {
    if (this.#drainWaiter !== undefined && this.socket.bufferedAmount <= LOW_WATER_BYTES) {
      const waiter = this.#drainWaiter;
      this.#drainWaiter = undefined;
      waiter();
    }
  };

  /** `masked`: this end dialed (a client masks its frames). */
  constructor(socket: WebSocket, masked: boolean, onFrame: (frame: Buffer, socket: CountedSocket) => void) {
    this.socket = socket;
    this.#masked = masked;
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      this.traffic.receivedFrames++;
      this.traffic.receivedBytes += wsFrameBytes(data.length, !masked);
      onFrame(data, this);
    });
  }

  /** Sends one binary frame. */
  send(frame: Uint8Array): void {
    this.traffic.sentFrames++;
    this.traffic.sentBytes += wsFrameBytes(frame.length, this.#masked);
    this.socket.send(frame, { binary: true, compress: false, fin: true }, this.#afterWrite);
  }

  /** Whether ws buffers more than the high-water mark: the sender must wait for `drained`. */
  get full(): boolean {
    return this.socket.bufferedAmount > HIGH_WATER_BYTES;
  }

  /** Resolves once ws buffers no more than the low-water mark. */
  drained(): Promise<void> {
    if (this.socket.bufferedAmount <= LOW_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drainWaiter = resolve;
    });
  }

  /** Closes the socket and resolves once it is closed. */
  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close(1000, 'done');
    });
  }
}

/** The traffic of several sockets together. */
export function sumTraffic(all: readonly Traffic[]): Traffic {
  const total = noTraffic();
  for (const traffic of all) {
    total.sentFrames += traffic.sentFrames;
    total.sentBytes += traffic.sentBytes;
    total.receivedFrames += traffic.receivedFrames;
    total.receivedBytes += traffic.receivedBytes;
  }
  return total;
}

/** Dials `url`; resolves once the socket is open. */
export function dialWs(
  url: string,
  onFrame: (frame: Buffer, socket: CountedSocket) => void,
): Promise<CountedSocket> {
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
  const counted = new CountedSocket(socket, true, onFrame);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(counted));
    socket.once('error', reject);
  });
}

/** A listening WebSocket server on 127.0.0.1 and its url. */
export interface WsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0: a free port); calls `onSocket` with each peer's socket. */
export async function listenWs(onSocket: (socket: WebSocket) => void, port = 0): Promise<WsServer> {
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port,
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.on('connection', onSocket);
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
