import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import {
  connect as connectTcp,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLOSE_CODES,
  type Connection,
  DEFAULT_TRANSPORT_LIMITS,
  type Listener,
  TransportError,
} from '@driftless/sync';
import { ConnectionRecorder, numberedFrame, runTransportConformance } from '@driftless/sync/testing';
import { WsTransport } from '@driftless/sync/ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';

/** Items handed over by callbacks, awaited one by one (no polling). */
class Arrivals<T> {
  readonly all: T[] = [];
  private readonly queued: T[] = [];
  private readonly waiting: ((item: T) => void)[] = [];
  readonly push = (item: T): void => {
    this.all.push(item);
    const waiter = this.waiting.shift();
    if (waiter) waiter(item);
    else this.queued.push(item);
  };
  next(): Promise<T> {
    const item = this.queued.shift();
    return item !== undefined ? Promise.resolve(item) : new Promise((resolve) => this.waiting.push(resolve));
  }
}

async function listenTcp(server: Server | TcpServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  const port = await listenTcp(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

runTransportConformance('WsTransport', {
  create: (limits) => ({
    server: new WsTransport({ ...limits, closeTimeoutMs: 1_000 }),
    client: new WsTransport({ ...limits, closeTimeoutMs: 1_000 }),
  }),
  listenAddress: () => '127.0.0.1:0',
  unreachableUrl: async () => `ws://127.0.0.1:${await freePort()}/`,
  invalidUrls: ['http://127.0.0.1:1/', 'mem://a', 'not a url', 'ws://127.0.0.1:1/#fragment'],
});

async function dialError(promise: Promise<unknown>): Promise<TransportError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TransportError);
  return error as TransportError;
}

describe('WsTransport', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Listens with `transport` and hands over accepted connections as promises. */
  async function listen(transport: WsTransport, address = '127.0.0.1:0') {
    const accepted = new Arrivals<Connection>();
    const listener = await transport.listen(address, accepted.push);
    cleanups.push(() => listener.close());
    return { listener, accepted };
  }

  function closeServer(server: Server): Promise<void> {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  it('listens on a path, reports the real port, answers plain HTTP with 426 and other paths with 404', async () => {
    const transport = new WsTransport();
    const { listener } = await listen(transport, 'ws://127.0.0.1:0/peers');
    expect(listener.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/peers$/);
    expect(listener.url).not.toContain(':0/');
    const response = await fetch(listener.url.replace('ws:', 'http:'));
    expect(response.status).toBe(426);
    await response.text();
    const wrongPath = await dialError(transport.dial(listener.url.replace('/peers', '/elsewhere')));
    expect(wrongPath.code).toBe('TRANSPORT_HANDSHAKE_FAILED');
    expect(wrongPath.status).toBe(404);
  });

  it('attaches to an existing http.Server: its routes and other upgrades keep working', async () => {
    const server = createHttpServer((request, response) => {
      response.end(request.url === '/health' ? 'ok' : 'not found');
    });
    // Another WebSocket endpoint on the same server, as the node's client API will be.
    const clientApi = new WebSocketServer({ noServer: true });
    server.on('upgrade', (request, socket, head) => {
      if (request.url === '/clients') clientApi.handleUpgrade(request, socket, head, (ws) => ws.send('hi'));
    });
    const port = await listenTcp(server);
    cleanups.push(() => closeServer(server));
    const transport = new WsTransport({ closeTimeoutMs: 1_000 });
    const accepted = new Arrivals<Connection>();
    const listener: Listener = transport.attach(server, '/peers', accepted.push);
    expect(listener.url).toBe(`ws://127.0.0.1:${port}/peers`);

    const dialer = await transport.dial(listener.url);
    const d = new ConnectionRecorder();
    dialer.open(d);
    dialer.send(numberedFrame(1, 100));
    const a = new ConnectionRecorder();
    (await accepted.next()).open(a);
    await a.until(() => a.frames.length === 1);

    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe('ok');
    const apiClient = new WebSocket(`ws://127.0.0.1:${port}/clients`);
    const [greeting] = (await once(apiClient, 'message')) as [Buffer];
    expect(greeting.toString()).toBe('hi');
    apiClient.close();

    await listener.close();
    expect((await d.closed()).code).toBe(CLOSE_CODES.GOING_AWAY);
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe('ok');
    clientApi.close();
  });

  it('refuses at the HTTP upgrade when authorizeUpgrade says no, opening no connection', async () => {
    const server = new WsTransport({
      authorizeUpgrade: (request) =>
        request.headers.authorization === 'Bearer right' || { status: 403, reason: 'unknown token' },
    });
    const { listener, accepted } = await listen(server);
    const refused = await dialError(
      new WsTransport({ headers: { authorization: 'Bearer wrong' } }).dial(listener.url),
    );
    expect(refused.code).toBe('TRANSPORT_HANDSHAKE_FAILED');
    expect(refused.status).toBe(403);
    const dialer = await new WsTransport({ headers: { authorization: 'Bearer right' } }).dial(listener.url);
    cleanups.push(() => dialer.close(CLOSE_CODES.NORMAL, 'test over'));
    const d = new ConnectionRecorder();
    dialer.open(d);
    await listener.close();
    await d.closed();
    expect(accepted.all).toHaveLength(1);
  });

  it('closes a peer that sends a text frame with BAD_FRAME', async () => {
    const { listener, accepted } = await listen(new WsTransport());
    const raw = new WebSocket(listener.url);
    await once(raw, 'open');
    const a = new ConnectionRecorder();
    (await accepted.next()).open(a);
    raw.send('{"a JSON":"message"}');
    const [code] = (await once(raw, 'close')) as [number];
    expect(code).toBe(CLOSE_CODES.BAD_FRAME);
    expect((await a.closed()).code).toBe(CLOSE_CODES.BAD_FRAME);
    expect(a.frames).toEqual([]);
  });

  it('never negotiates permessage-deflate, even when the peer offers it', async () => {
    const { listener, accepted } = await listen(new WsTransport());
    const raw = new WebSocket(listener.url, { perMessageDeflate: true });
    await once(raw, 'open');
    expect(raw.extensions).toBe('');
    (await accepted.next()).open(new ConnectionRecorder());
    raw.close();
    await once(raw, 'close');
  });

  it('refuses a frame over the default 4 MiB maxFrameBytes (ws alone would take 100 MiB)', async () => {
    const transport = new WsTransport();
    const { listener, accepted } = await listen(transport);
    const raw = new WebSocket(listener.url);
    await once(raw, 'open');
    const a = new ConnectionRecorder();
    (await accepted.next()).open(a);
    raw.send(new Uint8Array(DEFAULT_TRANSPORT_LIMITS.maxFrameBytes + 1));
    const [code] = (await once(raw, 'close')) as [number];
    expect(code).toBe(CLOSE_CODES.FRAME_TOO_LARGE);
    expect((await a.closed()).code).toBe(CLOSE_CODES.FRAME_TOO_LARGE);
  });

  it('caps what a raw socket that never reads costs at the hard limit, then drops it (BACKPRESSURE)', async () => {
    const transport = new WsTransport();
    const { listener, accepted } = await listen(transport);
    const { port } = new URL(listener.url);
    const socket = connectTcp(Number(port), '127.0.0.1');
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect');
    socket.pause();
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const server = await accepted.next();
    const events = new ConnectionRecorder();
    server.open(events);
    const frameBytes = 64 * 1024;
    const frame = new Uint8Array(frameBytes);
    let peak = 0;
    let sends = 0;
    try {
      for (; sends < 10_000; sends++) {
        server.send(frame);
        peak = Math.max(peak, server.bufferedBytes);
      }
    } catch (error) {
      expect((error as TransportError).code).toBe('TRANSPORT_CLOSED');
    }
    expect(sends).toBeLessThan(10_000);
    expect(peak).toBeGreaterThan(DEFAULT_TRANSPORT_LIMITS.highWaterBytes);
    expect(peak).toBeLessThanOrEqual(DEFAULT_TRANSPORT_LIMITS.maxBufferedBytes + frameBytes);
    expect((await events.closed()).code).toBe(CLOSE_CODES.BACKPRESSURE);
  });

  it('fails a dial with UNREACHABLE when the handshake times out, and with ABORTED when aborted', async () => {
    const sockets = new Arrivals<Socket>();
    const silent = createTcpServer(sockets.push);
    const port = await listenTcp(silent);
    cleanups.push(() => {
      for (const socket of sockets.all) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const url = `ws://127.0.0.1:${port}/`;
    expect((await dialError(new WsTransport({ handshakeTimeoutMs: 100 }).dial(url))).code).toBe(
      'TRANSPORT_UNREACHABLE',
    );
    const abort = new AbortController();
    const dialing = new WsTransport().dial(url, { signal: abort.signal });
    await sockets.next(); // the timed-out dial's
    await sockets.next(); // this dial's: the handshake is under way
    abort.abort();
    expect((await dialError(dialing)).code).toBe('TRANSPORT_ABORTED');
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

// Skipped on a machine without openssl, except in CI (.ci/run installs it), where it must run.
describe.skipIf(!hasOpenssl && !process.env.CI)('WsTransport over TLS (wss)', () => {
  let cert = '';
  let key = '';
  beforeAll(() => {
    expect(hasOpenssl, 'openssl is required to make a certificate: apt-get install openssl').toBe(true);
    // A throwaway self-signed certificate for 127.0.0.1 and localhost, valid for one day.
    const dir = mkdtempSync(join(tmpdir(), 'driftless-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      key = readFileSync(join(dir, 'key.pem'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves wss with a certificate and dials it trusting that certificate', async () => {
    const server = new WsTransport({ tls: { cert, key } });
    const accepted = new Arrivals<Connection>();
    const listener = await server.listen('127.0.0.1:0', accepted.push);
    try {
      expect(listener.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
      const untrusting = await dialError(new WsTransport().dial(listener.url));
      expect(untrusting.code).toBe('TRANSPORT_HANDSHAKE_FAILED');
      const dialer = await new WsTransport({ ca: cert }).dial(listener.url);
      expect(dialer.label).toMatch(/^wss 127\.0\.0\.1:\d+$/);
      const d = new ConnectionRecorder();
      dialer.open(d);
      const acceptor = await accepted.next();
      const a = new ConnectionRecorder();
      acceptor.open(a);
      acceptor.send(numberedFrame(3, 50_000));
      dialer.send(numberedFrame(4, 50_000));
      await d.until(() => d.frames.length === 1);
      await a.until(() => a.frames.length === 1);
      expect(d.frames[0]).toHaveLength(50_000);
    } finally {
      await listener.close();
    }
  });
});
