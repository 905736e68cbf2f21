/**
 * Clusters of `driftless start` processes for multi-process tests: each node is the real CLI run
 * from sources as a child process, on 127.0.0.1, driven through its HTTP API. Ports are picked
 * before the nodes start so any topology (a ring included) can be wired in one go.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTs, watchLines } from './processes.js';

/** The CLI entry point, as the `driftless` bin runs it from sources. */
export const CLI_ENTRY = 'packages/node/src/cli/main.ts';
const SECRET = 'cluster-test-secret-0123456789';

/** A node process. */
export interface CliNode {
  readonly id: string;
  /** The HTTP API: http://127.0.0.1:port */
  readonly url: string;
  readonly child: ReturnType<typeof spawnTs>;
  readonly watch: ReturnType<typeof watchLines>;
}

/** How to start one node of a cluster. */
export interface NodeSpec {
  readonly id: string;
  readonly role?: 'multi' | 'primary' | 'replica';
  /** Ids of the nodes this one dials. */
  readonly dials?: readonly string[];
}

/** A directory with the cluster's secret, and every process started in it (killed by `cleanup`). */
export class ClusterHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'driftless-cluster-'));
  readonly secretFile = join(this.dir, 'secret');
  readonly #children: ReturnType<typeof spawnTs>[] = [];

  constructor() {
    writeFileSync(this.secretFile, `${SECRET}\n`);
  }

  /** Starts every node of `specs` at once, wired as they say; resolves when all serve. */
  async startCluster(specs: readonly NodeSpec[], extraArgs: readonly string[] = []): Promise<CliNode[]> {
    const ports = await freePorts(specs.length);
    const urlOf = new Map(specs.map((spec, i) => [spec.id, `http://127.0.0.1:${ports[i]}`]));
    return Promise.all(
      specs.map((spec, i) =>
        this.startNode(spec.id, [
          '--listen',
          `127.0.0.1:${ports[i]}`,
          '--role',
          spec.role ?? 'multi',
          ...(spec.dials ?? []).flatMap((id) => ['--peer', urlOf.get(id) as string]),
          ...extraArgs,
        ]),
      ),
    );
  }

  /** Starts `driftless start --id <id> --data <dir>/<id> …` and waits for its banner. */
  async startNode(id: string, args: readonly string[]): Promise<CliNode> {
    const child = spawnTs(CLI_ENTRY, [
      'start',
      '--id',
      id,
      '--data',
      join(this.dir, id),
      '--secret-file',
      this.secretFile,
      '--cluster',
      'test',
      '--log-level',
      'warn',
      ...args,
    ]);
    this.#children.push(child);
    const watch = watchLines(child);
    await watch.waitFor((line) => /^\s+api\s+http:/.test(line), 60_000);
    const url = /api\s+(\S+)/.exec(
      watch.lines.find((line) => /^\s+api\s/.test(line)) as string,
    )?.[1] as string;
    return { id, url, child, watch };
  }

  /** Runs a short CLI command (status, promote, …) to completion. */
  async runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawnTs(CLI_ENTRY, args);
    this.#children.push(child);
    const watch = watchLines(child);
    const { code, stderr } = await watch.exited;
    return { code, stdout: watch.lines.join('\n'), stderr };
  }

  /** Kills every process still running and removes the directory. */
  cleanup(): void {
    for (const child of this.#children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `n` distinct free ports on 127.0.0.1 (held together while picked, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve) =>
          server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
        ),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** An HTTP answer. */
export interface Answer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field.
  readonly body: any;
}

/** One request to a node's API (JSON in, JSON out). */
export async function api(url: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** A node's GET /v1/status. */
export interface Status {
  readonly id: string;
  readonly role: string;
  readonly vector: Record<string, number>;
  readonly digest: string;
  readonly conflicts: Record<string, Record<string, number>>;
  readonly peers: { nodeId?: string; state: string }[];
}

/** GET /v1/status of every node. */
export async function statuses(nodes: readonly { url: string }[]): Promise<Status[]> {
  return Promise.all(nodes.map(async (node) => (await api(node.url, 'GET', '/v1/status')).body as Status));
}

/**
 * Polls until every node reports the same digest and vector, and that vector holds `atLeast`;
 * throws with the last statuses after `timeoutMs`.
 */
export async function waitForConvergence(
  nodes: readonly { url: string }[],
  atLeast: Readonly<Record<string, number>> = {},
  timeoutMs = 60_000,
): Promise<Status[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await statuses(nodes);
    const first = all[0] as Status;
    const same = all.every(
      (status) => status.digest === first.digest && sameVector(status.vector, first.vector),
    );
    const complete = Object.entries(atLeast).every(([origin, seq]) => (first.vector[origin] ?? 0) >= seq);
    if (same && complete) return all;
    if (Date.now() > deadline) {
      throw new Error(
        `no convergence in ${timeoutMs} ms (want ${JSON.stringify(atLeast)}):\n${all
          .map((s) => `${s.id} ${s.digest.slice(0, 12)} ${JSON.stringify(s.vector)}`)
          .join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function sameVector(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => (a[key] ?? 0) === (b[key] ?? 0));
}

/** The mv collection every cluster of these tests configures (`--collection carts=mv`). */
export const MV_COLLECTION = 'carts';

/**
 * `count` writes of every type on `node`, four at a time, on keys every writer shares: registers
 * (values of every JSON type), a multi-value collection, document patches, counters, set adds and
 * removes, deletes. Returns the highest seq the node acknowledged.
 */
export async function writeEveryType(node: CliNode, count: number, random: () => number): Promise<number> {
  let next = 0;
  let highest = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const key = `k${Math.floor(random() * 8)}`;
      const kind = i % 7;
      const answer =
        kind === 0
          ? await api(node.url, 'PUT', `/v1/c/registers/${key}`, {
              s: `${node.id}-${i}`,
              n: i,
              f: i / 7,
              b: i % 2 === 0,
              z: null,
              a: [i, 'x', { deep: [true] }],
            })
          : kind === 1
            ? await api(node.url, 'PUT', `/v1/c/${MV_COLLECTION}/${key}`, [node.id, i])
            : kind === 2
              ? await api(node.url, 'PATCH', `/v1/c/docs/${key}`, { [`f${i % 3}`]: `${node.id}-${i}` })
              : kind === 3
                ? await api(node.url, 'POST', `/v1/c/counters/${key}/incr`, { by: random() < 0.7 ? 2 : -1 })
                : kind === 4
                  ? await api(node.url, 'POST', `/v1/c/sets/${key}/add`, { element: `e${i % 5}` })
                  : kind === 5
                    ? await api(node.url, 'POST', `/v1/c/sets/${key}/remove`, { element: `e${(i + 2) % 5}` })
                    : await api(node.url, 'DELETE', `/v1/c/${random() < 0.5 ? 'registers' : 'docs'}/${key}`);
      // Deleting or removing what is not there is a 404: fine, nothing was written.
      if (answer.status === 404) continue;
      if (answer.status !== 200)
        throw new Error(`write ${i} on ${node.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
      highest = Math.max(highest, answer.body.op.seq as number);
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  return highest;
}
