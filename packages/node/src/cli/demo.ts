/**
 * `driftless demo`: a local 3-node full mesh, each node its own `driftless start` process with
 * its data in a temporary directory. Writers hit all three nodes at once with conflicting writes
 * of every type; a table shows each node's write rate, replication lag and state digest, and the
 * demo ends when every digest is the same, with the time that took. `--keep` leaves the cluster
 * running (until Ctrl-C) and prints how to talk to it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi } from './api-client.js';
import { Board, type Row } from './demo-board.js';
import { DEMO_MV_COLLECTION, runWriter } from './demo-workload.js';
import { freePorts, type NodeProcess, startNodeProcess, stopNodeProcesses } from './local-cluster.js';
import type { CliHost } from './program.js';
import { asStatusView, conflictRows, type StatusView } from './status-format.js';
import { CommandError } from './usage-error.js';

/** Options of the demo. */
export interface DemoOptions {
  readonly keep: boolean;
  /** How long the writers run; default 10 s. */
  readonly writeSeconds?: number;
  /** Where the nodes keep their data; default a new temporary directory, removed afterwards. */
  readonly dir?: string;
}

/** The demo's nodes, in start order. */
export const DEMO_NODES = ['lisbon', 'osaka', 'denver'] as const;
const DEFAULT_WRITE_SECONDS = 10;
/** How often the table is refreshed while writing, and how often digests are compared afterwards. */
const TICK_MS = 500;
const CONVERGE_POLL_MS = 100;
/** The demo fails if the nodes have not converged this long after the last write. */
const CONVERGE_TIMEOUT_MS = 60_000;

/** Runs the demo; returns the exit status. */
export async function runDemo(host: CliHost, options: DemoOptions): Promise<number> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'driftless-demo-'));
  mkdirSync(dir, { recursive: true });
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const writeSeconds = options.writeSeconds ?? DEFAULT_WRITE_SECONDS;
  const nodes: NodeProcess[] = [];
  let stopping = false;
  // The directory is removed unless the demo failed (its node logs say why).
  let demoFailed = true;
  // Rejects when a node dies before the demo stops it.
  let nodeDied: (error: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => {
    nodeDied = reject;
  });
  failure.catch(() => {});
  // Ctrl-C (or SIGTERM) at any point stops the cluster and cleans up.
  const interrupted = host.stopSignal().then((signal) => {
    throw new Interrupted(signal);
  });
  interrupted.catch(() => {});
  const stopped = Promise.race([failure, interrupted]);
  const watchNode = (node: NodeProcess) =>
    void node.exited.then((code) => {
      if (!stopping)
        nodeDied(new CommandError(`node ${node.id} exited (status ${code}); see ${node.logFile}`));
    });

  try {
    host.out(`Driftless demo: 3 nodes, each a separate process, data under ${dir}`);
    const started = performance.now();
    // Ports first, so the nodes can start at once, wired as a full mesh: each dials the ones
    // before it (a session carries ops both ways, so one dial per pair is enough).
    const ports = await freePorts(DEMO_NODES.length);
    const starting = DEMO_NODES.map((id, i) =>
      startNodeProcess(host.selfCommand, {
        id,
        logFile: join(dir, `${id}.log`),
        args: [
          '--data',
          join(dir, id),
          '--listen',
          `127.0.0.1:${ports[i]}`,
          '--cluster',
          'demo',
          '--secret-file',
          secretFile,
          '--collection',
          `${DEMO_MV_COLLECTION}=mv`,
          ...ports.slice(0, i).flatMap((port) => ['--peer', `http://127.0.0.1:${port}`]),
        ],
      }).then((node) => {
        nodes.push(node);
        watchNode(node);
        return node;
      }),
    );
    const startup = await Promise.allSettled(starting);
    const refused = startup.find((result) => result.status === 'rejected');
    if (refused) throw refused.reason;
    for (const node of sortedNodes(nodes)) {
      host.out(`  ${node.id.padEnd(7)} ${node.url}   (log: ${node.logFile})`);
    }
    await Promise.race([waitForMesh(nodes), stopped]);
    host.out(`mesh formed in ${seconds(performance.now() - started)}\n`);

    host.out(
      `writing on all 3 nodes at once for ${writeSeconds} s: registers, a multi-value collection, documents, counters, sets, deletes — on shared keys`,
    );
    nodes.splice(0, nodes.length, ...sortedNodes(nodes));
    const rows: Row[] = nodes.map((node) => ({ id: node.id, status: undefined, written: 0, rate: 0, at: 0 }));
    const board = new Board(host);
    const writeStart = performance.now();
    let writersDone: number | undefined;
    const writers = Promise.all(
      nodes.map((node, i) => runWriter(node.url, node.id, writeStart + writeSeconds * 1000, 1000 + i)),
    ).then((results) => {
      writersDone = performance.now();
      return results;
    });
    writers.catch(() => {});

    let converged: number | undefined;
    while (converged === undefined) {
      // While writing, wake at each tick or as soon as the writers finish.
      const tick =
        writersDone === undefined ? Promise.race([sleep(TICK_MS), writers]) : sleep(CONVERGE_POLL_MS);
      await Promise.race([tick, stopped]);
      await Promise.race([refresh(nodes, rows), stopped]);
      if (writersDone !== undefined && allEqual(rows)) converged = performance.now();
      board.draw(rows, performance.now() - writeStart, writersDone !== undefined, converged !== undefined);
      if (
        converged === undefined &&
        writersDone !== undefined &&
        performance.now() - writersDone > CONVERGE_TIMEOUT_MS
      ) {
        throw new CommandError(
          `the nodes did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s of the last write`,
        );
      }
    }
    board.finish();
    const results = await writers;
    const ok = results.reduce((sum, r) => sum + r.ok, 0);
    const skipped = results.reduce((sum, r) => sum + r.skipped, 0);
    const failed = results.reduce((sum, r) => sum + r.failed, 0);
    const written = (writersDone ?? converged) - writeStart;
    const first = rows[0]?.status as StatusView;
    host.out('');
    host.out(
      `converged: all 3 digests equal (${first.digest.slice(0, 16)}) ${seconds(converged - writeStart)} after the first write, ${seconds(converged - (writersDone ?? converged))} after the last`,
    );
    host.out(
      `  ${ok} writes acknowledged in ${seconds(written)} (${Math.round(ok / (written / 1000))}/s over 3 nodes)${skipped > 0 ? `; ${skipped} deletes found their key already deleted` : ''}${failed > 0 ? `; ${failed} failed: ${results.find((r) => r.lastError)?.lastError}` : ''}`,
    );
    host.out(`  conflicts resolved on ${first.id}: ${conflictSummary(first)}`);

    if (options.keep) {
      printKeep(host, nodes, secretFile);
      await stopped.catch((error: unknown) => {
        if (!(error instanceof Interrupted)) throw error;
      });
    }
    demoFailed = false;
    return 0;
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    demoFailed = false;
    return 130;
  } finally {
    if (nodes.length > 0) host.out(`\nstopping the cluster`);
    stopping = true;
    await stopNodeProcesses(nodes);
    if (ownDir && !demoFailed) rmSync(dir, { recursive: true, force: true });
    else if (demoFailed) host.err(`the nodes' data and logs are left in ${dir}`);
  }
}

/** The nodes in DEMO_NODES order (they finish starting in any order). */
function sortedNodes(nodes: readonly NodeProcess[]): NodeProcess[] {
  return [...nodes].sort(
    (a, b) =>
      DEMO_NODES.indexOf(a.id as (typeof DEMO_NODES)[number]) -
      DEMO_NODES.indexOf(b.id as (typeof DEMO_NODES)[number]),
  );
}

/** A stop signal arrived. */
class Interrupted extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
  }
}

/** Waits until every node has an established session with every other. */
async function waitForMesh(nodes: readonly NodeProcess[]): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const statuses = await Promise.all(nodes.map((node) => fetchStatus(node.url)));
    const ready = statuses.every(
      (status) =>
        new Set((status.peers ?? []).filter((p) => p.state === 'streaming').map((p) => p.nodeId)).size ===
        nodes.length - 1,
    );
    if (ready) return;
    if (performance.now() > deadline)
      throw new CommandError('the nodes did not connect to each other in 30 s');
    await sleep(100);
  }
}

async function fetchStatus(url: string): Promise<StatusView> {
  return asStatusView(await callApi(url, { method: 'GET', path: '/v1/status', timeoutMs: 5000 }));
}

async function refresh(nodes: readonly NodeProcess[], rows: Row[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node, i) => {
      const status = await fetchStatus(node.url);
      const row = rows[i] as Row;
      const now = performance.now();
      const written = status.ops?.written ?? 0;
      if (row.at > 0) row.rate = ((written - row.written) * 1000) / (now - row.at);
      row.written = written;
      row.at = now;
      row.status = status;
    }),
  );
}

function allEqual(rows: readonly Row[]): boolean {
  const first = rows[0]?.status;
  return (
    first !== undefined &&
    rows.every(
      (row) =>
        row.status !== undefined &&
        row.status.digest === first.digest &&
        JSON.stringify(sorted(row.status.vector)) === JSON.stringify(sorted(first.vector)),
    )
  );
}

function sorted(vector: Readonly<Record<string, number>>): [string, number][] {
  return Object.entries(vector).sort(([a], [b]) => (a < b ? -1 : 1));
}

function conflictSummary(status: StatusView): string {
  const byKind = new Map<string, number>();
  for (const row of conflictRows(status.conflicts))
    byKind.set(row.kind, (byKind.get(row.kind) ?? 0) + row.count);
  const parts = [...byKind].filter(([, count]) => count > 0).map(([kind, count]) => `${count} ${kind}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function printKeep(host: CliHost, nodes: readonly NodeProcess[], secretFile: string): void {
  const url = nodes[0]?.url ?? '';
  const other = nodes[1]?.url ?? url;
  host.out(
    [
      '',
      'The cluster is still running (Ctrl-C stops it):',
      ...nodes.map((node) => `  ${node.id.padEnd(7)} ${node.url}   metrics ${node.url}/metrics`),
      '',
      'Try:',
      `  curl -s -X PUT ${url}/v1/c/profiles/ada -H 'content-type: application/json' -d '{"name":"Ada","langs":["en","fr"]}'`,
      `  curl -s ${other}/v1/c/profiles/ada`,
      `  curl -s -X POST '${url}/v1/c/counters/visits/incr?ack=all' -H 'content-type: application/json' -d '{"by":5}'`,
      `  curl -s ${other}/v1/status`,
      `  driftless status ${other}`,
      `  driftless get ${other} profiles ada`,
      `  (the cluster secret is in ${secretFile})`,
    ].join('\n'),
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
