/**
 * The request loop of every benchmark node process (sync-child.ts, cluster-child.ts): answers the
 * parent's requests (sync-ipc.ts) with a SyncNode — write a burst or at a paced rate, report when
 * writes are held, probe the clock, CPU, memory and traffic, and exit. The process exits, too, if
 * the parent goes away.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import {
  LONG_GC_PAUSE_MS,
  type ReplyMessage,
  type RequestMessage,
  type Requests,
  type StartedMessage,
  type Usage,
} from './sync-ipc.js';
import type { SyncNode } from './sync-node.js';
import { monotonicMs } from './sync-workload.js';

const MiB = 1024 * 1024;

/** The main thread's GC pauses so far (Node reports each as a performance entry, after it). */
const gc = { pauses: 0, ms: 0, longPauses: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.pauses++;
    gc.ms += entry.duration;
    if (entry.duration >= LONG_GC_PAUSE_MS) gc.longPauses++;
  }
}).observe({ entryTypes: ['gc'] });

/** What this process has cost so far. */
export function usage(): Usage {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    maxRssMiB: Math.max(process.resourceUsage().maxRSS * 1024, memory.rss) / MiB,
    rssMiB: memory.rss / MiB,
    heapUsedMiB: memory.heapUsed / MiB,
    externalMiB: memory.external / MiB,
    gcPauses: gc.pauses,
    gcMs: gc.ms,
    gcLongPauses: gc.longPauses,
  };
}

/** Serves the parent's requests with `node`. */
class NodeServer {
  readonly #node: SyncNode;
  /** The hold request waiting, checked each time the writes held here grow. */
  #holdCheck: (() => void) | undefined;

  constructor(node: SyncNode, listens: boolean) {
    this.#node = node;
    if (listens) node.onHeld(() => this.#holdCheck?.());
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
        return this.#hold(request.count, request.origin, request.record);
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
      case 'digest':
        return { digest: node.digest?.() ?? '', held: node.held };
      case 'truncate':
        if (node.truncate === undefined) throw new Error('this node has no log to truncate');
        await node.truncate();
        return {};
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
    let written: Float64Array | undefined;
    if (node.onWritten !== undefined) {
      const at = new Float64Array(to - from);
      node.onWritten((i) => {
        if (i >= from && i < to) at[i - from] = monotonicMs();
      });
      written = at;
    }
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
    return { startMs, endMs: monotonicMs(), times, ...(written === undefined ? {} : { written }) };
  }

  /**
   * Resolves once `count` writes are held (of writer `origin`, or of all writers), timing each of
   * `record` as it arrives.
   */
  #hold(
    count: number,
    origin: string | undefined,
    record: { from: number; to: number } | undefined,
  ): Promise<Requests['hold']['result']> {
    if (this.#holdCheck !== undefined) return Promise.reject(new Error('a hold request is already waiting'));
    const node = this.#node;
    const heldNow = () => (origin === undefined ? node.held : (node.heldFrom?.(origin) ?? 0));
    const arrivals = record === undefined ? undefined : new Float64Array(record.to - record.from);
    let seen = heldNow();
    return new Promise((resolve) => {
      const check = () => {
        const held = heldNow();
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

/**
 * Runs this process as a node for the parent: `start` makes the node (timed from `startedMs`), then
 * the parent's requests are served until it asks the process to exit. `listens`: the node receives
 * writes (hold requests are answered as they arrive).
 */
export async function serveParent(
  start: () => Promise<SyncNode>,
  listens: boolean,
  entry: string,
): Promise<void> {
  if (process.send === undefined) throw new Error(`${entry} runs as a child process, with an IPC channel`);
  // If the parent goes away, so does this node.
  const orphaned = () => process.exit(1);
  process.on('disconnect', orphaned);
  const startedMs = monotonicMs();
  const node = await start();
  const server = new NodeServer(node, listens);
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
  await tell({ type: 'started', url: node.url, startedMs });
}
