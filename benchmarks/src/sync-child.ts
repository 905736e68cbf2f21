/**
 * A node process of the replication benchmarks (spawned by sync-process.ts over IPC): runs one end
 * of one system (sync-driftless.ts, sync-raw.ts, sync-yjs.ts) and answers the parent's requests
 * (sync-ipc.ts): write a burst or at a paced rate, report when A's ops are held, probe the clock,
 * CPU, memory and traffic, and exit. It exits, too, if the parent goes away.
 *
 *   node --conditions=@driftless/source --import tsx benchmarks/src/sync-child.ts \
 *     --system=driftless-memory --role=receiver --node-id=b --listen=true --peers= --dir= --ops=0
 */
import { parseArgs } from 'node:util';
import { startDriftless } from './sync-driftless.js';
import {
  type ChildOptions,
  type ReplyMessage,
  type RequestMessage,
  type Requests,
  type StartedMessage,
  SYSTEMS,
  type Usage,
} from './sync-ipc.js';
import type { SyncNode } from './sync-node.js';
import { startRaw } from './sync-raw.js';
import { makeWorkload, monotonicMs, NODE_A, WRITE_WINDOW } from './sync-workload.js';
import { startYjs } from './sync-yjs.js';

const MiB = 1024 * 1024;

/** Reads the command line; throws on anything unexpected. */
function parseOptions(args: readonly string[]): ChildOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      system: { type: 'string' },
      role: { type: 'string' },
      'node-id': { type: 'string' },
      listen: { type: 'string' },
      peers: { type: 'string', default: '' },
      dir: { type: 'string', default: '' },
      ops: { type: 'string', default: '0' },
      window: { type: 'string', default: String(WRITE_WINDOW) },
    },
    strict: true,
    allowPositionals: false,
  });
  const system = SYSTEMS.find((name) => name === values.system);
  const role = (['sender', 'receiver', 'mesh'] as const).find((name) => name === values.role);
  const ops = Number(values.ops);
  const window = Number(values.window);
  if (
    system === undefined ||
    role === undefined ||
    values['node-id'] === undefined ||
    !Number.isSafeInteger(ops) ||
    !Number.isSafeInteger(window)
  )
    throw new Error(
      `usage: sync-child.ts --system=${SYSTEMS.join('|')} --role=sender|receiver|mesh --node-id=ID …`,
    );
  return {
    system,
    role,
    nodeId: values['node-id'],
    listen: values.listen === 'true',
    peers: values.peers === '' ? [] : values.peers.split(','),
    dir: values.dir === '' ? undefined : values.dir,
    ops,
    window,
  };
}

/** What this process has cost so far. */
function usage(): Usage {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    maxRssMiB: Math.max(process.resourceUsage().maxRSS * 1024, memory.rss) / MiB,
    rssMiB: memory.rss / MiB,
    heapUsedMiB: memory.heapUsed / MiB,
    externalMiB: memory.external / MiB,
  };
}

/** Serves the parent's requests with `node`. */
class Server {
  readonly #node: SyncNode;
  /** The hold request waiting, checked each time A's ops held here grow. */
  #holdCheck: (() => void) | undefined;

  constructor(node: SyncNode, role: ChildOptions['role']) {
    this.#node = node;
    if (role !== 'sender') node.onHeld(() => this.#holdCheck?.());
  }

  async handle(request: RequestMessage): Promise<Requests[RequestMessage['type']]['result']> {
    const node = this.#node;
    switch (request.type) {
      case 'connected':
        await node.connected(request.peers);
        return {};
      case 'burst': {
        const startMs = monotonicMs();
        await node.burst(request.from, request.to);
        return { startMs, endMs: monotonicMs() };
      }
      case 'paced':
        return this.#paced(request.from, request.to, request.ratePerS);
      case 'hold':
        return this.#hold(request.count, request.record);
      case 'probe':
        return {
          nowMs: monotonicMs(),
          usage: usage(),
          traffic: node.traffic(),
          store: node.storeStats(),
          disconnects: node.disconnects(),
        };
      case 'status':
        return { peers: node.status(), counts: node.receiveCounts(), disconnects: node.disconnects() };
      case 'exit':
        await node.close();
        return {};
    }
  }

  /**
   * Writes ops [from, to) at `ratePerS`: on each timer turn (about a millisecond apart), every op
   * due by then, each timed as it is issued; then the turn ends (the raw pipe sends its batch).
   */
  async #paced(from: number, to: number, ratePerS: number): Promise<Requests['paced']['result']> {
    const node = this.#node;
    const times = new Float64Array(to - from);
    const startMs = monotonicMs();
    let next = from;
    while (next < to) {
      const due = Math.min(to, from + 1 + Math.floor(((monotonicMs() - startMs) * ratePerS) / 1000));
      for (; next < due; next++) {
        times[next - from] = monotonicMs();
        const wait = node.write(next);
        // Flow control held this write back: it counts from its call, as a user's would.
        if (wait !== undefined) await wait;
      }
      node.endTurn();
      if (next < to) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await node.settled();
    return { startMs, endMs: monotonicMs(), times };
  }

  /** Resolves once A's first `count` ops are held, timing each of `record` as it arrives. */
  #hold(
    count: number,
    record: { from: number; to: number } | undefined,
  ): Promise<Requests['hold']['result']> {
    if (this.#holdCheck !== undefined) return Promise.reject(new Error('a hold request is already waiting'));
    const node = this.#node;
    const arrivals = record === undefined ? undefined : new Float64Array(record.to - record.from);
    let seen = node.held;
    return new Promise((resolve) => {
      const check = () => {
        const held = node.held;
        const now = monotonicMs();
        if (arrivals !== undefined && record !== undefined && held > seen) {
          const end = Math.min(held, record.to);
          for (let i = Math.max(seen, record.from); i < end; i++) arrivals[i - record.from] = now;
        }
        seen = held;
        if (held < count) return;
        this.#holdCheck = undefined;
        resolve(arrivals === undefined ? { atMs: now } : { atMs: now, arrivals });
      };
      this.#holdCheck = check;
      check();
    });
  }
}

/** Sends a message to the parent; resolves once it is handed over. */
function tell(message: ReplyMessage | StartedMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

async function main(): Promise<void> {
  if (process.send === undefined)
    throw new Error('sync-child.ts runs as a child process, with an IPC channel');
  // If the parent goes away, so does this node.
  const orphaned = () => process.exit(1);
  process.on('disconnect', orphaned);
  const options = parseOptions(process.argv.slice(2));
  const writes = options.role === 'sender' || (options.role === 'mesh' && options.nodeId === NODE_A);
  const workload = writes ? makeWorkload(options.ops) : undefined;
  const start = options.system === 'raw' ? startRaw : options.system === 'yjs' ? startYjs : startDriftless;
  const node = await start(options, workload);
  const server = new Server(node, options.role);
  process.on('message', (request: RequestMessage) => {
    server.handle(request).then(
      async (result) => {
        await tell({ id: request.id, ok: true, result });
        if (request.type === 'exit') {
          process.off('disconnect', orphaned);
          process.disconnect();
          process.exit(0);
        }
      },
      (error: unknown) =>
        tell({ id: request.id, ok: false, error: (error as Error)?.stack ?? String(error) }),
    );
  });
  await tell({ type: 'started', url: node.url });
}

await main();
