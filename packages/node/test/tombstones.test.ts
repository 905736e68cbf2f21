import { describe, expect, it } from 'vitest';
import { call, connected, startNode, until } from './node-harness.js';

/** Fast reports and collection, so a test sees deletes forgotten within moments. */
const fast = { reconnectBaseMs: 10, reconnectMaxMs: 100, heartbeatIntervalMs: 40, collectIntervalMs: 20 };

describe('tombstone collection', () => {
  it('forgets a deleted key once every member holds the delete, on every node', async () => {
    const members = ['a', 'b', 'c'];
    const a = await startNode('a', { members, timing: fast });
    const b = await startNode('b', { members, peers: [a.url], timing: fast });
    const c = await startNode('c', { members, peers: [a.url, b.url], timing: fast });
    await connected(a, b, c);
    for (const key of ['gone', 'kept'])
      expect((await call(a, 'PUT', `/v1/c/kv/${key}`, key)).status).toBe(200);
    expect((await call(b, 'POST', '/v1/c/kv/n/incr', { by: 3 })).status).toBe(200);
    await until(() => c.replica.state.versionVector.total === 3, 'c holds the writes');
    expect((await call(c, 'DELETE', '/v1/c/kv/gone')).status).toBe(200);

    const nodes = [a, b, c];
    await until(
      () =>
        nodes.every(
          (node) =>
            node.replica.state.encodedEntry('kv', 'gone') === undefined &&
            node.status().tombstones.collectedBelow.c === 1,
        ),
      'the deleted key to be forgotten everywhere',
    );
    const digests = new Set(nodes.map((node) => node.status().digest));
    expect(digests.size).toBe(1);
    expect(a.status().tombstones).toMatchObject({ members, waitingFor: [], stable: { a: 2, b: 1, c: 1 } });
    expect(a.replica.state.encodedEntry('kv', 'kept')).toBeDefined();
    expect((await call(a, 'GET', '/v1/c/kv/gone')).status).toBe(404);
    expect((await call(b, 'GET', '/v1/c/kv/kept')).body.value).toBe('kept');

    // The key can be written again, and reads the new value everywhere.
    expect((await call(b, 'PUT', '/v1/c/kv/gone', 'again')).status).toBe(200);
    await until(
      () => nodes.every((node) => node.replica.state.get('kv', 'gone')?.value === 'again'),
      'the new write everywhere',
    );
  });

  it('keeps every tombstone while a member has not been heard from', async () => {
    const a = await startNode('a', { members: ['a', 'b', 'z'], timing: fast });
    const b = await startNode('b', { members: ['a', 'b', 'z'], peers: [a.url], timing: fast });
    await connected(a, b);
    await call(a, 'PUT', '/v1/c/kv/k', 1);
    await call(a, 'DELETE', '/v1/c/kv/k');
    await until(() => b.replica.state.versionVector.get('a') === 2, 'b holds the delete');
    expect(await a.replicator.collectTombstones()).toBe(0);
    expect(a.replica.state.encodedEntry('kv', 'k')).toBeDefined();
    expect(a.status().tombstones).toMatchObject({ stable: undefined, waitingFor: ['z'], collectedBelow: {} });
  });

  it('without members, collects nothing and says so', async () => {
    const a = await startNode('a');
    await call(a, 'PUT', '/v1/c/kv/k', 1);
    await call(a, 'DELETE', '/v1/c/kv/k');
    expect(await a.replicator.collectTombstones()).toBe(0);
    expect(a.status().tombstones).toEqual({
      members: [],
      stable: undefined,
      waitingFor: [],
      collectedBelow: {},
    });
  });

  it('refuses members that are not node ids', async () => {
    await expect(startNode('a', { members: ['ok', 'not ok'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
