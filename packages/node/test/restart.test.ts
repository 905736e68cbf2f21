import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, connected, onCleanup, startNode, until } from './node-harness.js';

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'driftless-node-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'data');
}

describe('restart on an LMDB data dir', () => {
  it('keeps everything it held and reconverges with a peer that went on writing', async () => {
    const dir = await dataDir();
    const b = await startNode('b');
    const a = await startNode('a', { dataDir: dir, peers: [b.url] });
    await connected(a, b);
    await call(a, 'PUT', '/v1/c/users/alice', { v: 1 });
    await call(a, 'POST', '/v1/c/stats/n/incr', { by: 3 });
    await call(a, 'POST', '/v1/c/tags/t/add', { element: 'x' });
    await call(b, 'PATCH', '/v1/c/docs/d', { title: 'T' });
    const synced = await call(a, 'POST', '/v1/c/stats/n/incr?ack=1', { by: 1 });
    expect(synced.body.durable).toBe('replicated');
    await until(() => a.status().ops.applied === 5, "a to have b's write");
    const held = a.status();
    await a.close();
    // b goes on while a is down.
    await call(b, 'PUT', '/v1/c/users/bob', 'Bob');
    await call(b, 'POST', '/v1/c/stats/n/incr', { by: 10 });

    const again = await startNode('a', { dataDir: dir, peers: [b.url] });
    const read = (path: string) => call(again, 'GET', path).then((answer) => answer.body.value);
    expect(await read('/v1/c/users/alice')).toEqual({ v: 1 });
    expect(await read('/v1/c/tags/t')).toEqual(['x']);
    expect(await read('/v1/c/docs/d')).toEqual({ title: 'T' });
    expect(again.status().ops.written).toBe(held.ops.written);
    // It writes on from its own last seq, and catches up with b.
    const put = await call(again, 'PUT', '/v1/c/users/carol', 'Carol');
    expect(put.body.op).toEqual({ origin: 'a', seq: 5 });
    await until(() => again.status().digest === b.status().digest, 'reconvergence');
    expect(await read('/v1/c/stats/n')).toBe(14);
    expect(await read('/v1/c/users/bob')).toBe('Bob');
    expect((await call(b, 'GET', '/v1/c/users/carol')).body.value).toBe('Carol');
  }, 30_000);

  it('refuses a data dir that belongs to another node', async () => {
    const dir = await dataDir();
    const a = await startNode('a', { dataDir: dir });
    await a.close();
    await expect(startNode('not-a', { dataDir: dir })).rejects.toMatchObject({ code: 'STORE_WRONG_NODE' });
    // The refused start left the directory usable.
    const back = await startNode('a', { dataDir: dir });
    expect(back.status().id).toBe('a');
  });
});
