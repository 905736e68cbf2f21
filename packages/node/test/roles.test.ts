import { describe, expect, it } from 'vitest';
import { call, connected, SECRET, startNode, until } from './node-harness.js';

const auth = { authorization: `Bearer ${SECRET}` };

describe('roles', () => {
  it('a replica refuses writes naming the writable nodes, and serves what the primary writes', async () => {
    const primary = await startNode('p', { role: 'primary' });
    const replica = await startNode('r', { role: 'replica', peers: [primary.url] });
    await connected(primary, replica);
    const before = replica.status();
    for (const [method, path, body] of [
      ['PUT', '/v1/c/users/alice', 1],
      ['DELETE', '/v1/c/users/alice', undefined],
      ['POST', '/v1/c/stats/n/incr', { by: 1 }],
    ] as const) {
      const refused = await call(replica, method, path, body);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('REPLICA_READ_ONLY');
      expect(refused.body.error.writable).toEqual([{ id: 'p', url: primary.url }]);
      expect(refused.body.error.message).toContain(primary.url);
    }
    expect(replica.status().digest).toBe(before.digest);
    const put = await call(primary, 'PUT', '/v1/c/users/alice?ack=1', 'Alice');
    expect(put.body.acked).toEqual(['r']);
    const read = await call(replica, 'GET', `/v1/c/users/alice?after=${put.body.token}`);
    expect(read.body.value).toBe('Alice');
    expect(replica.role()).toBe('replica');
  });

  it('a replica that knows no writable node says so', async () => {
    const replica = await startNode('r', { role: 'replica' });
    const refused = await call(replica, 'PUT', '/v1/c/users/alice', 1);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'REPLICA_READ_ONLY', writable: [] });
    expect(refused.body.error.message).toContain('knows no writable node');
  });

  it('POST /v1/admin/promote makes a replica writable, keeping what it holds', async () => {
    const primary = await startNode('p', { role: 'primary' });
    const replica = await startNode('r', { role: 'replica', peers: [primary.url] });
    await connected(primary, replica);
    await call(primary, 'PUT', '/v1/c/users/alice?ack=1', 'Alice');
    expect((await call(replica, 'POST', '/v1/admin/promote')).status).toBe(401);
    expect(replica.role()).toBe('replica');
    const promoted = await call(replica, 'POST', '/v1/admin/promote', undefined, auth);
    expect(promoted.status).toBe(200);
    expect(promoted.body).toEqual({ id: 'r', role: 'multi', previous: 'replica' });
    expect(replica.role()).toBe('multi');
    expect(replica.events).toContainEqual({ type: 'role', role: 'multi', previous: 'replica' });
    expect((await call(replica, 'GET', '/v1/c/users/alice')).body.value).toBe('Alice');
    const put = await call(replica, 'PUT', '/v1/c/users/bob', 'Bob');
    expect(put.status).toBe(200);
    // The primary now takes the promoted node's writes.
    const read = await call(primary, 'GET', `/v1/c/users/bob?after=${put.body.token}`);
    expect(read.body.value).toBe('Bob');
    await until(() => primary.status().digest === replica.status().digest, 'convergence');
  }, 30_000);

  it('promote() on a writable node changes nothing', async () => {
    const node = await startNode('a', { role: 'primary' });
    node.promote();
    expect(node.role()).toBe('primary');
    expect((await call(node, 'GET', '/v1/status')).body.role).toBe('primary');
  });
});
