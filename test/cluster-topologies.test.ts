/**
 * Clusters of real `driftless start` processes, wired in each topology of docs/TOPOLOGIES.md and
 * driven through the HTTP API: every writable node writes every type concurrently on shared keys,
 * and every node ends with the same digest and vector. Then the guarantees that need processes:
 * an `ack=2` write survives the SIGKILL of its writer, a causal token is honoured on another node,
 * a replica refuses writes until `driftless promote`, and SIGTERM stops a node gracefully.
 */
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  type CliNode,
  ClusterHarness,
  MV_COLLECTION,
  type NodeSpec,
  statuses,
  waitForConvergence,
  writeEveryType,
} from './support/cli-cluster.js';

const WRITES_PER_NODE = 70;
const harness = new ClusterHarness();
afterAll(() => harness.cleanup());
const seed = testSeed();
const random = seededRandom(seed);
const context = `seed ${seed}; rerun with DRIFTLESS_SEED=${seed}`;

function start(specs: readonly NodeSpec[]): Promise<CliNode[]> {
  return harness.startCluster(specs, ['--collection', `${MV_COLLECTION}=mv`]);
}

/** Writes on every node in `writers` at once, then waits until all `nodes` converge on all of it. */
async function writeAndConverge(nodes: readonly CliNode[], writers: readonly CliNode[]) {
  const highest = await Promise.all(writers.map((node) => writeEveryType(node, WRITES_PER_NODE, random)));
  const want = Object.fromEntries(writers.map((node, i) => [node.id, highest[i] as number]));
  const converged = await waitForConvergence(nodes, want);
  for (const status of converged) {
    expect(status.digest, context).toBe(converged[0]?.digest);
    for (const [origin, seq] of Object.entries(want))
      expect(status.vector[origin], context).toBeGreaterThanOrEqual(seq);
  }
  return converged;
}

describe('a full mesh of three multi-master nodes', () => {
  let nodes: CliNode[] = [];

  it('converges after concurrent writes of every type on every node', async () => {
    nodes = await start([{ id: 'a' }, { id: 'b', dials: ['a'] }, { id: 'c', dials: ['a', 'b'] }]);
    const converged = await writeAndConverge(nodes, nodes);
    // Shared keys written concurrently: conflicts were resolved, and counted.
    const conflicts = Object.values(converged[0]?.conflicts ?? {}).flatMap((kinds) => Object.values(kinds));
    expect(
      conflicts.reduce((sum, n) => sum + n, 0),
      context,
    ).toBeGreaterThan(0);
  });

  it('honours a read-your-writes token on another node', async () => {
    const [a, , c] = nodes as [CliNode, CliNode, CliNode];
    const write = await api(a.url, 'PUT', '/v1/c/registers/ryw', { from: 'a' });
    expect(write.status).toBe(200);
    const read = await api(c.url, 'GET', `/v1/c/registers/ryw?after=${write.body.token}`);
    expect(read.status).toBe(200);
    expect(read.body.value).toEqual({ from: 'a' });
  });

  it('keeps an ack=2 write after its writer is SIGKILLed', async () => {
    const [a, b, c] = nodes as [CliNode, CliNode, CliNode];
    const write = await api(a.url, 'PUT', '/v1/c/registers/acked?ack=2', { safe: true });
    expect(write.status).toBe(200);
    expect(write.body).toMatchObject({ durable: 'replicated', acked: ['b', 'c'] });
    a.child.kill('SIGKILL');
    await a.watch.exited;
    for (const node of [b, c]) {
      const read = await api(node.url, 'GET', '/v1/c/registers/acked');
      expect(read.status).toBe(200);
      expect(read.body.value).toEqual({ safe: true });
    }
    const [sb, sc] = await statuses([b, c]);
    expect(sb?.vector.a).toBe(write.body.op.seq);
    expect(sc?.vector.a).toBe(write.body.op.seq);
  });
});

describe('a primary with two replicas', () => {
  let nodes: CliNode[] = [];

  it('converges after concurrent writes on the primary', async () => {
    nodes = await start([
      { id: 'p', role: 'primary' },
      { id: 'r1', role: 'replica', dials: ['p'] },
      { id: 'r2', role: 'replica', dials: ['p'] },
    ]);
    await writeAndConverge(nodes, nodes.slice(0, 1));
  });

  it('refuses writes on a replica until `driftless promote`, then replicates its writes', async () => {
    const [p, r1, r2] = nodes as [CliNode, CliNode, CliNode];
    const refused = await api(r1.url, 'PUT', '/v1/c/registers/x', 1);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'REPLICA_READ_ONLY', writable: [{ id: 'p' }] });

    const promote = await harness.runCli(['promote', r1.url, '--secret-file', harness.secretFile]);
    expect(promote.code, promote.stderr).toBe(0);
    expect(JSON.parse(promote.stdout)).toMatchObject({ id: 'r1', role: 'multi', previous: 'replica' });

    const write = await api(r1.url, 'PUT', '/v1/c/registers/x', { by: 'r1' });
    expect(write.status).toBe(200);
    await writeAndConverge(nodes, [p, r1]);
    expect((await api(r2.url, 'GET', '/v1/c/registers/x')).body.value).toEqual({ by: 'r1' });
  });

  it('stops a node gracefully on SIGTERM', async () => {
    const r2 = nodes[2] as CliNode;
    r2.child.kill('SIGTERM');
    const { code, signal } = await r2.watch.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});

describe('a ring of four multi-master nodes', () => {
  it('converges after concurrent writes on every node, relayed around the ring', async () => {
    const nodes = await start([
      { id: 'n1', dials: ['n2'] },
      { id: 'n2', dials: ['n3'] },
      { id: 'n3', dials: ['n4'] },
      { id: 'n4', dials: ['n1'] },
    ]);
    await writeAndConverge(nodes, nodes);
    for (const status of await statuses(nodes)) {
      // Each node is linked to its two neighbours only.
      expect(status.peers.filter((peer) => peer.state === 'streaming')).toHaveLength(2);
    }
  });
});

describe('a cascading chain: primary → replica → replica', () => {
  it('converges: the middle replica relays what the primary writes', async () => {
    const nodes = await start([
      { id: 'head', role: 'primary' },
      { id: 'mid', role: 'replica', dials: ['head'] },
      { id: 'tail', role: 'replica', dials: ['mid'] },
    ]);
    await writeAndConverge(nodes, nodes.slice(0, 1));
    const [tail] = await statuses(nodes.slice(2));
    expect(tail?.peers.map((peer) => peer.nodeId)).toEqual(['mid']);
  });
});
