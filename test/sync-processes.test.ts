import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnTs, watchLines } from './support/processes.js';

const root = mkdtempSync(join(tmpdir(), 'driftless-sync-'));
const children: ReturnType<typeof spawnTs>[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface NodeProcess {
  readonly id: string;
  readonly url: string;
  readonly watch: ReturnType<typeof watchLines>;
  readonly child: ReturnType<typeof spawnTs>;
}

async function startNode(
  id: string,
  port: number,
  peers: string[],
  count: number,
  seed: number,
): Promise<NodeProcess> {
  const child = spawnTs('test/fixtures/sync-node.ts', [
    join(root, id),
    id,
    String(port),
    peers.length > 0 ? peers.join(',') : '-',
    String(count),
    String(seed),
  ]);
  children.push(child);
  const watch = watchLines(child);
  await watch.waitFor((line) => line.startsWith('listening '), 30_000);
  const url = (watch.lines.find((line) => line.startsWith('listening ')) as string).slice(
    'listening '.length,
  );
  return { id, url, watch, child };
}

interface Status {
  vector: Record<string, number>;
  digest: string;
}

async function statusOf(node: NodeProcess): Promise<Status> {
  const before = node.watch.lines.length;
  node.child.stdin?.write('status\n');
  await node.watch.waitFor((line) => line.startsWith('status '), 10_000);
  const line = node.watch.lines.slice(before).find((l) => l.startsWith('status ')) as string;
  // Drop answered status lines so the next waitFor waits for a new one.
  node.watch.lines.splice(node.watch.lines.indexOf(line), 1);
  return JSON.parse(line.slice('status '.length)) as Status;
}

function acks(nodes: readonly NodeProcess[], extra: readonly string[]): Map<string, number> {
  const acked = new Map<string, number>();
  for (const line of [...nodes.flatMap((node) => node.watch.lines), ...extra]) {
    const [word, origin, seq] = line.split(' ');
    if (word === 'ack' && origin) acked.set(origin, Math.max(acked.get(origin) ?? 0, Number(seq)));
  }
  return acked;
}

/**
 * Three node processes replicate over real WebSockets on loopback while all of them write; one
 * is SIGKILLed mid-stream and restarted on its data directory. In the end every node holds every
 * acknowledged write and all digests are equal.
 */
describe('replication between processes over WebSocket', () => {
  it('converges after concurrent writes and a SIGKILL mid-stream, losing nothing acknowledged', async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const context = `seed ${seed}; rerun with DRIFTLESS_SEED=${seed}`;
    const a = await startNode('a', 0, [], 400, seed);
    const b = await startNode('b', 0, [a.url], 400, seed + 1);
    const c = await startNode('c', 0, [a.url, b.url], 400, seed + 2);
    const cPort = Number(new URL(c.url).port);

    await c.watch.waitFor((line) => line.startsWith('ack c 50'), 60_000);
    await new Promise((resolve) => setTimeout(resolve, random() * 200));
    c.child.kill('SIGKILL');
    const { signal } = await c.watch.exited;
    expect(signal, context).toBe('SIGKILL');
    const killedLines = [...c.watch.lines];

    const c2 = await startNode('c', cPort, [a.url, b.url], 200, seed + 3);
    const nodes = [a, b, c2];
    for (const node of nodes) await node.watch.waitFor((line) => line === 'written', 120_000);

    let statuses: Status[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      statuses = await Promise.all(nodes.map(statusOf));
      const first = statuses[0] as Status;
      if (
        statuses.every(
          (s) => s.digest === first.digest && JSON.stringify(s.vector) === JSON.stringify(first.vector),
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const first = statuses[0] as Status;
    for (const status of statuses) {
      expect(status.vector, context).toEqual(first.vector);
      expect(status.digest, context).toBe(first.digest);
    }
    for (const [origin, seq] of acks(nodes, killedLines)) {
      expect(
        first.vector[origin] ?? 0,
        `${context}: acknowledged ${origin}:${seq} lost`,
      ).toBeGreaterThanOrEqual(seq);
    }
    expect(Object.keys(first.vector).sort(), context).toEqual(['a', 'b', 'c']);
    for (const node of nodes) node.child.stdin?.write('quit\n');
    const exits = await Promise.all(nodes.map((node) => node.watch.exited));
    for (const exit of exits) expect(exit.code, `${context}: ${exit.stderr}`).toBe(0);
  }, 240_000);
});
