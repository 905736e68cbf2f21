import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterParams, ClusterSystem, ScenarioName } from './cluster-params.js';
import { LinkProxy } from './cluster-proxy.js';
import { type ClusterNodeSpec, specArgs } from './cluster-spec.js';
import { nodeIdOf } from './cluster-workload.js';
import { NodeProcess, type SpawnSettings } from './sync-process.js';
import { costOf, type Probe, type ProcessCost, probe } from './sync-trial.js';

/**
 * A cluster of node processes of one system, from the parent: picks their ports, starts them all
 * at once, each dialing earlier nodes as the topology says (a mesh: all of them; a star: node 0; a ring:
 * the one before, and the last node node 0 too), optionally through a LinkProxy per link; stops
 * and restarts nodes; waits for writes to be held; compares digests; and ends every process (and
 * removes every data directory) whatever happened.
 */

/** The child's entry point. */
const CHILD_ENTRY = fileURLToPath(new URL('./cluster-child.ts', import.meta.url));

/** `count` distinct free ports on 127.0.0.1, held together while picked so that they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  await Promise.all(
    servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The nodes node `index` dials. */
export function dialsOf(index: number, params: ClusterParams): number[] {
  if (index === 0) return [];
  if (params.topology === 'star') return [0];
  if (params.topology === 'ring')
    return index === params.nodes - 1 && index > 1 ? [index - 1, 0] : [index - 1];
  return Array.from({ length: index }, (_, j) => j);
}

/** How many links node `index` has once every node is up. */
export function linksOf(index: number, params: ClusterParams): number {
  let links = dialsOf(index, params).length;
  for (let other = index + 1; other < params.nodes; other++)
    if (dialsOf(other, params).includes(index)) links++;
  return links;
}

/** What a cluster is started with. */
export interface ClusterOptions {
  readonly system: ClusterSystem;
  readonly scenario: ScenarioName;
  readonly params: ClusterParams;
  /** Writes each writer makes over the whole run (warm-up included). */
  readonly writesPerWriter: number;
  /** Every link through a LinkProxy (partition-heal). */
  readonly proxied: boolean;
  /** Nodes keep data directories (LMDB stores, saved baseline state) that survive a restart. */
  readonly persistent: boolean;
  readonly settings: SpawnSettings;
}

/** A running cluster; see the module comment. */
export class Cluster {
  readonly options: ClusterOptions;
  readonly nodes: (NodeProcess | undefined)[];
  /** The proxies, by link `from>to`. */
  readonly proxies = new Map<string, LinkProxy>();
  readonly #dir = mkdtempSync(join(tmpdir(), 'driftless-bench-'));
  readonly #urls: string[] = [];

  /** Removes the data directory if the runner exits before close() (a signal). */
  readonly #removeOnExit = () => rmSync(this.#dir, { recursive: true, force: true });

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.nodes = new Array(options.params.nodes).fill(undefined);
    process.once('exit', this.#removeOnExit);
  }

  /** Starts every node at once (their ports picked first) and waits until each has all its links. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      const ports = await freePorts(options.params.nodes);
      const scheme = options.system === 'driftless' ? 'http' : 'ws';
      cluster.#urls.push(...ports.map((port) => `${scheme}://127.0.0.1:${port}`));
      await Promise.all(ports.map((_, i) => cluster.startNode(i)));
      await cluster.connected();
      return cluster;
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  /** The process of node `index`; throws when it is down. */
  node(index: number): NodeProcess {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`node ${index} is down`);
    return node;
  }

  /** The nodes up now. */
  get up(): NodeProcess[] {
    return this.nodes.filter((node): node is NodeProcess => node !== undefined);
  }

  /** Starts (or restarts, on the same data directory) node `index`. */
  async startNode(index: number): Promise<NodeProcess> {
    const { system, scenario, params, writesPerWriter, proxied, persistent, settings } = this.options;
    const peers: string[] = [];
    for (const target of dialsOf(index, params)) {
      const url = this.#urls[target];
      if (url === undefined) throw new Error(`node ${target} has no url yet`);
      peers.push(proxied ? await this.#proxied(index, target, url) : url);
    }
    const dataDir = persistent ? join(this.#dir, nodeIdOf(index)) : undefined;
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
    const spec: ClusterNodeSpec = {
      system,
      scenario,
      params,
      index,
      port: Number(new URL(this.#urls[index] as string).port),
      peers,
      writes: index < params.writers ? writesPerWriter : 0,
      dataDir,
    };
    const launch = { entry: CHILD_ENTRY, args: specArgs(spec), profiled: system === 'driftless' };
    const node = await NodeProcess.fork(`${system} ${nodeIdOf(index)}`, launch, settings);
    this.nodes[index] = node;
    // Never leave a node behind when the runner exits, however it exits (a signal, a crash).
    const kill = () => node.kill();
    process.once('exit', kill);
    void node.exited.then(() => process.off('exit', kill));
    return node;
  }

  /** The url node `from` dials to reach `target`: its proxy's, opened on first use. */
  async #proxied(from: number, target: number, url: string): Promise<string> {
    const key = `${from}>${target}`;
    let proxy = this.proxies.get(key);
    if (proxy === undefined) {
      proxy = await LinkProxy.open(Number(new URL(url).port));
      this.proxies.set(key, proxy);
    }
    const proxiedUrl = new URL(url);
    proxiedUrl.port = String(proxy.port);
    return proxiedUrl.toString();
  }

  /** Waits until every node up has all its links (every node must be up). */
  async connected(): Promise<void> {
    await Promise.all(
      this.nodes.map((node, i) => node?.request('connected', { peers: linksOf(i, this.options.params) })),
    );
  }

  /** Stops node `index` gracefully (its data directory stays). */
  async stopNode(index: number): Promise<void> {
    await this.node(index).exit();
    this.nodes[index] = undefined;
  }

  /** Resolves when every node in `indexes` holds `count` writes, with the latest time one did. */
  async held(count: number, indexes: readonly number[] = this.nodes.map((_, i) => i)): Promise<number> {
    const times = await Promise.all(indexes.map((i) => this.node(i).request('hold', { count })));
    return Math.max(...times.map(({ atMs }) => atMs));
  }

  /** Whether every node up holds the same state (equal digests and counts). */
  async converged(): Promise<boolean> {
    const answers = await Promise.all(this.up.map((node) => node.request('digest', {})));
    const first = answers[0];
    return answers.every(({ digest, held }) => digest === first?.digest && held === first?.held);
  }

  /** Probes every node up. */
  probeAll(): Promise<Probe[]> {
    return Promise.all(this.up.map(probe));
  }

  /** What every node up cost since `before` (from probeAll, with the same nodes up). */
  async costsSince(before: readonly Probe[]): Promise<ProcessCost[]> {
    const after = await this.probeAll();
    return this.up.map((node, i) => costOf(node.name, (before[i] as Probe).usage, (after[i] as Probe).usage));
  }

  /** Bytes through every proxy so far. */
  proxiedBytes(): number {
    let bytes = 0;
    for (const proxy of this.proxies.values()) bytes += proxy.bytes;
    return bytes;
  }

  /**
   * Ends every node and removes the data. Nodes are killed, not closed: everything measured has
   * been read, and a graceful close (a Driftless node's lets its sessions say goodbye) only costs
   * time. Stopping one node gracefully mid-run is `stopNode`.
   */
  async close(): Promise<void> {
    for (const node of this.up) node.kill();
    await Promise.all(this.up.map((node) => node.exited));
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()));
    process.off('exit', this.#removeOnExit);
    this.#removeOnExit();
  }
}

/** Runs `work` on a fresh cluster, then ends it, whatever happened. */
export async function withCluster<T>(
  options: ClusterOptions,
  work: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = await Cluster.start(options);
  try {
    return await work(cluster);
  } finally {
    await cluster.close();
  }
}
