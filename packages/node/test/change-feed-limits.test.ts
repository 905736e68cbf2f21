import type { AddressInfo } from 'node:net';
import { MemoryStore, VersionVector } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ChangeFeed, type ChangeFeedOptions } from '../src/change-feed.js';
import { FEED_CLOSE_CODES } from '../src/close-codes.js';
import { until } from './node-harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A ChangeFeed on the server end of a real WebSocket, and the client end. */
async function feedPair(options: Partial<ChangeFeedOptions> & { autoPong?: boolean; paused?: boolean } = {}) {
  const replica =
    options.replica ?? (await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'a' }));
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    autoPong: options.autoPong ?? true,
  });
  const messages: unknown[] = [];
  client.on('message', (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    client.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const errors: unknown[] = [];
  const socket = await accepted;
  await new Promise<void>((resolve) =>
    client.readyState === WebSocket.OPEN ? resolve() : client.once('open', resolve),
  );
  if (options.paused) pause(client);
  const feed = new ChangeFeed({
    replica,
    socket,
    collection: undefined,
    since: VersionVector.EMPTY,
    maxBufferedBytes: 8 * 1024 * 1024,
    maxPendingCommits: 100_000,
    onError: (error) => errors.push(error),
    ...options,
  });
  cleanups.push(async () => {
    client.terminate();
    feed.terminate();
    await feed.done;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await replica.close();
  });
  return { replica, feed, client, messages, closed, errors };
}

/** Stops reading the client's socket: what the server sends piles up in its buffers. */
function pause(client: WebSocket): void {
  (client as unknown as { _socket: { pause(): void } })._socket.pause();
}

function resume(client: WebSocket): void {
  (client as unknown as { _socket: { resume(): void } })._socket.resume();
}

describe('change feed limits', () => {
  it('closes a live feed with TOO_SLOW once its client leaves more than the limit unread', async () => {
    const { replica, feed, client, messages, closed } = await feedPair({ maxBufferedBytes: 64 * 1024 });
    await feed.done;
    // The client stops reading: the server's socket buffer fills up.
    pause(client);
    const big = 'x'.repeat(4_000);
    for (let i = 0; i < 2_000 && !feed.closed; i++)
      await replica.write('c', `k${i}`, { kind: 'set', value: big });
    expect(feed.closed).toBe(true);
    resume(client);
    expect(await closed).toMatchObject({ code: FEED_CLOSE_CODES.TOO_SLOW, reason: /reads too slowly/ });
    // Everything it got before the close resumes from the last token: nothing lost, only cut short.
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.length).toBeLessThan(2_000);
  });

  it('closes a feed with TOO_SLOW when more commits arrive while it catches up than it may buffer', async () => {
    const replica = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'a' });
    const big = 'x'.repeat(32_000);
    for (let i = 0; i < 400; i++) await replica.write('c', `old${i}`, { kind: 'set', value: big });
    // A client that reads nothing: the log read stalls on the full socket, far from the log's end.
    const { feed, client, closed } = await feedPair({
      replica,
      paused: true,
      maxBufferedBytes: 64 * 1024,
      maxPendingCommits: 3,
    });
    // Commits that land before the log read reaches its end are buffered; the fourth is too many.
    for (let i = 0; i < 4; i++) await replica.write('c', `new${i}`, { kind: 'set', value: i });
    await feed.done;
    expect(feed.closed).toBe(true);
    resume(client);
    expect(await closed).toMatchObject({ code: FEED_CLOSE_CODES.TOO_SLOW, reason: /catching up too slowly/ });
  });

  it('drops a client that does not answer a ping by the next one, and keeps one that does', async () => {
    const silent = await feedPair({ autoPong: false });
    const healthy = await feedPair();
    for (const { feed } of [silent, healthy]) feed.heartbeat();
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const { feed } of [silent, healthy]) feed.heartbeat();
    // Terminated without a close frame: the client sees an abnormal closure.
    expect((await silent.closed).code).toBe(1006);
    expect(healthy.feed.closed).toBe(false);
    await healthy.replica.write('c', 'k', { kind: 'set', value: 1 });
    await until(() => healthy.messages.length === 1, 'the healthy feed to go on');
  });
});
