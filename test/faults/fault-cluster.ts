/**
 * A full mesh of real `driftless start` processes on loopback with every peer link behind a
 * LinkProxy, and the faults a test injects into it: network (partitions of any shape, one-way
 * cuts, latency, slow links, dropped connections), process (SIGKILL and restart from the same data
 * directory, SIGSTOP/SIGCONT, destroying a node for good) and clock (each node's offset file,
 * re-read by the node: `--clock-offset-file`).
 *
 * Node j dials node i (i < j) through the proxy of link `j>i`: `forward` is j → i.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type CliNode, ClusterHarness } from '../support/cli-cluster.js';
import { type DirectionShape, LinkProxy } from './link-proxy.js';

/** The state of one node's process. */
export type NodeState = 'up' | 'paused' | 'down' | 'destroyed';

interface Member {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly offsetFile: string;
  readonly peers: readonly string[];
  process: CliNode | undefined;
  /** Every process the node ran as, the current one last. */
  readonly runs: CliNode[];
  state: NodeState;
}

/** How the nodes are started. */
export interface FaultClusterOptions {
  readonly ids: readonly string[];
  /** Draws the proxies' jitter. */
  readonly random: () => number;
  /** `--ack-timeout` and `--read-timeout` of every node, in ms. */
  readonly timeoutMs: number;
}

/** See the module comment. */
export class FaultCluster {
  readonly harness = new ClusterHarness();
  readonly #members = new Map<string, Member>();
  readonly #links = new Map<string, LinkProxy>();
  readonly #timeoutMs: number;

  private constructor(options: FaultClusterOptions) {
    this.#timeoutMs = options.timeoutMs;
  }

  /** Starts every node, wired in a full mesh through proxies; resolves when all serve. */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const cluster = new FaultCluster(options);
    try {
      await cluster.#wire(options);
      return cluster;
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  /** The proxies first (node j dials node i < j through link `j>i`), then every node at once. */
  async #wire(options: FaultClusterOptions): Promise<void> {
    const ports = await listenablePorts(options.ids.length);
    for (const [j, id] of options.ids.entries()) {
      const peers: string[] = [];
      for (const [i, target] of options.ids.slice(0, j).entries()) {
        const proxy = new LinkProxy(ports[i] as number, options.random);
        this.#links.set(`${id}>${target}`, proxy);
        peers.push(`http://127.0.0.1:${await proxy.listen()}`);
      }
      const offsetFile = join(this.harness.dir, `${id}.clock-offset`);
      writeFileSync(offsetFile, '0\n');
      const port = ports[j] as number;
      this.#members.set(id, {
        id,
        port,
        url: `http://127.0.0.1:${port}`,
        offsetFile,
        peers,
        process: undefined,
        runs: [],
        state: 'down',
      });
    }
    await Promise.all(options.ids.map((id) => this.startNode(id)));
  }

  /** Node ids, in start order. */
  get ids(): string[] {
    return [...this.#members.keys()];
  }

  /** The API url of a node (it keeps its port across restarts). */
  url(id: string): string {
    return this.#member(id).url;
  }

  /** The state of a node's process. */
  state(id: string): NodeState {
    return this.#member(id).state;
  }

  /** Starts (or restarts) a node on its port and data directory; resolves once it serves. */
  async startNode(id: string): Promise<void> {
    const member = this.#member(id);
    member.process = await this.harness.startNode(id, [
      '--listen',
      `127.0.0.1:${member.port}`,
      ...member.peers.flatMap((peer) => ['--peer', peer]),
      // Every node is a member, so deleted keys' tombstones are collected under the faults too.
      ...this.ids.flatMap((other) => ['--member', other]),
      '--clock-offset-file',
      member.offsetFile,
      '--ack-timeout',
      String(this.#timeoutMs),
      '--read-timeout',
      String(this.#timeoutMs),
    ]);
    member.runs.push(member.process);
    member.state = 'up';
  }

  /**
   * Every error a node logged (level error or fatal, on stderr), in every process it ran as:
   * only a bug or a broken store makes a node log one, whatever the faults.
   */
  errorsLogged(): { node: string; message: string }[] {
    const errors: { node: string; message: string }[] = [];
    for (const member of this.#members.values()) {
      for (const run of member.runs) {
        for (const line of run.watch.stderr().split('\n')) {
          if (!line.startsWith('{')) continue;
          let entry: { level?: string; msg?: string; error?: { message?: string } };
          try {
            entry = JSON.parse(line);
          } catch {
            continue;
          }
          // Levels are logged by name (logger.ts).
          if (entry.level !== 'error' && entry.level !== 'fatal') continue;
          const detail = entry.error?.message === undefined ? '' : `: ${entry.error.message}`;
          errors.push({ node: member.id, message: `${entry.msg ?? 'error'}${detail}` });
        }
      }
    }
    return errors;
  }

  /** SIGKILL: the node stops at once; its data directory stays. */
  async kill(id: string): Promise<void> {
    const member = this.#member(id);
    const running = member.process;
    if (running === undefined || member.state === 'down' || member.state === 'destroyed') return;
    running.child.kill('SIGKILL');
    await running.watch.exited;
    member.state = 'down';
  }

  /** SIGKILL and delete the data directory: the node and everything only it held are gone. */
  async destroy(id: string): Promise<void> {
    await this.kill(id);
    rmSync(join(this.harness.dir, id), { recursive: true, force: true });
    this.#member(id).state = 'destroyed';
  }

  /** SIGSTOP (a GC pause, a VM migration): the node holds its sockets but answers nothing. */
  pause(id: string): void {
    const member = this.#member(id);
    if (member.state !== 'up') return;
    member.process?.child.kill('SIGSTOP');
    member.state = 'paused';
  }

  /** SIGCONT after pause. */
  resume(id: string): void {
    const member = this.#member(id);
    if (member.state !== 'paused') return;
    member.process?.child.kill('SIGCONT');
    member.state = 'up';
  }

  /** Sets a node's clock offset (ms; negative: behind); a running node re-reads it at once. */
  setClockOffset(id: string, offsetMs: number): void {
    const { offsetFile } = this.#member(id);
    // Written aside and renamed, so the node never reads half a number.
    writeFileSync(`${offsetFile}.tmp`, `${Math.round(offsetMs)}\n`);
    renameSync(`${offsetFile}.tmp`, offsetFile);
  }

  /** The proxy of the link between `a` and `b`, and which direction carries a → b. */
  link(a: string, b: string): { proxy: LinkProxy; aToB: 'forward' | 'backward' } {
    const forward = this.#links.get(`${a}>${b}`);
    if (forward !== undefined) return { proxy: forward, aToB: 'forward' };
    const backward = this.#links.get(`${b}>${a}`);
    if (backward === undefined) throw new Error(`no link between ${a} and ${b}`);
    return { proxy: backward, aToB: 'backward' };
  }

  /**
   * Cuts every link between nodes of different `groups` (nodes in no group keep every link: a
   * bridge). `loud` drops connections and refuses new ones; silent stalls them both ways.
   */
  partition(groups: readonly (readonly string[])[], loud: boolean): void {
    for (const [g, group] of groups.entries()) {
      for (const other of groups.slice(g + 1)) {
        for (const a of group) {
          for (const b of other) {
            const { proxy } = this.link(a, b);
            if (loud) proxy.refuse(true);
            else {
              proxy.shape('forward', { stalled: true });
              proxy.shape('backward', { stalled: true });
            }
          }
        }
      }
    }
  }

  /** Stalls what `from` sends to `to`; the other way keeps flowing. */
  cutOneWay(from: string, to: string): void {
    const { proxy, aToB } = this.link(from, to);
    proxy.shape(aToB, { stalled: true });
  }

  /** Shapes both directions of the link between `a` and `b` (latency, jitter, byte rate). */
  shapeLink(a: string, b: string, shape: Partial<DirectionShape>): void {
    const { proxy } = this.link(a, b);
    proxy.shape('forward', shape);
    proxy.shape('backward', shape);
  }

  /** Resets every connection of the link between `a` and `b` (the nodes re-dial). */
  dropConnections(a: string, b: string): void {
    this.link(a, b).proxy.dropConnections();
  }

  /** Every link clean again; held bytes are delivered. */
  healNetwork(): void {
    for (const proxy of this.#links.values()) proxy.heal();
  }

  /** Heals everything but destroyed nodes: the network, paused and killed nodes, clocks. */
  async healAll(): Promise<void> {
    this.healNetwork();
    for (const member of this.#members.values()) {
      this.setClockOffset(member.id, 0);
      if (member.state === 'paused') this.resume(member.id);
    }
    await Promise.all(
      [...this.#members.values()].filter((m) => m.state === 'down').map((m) => this.startNode(m.id)),
    );
  }

  /** Stops every process and proxy, and removes the data. */
  async close(): Promise<void> {
    for (const member of this.#members.values()) if (member.state === 'paused') this.resume(member.id);
    this.harness.cleanup();
    await Promise.all([...this.#links.values()].map((proxy) => proxy.close()));
  }

  #member(id: string): Member {
    const member = this.#members.get(id);
    if (member === undefined) throw new Error(`no node ${id}`);
    return member;
  }
}

/**
 * Ports below the kernel's ephemeral range (32768-60999 here) that are free now. A killed node
 * restarts on its own port; a port from the ephemeral range may meanwhile have become the local
 * end of some outgoing connection, and the restart would fail with EADDRINUSE.
 */
async function listenablePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (ports.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) ports.push(port);
  }
  return ports;
}
