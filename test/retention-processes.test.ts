/**
 * Log retention and tombstone collection between real `driftless start` processes: a mesh of
 * three nodes started with `--member` for each and `--log-keep 0` deletes its log once every peer
 * holds it and forgets deleted keys once every member holds the delete; a node that is down holds
 * the log (its slot survives the writer's restart), and catches up from it when it comes back.
 */
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  type CliNode,
  ClusterHarness,
  waitForConvergence,
  writeEveryType,
} from './support/cli-cluster.js';

const harness = new ClusterHarness();
afterAll(() => harness.cleanup());
const seed = testSeed();
const random = seededRandom(seed);
const context = `seed ${seed}; rerun with DRIFTLESS_SEED=${seed}`;

// biome-ignore lint/suspicious/noExplicitAny: status fields are read one by one.
type Status = any;

async function status(node: CliNode): Promise<Status> {
  return (await api(node.url, 'GET', '/v1/status')).body;
}

/** Polls `condition`; on timeout, fails with every node's log and tombstone status. */
async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 150_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const shown = await Promise.all(
        nodes.map(async (node) => {
          const s = await status(node).catch(() => undefined);
          return `${node.id} ${JSON.stringify({ vector: s?.vector, log: s?.log, tombstones: s?.tombstones })}`;
        }),
      );
      throw new Error(`timed out waiting for ${what} (${context})\n${shown.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let nodes: CliNode[] = [];

describe('log retention and tombstone collection across processes', () => {
  const extra = ['--member', 'a', '--member', 'b', '--member', 'c', '--log-keep', '0'];

  it('deletes the log every peer holds and forgets deletes every member holds', {
    timeout: 300_000,
  }, async () => {
    nodes = await harness.startCluster(
      [{ id: 'a' }, { id: 'b', dials: ['a'] }, { id: 'c', dials: ['a', 'b'] }],
      extra,
    );
    const highest = await Promise.all(nodes.map((node) => writeEveryType(node, 40, random)));
    const [a] = nodes as [CliNode];
    // A key surely deleted, so there is a tombstone to collect.
    expect((await api(a.url, 'PUT', '/v1/c/registers/doomed', 1)).status).toBe(200);
    const deleted = await api(a.url, 'DELETE', '/v1/c/registers/doomed');
    expect(deleted.status).toBe(200);
    const want = { a: Math.max(highest[0] as number, deleted.body.op.seq) };
    await waitForConvergence(nodes, want, 150_000);
    await until('every log emptied and every delete forgotten', async () => {
      const all = await Promise.all(nodes.map(status));
      return all.every(
        (s) =>
          s.log.retainedOps === 0 &&
          s.tombstones.waitingFor.length === 0 &&
          (s.tombstones.collectedBelow.a ?? 0) >= deleted.body.op.seq,
      );
    });
    const converged = await waitForConvergence(nodes, want, 150_000);
    expect(new Set(converged.map((s) => s.digest)).size, context).toBe(1);
    expect((await api(nodes[2]?.url as string, 'GET', '/v1/c/registers/doomed')).status).toBe(404);
  });

  it('a node that is down holds the log, across the writer restarting, until it is back', {
    timeout: 300_000,
  }, async () => {
    const [a, b, c] = nodes as [CliNode, CliNode, CliNode];
    c.child.kill('SIGKILL');
    await until('c to be seen down', async () =>
      (await status(a)).peers.some((p: Status) => p.nodeId === 'c' && p.state === 'disconnected'),
    );
    for (let i = 0; i < 10; i++)
      expect((await api(a.url, 'PUT', `/v1/c/registers/late${i}`, i)).status).toBe(200);
    // a restarts (SIGTERM, then the same data directory): c's slot was persisted.
    a.child.kill('SIGTERM');
    await new Promise((resolve) => a.child.once('exit', resolve));
    const restarted = await harness.startNode('a', ['--listen', new URL(a.url).host, ...extra]);
    await until('a to keep the ten ops c lacks', async () => {
      const s = await status(restarted);
      const slot = s.log.slots.find((entry: Status) => entry.node === 'c');
      return slot?.opsBehind >= 10 && s.log.retainedOps >= 10;
    });
    const back = await harness.startNode('c', [
      '--listen',
      new URL(c.url).host,
      '--peer',
      a.url,
      '--peer',
      b.url,
      ...extra,
    ]);
    const converged = await waitForConvergence([restarted, b, back], {}, 150_000);
    expect(new Set(converged.map((s) => s.digest)).size, context).toBe(1);
    expect((await api(back.url, 'GET', '/v1/c/registers/late9')).body.value).toBe(9);
    await until(
      'a to release the log once c holds it',
      async () => (await status(restarted)).log.retainedOps === 0,
    );
  });
});
