/**
 * Accepting WebSocket peers on an HTTP(S) server: either one the listener created and owns, or an
 * existing server the node also serves its HTTP API from, on one path. Peers may be refused at
 * the upgrade (authorizeUpgrade), before any socket is opened. Upgrades on other paths are left to
 * the server's other 'upgrade' listeners, or answered 404 when there are none.
 */
import { type Server as HttpServer, type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CLOSE_CODES } from '../close-codes.js';
import type { Connection, Listener, TransportLimits } from '../transport.js';
import { WsConnection } from './ws-connection.js';

/** A decision on one upgrade request: accept, or refuse with an HTTP status (401 when just false). */
export type UpgradeVerdict = boolean | { readonly status: number; readonly reason?: string };

/** What a WsListener needs from its transport. */
export interface WsListenerSettings {
  readonly limits: TransportLimits;
  readonly closeTimeoutMs: number;
  readonly authorizeUpgrade:
    | ((request: IncomingMessage) => UpgradeVerdict | Promise<UpgradeVerdict>)
    | undefined;
}

/** Formats a host for a url: IPv6 literals in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function refuse(socket: Duplex, status: number, reason?: string): void {
  const body = reason ?? STATUS_CODES[status] ?? '';
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\nConnection: close\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A Listener on an HTTP(S) server; see the module comment. */
export class WsListener implements Listener {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: HttpServer | HttpsServer,
    private readonly scheme: 'ws' | 'wss',
    private readonly host: string | undefined,
    private readonly path: string,
    private readonly ownsServer: boolean,
    private readonly settings: WsListenerSettings,
    private readonly onConnection: (connection: Connection) => void,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: settings.limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      ...{ closeTimeout: settings.closeTimeoutMs },
    });
    server.on('upgrade', this.onUpgrade);
  }

  get url(): string {
    const address = this.server.address() as AddressInfo | null;
    const host = this.host ?? address?.address ?? 'unbound';
    return `${this.scheme}://${urlHost(host)}:${address?.port ?? 0}${this.path}`;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(request.url ?? '/', 'http://local').pathname;
    if (pathname !== this.path) {
      if (this.server.listenerCount('upgrade') <= 1)
        refuse(socket, 404, `no WebSocket endpoint at ${pathname}`);
      return;
    }
    socket.on('error', () => socket.destroy());
    if (this.closing !== undefined) {
      refuse(socket, 503, 'listener closed');
      return;
    }
    const authorize = this.settings.authorizeUpgrade;
    if (authorize === undefined) {
      this.upgrade(request, socket, head);
      return;
    }
    Promise.resolve()
      .then(() => authorize(request))
      .then(
        (verdict) => {
          if (verdict === true) this.upgrade(request, socket, head);
          else if (verdict === false) refuse(socket, 401);
          else refuse(socket, verdict.status, verdict.reason);
        },
        () => refuse(socket, 500, 'authorizeUpgrade failed'),
      );
  };

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing !== undefined || socket.destroyed) {
      refuse(socket, 503, 'listener closed');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const remote = request.socket;
      const label = `${this.scheme} ${urlHost(remote.remoteAddress ?? '?')}:${remote.remotePort ?? 0}`;
      const connection = new WsConnection(ws, label, this.settings.limits);
      this.connections.add(connection);
      ws.once('close', () => this.connections.delete(connection));
      if (this.closing !== undefined) connection.close(CLOSE_CODES.GOING_AWAY, 'listener closed');
      this.onConnection(connection);
    });
  }

  private async shutDown(): Promise<void> {
    this.server.off('upgrade', this.onUpgrade);
    const serverClosed = this.ownsServer
      ? new Promise<void>((resolve) => this.server.close(() => resolve()))
      : Promise.resolve();
    const connections = [...this.connections];
    for (const connection of connections) connection.close(CLOSE_CODES.GOING_AWAY, 'listener closed');
    // ws drops a socket whose peer does not answer the close frame within closeTimeoutMs.
    await Promise.all(connections.map((connection) => connection.whenSocketClosed()));
    if (this.ownsServer) this.server.closeAllConnections();
    await serverClosed;
    this.wss.close();
  }
}
