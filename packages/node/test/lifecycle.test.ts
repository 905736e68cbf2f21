import { VersionVector } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { encodeToken } from '../src/index.js';
import { call, startNode, until } from './node-harness.js';

describe('close()', () => {
  it('lets requests in flight finish: waiting writes answer, waiting reads are released', async () => {
    const node = await startNode('a', {
      peers: ['http://127.0.0.1:9'],
      ackTimeoutMs: 60_000,
      readTimeoutMs: 60_000,
    });
    const write = call(node, 'PUT', '/v1/c/users/alice?ack=1', 'Alice');
    const future = encodeToken(VersionVector.from({ elsewhere: 1 }));
    const read = call(node, 'GET', `/v1/c/users/alice?after=${future}`);
    await until(() => node.replica.log.versionVector.get('a') === 1, 'the write to land');
    await node.close();
    const [written, waited] = await Promise.all([write, read]);
    // The write is durable here; replication did not finish before the node went down.
    expect(written.status).toBe(202);
    expect(written.body).toMatchObject({ durable: 'local', ackTimedOut: true });
    expect(waited.status).toBe(503);
    expect(waited.body.error.code).toBe('SHUTTING_DOWN');
    expect(node.events.at(-1)).toEqual({ type: 'closed' });
    await expect(fetch(`${node.url}/v1/status`)).rejects.toThrow();
    // Idempotent.
    await node.close();
  });
});
