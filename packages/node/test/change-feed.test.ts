import { MemoryStore } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FEED_CLOSE_CODES } from '../src/index.js';
import { call, connected, type FeedClient, onCleanup, openFeed, startNode, until } from './node-harness.js';

const dots = (feed: FeedClient) =>
  feed.messages.map(
    (message: { op?: { origin: string; seq: number } }) => `${message.op?.origin}:${message.op?.seq}`,
  );

/** Writes `count` keys one after another, alternating collections `a` and `b`; resolves when done. */
async function writeMany(node: { url: string }, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await call(node, 'PUT', `/v1/c/${i % 2 === 0 ? 'b' : 'a'}/k${i}`, i);
  }
}

describe('change feed (/v1/changes)', () => {
  it('sends every change from the start, then live, with the value and a token', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/alice', { v: 1 });
    await call(node, 'POST', '/v1/c/stats/n/incr', { by: 2 });
    const feed = await openFeed(node);
    await until(() => feed.messages.length === 2, 'the backlog');
    await call(node, 'DELETE', '/v1/c/users/alice');
    await until(() => feed.messages.length === 3, 'the live change');
    expect(feed.messages[0]).toMatchObject({
      collection: 'users',
      key: 'alice',
      kind: 'set',
      op: { origin: 'a', seq: 1 },
    });
    // A message carries what the key reads when it is sent: alice is deleted by then.
    expect(feed.messages[1]).toMatchObject({
      collection: 'stats',
      key: 'n',
      kind: 'incr',
      type: 'counter',
      value: 2,
    });
    expect(feed.messages[2]).toMatchObject({ key: 'alice', kind: 'del', op: { origin: 'a', seq: 3 } });
    expect(feed.messages[2].value).toBeUndefined();
    for (const message of feed.messages) expect(typeof message.token).toBe('string');
    expect(node.status().feeds).toBe(1);
  });

  it('resumes from any message token with nothing missed or repeated while writes continue', async () => {
    const node = await startNode('a');
    const writing = writeMany(node, 150);
    const first = await openFeed(node);
    await until(() => first.messages.length >= 20, 'some changes');
    first.socket.close();
    await first.whenClosed();
    const last = first.messages[first.messages.length - 1];
    const second = await openFeed(node, `since=${last.token}`);
    await writing;
    await until(() => first.messages.length + second.messages.length >= 150, 'every change');
    const all = [...dots(first), ...dots(second)];
    expect(all).toEqual(Array.from({ length: 150 }, (_, i) => `a:${i + 1}`));
  }, 30_000);

  it('filters by collection, and resumes on another node', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { peers: [a.url] });
    await connected(a, b);
    const writing = writeMany(a, 120);
    const first = await openFeed(a, 'collection=a');
    await until(() => first.messages.length >= 10, 'some changes');
    first.socket.close();
    await first.whenClosed();
    const last = first.messages[first.messages.length - 1];
    const second = await openFeed(b, `collection=a&since=${last.token}`);
    await writing;
    await until(() => first.messages.length + second.messages.length >= 60, 'every change of a');
    const all = [...first.messages, ...second.messages];
    expect(all.every((message) => message.collection === 'a')).toBe(true);
    expect(all.map((message) => message.key)).toEqual(Array.from({ length: 60 }, (_, i) => `k${2 * i + 1}`));
  }, 30_000);

  it('a token from a read starts the feed right after that read', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/alice', 1);
    const read = await call(node, 'GET', '/v1/c/users');
    const feed = await openFeed(node, `collection=users&since=${read.body.token}`);
    await call(node, 'PUT', '/v1/c/users/bob', 2);
    await until(() => feed.messages.length === 1, 'the change after the read');
    expect(feed.messages[0]).toMatchObject({ key: 'bob', value: 2 });
  });

  it('refuses a bad query at the upgrade, without opening a socket', async () => {
    const node = await startNode('a');
    for (const [query, code] of [
      ['since=not*a*token', 'INVALID_TOKEN'],
      ['collection=bad%20name', 'INVALID_QUERY'],
    ]) {
      const socket = new WebSocket(`${node.url.replace('http', 'ws')}/v1/changes?${query}`);
      const refused = await new Promise<{ status: number; body: string }>((resolve) => {
        socket.on('unexpected-response', (_request, response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
      });
      socket.on('error', () => {});
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.body).error.code).toBe(code);
    }
    const other = new WebSocket(`${node.url.replace('http', 'ws')}/v1/elsewhere`);
    const status = await new Promise((resolve) =>
      other.on('unexpected-response', (_q, r) => resolve(r.statusCode)),
    );
    other.on('error', () => {});
    expect(status).toBe(404);
  });

  it('closes with RESYNC_REQUIRED when the log no longer holds the changes after the token', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/alice', 1);
    const old = (await call(node, 'GET', '/v1/c/users')).body.token;
    await call(node, 'PUT', '/v1/c/users/bob', 2);
    await node.replica.log.truncate(node.replica.log.versionVector);
    const feed = await openFeed(node, `since=${old}`);
    expect((await feed.whenClosed()).code).toBe(FEED_CLOSE_CODES.RESYNC_REQUIRED);
    // Re-reading gives a token the feed can resume from.
    const fresh = (await call(node, 'GET', '/v1/c/users')).body.token;
    const resumed = await openFeed(node, `since=${fresh}`);
    await call(node, 'PUT', '/v1/c/users/carol', 3);
    await until(() => resumed.messages.length === 1, 'the change after the re-read');
    expect(resumed.messages[0].key).toBe('carol');
  });

  it('reports a state installed from a peer as `state` changes, in order with the ops', async () => {
    const node = await startNode('a');
    const feed = await openFeed(node, 'collection=users');
    await call(node, 'PUT', '/v1/c/users/alice', 1);
    const other = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'z' });
    onCleanup(() => other.close());
    await other.write('users', 'zed', { kind: 'set', value: 'from z' });
    await other.write('docs', 'd', { kind: 'set', value: 'not in the feed' });
    await node.replica.installState(other.state.snapshot());
    await call(node, 'PUT', '/v1/c/users/bob', 2);
    await until(() => feed.messages.length === 3, 'the changes');
    expect(feed.messages.map((message) => [message.key, message.kind])).toEqual([
      ['alice', 'set'],
      ['zed', 'state'],
      ['bob', 'set'],
    ]);
    expect(feed.messages[1]).toMatchObject({ value: 'from z' });
    expect(feed.messages[1].op).toBeUndefined();
    // Resuming from before the state: its ops are not in the log, so the client must re-read.
    const before = await openFeed(node, `since=${feed.messages[0].token}`);
    expect((await before.whenClosed()).code).toBe(FEED_CLOSE_CODES.RESYNC_REQUIRED);
    // From the state's own token the feed goes on.
    const after = await openFeed(node, `collection=users&since=${feed.messages[1].token}`);
    await until(() => after.messages.length === 1, 'the change after the state');
    expect(after.messages[0].key).toBe('bob');
  });

  it('closes feeds with GOING_AWAY when the node shuts down', async () => {
    const node = await startNode('a');
    const feed = await openFeed(node);
    await node.close();
    expect((await feed.whenClosed()).code).toBe(FEED_CLOSE_CODES.GOING_AWAY);
    expect(node.events).toContainEqual(
      expect.objectContaining({ type: 'feed', state: 'closed', code: 1001 }),
    );
  });
});
