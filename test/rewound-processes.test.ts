/**
 * A node process whose data directory is lost, started again under the same id: its peer holds
 * ops of its origin that its log lacks, so a new write would reuse their seqs (and the peer would
 * drop it as known). Real `driftless start` processes over WebSocket: once the peer reconnects, the
 * node refuses writes with ORIGIN_REWOUND, says so in its status and in `driftless status`, and
 * still replicates the peer's writes. Also when it wrote again, before its peer came back, under
 * the seqs it lost: the peer's AUTH tip shows another op at one of them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, type CliNode, ClusterHarness } from './support/cli-cluster.js';

const harness = new ClusterHarness();
afterAll(() => harness.cleanup());

// biome-ignore lint/suspicious/noExplicitAny: status fields are read one by one.
type Status = any;

async function status(node: CliNode): Promise<Status> {
  return (await api(node.url, 'GET', '/v1/status')).body;
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a node process that lost its data directory', () => {
  it('refuses writes under its old id once its peer shows it, and still replicates', {
    timeout: 180_000,
  }, async () => {
    const [a, b] = (await harness.startCluster([{ id: 'a' }, { id: 'b', dials: ['a'] }])) as [
      CliNode,
      CliNode,
    ];
    for (let i = 1; i <= 3; i++) expect((await api(a.url, 'PUT', `/v1/c/notes/k${i}`, i)).status).toBe(200);
    await until('b to hold a:3', async () => (await status(b)).vector.a === 3);

    a.child.kill('SIGTERM');
    await new Promise((resolve) => a.child.once('exit', resolve));
    rmSync(join(harness.dir, 'a'), { recursive: true, force: true });
    const again = await harness.startNode('a', ['--listen', new URL(a.url).host]);
    await until('b to reconnect and a to learn it lost its ops', async () => (await status(again)).rewound);

    expect((await status(again)).rewound).toEqual({ peer: 'b', held: 3, own: 0 });
    const refused = await api(again.url, 'PUT', '/v1/c/notes/k4', 4);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ORIGIN_REWOUND');
    expect(refused.body.error.message).toMatch(/new node id/);
    expect((await status(again)).ops.written, 'no seq was taken').toBe(0);

    // The node logs it, at error level (the logs go to stderr).
    await until('its log to say so', async () => again.watch.stderr().includes('"origin-rewound"'));
    expect(b.watch.stderr(), 'the peer cannot tell').not.toMatch(/rewound/);

    const shown = await harness.runCli(['status', again.url]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /^WRITES REFUSED: peer b holds this node's own ops up to seq 3, its log only to 0/m,
    );

    // Still a replica of everything else: b's writes reach it, and b never sees a write from it.
    expect((await api(b.url, 'PUT', '/v1/c/notes/from-b', 'b')).status).toBe(200);
    await until('a to receive b write', async () => (await status(again)).vector.b === 1);
    expect((await api(again.url, 'GET', '/v1/c/notes/from-b')).body.value).toBe('b');
    expect((await status(b)).vector.a).toBe(3);
    expect((await api(b.url, 'GET', '/v1/c/notes/k4')).status).toBe(404);
  });

  it('refuses writes once its peer shows another op under a seq it wrote again while alone', {
    timeout: 180_000,
  }, async () => {
    const [a, b] = (await harness.startCluster([{ id: 'a2' }, { id: 'b2', dials: ['a2'] }])) as [
      CliNode,
      CliNode,
    ];
    for (let i = 1; i <= 3; i++) expect((await api(a.url, 'PUT', `/v1/c/notes/k${i}`, i)).status).toBe(200);
    await until('b2 to hold a2:3', async () => (await status(b)).vector.a2 === 3);
    const stop = async (node: CliNode) => {
      node.child.kill('SIGTERM');
      await new Promise((resolve) => node.child.once('exit', resolve));
    };
    await stop(b);
    await stop(a);

    // Back without its data and with no peer: it writes as many ops as it lost, and one more.
    rmSync(join(harness.dir, 'a2'), { recursive: true, force: true });
    const again = await harness.startNode('a2', ['--listen', new URL(a.url).host]);
    for (let i = 1; i <= 4; i++)
      expect((await api(again.url, 'PUT', `/v1/c/notes/new${i}`, i)).status).toBe(200);
    const back = await harness.startNode('b2', ['--listen', new URL(b.url).host, '--peer', again.url]);
    await until('a2 to learn its ops differ from b2', async () => (await status(again)).rewound);

    expect((await status(again)).rewound).toEqual({ peer: 'b2', held: 3, own: 4, conflict: 3 });
    const refused = await api(again.url, 'PUT', '/v1/c/notes/new5', 5);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ORIGIN_REWOUND');
    await until('its log to say so', async () => again.watch.stderr().includes('"conflict":3'));
    const shown = await harness.runCli(['status', again.url]);
    expect(shown.stdout).toMatch(/^WRITES REFUSED: peer b2 holds another op at seq 3 of this node's own/m);
    expect(back.watch.stderr(), 'the peer cannot tell').not.toMatch(/rewound/);
  });
});
