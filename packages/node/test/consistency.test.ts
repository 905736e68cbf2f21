import { MemoryStore } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';
import { decodeToken } from '../src/index.js';
import { call, connected, startNode, until } from './node-harness.js';

describe('write acks (ack=local|k|all)', () => {
  it('ack=1 answers once a peer holds the write durably', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { peers: [a.url] });
    await connected(a, b);
    const put = await call(a, 'PUT', '/v1/c/users/alice?ack=1', 'Alice');
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ durable: 'replicated', acked: ['b'], op: { origin: 'a', seq: 1 } });
    // Durable at b means applied there: readable without waiting.
    expect(b.replica.state.get('users', 'alice')?.value).toBe('Alice');
    const all = await call(b, 'PATCH', '/v1/c/docs/d?ack=all', { x: 1 });
    expect(all.body).toMatchObject({ durable: 'replicated', acked: ['a'] });
  });

  it('ack=k past a closed peer answers 202: durable here, still replicating', async () => {
    const a = await startNode('a', { ackTimeoutMs: 200 });
    const b = await startNode('b', { peers: [a.url] });
    await connected(a, b);
    await b.close();
    const put = await call(a, 'PUT', '/v1/c/users/alice?ack=1', 'Alice');
    expect(put.status).toBe(202);
    expect(put.body).toMatchObject({ durable: 'local', acked: [], ackTimedOut: true });
    // Still durable here.
    expect((await call(a, 'GET', '/v1/c/users/alice')).body.value).toBe('Alice');
    // ack=all counts b, which a knows, even while it is away.
    const all = await call(a, 'PUT', '/v1/c/users/bob?ack=all', 'Bob');
    expect(all.status).toBe(202);
    expect(all.body.ackTimedOut).toBe(true);
  });

  it('ack=2 with one peer up reports the peer that acked', async () => {
    const a = await startNode('a', { ackTimeoutMs: 200 });
    const b = await startNode('b', { peers: [a.url] });
    await connected(a, b);
    const put = await call(a, 'PUT', '/v1/c/users/alice?ack=2', 'Alice');
    expect(put.status).toBe(202);
    expect(put.body).toMatchObject({ durable: 'local', acked: ['b'], ackTimedOut: true });
  });

  it('ack=all with no peers is just local', async () => {
    const a = await startNode('a');
    const put = await call(a, 'PUT', '/v1/c/users/alice?ack=all', 'Alice');
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ durable: 'local', acked: [] });
  });

  it('a configured peer that was never reached counts for ack=all', async () => {
    const a = await startNode('a', { ackTimeoutMs: 100, peers: ['http://127.0.0.1:9'] });
    const put = await call(a, 'PUT', '/v1/c/users/alice?ack=all', 'Alice');
    expect(put.status).toBe(202);
    expect(put.body.ackTimedOut).toBe(true);
  });
});

describe('causal tokens (after=)', () => {
  it('read-your-writes on another node: a read with the token waits until it is applied', async () => {
    const a = await startNode('a');
    const put = await call(a, 'PUT', '/v1/c/users/alice', { v: 1 });
    expect(put.body.durable).toBe('local');
    // b starts only now, so it cannot have the write yet: its read must wait for replication.
    const b = await startNode('b', { peers: [a.url] });
    expect(b.replica.state.get('users', 'alice')).toBeUndefined();
    const read = await call(b, 'GET', `/v1/c/users/alice?after=${put.body.token}`);
    expect(read.status).toBe(200);
    expect(read.body.value).toEqual({ v: 1 });
    // The read's token covers the write: monotonic reads from here on.
    expect(decodeToken(read.body.token).get('a')).toBeGreaterThanOrEqual(1);
    const list = await call(b, 'GET', `/v1/c/users?after=${read.body.token}`);
    expect(list.body.items).toEqual([{ key: 'alice', type: 'register', value: { v: 1 } }]);
  });

  it('a write after a token follows it (writes-follow-reads)', async () => {
    const a = await startNode('a');
    const put = await call(a, 'POST', '/v1/c/stats/n/incr', { by: 2 });
    const b = await startNode('b', { peers: [a.url] });
    const incr = await call(b, 'POST', `/v1/c/stats/n/incr?after=${put.body.token}`, { by: 3 });
    expect(incr.status).toBe(200);
    expect(decodeToken(incr.body.token).get('a')).toBe(1);
    expect((await call(b, 'GET', '/v1/c/stats/n')).body.value).toBe(5);
  });

  it('answers 504 READ_TIMEOUT when the node cannot reach the token in time', async () => {
    const a = await startNode('a');
    const put = await call(a, 'PUT', '/v1/c/users/alice', 1);
    const lonely = await startNode('b', { readTimeoutMs: 100 });
    const read = await call(lonely, 'GET', `/v1/c/users/alice?after=${put.body.token}`);
    expect(read.status).toBe(504);
    expect(read.body.error.code).toBe('READ_TIMEOUT');
  });

  it('a token the node already covers answers at once; tokens only grow', async () => {
    const a = await startNode('a');
    const first = await call(a, 'PUT', '/v1/c/users/alice', 1);
    const second = await call(a, 'PUT', '/v1/c/users/bob', 2);
    const read = await call(a, 'GET', `/v1/c/users/alice?after=${first.body.token}`);
    expect(read.status).toBe(200);
    const [t1, t2, t3] = [first, second, read].map((answer) => decodeToken(answer.body.token));
    expect(t2?.dominates(t1 as never)).toBe(true);
    expect(t3?.dominates(t2 as never)).toBe(true);
  });

  it('the nodes converge to the same digest', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { peers: [a.url] });
    await Promise.all([
      call(a, 'PUT', '/v1/c/x/1', 1),
      call(b, 'PUT', '/v1/c/x/1', 2),
      call(a, 'POST', '/v1/c/x/n/incr', { by: 1 }),
      call(b, 'POST', '/v1/c/x/n/incr', { by: 1 }),
    ]);
    await until(() => a.status().digest === b.status().digest && a.status().ops.applied === 4, 'convergence');
    expect((await call(b, 'GET', '/v1/c/x/n')).body.value).toBe(2);
  });
});

describe('reads answer only what is durable', () => {
  /** A node on a memory store whose commits the test can hold back and fail. */
  async function heldNode() {
    const store = new FaultyStore(await MemoryStore.open());
    const node = await startNode('a', { store });
    return { store, node };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('a read that sees a write whose commit is under way answers once it is durable, with its token', async () => {
    const { store, node } = await heldNode();
    expect((await call(node, 'PUT', '/v1/c/users/alice', 'v1')).status).toBe(200);
    const release = store.holdCommits();
    const put = call(node, 'PUT', '/v1/c/users/alice', 'v2');
    await until(() => node.replica.state.get('users', 'alice')?.value === 'v2', 'the write applied');
    let answered = false;
    const get = call(node, 'GET', '/v1/c/users/alice').then((answer) => {
      answered = true;
      return answer;
    });
    const list = call(node, 'GET', '/v1/c/users');
    await settle();
    expect(answered, 'a read showed a write a crash could still take back').toBe(false);
    release();
    const [written, read, listed] = await Promise.all([put, get, list]);
    expect(written.status).toBe(200);
    expect(read.body).toMatchObject({ type: 'register', value: 'v2' });
    expect(decodeToken(read.body.token).toJSON()).toEqual({ a: 2 });
    expect(listed.body.items).toEqual([{ key: 'alice', type: 'register', value: 'v2' }]);
    expect(decodeToken(listed.body.token).toJSON()).toEqual({ a: 2 });
  });

  it('a read whose commit fails answers 503 STORAGE_FAILED, and the next one reads what is durable', async () => {
    const { store, node } = await heldNode();
    await call(node, 'PUT', '/v1/c/users/alice', 'kept');
    const release = store.holdCommits();
    const put = call(node, 'PUT', '/v1/c/users/alice', 'failed');
    await until(() => node.replica.state.get('users', 'alice')?.value === 'failed', 'the write applied');
    const get = call(node, 'GET', '/v1/c/users/alice');
    await settle();
    store.failNextCommits(1);
    release();
    expect((await put).status).toBe(503);
    const read = await get;
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('STORAGE_FAILED');
    const again = await call(node, 'GET', '/v1/c/users/alice');
    expect(again.body).toMatchObject({ value: 'kept' });
    expect(decodeToken(again.body.token).toJSON()).toEqual({ a: 1 });
  });

  it('a read of a key no write under way touches answers at once, at the durable vector', async () => {
    const { store, node } = await heldNode();
    expect((await call(node, 'PUT', '/v1/c/users/bob', 'Bob')).status).toBe(200);
    // The first read of a key turns on the keeping of changed keys.
    expect((await call(node, 'GET', '/v1/c/users/bob')).status).toBe(200);
    await settle();
    const release = store.holdCommits();
    const put = call(node, 'PUT', '/v1/c/users/alice', 'Alice');
    await until(() => node.replica.state.get('users', 'alice')?.value === 'Alice', 'the write applied');
    const bob = await call(node, 'GET', '/v1/c/users/bob');
    expect(bob.body).toMatchObject({ value: 'Bob' });
    expect(decodeToken(bob.body.token).toJSON(), 'the write under way is not in the token').toEqual({ a: 1 });
    let answered = false;
    const alice = call(node, 'GET', '/v1/c/users/alice').then((answer) => {
      answered = true;
      return answer;
    });
    await settle();
    expect(answered).toBe(false);
    release();
    expect((await put).status).toBe(200);
    expect((await alice).body).toMatchObject({ value: 'Alice' });
  });

  it('refuses a store given with a data directory', async () => {
    await expect(
      startNode('a', { store: await MemoryStore.open(), dataDir: '/tmp/x' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
