/** Writing JSON answers, on a response or on a raw socket (a refused WebSocket upgrade). */
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Sends `body` as JSON with `status`; `close` asks the client to drop the connection afterwards. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  options: { close?: boolean; headers?: Readonly<Record<string, string>> } = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...options.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...(options.close ? { Connection: 'close' } : {}),
  });
  response.end(text);
}

/** Answers an upgrade request with `status` and a JSON body, and closes the socket: no WebSocket is opened. */
export function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
