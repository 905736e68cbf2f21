/**
 * The WebSocket transport (Node): dials ws:// and wss://, listens on host:port (port 0 reports the
 * real url) or attaches to an existing HTTP(S) server on a path. Frames are binary WebSocket
 * messages, at most maxFrameBytes (4 MiB by default, the codec's limit, where ws's own default is 100 MiB), never
 * compressed (permessage-deflate is off: it costs CPU and memory per connection, and compressed
 * frames can inflate past any limit checked before inflating).
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { WebSocket } from 'ws';
import { TransportError } from '../errors.js';
import {
  type Connection,
  type Listener,
  resolveTransportLimits,
  type Transport,
  type TransportLimits,
} from '../transport.js';
import { WsConnection } from './ws-connection.js';
import { type UpgradeVerdict, WsListener, type WsListenerSettings } from './ws-listener.js';

/** PEM text or bytes. */
export type Pem = string | Uint8Array;

/** How to create a WsTransport; every field is optional. */
export interface WsTransportOptions extends Partial<TransportLimits> {
  /** Serve wss:// from listen() with this certificate chain and private key. */
  readonly tls?: { readonly cert: Pem; readonly key: Pem };
  /** CA certificates trusted when dialing wss:// (instead of Node's bundled roots), e.g. a test's self-signed one. */
  readonly ca?: Pem | readonly Pem[];
  /** HTTP headers sent with every dial's upgrade request (e.g. Authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Decides at the HTTP upgrade whether to accept a peer; a refusal answers with an HTTP status and opens no socket. */
  readonly authorizeUpgrade?: (request: IncomingMessage) => UpgradeVerdict | Promise<UpgradeVerdict>;
  /** How long a dial waits for the opening handshake (default 10,000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** How long a close waits for the peer's closing answer before dropping the socket (default 5,000 ms). */
  readonly closeTimeoutMs?: number;
}

const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

const toBuffer = (pem: Pem) => (typeof pem === 'string' ? pem : Buffer.from(pem));

function parseDialUrl(url: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    parsed === undefined ||
    (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') ||
    parsed.hash !== ''
  ) {
    throw new TransportError(
      'TRANSPORT_INVALID_URL',
      `${JSON.stringify(url)} is not a WebSocket url: use ws://host:port/path or wss://host:port/path`,
    );
  }
  return parsed;
}

function dialError(url: string, error: Error & { code?: string }): TransportError {
  const unreachable =
    (error.code !== undefined && NETWORK_ERRORS.has(error.code)) ||
    /handshake has timed out/i.test(error.message);
  return new TransportError(
    unreachable ? 'TRANSPORT_UNREACHABLE' : 'TRANSPORT_HANDSHAKE_FAILED',
    unreachable
      ? `cannot reach ${url}: ${error.message}; is a node listening there?`
      : `${url} answered but the handshake failed: ${error.message}`,
    { cause: error },
  );
}

/** The WebSocket implementation of Transport; see the module comment. */
export class WsTransport implements Transport {
  /** The frame and buffer limits of every connection this transport makes. */
  readonly limits: TransportLimits;
  private readonly options: WsTransportOptions;
  private readonly listenerSettings: WsListenerSettings;

  constructor(options: WsTransportOptions = {}) {
    this.limits = resolveTransportLimits(options);
    this.options = options;
    this.listenerSettings = {
      limits: this.limits,
      closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
      authorizeUpgrade: options.authorizeUpgrade,
    };
  }

  dial(url: string, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    let target: URL;
    try {
      target = parseDialUrl(url);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    if (signal?.aborted) {
      return Promise.reject(
        new TransportError('TRANSPORT_ABORTED', `dial to ${url} aborted`, { cause: signal.reason }),
      );
    }
    const ca = this.options.ca;
    const socket = new WebSocket(target, {
      perMessageDeflate: false,
      maxPayload: this.limits.maxFrameBytes,
      handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
      followRedirects: false,
      ...(ca === undefined
        ? {}
        : { ca: typeof ca === 'string' || ca instanceof Uint8Array ? toBuffer(ca) : ca.map(toBuffer) }),
      ...(this.options.headers === undefined ? {} : { headers: { ...this.options.headers } }),
      ...{ closeTimeout: this.options.closeTimeoutMs ?? 5_000 },
    });
    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        socket.off('open', onOpen);
        socket.off('unexpected-response', onUnexpectedResponse);
        outcome();
      };
      const onOpen = () =>
        settle(() => {
          // The connection registers its own listeners; our error listener stays, settled and inert.
          const label = `${target.protocol.slice(0, -1)} ${target.host}`;
          resolve(new WsConnection(socket, label, this.limits));
        });
      const onError = (error: Error) => settle(() => reject(dialError(url, error)));
      const onUnexpectedResponse = (_request: unknown, response: IncomingMessage) =>
        settle(() => {
          const status = response.statusCode ?? 0;
          reject(
            new TransportError(
              'TRANSPORT_HANDSHAKE_FAILED',
              `${url} refused the WebSocket upgrade with HTTP ${status}` +
                (status === 401 || status === 403 ? ': check the credentials' : ''),
              { status },
            ),
          );
          socket.terminate();
        });
      const onAbort = () =>
        settle(() => {
          reject(
            new TransportError('TRANSPORT_ABORTED', `dial to ${url} aborted`, { cause: signal?.reason }),
          );
          socket.terminate();
        });
      socket.on('error', onError);
      socket.once('open', onOpen);
      socket.on('unexpected-response', onUnexpectedResponse);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Listens on "host:port", "ws://host:port/path" or "wss://…" (wss needs the `tls` option). An
   * empty host means 127.0.0.1; port 0 picks a free port, reported in the listener's url.
   */
  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const scheme = this.options.tls === undefined ? 'ws' : 'wss';
    const { host, port, path } = parseListenAddress(address, scheme);
    const tls = this.options.tls;
    const server: HttpServer | HttpsServer =
      tls === undefined
        ? createHttpServer(answerPlainHttp)
        : createHttpsServer({ cert: toBuffer(tls.cert), key: toBuffer(tls.key) }, answerPlainHttp);
    await listenOn(server, host, port, address);
    return new WsListener(server, scheme, host, path, true, this.listenerSettings, onConnection);
  }

  /**
   * Accepts peers on `path` of an HTTP(S) server the caller owns and keeps serving (its other
   * routes are untouched). Closing the returned listener closes the peers, not the server.
   */
  attach(
    server: HttpServer | HttpsServer,
    path: string,
    onConnection: (connection: Connection) => void,
  ): Listener {
    if (!path.startsWith('/')) {
      throw new TransportError(
        'TRANSPORT_INVALID_URL',
        `the path to attach at must start with "/", got ${path}`,
      );
    }
    const scheme = server instanceof HttpsServer ? 'wss' : 'ws';
    return new WsListener(server, scheme, undefined, path, false, this.listenerSettings, onConnection);
  }
}

/**
 * Starts `server` listening on host:port; rejects with TRANSPORT_ADDRESS_IN_USE when the port is
 * taken, TRANSPORT_INVALID_URL for any other failure (`shown` names the address in the message).
 */
export function listenOn(
  server: HttpServer | HttpsServer,
  host: string,
  port: number,
  shown: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error & { code?: string }) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new TransportError(
              'TRANSPORT_ADDRESS_IN_USE',
              `${host}:${port} is already in use: stop what listens there or pick another port (0 picks a free one)`,
              { cause: error },
            )
          : new TransportError(
              'TRANSPORT_INVALID_URL',
              `cannot listen at ${shown} (${error.code ?? error.message}): use a local address and a free port`,
              { cause: error },
            ),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function answerPlainHttp(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
  response.end('this endpoint accepts Driftless peers over WebSocket only\n');
}

function parseListenAddress(
  address: string,
  scheme: 'ws' | 'wss',
): { host: string; port: number; path: string } {
  const invalid = (why: string) =>
    new TransportError(
      'TRANSPORT_INVALID_URL',
      `cannot listen at ${JSON.stringify(address)}: ${why}; use "host:port" or "${scheme}://host:port/path"`,
    );
  const full = /^\d+$/.test(address)
    ? `${scheme}://:${address}`
    : address.includes('://')
      ? address
      : `${scheme}://${address}`;
  let parsed: URL;
  try {
    parsed = new URL(full.replace('://:', '://127.0.0.1:'));
  } catch {
    throw invalid('not a url');
  }
  if (parsed.protocol !== `${scheme}:`) {
    throw invalid(scheme === 'ws' ? 'wss needs the tls option' : 'a transport with tls serves wss only');
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port === '' ? (scheme === 'ws' ? 80 : 443) : Number(parsed.port);
  return { host, port, path: parsed.pathname || '/' };
}
